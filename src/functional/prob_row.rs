//! The full-vector part of `cross_entropy`'s probability-target row walk in
//! f32 with AVX-512, on 64-byte boundaries.
//!
//! Tensor buffers are only 16-byte aligned (large ones come from the system
//! allocator at 16 bytes past a page), and rows of 1000 classes start 16 or
//! 48 bytes past a cache line: every 64-byte load and store of the portable
//! walk touched two lines. This walk starts at the first 64-byte boundary of
//! the row it writes (or reads, when not keeping), so its loads and stores
//! of the row, its targets and its exponentials are whole lines (the next
//! row's, read for its maximum, are as aligned as the row stride makes them).
//!
//! Its sums are the portable walk's bits: lane `q` of each sum takes the
//! elements `i ≡ q (mod 16)` below the last full vector, in order, as there.
//! Here the vectors start `h` elements early (`h − 16` from the row's start,
//! the lanes before it masked off), so a vector's lane `l` holds element
//! `i ≡ l + h`, the same lane of every vector; the lanes are rotated back at
//! the end. The result therefore does not depend on the buffers' addresses.
//!
//! A/B against the portable walk (alternating runs, one thread): rows of
//! 1000 classes held in L2 (128 rows) −10%; `ce_prob`'s 2048 rows, which
//! come from memory, unchanged (there the walk waits on memory, not on its
//! loads' alignment).

use crate::tensor::simd::simd_enabled;

/// Per lane (as the portable walk's `[T; 16]` accumulators): `Σ exp(z − shift)`,
/// `Σ p'`, `Σ p'·(z − shift)` and the next row's maximum (NaNs skipped), over
/// the elements below `16·⌊c/16⌋`.
#[derive(Debug)]
pub(crate) struct RowLanes {
    /// `Σ exp(z − shift)`.
    pub acc: [f32; 16],
    /// `Σ p'`.
    pub tacc: [f32; 16],
    /// `Σ p'·(z − shift)`.
    pub zacc: [f32; 16],
    /// The next row's maximum.
    pub nm: [f32; 16],
}

/// The row walk's full vectors for one row of `c = row.len()` classes with
/// its shift: `e = exp(row − shift)` when `e` is given, `p' = t` (`w` none)
/// or `w·(kept·t + uniform)`, and the lanes of [`RowLanes`]. `None`, having
/// done nothing, unless AVX-512 runs here and `t`, `next`, `w` and `e` hold
/// the row's full vectors; the caller then walks the row itself.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_lanes(
    row: &[f32],
    t: &[f32],
    next: &[f32],
    w: Option<&[f32]>,
    (kept, uniform): (f32, f32),
    shift: f32,
    e: Option<&mut [f32]>,
) -> Option<RowLanes> {
    #[cfg(target_arch = "x86_64")]
    {
        let full = row.len() / 16 * 16;
        let fits = |n: usize| n >= full;
        let ok = fits(t.len()) && fits(next.len()) && w.is_none_or(|w| fits(w.len()));
        if !(ok && e.as_ref().is_none_or(|e| fits(e.len()))) {
            return None;
        }
        if simd_enabled() && std::is_x86_feature_detected!("avx512f") {
            let (w, e) = (w.map(<[f32]>::as_ptr), e.map(<[f32]>::as_mut_ptr));
            // SAFETY: avx512f was detected just above; the kernel reads `row`,
            // `t`, `next` and `w` and writes `e` only at elements below `full`,
            // which each holds (checked above), and `e` is a distinct &mut borrow.
            return Some(unsafe {
                avx512::lanes(row.as_ptr(), t.as_ptr(), next.as_ptr(), w, (kept, uniform), shift, e, full)
            });
        }
    }
    let _ = (row, t, next, w, kept, uniform, shift, e, simd_enabled);
    None
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::RowLanes;
    use crate::tensor::simd::exp_capped_avx512;
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

    /// [`super::row_lanes`]' kernel over the elements `[0, full)` (`full` a
    /// multiple of 16); the caller guarantees that every pointer holds them.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn lanes(
        row: *const f32,
        t: *const f32,
        next: *const f32,
        w: Option<*const f32>,
        (kept, uniform): (f32, f32),
        shift: f32,
        e: Option<*mut f32>,
        full: usize,
    ) -> RowLanes {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::simd::exp_f32_capped;

    /// The portable walk's lanes (as `prob_row_ahead` makes them).
    fn portable(
        row: &[f32],
        t: &[f32],
        next: &[f32],
        w: Option<&[f32]>,
        kept: f32,
        uniform: f32,
        shift: f32,
    ) -> (RowLanes, Vec<f32>) {
        let full = row.len() / 16 * 16;
        let mut l = RowLanes { acc: [0.0; 16], tacc: [0.0; 16], zacc: [0.0; 16], nm: [f32::NEG_INFINITY; 16] };
        let mut e = vec![0.0; full];
        for i in 0..full {
            let d = row[i] - shift;
            e[i] = exp_f32_capped(d);
            l.acc[i % 16] += e[i];
            let tp = w.map_or(t[i], |w| w[i] * (kept * t[i] + uniform));
            l.tacc[i % 16] += tp;
            l.zacc[i % 16] += tp * d;
            if next[i] > l.nm[i % 16] {
                l.nm[i % 16] = next[i];
            }
        }
        (l, e)
    }

    fn bits(l: &RowLanes) -> Vec<u32> {
        [l.acc, l.tacc, l.zacc, l.nm].iter().flatten().map(|v| v.to_bits()).collect()
    }

    /// Every row length, every alignment of the written row (and of the
    /// read one, not keeping), with and without weights: the portable walk's
    /// lanes and exponentials, bit for bit, and nothing written past the full
    /// vectors; with NaN, infinite and signed-zero values in the rows.
    #[test]
    fn aligned_lanes_equal_the_portable_walk() {
        let avx512 = simd_enabled() && std::is_x86_feature_detected!("avx512f");
        let mut u = crate::tensor::test_values::uniform(11);
        let n = 1100;
        let mut z: Vec<f32> = (0..n + n / 3 + 32).map(|_| u() * 30.0 - 20.0).collect();
        z[40] = f32::NAN;
        z[77] = -0.0;
        z[78] = 0.0;
        z[90] = f32::NEG_INFINITY;
        z[1030] = f32::NAN;
        let t: Vec<f32> = (0..n + 32).map(|_| u()).collect();
        let w: Vec<f32> = (0..n + 32).map(|_| u() * 2.0).collect();
        for c in [0usize, 1, 15, 16, 17, 31, 48, 70, 100, 1000] {
            for off in 0..16 {
                for weighted in [false, true] {
                    let (row, next) = (&z[off..off + c], &z[off + c / 3..off + c / 3 + c]);
                    let (tr, wr) = (&t[off..off + c], weighted.then(|| &w[off..off + c]));
                    let (want, want_e) = portable(row, tr, next, wr, 0.9, 0.01, -1.5);
                    // written rows at every alignment too
                    let mut ebuf = vec![7.0f32; c + 32];
                    let eoff = (off * 5) % 16;
                    let got = row_lanes(row, tr, next, wr, (0.9, 0.01), -1.5, Some(&mut ebuf[eoff..eoff + c]));
                    let plain = row_lanes(row, tr, next, wr, (0.9, 0.01), -1.5, None);
                    assert_eq!(got.is_some(), avx512, "runs exactly where AVX-512 runs");
                    let (Some(got), Some(plain)) = (got, plain) else { continue };
                    let ctx = format!("c {c} off {off} weighted {weighted}");
                    assert_eq!(bits(&got), bits(&want), "{ctx}");
                    assert_eq!(bits(&plain), bits(&want), "{ctx}, not keeping");
                    let full = c / 16 * 16;
                    let e: Vec<u32> = ebuf[eoff..eoff + full].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(e, want_e.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{ctx}: exponentials");
                    assert!(
                        ebuf[..eoff].iter().chain(&ebuf[eoff + full..]).all(|&v| v == 7.0),
                        "{ctx}: nothing else written"
                    );
                }
            }
        }
        // a short target row: declined, nothing written
        let mut e = vec![7.0f32; 32];
        assert!(row_lanes(&z[..32], &t[..31], &z[..32], None, (1.0, 0.0), 0.0, Some(&mut e)).is_none());
        assert!(e.iter().all(|&v| v == 7.0));
    }
}
