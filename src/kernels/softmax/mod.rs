//! The kernels shared by `log_softmax`, `softmax` and `cross_entropy`.
//!
//! Data is seen as `(N, C, inner)`. When `inner == 1` the classes of a position
//! are contiguous (a row) and the loops vectorise along the classes; otherwise
//! the loops vectorise along the `inner` positions of one sample, reading the
//! classes with stride `inner`: no transpose. Work is split into units that are
//! row ranges or whole samples, so that every unit's outputs are contiguous.
//!
//! Per position the softmax is summarised by `m` (the maximum) and
//! `ls = log Σ exp(z − m)`, so that `log_softmax = (z − m) − ls`.

use crate::cpu::alloc::scratch;
use crate::cpu::gather::{Picks, Plane, pick_plane_f32};
use crate::cpu::par::{PAR_THRESHOLD, for_each_claimed, scan_then};
use crate::cpu::prefetch_l2;
use crate::cpu::prob_row;
use crate::cpu::simd::dispatch;
use crate::cpu::sum::{lanes_reduce, lanes_sum, sum1, sum2, sum3};
use crate::tensor::Float;
use std::ops::Range;

mod in_place;
mod planes;
mod probabilities;
mod rows;
mod smoothing;
mod targets;
#[cfg(test)]
mod tests;

use planes::*;
use rows::*;
use smoothing::*;
use targets::*;

pub(crate) use in_place::ce_rows_in_place;
pub(crate) use probabilities::{prob_grads_kept, stats_prob};
pub(crate) use smoothing::{smooth_fused, stats_smooth};
pub(crate) use targets::{
    Affine, RowGrads, Scales, affine_in_place, index_scales, losses_of_picked, softmax_onehot, stats_pick,
    stats_pick_onehot,
};

/// `(N, C, inner)`: the shape around the class dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub inner: usize,
}

/// One unit's logits as a kernel reads them: `c` classes per position, the
/// classes of a position `inner` apart (`inner == 1`: rows of `c`; else one
/// sample's plane of `c × inner`).
#[derive(Clone, Copy)]
pub(crate) struct Logits<'a, T> {
    /// The unit's elements.
    pub z: &'a [T],
    /// Classes.
    pub c: usize,
    /// Positions per class row of a plane (1 along rows).
    pub inner: usize,
}

/// The softmax statistics a kernel writes, one entry per position: the
/// shift `m` (the maximum, 0 where infinite) and `ls = log Σ exp(z − m)`.
pub(crate) struct StatsOut<'a, T> {
    /// Shifts.
    pub m: &'a mut [T],
    /// Log-sums.
    pub ls: &'a mut [T],
}

/// Statistics made by an earlier kernel (see [`StatsOut`]), read.
#[derive(Clone, Copy)]
pub(crate) struct Stats<'a, T> {
    /// Shifts.
    pub m: &'a [T],
    /// Log-sums.
    pub ls: &'a [T],
}

/// Class-index targets, one per position, and the value that is ignored.
#[derive(Clone, Copy)]
pub(crate) struct Indices<'a> {
    /// Target classes (in `[0, c)` or `ignore`).
    pub t: &'a [i64],
    /// The ignored target value.
    pub ignore: i64,
}

/// Class-probability targets (laid out as the logits), the class weights,
/// and the label smoothing `eps`: `p' = (1 − eps)·t + eps/C`.
#[derive(Clone, Copy)]
pub(crate) struct Probs<'a, T> {
    /// Target probabilities.
    pub t: &'a [T],
    /// Class weights, if any.
    pub w: Option<&'a [T]>,
    /// Label smoothing.
    pub eps: T,
}

/// One entry of the gradient of every probability-target position: the
/// target sums `tw = Σ w·p'` and `zw = Σ w·p'·(z − m)`.
pub(crate) struct TargetSums<'a, T> {
    /// `Σ_c w_c·p'_c` per position.
    pub tw: &'a mut [T],
    /// `Σ_c w_c·p'_c·(z_c − m)` per position.
    pub zw: &'a mut [T],
}

/// One unit of work: the positions `j0..j0 + len` and its elements `e0..e0 + len·C`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unit {
    pub j0: usize,
    pub len: usize,
    pub e0: usize,
}

impl Dims {
    pub fn positions(&self) -> usize {
        self.n * self.inner
    }

    /// Offset of class `k` at position `i` of the whole `(N, C, inner)` data.
    #[cfg(test)]
    pub fn offset(&self, i: usize, k: usize) -> usize {
        (i / self.inner) * self.c * self.inner + k * self.inner + i % self.inner
    }

    /// Offset, inside one of [`Dims::units`] (rows, or one whole sample), of
    /// class `k` at the unit's `i`-th position: `i·C + k` along rows, else
    /// `k·inner + i`.
    #[inline]
    pub fn unit_offset(&self, i: usize, k: usize) -> usize {
        debug_assert!(self.inner == 1 || i < self.inner, "unit_offset: position {i} beyond one sample");
        if self.inner == 1 { i * self.c + k } else { k * self.inner + i }
    }

    /// Row ranges of about 32K elements and at least 16 rows while there are
    /// 8 such ranges (`inner == 1`), or whole samples.
    pub fn units(&self) -> Vec<Unit> {
        if self.positions() == 0 {
            return Vec::new(); // nothing to do (a zero-sized batch or spatial dim)
        }
        if self.inner == 1 {
            // at least 16 rows while that leaves 8 units: a unit's last row
            // has no next row to overlap its loads with (see `fused_rows`),
            // and in units of 4 rows a quarter of the rows would be last
            let rows = (PAR_THRESHOLD / self.c.max(1)).max(1);
            let rows = rows.max(16).min(rows.max(self.n.div_ceil(8)));
            (0..self.n).step_by(rows).map(|r| Unit { j0: r, len: rows.min(self.n - r), e0: r * self.c }).collect()
        } else {
            (0..self.n).map(|s| Unit { j0: s * self.inner, len: self.inner, e0: s * self.c * self.inner }).collect()
        }
    }

    /// Runs `f(unit, per-position outputs, per-element outputs)` over all units,
    /// in parallel when there is enough work. `pos` buffers have one entry per
    /// position, `elem` buffers one per element; each unit gets its own sub-slices.
    pub fn run<T: Float, const P: usize, const E: usize>(
        &self,
        pos: [&mut [T]; P],
        elem: [&mut [T]; E],
        f: impl Fn(Unit, [&mut [T]; P], [&mut [T]; E]) + Sync,
    ) {
        let work = self.work(pos, elem);
        let total = self.positions() * self.c;
        if total < PAR_THRESHOLD || work.len() == 1 {
            work.into_iter().for_each(|(u, p, e)| f(u, p, e));
        } else {
            for_each_claimed(work, |(u, p, e)| f(u, p, e));
        }
    }

    /// [`Dims::run`] after a scan: `scan(i)` for the parts `0..parts` (each
    /// returning whether it found something wrong, and a count), then, if
    /// none did, `f` over the units with the total count as its last
    /// argument, all in one parallel section ([`scan_then`]). Returns
    /// `(wrong, count)`; with `wrong`, `f` has not run.
    pub fn run_scanned<T: Float, const P: usize, const E: usize>(
        &self,
        parts: usize,
        scan: impl Fn(usize) -> (bool, usize) + Sync,
        pos: [&mut [T]; P],
        elem: [&mut [T]; E],
        f: impl Fn(Unit, [&mut [T]; P], [&mut [T]; E], usize) + Sync,
    ) -> (bool, usize) {
        scan_then(parts, scan, self.work(pos, elem), |(u, p, e), n| f(u, p, e, n))
    }

    /// Each unit with its sub-slices of the per-position (`pos`) and
    /// per-element (`elem`) buffers.
    #[allow(clippy::type_complexity)]
    fn work<'a, T, const P: usize, const E: usize>(
        &self,
        mut pos: [&'a mut [T]; P],
        mut elem: [&'a mut [T]; E],
    ) -> Vec<(Unit, [&'a mut [T]; P], [&'a mut [T]; E])> {
        self.units()
            .into_iter()
            .map(|u| (u, pos.each_mut().map(|s| split(s, u.len)), elem.each_mut().map(|s| split(s, u.len * self.c))))
            .collect()
    }
}

/// Splits `len` elements off the front of `s` (nothing off an empty slice).
fn split<'a, T>(s: &mut &'a mut [T], len: usize) -> &'a mut [T] {
    if s.is_empty() {
        return &mut [];
    }
    let (head, tail) = std::mem::take(s).split_at_mut(len);
    *s = tail;
    head
}

/// `b` if it is larger than `a`, else `a`: one compare, and a NaN `b` is
/// skipped. Every maximum of the softmax statistics is taken this way; a row
/// holding a NaN still ends up all NaN, through its sum of exponentials.
#[inline(always)]
fn larger<T: Float>(a: T, b: T) -> T {
    if b > a { b } else { a }
}

/// Maximum of the non-NaN values of `x` (−inf if none) with 16 independent lanes.
#[inline(always)]
fn lanes_max<T: Float>(x: &[T]) -> T {
    let mut acc = [T::neg_infinity(); 16];
    let (xc, xr) = x.as_chunks::<16>();
    for ch in xc {
        for k in 0..16 {
            acc[k] = larger(acc[k], ch[k]);
        }
    }
    lanes_max_with(acc, xr)
}

/// The maximum of 16 lanes and a `tail` of fewer than 16 values (NaNs skipped,
/// as in [`larger`]): the tail folded into the first lanes, then the lanes
/// halved ([`lanes_reduce`]), vectorised, where a fold across them would be a
/// chain of 24 dependent scalar steps at the end of every row. Any order gives
/// the same maximum (only which of `+0` and `−0` is kept can depend on it).
#[inline(always)]
fn lanes_max_with<T: Float>(mut acc: [T; 16], tail: &[T]) -> T {
    debug_assert!(tail.len() < 16);
    for (a, &b) in acc.iter_mut().zip(tail) {
        *a = larger(*a, b);
    }
    lanes_reduce(acc, larger)
}

/// Positions per block of a plane: the per-position arrays of a block (1 KiB
/// each in f32) stay in L1 while the classes stream past with stride `inner`,
/// and the next block's logits, read for its maxima while this one is
/// exponentiated, are a block ahead in every class row.
const BLOCK: usize = 256;

/// The position blocks of a plane with `inner` positions.
#[inline(always)]
fn blocks(inner: usize) -> impl Iterator<Item = Range<usize>> {
    (0..inner).step_by(BLOCK).map(move |b| b..(b + BLOCK).min(inner))
}

/// Class `k`'s entries of the positions `r` of a plane with `inner` positions.
#[inline(always)]
fn row<'a, T>(z: &'a [T], k: usize, inner: usize, r: &Range<usize>) -> &'a [T] {
    &z[k * inner + r.start..k * inner + r.end]
}

/// As [`row`], mutable.
#[inline(always)]
fn row_mut<'a, T>(z: &'a mut [T], k: usize, inner: usize, r: &Range<usize>) -> &'a mut [T] {
    &mut z[k * inner + r.start..k * inner + r.end]
}

/// Rows shorter than this take [`short_rows`]: a row of 10 would never fill a vector.
const SHORT: usize = 64;

dispatch! {
    /// `m` and `ls` of every position of a unit (`z` holds the unit's elements;
    /// `lead` is [`lead_of`] the buffer a plane walk reads or writes, see [`plane_stats`]).
    pub(crate) fn stats<T: Float>(z: &[T], c: usize, inner: usize, lead: usize, m: &mut [T], ls: &mut [T]) {
        if inner == 1 {
            row_stats::<T, false>(z, c, m, ls, &mut []);
        } else {
            planes_keep(z, c, inner, lead, m, ls, &mut []);
        }
    }
}

/// The unit's own `rows` rows of `z`. Along rows a unit's logits may run
/// one row past it (the next unit's first, see `cross_entropy::ahead`),
/// whose maximum only [`fused_rows`] reads; the kernels that never look
/// ahead take the unit alone.
#[inline(always)]
fn unit_rows<T>(z: &[T], rows: usize, c: usize) -> &[T] {
    &z[..(rows * c).min(z.len())]
}

dispatch! {
    /// `out = (z − m) − ls`, or its exponential (`softmax`), for one unit.
    pub(crate) fn normalise<T: Float>(z: &[T], c: usize, inner: usize, m: &[T], ls: &[T], exp: bool, out: &mut [T]) {
        if inner == 1 {
            for (r, (orow, zrow)) in out.chunks_exact_mut(c.max(1)).zip(z.chunks_exact(c.max(1))).enumerate() {
                let (mr, lr) = (m[r], ls[r]);
                for (o, &v) in orow.iter_mut().zip(zrow) {
                    let y = (v - mr) - lr;
                    *o = if exp { y.exp_capped() } else { y };
                }
            }
        } else {
            for r in blocks(inner) {
                let (m, ls) = (&m[r.clone()], &ls[r.clone()]);
                for k in 0..c {
                    for (((o, &v), &mi), &li) in row_mut(out, k, inner, &r).iter_mut().zip(row(z, k, inner, &r)).zip(m).zip(ls) {
                        let y = (v - mi) - li;
                        *o = if exp { y.exp_capped() } else { y };
                    }
                }
            }
        }
    }
}

dispatch! {
    /// The backward of `log_softmax` (`g − softmax · Σ g`) or of `softmax`
    /// (`y · (g − Σ g·y)`), for one unit; `y` is the forward's output.
    pub(crate) fn softmax_backward<T: Float>(g: &[T], y: &[T], c: usize, inner: usize, log: bool, sums: &mut [T], out: &mut [T]) {
        if inner == 1 {
            for ((orow, grow), yrow) in out.chunks_exact_mut(c.max(1)).zip(g.chunks_exact(c.max(1))).zip(y.chunks_exact(c.max(1))) {
                if log {
                    let sg = sum1(grow, |v| v);
                    for ((o, &gv), &yv) in orow.iter_mut().zip(grow).zip(yrow) {
                        *o = gv - yv.exp_capped() * sg;
                    }
                } else {
                    let sgy = sum2(grow, yrow, |gv, yv| gv * yv);
                    for ((o, &gv), &yv) in orow.iter_mut().zip(grow).zip(yrow) {
                        *o = yv * (gv - sgy);
                    }
                }
            }
        } else {
            for r in blocks(inner) {
                let sums = &mut sums[r.clone()];
                sums.fill(T::zero());
                for k in 0..c {
                    for ((sm, &gv), &yv) in sums.iter_mut().zip(row(g, k, inner, &r)).zip(row(y, k, inner, &r)) {
                        *sm += if log { gv } else { gv * yv };
                    }
                }
                for k in 0..c {
                    let (ok, gk, yk) = (row_mut(out, k, inner, &r), row(g, k, inner, &r), row(y, k, inner, &r));
                    for (((o, &gv), &yv), &sm) in ok.iter_mut().zip(gk).zip(yk).zip(sums.iter()) {
                        *o = if log { gv - yv.exp_capped() * sm } else { yv * (gv - sm) };
                    }
                }
            }
        }
    }
}

dispatch! {
    /// As [`stats`], and also keeps `e = exp(z − m)` for every element (for a
    /// backward that then needs no `exp` of its own).
    pub(crate) fn stats_keep<T: Float>(z: &[T], c: usize, inner: usize, lead: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
        if inner == 1 {
            row_stats::<T, true>(z, c, m, ls, e);
        } else {
            planes_keep(z, c, inner, lead, m, ls, e);
        }
    }
}

/// [`stats_keep`] when `e` is not empty, else [`stats`].
pub(crate) fn stats_maybe_keep<T: Float>(
    z: &[T],
    c: usize,
    inner: usize,
    lead: usize,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
) {
    if e.is_empty() {
        stats(z, c, inner, lead, m, ls);
    } else {
        stats_keep(z, c, inner, lead, m, ls, e);
    }
}

/// How many elements of `s` come before its first 64-byte-aligned one (less
/// than a vector's worth): the `lead` that the plane walks take (see
/// [`plane_stats`]) for the buffer they write (or read, writing none).
/// Computed by the callers, never inside a kernel: read inside one, an
/// address made LLVM keep the accumulators of the row kernels compiled with
/// it on the stack, which nearly doubled their time.
pub(crate) fn lead_of<T>(s: &[T]) -> usize {
    let size = std::mem::size_of::<T>().max(1);
    (64 - s.as_ptr() as usize % 64) % 64 / size
}

/// [`lead_of`] the buffer a plane walk writes: `e` when not empty, else `z`.
pub(crate) fn lead_of_walk<T>(z: &[T], e: &[T]) -> usize {
    if e.is_empty() { lead_of(z) } else { lead_of(e) }
}

/// `(m, ls)` of every position, in parallel, and the exponentials `exp(z − m)`
/// when `keep` (else an empty vector).
pub(crate) fn all_stats_keep<T: Float>(z: &[T], d: Dims, keep: bool) -> (Vec<T>, Vec<T>, Vec<T>) {
    if !keep {
        let (m, ls) = all_stats(z, d);
        return (m, ls, Vec::new());
    }
    let (mut m, mut ls, mut e) = (scratch::<T>(d.positions()), scratch::<T>(d.positions()), scratch::<T>(z.len()));
    d.run([&mut m, &mut ls], [&mut e], |u, [m, ls], [e]| {
        stats_keep(&z[u.e0..u.e0 + u.len * d.c], d.c, d.inner, lead_of(e), m, ls, e)
    });
    (m, ls, e)
}

/// `(m, ls)` of every position, in parallel.
pub(crate) fn all_stats<T: Float>(z: &[T], d: Dims) -> (Vec<T>, Vec<T>) {
    let (mut m, mut ls) = (scratch::<T>(d.positions()), scratch::<T>(d.positions()));
    d.run([&mut m, &mut ls], [], |u, [m, ls], []| {
        let z = &z[u.e0..u.e0 + u.len * d.c];
        stats(z, d.c, d.inner, lead_of(z), m, ls)
    });
    (m, ls)
}
