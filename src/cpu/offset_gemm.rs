//! An f32 product whose operands' rows are slices of buffers at given
//! offsets: `c[i, j] (+)= Σ_p a[a_off[i] + p] · b[b_off[p] + j]`.
//!
//! A stride-1 convolution needs no column matrix with it: row `(c, i, j)` of
//! im2col is the zero-padded input read from offset `c·Hp·Wp + i·Wp + j` (see
//! `functional::conv`), so the product reads the padded input in place and
//! nothing is packed or copied per call. On AVX-512 it runs a register-tiled
//! kernel (up to 24 accumulators of 16 lanes); elsewhere a plain loop (the
//! reference the kernel is tested against; callers take this path only when
//! [`fast`] is true).

/// True when the AVX-512 kernel runs here (and SIMD is not switched off).
pub(crate) fn fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::cpu::simd::simd_enabled() && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c[i·ldc + j] = Σ_{p<k} a[a_off[i] + p] · b[b_off[p] + j]` for `i < m = a_off.len()`,
/// `j < n`, `k = b_off.len()`; added onto `c` when `accumulate`. Sums run in
/// order of `p` within blocks of [`KC`] (so the result is the same on every
/// thread count).
///
/// Panics (an internal invariant, checked before any memory is read) if an
/// offset reaches past its buffer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_offsets(
    n: usize,
    a: &[f32],
    a_off: &[usize],
    k: usize,
    b: &[f32],
    b_off: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let m = a_off.len();
    debug_assert_eq!(k, b_off.len());
    if m == 0 || n == 0 {
        return;
    }
    // the bounds that make the kernel's raw reads and writes sound
    assert!(a_off.iter().all(|&o| o + k <= a.len()), "gemm_offsets: a row out of bounds");
    assert!(b_off.iter().all(|&o| o + n <= b.len()), "gemm_offsets: b row out of bounds");
    assert!((m - 1) * ldc + n <= c.len() && ldc >= n, "gemm_offsets: c out of bounds");
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: avx512f was detected just above; every row of a, b and c that
        // the kernel touches lies inside its slice (asserted above), and c is a
        // distinct &mut borrow, so it aliases neither a nor b.
        unsafe { avx512::gemm(n, a.as_ptr(), a_off, k, b.as_ptr(), b_off, c.as_mut_ptr(), ldc, accumulate) };
        return;
    }
    reference(n, a, a_off, k, b, b_off, c, ldc, accumulate);
}

/// `c[i·ldc + r] = Σ_{p<k} a[a_off[i] + p] · b[b_off[r] + p]` for `i < m =
/// a_off.len()`, `r < b_off.len()`; added onto `c` when `accumulate`: dot
/// products of rows, for products whose output rows are too short for
/// [`gemm_offsets`]' column tiles (a convolution's weight gradient with few
/// output channels). Sums run in 16 lanes (positions `p ≡ lane mod 16`), then
/// across the lanes.
///
/// Panics (an internal invariant, checked before any memory is read) if an
/// offset reaches past its buffer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_dots_offsets(
    k: usize,
    a: &[f32],
    a_off: &[usize],
    b: &[f32],
    b_off: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (m, n) = (a_off.len(), b_off.len());
    if m == 0 || n == 0 {
        return;
    }
    assert!(a_off.iter().all(|&o| o + k <= a.len()), "gemm_dots_offsets: a row out of bounds");
    assert!(b_off.iter().all(|&o| o + k <= b.len()), "gemm_dots_offsets: b row out of bounds");
    assert!((m - 1) * ldc + n <= c.len() && ldc >= n, "gemm_dots_offsets: c out of bounds");
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: avx512f was detected just above; every row of a and b that the
        // kernel reads holds k entries inside its slice, and every row of c n
        // entries (asserted above); c is a distinct &mut borrow.
        unsafe { avx512::dots(k, a.as_ptr(), a_off, b.as_ptr(), b_off, c.as_mut_ptr(), ldc, accumulate) };
        return;
    }
    for (i, &ai) in a_off.iter().enumerate() {
        for (r, &br) in b_off.iter().enumerate() {
            let s = a[ai..ai + k].iter().zip(&b[br..br + k]).fold(0.0f32, |s, (&x, &y)| x.mul_add(y, s));
            let cv = &mut c[i * ldc + r];
            *cv = if accumulate { *cv + s } else { s };
        }
    }
}

/// Reduction positions per block: a block of `b` rows (`KC × 48` floats at
/// most) stays in L1 while every row tile of `a` passes over it.
const KC: usize = 256;

/// The plain loop, in the kernel's order of summation.
#[allow(clippy::too_many_arguments)]
fn reference(
    n: usize,
    a: &[f32],
    a_off: &[usize],
    k: usize,
    b: &[f32],
    b_off: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    for (i, &ai) in a_off.iter().enumerate() {
        let row = &mut c[i * ldc..i * ldc + n];
        if k == 0 && !accumulate {
            row.fill(0.0);
        }
        for (p0, block) in b_off.chunks(KC).enumerate() {
            for (j, cv) in row.iter_mut().enumerate() {
                let mut s = 0.0f32;
                for (q, &bo) in block.iter().enumerate() {
                    s = a[ai + p0 * KC + q].mul_add(b[bo + j], s);
                }
                *cv = if accumulate || p0 > 0 { *cv + s } else { s };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::KC;
    use std::arch::x86_64::*;

    /// The mask of the first `w` (≤ 16) lanes.
    #[inline(always)]
    fn lanes(w: usize) -> __mmask16 {
        ((1u32 << w.min(16)) - 1) as __mmask16
    }

    /// One tile: `MR` rows of `c` (row `r` read from `a[r]`, written to `c[r]`
    /// for `r < rows`; the callers repeat the last row in the unused slots) ×
    /// `w ≤ 16·NV` columns, over the `k` rows of `b` at `b + off[p]`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const MR: usize, const NV: usize>(
        k: usize,
        a: [*const f32; MR],
        b: *const f32,
        off: *const usize,
        c: [*mut f32; MR],
        rows: usize,
        w: usize,
        accumulate: bool,
    ) {
        let last = lanes(w - 16 * (NV - 1));
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        for p in 0..k {
            // SAFETY (the whole tile): the caller checked that row p of b holds
            // w columns from b + off[p], that row r of a holds k entries from
            // a[r], and that c[r] has w writable entries; the last vector of a
            // row is loaded and stored with a mask of its valid lanes only.
            let bp = unsafe { b.add(*off.add(p)) };
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                let mask = if v + 1 == NV { last } else { 0xffff };
                *slot = unsafe { _mm512_maskz_loadu_ps(mask, bp.add(16 * v)) };
            }
            for r in 0..MR {
                let av = _mm512_set1_ps(unsafe { *a[r].add(p) });
                for v in 0..NV {
                    acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
                }
            }
        }
        for (cr, acc_r) in c.iter().zip(&acc).take(rows) {
            for (v, &sum) in acc_r.iter().enumerate() {
                let mask = if v + 1 == NV { last } else { 0xffff };
                let cp = unsafe { cr.add(16 * v) };
                let out = if accumulate { _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(mask, cp) }, sum) } else { sum };
                unsafe { _mm512_mask_storeu_ps(cp, mask, out) };
            }
        }
    }

    /// All row tiles of one column panel `j0..j0 + w` and reduction block `p0..p0 + kc`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn panel<const MR: usize, const NV: usize>(
        a: *const f32,
        a_off: &[usize],
        p0: usize,
        kc: usize,
        b: *const f32,
        off: &[usize],
        c: *mut f32,
        ldc: usize,
        j0: usize,
        w: usize,
        accumulate: bool,
    ) {
        let m = a_off.len();
        for i in (0..m).step_by(MR) {
            let rows = MR.min(m - i);
            let at = |r: usize| i + r.min(rows - 1);
            // SAFETY: rows i..i + rows exist (at() stays below m); see `tile`
            let ar: [*const f32; MR] = std::array::from_fn(|r| unsafe { a.add(a_off[at(r)] + p0) });
            let cr: [*mut f32; MR] = std::array::from_fn(|r| unsafe { c.add(at(r) * ldc + j0) });
            unsafe { tile::<MR, NV>(kc, ar, b.add(j0), off[p0..p0 + kc].as_ptr(), cr, rows, w, accumulate) };
        }
    }

    /// See [`super::gemm_offsets`]; the caller checked the bounds.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        n: usize,
        a: *const f32,
        a_off: &[usize],
        k: usize,
        b: *const f32,
        b_off: &[usize],
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let m = a_off.len();
        for p0 in (0..k.max(1)).step_by(KC) {
            let kc = KC.min(k - p0);
            let acc = accumulate || p0 > 0;
            let mut j0 = 0;
            while j0 < n {
                let w = (n - j0).min(48);
                // SAFETY: see `tile`; the panel's columns j0..j0 + w are inside n
                unsafe {
                    // at most 24 accumulators; 4-row tiles when there are only a few rows
                    match (w.div_ceil(16), m) {
                        (3, ..=4) => panel::<4, 3>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                        (3, _) => panel::<8, 3>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                        (2, ..=4) => panel::<4, 2>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                        (2, _) if m.is_multiple_of(12) => {
                            panel::<12, 2>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc)
                        }
                        (2, _) => panel::<8, 2>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                        (_, ..=4) => panel::<4, 1>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                        _ => panel::<8, 1>(a, a_off, p0, kc, b, b_off, c, ldc, j0, w, acc),
                    }
                }
                j0 += w;
            }
        }
    }

    /// Rows of `a` against rows of `b` per tile.
    const DI: usize = 4;
    const DJ: usize = 6;

    /// One tile of dot products: rows `a[0..DI]` against rows `b[0..DJ]` (the
    /// callers repeat the last row in unused slots), `rows × cols` results
    /// written to `c + i·ldc + r`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn dots_tile(
        k: usize,
        a: [*const f32; DI],
        b: [*const f32; DJ],
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); DJ]; DI];
        for q in (0..k).step_by(16) {
            // SAFETY (the whole tile): the caller checked that every row of a
            // and b holds k entries from its pointer and that c has rows × cols
            // writable results; the last chunk is loaded with a mask of its
            // valid lanes only.
            let mask = lanes(k - q);
            let bv: [__m512; DJ] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask, b[v].add(q)) });
            for (acc_r, &ar) in acc.iter_mut().zip(&a) {
                let av = unsafe { _mm512_maskz_loadu_ps(mask, ar.add(q)) };
                for (s, &bw) in acc_r.iter_mut().zip(&bv) {
                    *s = _mm512_fmadd_ps(av, bw, *s);
                }
            }
        }
        for (i, acc_r) in acc.iter().enumerate().take(rows) {
            for (r, &s) in acc_r.iter().enumerate().take(cols) {
                let sum = _mm512_reduce_add_ps(s);
                let cp = unsafe { c.add(i * ldc + r) };
                unsafe { *cp = if accumulate { *cp + sum } else { sum } };
            }
        }
    }

    /// See [`super::gemm_dots_offsets`]; the caller checked the bounds.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dots(
        k: usize,
        a: *const f32,
        a_off: &[usize],
        b: *const f32,
        b_off: &[usize],
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let (m, n) = (a_off.len(), b_off.len());
        for r0 in (0..n).step_by(DJ) {
            let cols = DJ.min(n - r0);
            // SAFETY: rows r0..r0 + cols and i..i + rows exist; see `dots_tile`
            let br: [*const f32; DJ] = std::array::from_fn(|v| unsafe { b.add(b_off[r0 + v.min(cols - 1)]) });
            for i in (0..m).step_by(DI) {
                let rows = DI.min(m - i);
                let ar: [*const f32; DI] = std::array::from_fn(|u| unsafe { a.add(a_off[i + u.min(rows - 1)]) });
                unsafe { dots_tile(k, ar, br, c.add(i * ldc + r0), ldc, rows, cols, accumulate) };
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
                gemm_offsets(n, &a, &a_off, k, &b, &b_off, &mut c1, ldc, accumulate);
                reference(n, &a, &a_off, k, &b, &b_off, &mut c2, ldc, accumulate);
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
                gemm_dots_offsets(k, &a, &a_off, &b, &b_off, &mut c, ldc, accumulate);
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
