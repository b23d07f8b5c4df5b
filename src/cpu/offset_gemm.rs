//! An f32 product whose operands' rows are slices of buffers at given
//! offsets: `c[i, j] (+)= Σ_p a[a_off[i] + p] · b[b_off[p] + j]`.
//!
//! A stride-1 convolution needs no column matrix with it: row `(c, i, j)` of
//! im2col is the zero-padded input read from offset `c·Hp·Wp + i·Wp + j` (see
//! `functional::conv`), so the product reads the padded input in place and
//! nothing is packed or copied per call. On AVX-512 it runs a register-tiled
//! kernel (`cpu::x86_64::offset_gemm`, up to 24 accumulators of 16 lanes); elsewhere a plain loop (the
//! reference the kernel is tested against; callers take this path only when
//! [`fast`] is true).

use crate::cpu::arch;

/// True when the AVX-512 kernel runs here (and SIMD is not switched off).
#[inline]
pub(crate) fn fast() -> bool {
    arch::offset_gemm::fast()
}

/// An operand whose rows are slices of one buffer: row `i` starts at
/// `data[offsets[i]]` (rows may overlap, as a convolution's im2col rows do).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// The buffer the rows are read from.
    pub data: &'a [f32],
    /// Where each row starts in `data`; one entry per row.
    pub offsets: &'a [usize],
}

/// A product's output: row `i` is `c[i·ldc ..]`.
pub(crate) struct Out<'a> {
    /// The output rows.
    pub c: &'a mut [f32],
    /// The distance between the starts of consecutive rows of `c`, in elements
    /// (at least the row length).
    pub ldc: usize,
    /// Whether the sums are added onto `c` (rather than stored, `c` not read).
    pub accumulate: bool,
}

/// `c[i·ldc + j] = Σ_{p<k} a[a_off[i] + p] · b[b_off[p] + j]` for `i < m =
/// a_off.len()`, `j < n`, `k = b_off.len()` (`a_off`, `b_off` being the rows'
/// offsets); added onto `c` when `out.accumulate`. Sums run in order of `p`
/// within blocks of [`KC`] (so the result is the same on every thread count).
///
/// Panics (an internal invariant) if an offset reaches past its buffer;
/// where the kernel runs, before any memory is read.
pub(crate) fn gemm_offsets(a: Rows<'_>, b: Rows<'_>, n: usize, mut out: Out<'_>) {
    if a.offsets.is_empty() || n == 0 {
        return;
    }
    if !arch::offset_gemm::gemm(a, b, n, &mut out) {
        reference(a, b, n, out);
    }
}

/// `c[i·ldc + r] = Σ_{p<k} a[a_off[i] + p] · b[b_off[r] + p]` for `i < m =
/// a_off.len()`, `r < b_off.len()` (`a_off`, `b_off` being the rows' offsets);
/// added onto `c` when `out.accumulate`: dot products of rows, for products
/// whose output rows are too short for [`gemm_offsets`]' column tiles (a
/// convolution's weight gradient with few output channels). Sums run in 16
/// lanes (positions `p ≡ lane mod 16`), then across the lanes.
///
/// Panics (an internal invariant) if an offset reaches past its buffer;
/// where the kernel runs, before any memory is read.
pub(crate) fn gemm_dots_offsets(a: Rows<'_>, b: Rows<'_>, k: usize, mut out: Out<'_>) {
    if a.offsets.is_empty() || b.offsets.is_empty() {
        return;
    }
    if arch::offset_gemm::dots(a, b, k, &mut out) {
        return;
    }
    let Out { c, ldc, accumulate } = out;
    for (i, &ai) in a.offsets.iter().enumerate() {
        for (r, &br) in b.offsets.iter().enumerate() {
            let s = a.data[ai..ai + k].iter().zip(&b.data[br..br + k]).fold(0.0f32, |s, (&x, &y)| x.mul_add(y, s));
            let cv = &mut c[i * ldc + r];
            *cv = if accumulate { *cv + s } else { s };
        }
    }
}

/// Reduction positions per block: a block of `b` rows (`KC × 48` floats at
/// most) stays in L1 while every row tile of `a` passes over it.
pub(crate) const KC: usize = 256;

/// The plain loop, in the kernel's order of summation.
fn reference(a: Rows<'_>, b: Rows<'_>, n: usize, out: Out<'_>) {
    let Out { c, ldc, accumulate } = out;
    let k = b.offsets.len();
    for (i, &ai) in a.offsets.iter().enumerate() {
        let row = &mut c[i * ldc..i * ldc + n];
        if k == 0 && !accumulate {
            row.fill(0.0);
        }
        for (p0, block) in b.offsets.chunks(KC).enumerate() {
            for (j, cv) in row.iter_mut().enumerate() {
                let mut s = 0.0f32;
                for (q, &bo) in block.iter().enumerate() {
                    s = a.data[ai + p0 * KC + q].mul_add(b.data[bo + j], s);
                }
                *cv = if accumulate || p0 > 0 { *cv + s } else { s };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnd(n: usize, seed: u64) -> Vec<f32> {
        let mut u = crate::tensor::test_values::uniform(seed);
        (0..n).map(|_| u() - 0.5).collect()
    }

    /// The kernel against the plain loop (bit for bit: both sum in the same
    /// order with fused multiply-adds), over shapes that exercise every tile
    /// kind, row tails, masked column tails and several reduction blocks.
    #[test]
    fn kernel_matches_reference() {
        for &(m, n, k) in &[
            (32, 32, 144),
            (144, 32, 600),
            (16, 30, 288),
            (7, 100, 3),
            (13, 48, 257),
            (24, 17, 1),
            (5, 1, 9),
            (3, 20, 0),
        ] {
            let lda = k + 3;
            let a = rnd(m * lda, 1);
            let a_off: Vec<usize> = (0..m).map(|i| i * lda + (i % 3)).collect();
            let b = rnd(k * 7 + n + 64, 2);
            let b_off: Vec<usize> = (0..k).map(|p| (p * 7 + p % 5) % 64 + p * 7).collect();
            for accumulate in [false, true] {
                let ldc = n + 2;
                let mut c1 = rnd(m * ldc, 3);
                let mut c2 = c1.clone();
                let (ra, rb) = (Rows { data: &a, offsets: &a_off }, Rows { data: &b, offsets: &b_off });
                gemm_offsets(ra, rb, n, Out { c: &mut c1, ldc, accumulate });
                reference(ra, rb, n, Out { c: &mut c2, ldc, accumulate });
                assert_eq!(c1, c2, "m {m} n {n} k {k} accumulate {accumulate}");
            }
        }
    }

    /// The dot-product kernel against f64 sums (its lanes sum in another order
    /// than a plain loop): within f32 rounding of the terms' magnitude.
    #[test]
    fn dots_kernel_matches_f64() {
        for &(m, n, k) in &[(4, 144, 78), (32, 144, 1086), (3, 7, 5), (9, 13, 16), (5, 6, 33), (2, 2, 0)] {
            let a = rnd(m * (k + 5), 4);
            let a_off: Vec<usize> = (0..m).map(|i| i * (k + 5) + i % 4).collect();
            let b = rnd(n * 3 + k + 1, 5);
            let b_off: Vec<usize> = (0..n).map(|r| r * 3 + r % 2).collect();
            for accumulate in [false, true] {
                let ldc = n + 1;
                let c0 = rnd(m * ldc, 6);
                let mut c = c0.clone();
                let (ra, rb) = (Rows { data: &a, offsets: &a_off }, Rows { data: &b, offsets: &b_off });
                gemm_dots_offsets(ra, rb, k, Out { c: &mut c, ldc, accumulate });
                for i in 0..m {
                    for r in 0..n {
                        let dot: f64 = (0..k).map(|p| a[a_off[i] + p] as f64 * b[b_off[r] + p] as f64).sum();
                        let want = dot + if accumulate { c0[i * ldc + r] as f64 } else { 0.0 };
                        let got = c[i * ldc + r] as f64;
                        assert!(
                            (got - want).abs() <= 1e-6 * (k as f64 + 1.0),
                            "m {m} n {n} k {k} ({i}, {r}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
