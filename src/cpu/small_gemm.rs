//! Products with few rows (`m ≤ 8`), such as a small convolution's `W·cols`
//! with 4 output channels: `matrixmultiply` pads them to its micro-kernel and
//! packs all of `B`, which then costs more than the arithmetic. Here no packing:
//! `B` is read in place, once, along its contiguous dimension.

use crate::cpu::simd::dispatch;
use crate::cpu::sum::sum2;
use crate::tensor::Float;

/// Most rows of `C` handled here.
pub(crate) const SMALL_M: usize = 8;

/// Columns of `C` per block in the row-major case (`m × BLOCK_N` of `C` stays in L1).
const BLOCK_N: usize = 512;

dispatch! {
    /// `c = a·b + beta·c` for `b` with contiguous rows (`sb = (sb0, 1)`): per block
    /// of columns, each row of `b` is added into every row of `c` (scaled by `a`).
    /// `c` is row-major `m × n`; with `beta = 0` it is not read.
    #[allow(clippy::too_many_arguments)] // scalars, not structs: grouped, LLVM spilled the vector accumulators
    pub(crate) fn gemm_rows<T: Float>(m: usize, k: usize, n: usize, a: &[T], sa: (usize, usize), b: &[T], sb0: usize, c: &mut [T], beta: T) {
        for j0 in (0..n).step_by(BLOCK_N) {
            let j1 = (j0 + BLOCK_N).min(n);
            for i in 0..m {
                let ci = &mut c[i * n + j0..i * n + j1];
                if beta == T::zero() {
                    ci.fill(T::zero());
                } else if beta != T::one() {
                    ci.iter_mut().for_each(|v| *v *= beta);
                }
            }
            let brow = |kk: usize| &b[kk * sb0 + j0..kk * sb0 + j1];
            // four rows of `b` per pass over `c` (one load and store of `c` for four
            // products, added in the same order as one at a time)
            let k4 = k - k % 4;
            for kk in (0..k4).step_by(4) {
                let (b0, b1, b2, b3) = (brow(kk), brow(kk + 1), brow(kk + 2), brow(kk + 3));
                for i in 0..m {
                    let av = |d: usize| a[i * sa.0 + (kk + d) * sa.1];
                    let (a0, a1, a2, a3) = (av(0), av(1), av(2), av(3));
                    let ci = &mut c[i * n + j0..i * n + j1];
                    for ((((cv, &v0), &v1), &v2), &v3) in ci.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
                        *cv = (((*cv + a0 * v0) + a1 * v1) + a2 * v2) + a3 * v3;
                    }
                }
            }
            for kk in k4..k {
                let bk = brow(kk);
                for i in 0..m {
                    let av = a[i * sa.0 + kk * sa.1];
                    for (cv, &bv) in c[i * n + j0..i * n + j1].iter_mut().zip(bk) {
                        *cv += av * bv;
                    }
                }
            }
        }
    }
}

dispatch! {
    /// `c = a·b + beta·c` for `a` with contiguous rows (`sa = (sa0, 1)`) and `b`
    /// with contiguous columns (`sb = (1, sb1)`): every entry is a dot product of
    /// two contiguous runs of `k`. `c` is row-major `m × n`; with `beta = 0` it is not read.
    #[allow(clippy::too_many_arguments)] // scalars, not structs: grouped, LLVM spilled the vector accumulators
    pub(crate) fn gemm_dots<T: Float>(m: usize, k: usize, n: usize, a: &[T], sa0: usize, b: &[T], sb1: usize, c: &mut [T], beta: T) {
        let arow = |i: usize| &a[i * sa0..i * sa0 + k];
        let m4 = m - m % 4;
        for j in 0..n {
            let bj = &b[j * sb1..j * sb1 + k];
            let mut put = |i: usize, d: T| {
                let cv = &mut c[i * n + j];
                *cv = if beta == T::zero() { d } else { beta * *cv + d };
            };
            // four rows of `a` at a time share each load of `bj` (each dot as `dot` sums it)
            for i in (0..m4).step_by(4) {
                let d = dot4([arow(i), arow(i + 1), arow(i + 2), arow(i + 3)], bj);
                for (r, dv) in d.into_iter().enumerate() {
                    put(i + r, dv);
                }
            }
            for i in m4..m {
                put(i, sum2(arow(i), bj, |u, v| u * v));
            }
        }
    }
}

/// Four dot products against one `y`, bit for bit as four calls of
/// `sum2(x, y, |u, v| u * v)`, with one load of `y`.
#[inline(always)]
fn dot4<T: Float>(x: [&[T]; 4], y: &[T]) -> [T; 4] {
    let mut acc = [[T::zero(); 16]; 4];
    let (yc, yr) = y.as_chunks::<16>();
    let xs = x.map(|xr| xr.as_chunks::<16>());
    for (q, y16) in yc.iter().enumerate() {
        for (acc_r, (xc, _)) in acc.iter_mut().zip(&xs) {
            let x16 = &xc[q];
            for i in 0..16 {
                acc_r[i] += x16[i] * y16[i];
            }
        }
    }
    let mut out = [T::zero(); 4];
    for ((o, acc_r), (_, xr)) in out.iter_mut().zip(acc).zip(&xs) {
        let rest = xr.iter().zip(yr).fold(T::zero(), |s, (&u, &v)| s + u * v);
        *o = crate::cpu::sum::lanes_sum(acc_r) + rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kernels against the plain triple loop, for odd sizes (vector tails),
    /// every beta, and with `c` full of NaN when beta = 0 (it must not be read).
    #[test]
    fn kernels_match_the_triple_loop() {
        let val = |i: usize| ((i * 37 % 23) as f64 - 11.0) / 7.0;
        for (m, k, n) in [(1, 1, 1), (3, 17, 5), (8, 33, 70), (4, 144, 600), (5, 2, 513)] {
            let a: Vec<f64> = (0..m * k).map(val).collect();
            let b: Vec<f64> = (0..k * n).map(|i| val(i + 5)).collect();
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect(); // bt[j·k + kk] = b[kk·n + j]
            for beta in [0.0, 1.0, 0.5] {
                let c0: Vec<f64> = (0..m * n).map(|i| if beta == 0.0 { f64::NAN } else { val(i + 9) }).collect();
                let want: Vec<f64> = (0..m * n)
                    .map(|ij| {
                        let (i, j) = (ij / n, ij % n);
                        let s: f64 = (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum();
                        if beta == 0.0 { s } else { beta * c0[ij] + s }
                    })
                    .collect();
                let mut c = c0.clone();
                gemm_rows(m, k, n, &a, (k, 1), &b, n, &mut c, beta);
                let mut c2 = c0.clone();
                gemm_dots(m, k, n, &a, k, &bt, k, &mut c2, beta);
                for (got, what) in [(&c, "rows"), (&c2, "dots")] {
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{what} {m}x{k}x{n} beta {beta}: {g} vs {w}");
                    }
                }
            }
        }
    }
}
