//! The target's log-probability at each position of a plane, gathered with
//! AVX-512: `nll_loss(log_softmax(x, 1))` over a `(N, C, d…)` input picks, at
//! every position `j`, the logit of its target class, `C` strides of `inner`
//! apart from position to position. Done one position at a time (a bounds-checked
//! scalar load each), the pick cost nll_2d's fused kernel 10% of its time; one
//! `vgatherdps` reads 16 positions' targets.

/// `picked[i] = (z[t[i]·inner + j0 + i] − m[i]) − ls[i]` for `i < t.len()`, and
/// `+0` where `t[i] == ignore`: the scalar loop's values, bit for bit (the
/// same two subtractions). `z` is a plane of `c × inner` logits, the targets
/// are in `[0, c)` or `ignore` (a lane holding anything else is set to 0 too).
/// Returns false, having done nothing, unless AVX-512 runs here and every
/// index fits an `i32`; the caller then loops.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pick_plane_f32(
    z: &[f32],
    c: usize,
    inner: usize,
    j0: usize,
    t: &[i64],
    ignore: i64,
    m: &[f32],
    ls: &[f32],
    picked: &mut [f32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let n = t.len();
        let fits = c.checked_mul(inner).is_some_and(|e| e <= z.len() && e <= i32::MAX as usize);
        if !(fits && j0 + n <= inner && m.len() >= n && ls.len() >= n && picked.len() >= n) {
            return false;
        }
        if crate::tensor::simd::simd_enabled() && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: avx512f was detected just above. The kernel reads `t`, `m`
            // and `ls` and writes `picked` only below `n` (their lengths were
            // checked above), and gathers `z` only in lanes whose target is in
            // `[0, c)`, at `t·inner + j0 + i < c·inner ≤ z.len()` (as `j0 + i <
            // inner`), an index that fits an i32; `picked` is a distinct &mut
            // borrow.
            unsafe { avx512::pick(z.as_ptr(), c, inner, j0, t, ignore, m.as_ptr(), ls.as_ptr(), picked.as_mut_ptr()) };
            return true;
        }
    }
    let _ = (z, c, inner, j0, t, ignore, m, ls, picked);
    false
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::pick_plane_f32`]'s kernel, 16 positions per gather; the caller
    /// guarantees the bounds it states.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pick(
        z: *const f32,
        c: usize,
        inner: usize,
        j0: usize,
        t: &[i64],
        ignore: i64,
        m: *const f32,
        ls: *const f32,
        picked: *mut f32,
    ) {
        let (classes, skip) = (_mm512_set1_epi64(c as i64), _mm512_set1_epi64(ignore));
        let stride = _mm512_set1_epi32(inner as i32);
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for i in (0..t.len()).step_by(16) {
            let w = (t.len() - i).min(16);
            let (lo, hi) = (((1u32 << w.min(8)) - 1) as __mmask8, ((1u32 << w.saturating_sub(8)) - 1) as __mmask8);
            // SAFETY (of every load and store below): lanes `i..i + w` of `t`,
            // `m`, `ls` and `picked` are in bounds (see the caller), and only
            // those lanes are enabled by the masks.
            let (t0, t1) = unsafe {
                (_mm512_maskz_loadu_epi64(lo, t.as_ptr().add(i)), _mm512_maskz_loadu_epi64(hi, t.as_ptr().add(i + 8)))
            };
            // a target counts when 0 ≤ t < c (unsigned) and t ≠ ignore
            let ok0 = _mm512_mask_cmplt_epu64_mask(lo, t0, classes) & _mm512_cmpneq_epi64_mask(t0, skip);
            let ok1 = _mm512_mask_cmplt_epu64_mask(hi, t1, classes) & _mm512_cmpneq_epi64_mask(t1, skip);
            let ok = ok0 as __mmask16 | (ok1 as __mmask16) << 8;
            let k =
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(t0)), _mm512_cvtepi64_epi32(t1));
            let at = _mm512_add_epi32(
                _mm512_mullo_epi32(k, stride),
                _mm512_add_epi32(iota, _mm512_set1_epi32((j0 + i) as i32)),
            );
            let all = ((1u32 << w) - 1) as __mmask16;
            unsafe {
                // SAFETY: enabled lanes hold a target in [0, c), so `at < c·inner`
                let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), ok, at, z);
                let d = _mm512_sub_ps(v, _mm512_maskz_loadu_ps(all, m.add(i)));
                _mm512_mask_storeu_ps(
                    picked.add(i),
                    all,
                    _mm512_maskz_sub_ps(ok, d, _mm512_maskz_loadu_ps(all, ls.add(i))),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop the gather replaces (targets in `[0, c)` or `ignore`; others 0).
    #[allow(clippy::too_many_arguments)]
    fn scalar(z: &[f32], c: usize, inner: usize, j0: usize, t: &[i64], ignore: i64, m: &[f32], ls: &[f32]) -> Vec<f32> {
        let counts = |v: i64| v != ignore && (0..c as i64).contains(&v);
        (0..t.len())
            .map(|i| if counts(t[i]) { (z[t[i] as usize * inner + j0 + i] - m[i]) - ls[i] } else { 0.0 })
            .collect()
    }

    /// The gather gives the scalar loop's bits at every length (the masked
    /// tails), start and class count, with `ignore` inside and outside
    /// `[0, c)`, and with NaN and infinite logits; it declines (returns
    /// false, writing nothing) only without AVX-512 or when a bound fails.
    #[test]
    fn gathered_picks_equal_the_scalar_loop() {
        let mut u = crate::tensor::test_values::uniform(3);
        let avx512 = crate::tensor::simd::simd_enabled() && std::is_x86_feature_detected!("avx512f");
        for (c, inner) in [(1usize, 40usize), (3, 37), (21, 300)] {
            let mut z: Vec<f32> = (0..c * inner).map(|_| u() * 8.0 - 4.0).collect();
            z[inner - 1] = f32::NAN;
            z[(c - 1) * inner + 2] = f32::INFINITY;
            for ignore in [-100i64, 0, 2] {
                for j0 in [0usize, 1, 5] {
                    for n in 0..(inner - j0).min(35) {
                        let t: Vec<i64> = (0..n)
                            .map(|i| if i % 6 == 5 { ignore } else { (u() * c as f32) as i64 % c as i64 })
                            .collect();
                        let (m, ls): (Vec<f32>, Vec<f32>) = (0..n).map(|_| (u(), u() * 3.0)).unzip();
                        let mut got = vec![7.0f32; n + 1];
                        let done = pick_plane_f32(&z, c, inner, j0, &t, ignore, &m, &ls, &mut got);
                        assert_eq!(done, avx512, "ran exactly where AVX-512 runs");
                        if !done {
                            assert!(got.iter().all(|&v| v == 7.0), "nothing written when declining");
                            continue;
                        }
                        let want = scalar(&z, c, inner, j0, &t, ignore, &m, &ls);
                        let (g, w): (Vec<u32>, Vec<u32>) =
                            got[..n].iter().zip(&want).map(|(a, b)| (a.to_bits(), b.to_bits())).unzip();
                        assert_eq!(g, w, "c {c} inner {inner} ignore {ignore} j0 {j0} n {n}");
                        assert_eq!(got[n], 7.0, "nothing written past the targets");
                    }
                }
            }
        }
        // bounds that do not hold: declined, nothing written
        let (z, t, m) = (vec![1.0f32; 6], vec![1i64; 4], vec![0.0f32; 4]);
        let mut out = vec![7.0f32; 4];
        assert!(!pick_plane_f32(&z, 2, 3, 0, &t, -100, &m, &m, &mut out), "j0 + n > inner");
        assert!(!pick_plane_f32(&z, 4, 3, 0, &t[..3], -100, &m, &m, &mut out), "c·inner > z.len()");
        assert!(!pick_plane_f32(&z, 2, 3, 0, &t[..3], -100, &m[..2], &m, &mut out), "m too short");
        assert!(out.iter().all(|&v| v == 7.0));
    }
}
