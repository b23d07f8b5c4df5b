//! The target's log-probability at each position of a plane, gathered with
//! AVX-512 (`vgatherdps` reads 16 positions' targets, `C` strides of `inner`
//! apart, in one instruction; see `crate::cpu::gather`).

use crate::cpu::gather::{Picks, Plane};
use std::arch::x86_64::*;

/// [`crate::cpu::gather::pick_plane_f32`] with AVX-512: false, having done
/// nothing, unless AVX-512 runs here and every bound holds.
pub(crate) fn pick(plane: Plane<'_, f32>, p: Picks<'_, f32>, picked: &mut [f32]) -> bool {
    let Plane { z, c, inner, j0 } = plane;
    let Picks { t, ignore, m, ls } = p;
    let n = t.len();
    let fits = c.checked_mul(inner).is_some_and(|e| e <= z.len() && e <= i32::MAX as usize);
    if !(fits && j0 + n <= inner && m.len() >= n && ls.len() >= n && picked.len() >= n) {
        return false;
    }
    if !super::has_avx512() {
        return false;
    }
    // SAFETY: avx512f was detected just above. The kernel reads `t`, `m`
    // and `ls` and writes `picked` only below `n` (their lengths were
    // checked above), and gathers `z` only in lanes whose target is in
    // `[0, c)`, at `t·inner + j0 + i < c·inner ≤ z.len()` (as `j0 + i <
    // inner`), an index that fits an i32; `picked` is a distinct &mut
    // borrow.
    unsafe { pick16(z.as_ptr(), (c, inner, j0), (t, ignore), (m.as_ptr(), ls.as_ptr()), picked.as_mut_ptr()) };
    true
}

/// [`pick`]'s kernel, 16 positions per gather; the caller
/// guarantees the bounds it states.
#[target_feature(enable = "avx512f")]
unsafe fn pick16(
    z: *const f32,
    (c, inner, j0): (usize, usize, usize),
    (t, ignore): (&[i64], i64),
    (m, ls): (*const f32, *const f32),
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
        let k = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(t0)), _mm512_cvtepi64_epi32(t1));
        let at =
            _mm512_add_epi32(_mm512_mullo_epi32(k, stride), _mm512_add_epi32(iota, _mm512_set1_epi32((j0 + i) as i32)));
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
