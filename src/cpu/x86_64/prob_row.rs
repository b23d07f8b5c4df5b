//! The aligned row walk of `cross_entropy` with probability targets, in
//! AVX-512 (see `crate::cpu::prob_row` for what it computes and why).

use super::exp::exp_capped_avx512;
use crate::cpu::prob_row::{RowLanes, RowWalk};
use std::arch::x86_64::*;

/// The walk's four accumulators, lanes rotated (see the module).
struct Sums {
    acc: __m512,
    tacc: __m512,
    zacc: __m512,
    nm: __m512,
}

/// One vector of the walk: its rows, the kept exponentials' row, and the
/// shift, `kept` and `uniform` broadcast.
struct Step {
    row: *const f32,
    t: *const f32,
    next: *const f32,
    w: Option<*const f32>,
    e: Option<*mut f32>,
    sh: __m512,
    kp: __m512,
    un: __m512,
}

impl Step {
    /// The vector of the 16 elements from `i0`, only the lanes of `m`
    /// when given (whole otherwise: no masked instruction).
    ///
    /// # Safety
    /// AVX-512F; every pointer holds the elements of the enabled lanes
    /// (all 16 without a mask).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn run(&self, s: &mut Sums, i0: isize, m: Option<__mmask16>) {
        // SAFETY (every load and store here): the addresses are made with
        // `wrapping_offset` (never dereferenced outside the rows), and
        // only the enabled lanes, which the caller guarantees are held,
        // are read or written (masked-off lanes are not accessed).
        let load = |p: *const f32| unsafe {
            match m {
                Some(m) => _mm512_maskz_loadu_ps(m, p.wrapping_offset(i0)),
                None => _mm512_loadu_ps(p.wrapping_offset(i0)),
            }
        };
        let add = |a: __m512, b: __m512| match m {
            Some(m) => _mm512_mask_add_ps(a, m, a, b),
            None => _mm512_add_ps(a, b),
        };
        let d = _mm512_sub_ps(load(self.row), self.sh);
        let x = exp_capped_avx512(d);
        if let Some(e) = self.e {
            unsafe {
                match m {
                    Some(m) => _mm512_mask_storeu_ps(e.wrapping_offset(i0), m, x),
                    None => _mm512_storeu_ps(e.wrapping_offset(i0), x),
                }
            }
        }
        s.acc = add(s.acc, x);
        let tv = load(self.t);
        let tp = match self.w {
            None => tv,
            Some(w) => _mm512_mul_ps(load(w), _mm512_add_ps(_mm512_mul_ps(self.kp, tv), self.un)),
        };
        s.tacc = add(s.tacc, tp);
        s.zacc = add(s.zacc, _mm512_mul_ps(tp, d));
        // `larger(nm, y)`: y where y > nm (false for NaN)
        let y = load(self.next);
        let gt = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(m.unwrap_or(!0), y, s.nm);
        s.nm = _mm512_mask_mov_ps(s.nm, gt, y);
    }
}

/// [`crate::cpu::prob_row::row_lanes`] with AVX-512: `None`, having done
/// nothing, unless AVX-512 runs here and `t`, `next`, `w` and `e` hold the
/// row's full vectors.
pub(crate) fn row_lanes(walk: RowWalk<'_>, e: Option<&mut [f32]>) -> Option<RowLanes> {
    let full = walk.row.len() / 16 * 16;
    let fits = |n: usize| n >= full;
    let ok = fits(walk.t.len()) && fits(walk.next.len()) && walk.w.is_none_or(|w| fits(w.len()));
    if !(ok && e.as_ref().is_none_or(|e| fits(e.len())) && super::has_avx512()) {
        return None;
    }
    let e = e.map(<[f32]>::as_mut_ptr);
    // SAFETY: avx512f was detected just above; the kernel reads `row`, `t`,
    // `next` and `w` and writes `e` only at elements below `full`, which each
    // holds (checked above), and `e` is a distinct &mut borrow.
    Some(unsafe { lanes(&walk, e, full) })
}

/// [`row_lanes`]' kernel over the elements `[0, full)` (`full` a multiple of
/// 16); the caller guarantees that `walk`'s rows and `e` hold them.
#[target_feature(enable = "avx512f")]
unsafe fn lanes(walk: &RowWalk<'_>, e: Option<*mut f32>, full: usize) -> RowLanes {
    let (row, t, next, w) = (walk.row.as_ptr(), walk.t.as_ptr(), walk.next.as_ptr(), walk.w.map(<[f32]>::as_ptr));
    let (kept, uniform, shift) = (walk.kept, walk.uniform, walk.shift);
    // the first vector starts `h` elements before the first 64-byte
    // boundary of the row written (or read): `start = h − 16` (an f32's
    // address is a multiple of 4, so the boundary is `h` whole elements on)
    let anchor = e.map_or(row as usize, |e| e as usize);
    let h = (64 - anchor % 64) % 64 / 4;
    let start = if h == 0 { 0 } else { h as isize - 16 };
    let (sh, kp, un) = (_mm512_set1_ps(shift), _mm512_set1_ps(kept), _mm512_set1_ps(uniform));
    let nm = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut sums = Sums { acc: _mm512_setzero_ps(), tacc: _mm512_setzero_ps(), zacc: _mm512_setzero_ps(), nm };
    let step = Step { row, t, next, w, e, sh, kp, un };
    // the lanes whose element is in [0, full), for the vector from `i0`
    let lanes = |i0: isize| {
        let (lo, hi) = ((-i0).max(0) as u32, (full as isize - i0).clamp(0, 16) as u32);
        (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
    };
    // the first vector (partial when h > 0), the whole ones, the last partial one
    let mut i0 = start;
    if i0 < 0 {
        // SAFETY: the mask enables the lanes in [0, full), as `Step::run` requires
        unsafe { step.run(&mut sums, i0, Some(lanes(i0))) };
        i0 += 16;
    }
    while i0 + 16 <= full as isize {
        // SAFETY: the whole vector is in [0, full)
        unsafe { step.run(&mut sums, i0, None) };
        i0 += 16;
    }
    if i0 < full as isize {
        // SAFETY: as for the first vector
        unsafe { step.run(&mut sums, i0, Some(lanes(i0))) };
    }
    let Sums { acc, tacc, zacc, nm } = sums;
    // lane q of the portable walk is lane (q − start) mod 16 here
    let mut idx = [0i32; 16];
    for (q, v) in idx.iter_mut().enumerate() {
        *v = (q as isize - start).rem_euclid(16) as i32;
    }
    // SAFETY: `idx` is 16 i32s.
    let idx = unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) };
    let out = |v: __m512| {
        let mut a = [0f32; 16];
        // SAFETY: `a` is 16 f32s.
        unsafe { _mm512_storeu_ps(a.as_mut_ptr(), _mm512_permutexvar_ps(idx, v)) };
        a
    };
    RowLanes { acc: out(acc), tacc: out(tacc), zacc: out(zacc), nm: out(nm) }
}
