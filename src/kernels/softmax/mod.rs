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

/// `(N, C, inner)`: the shape around the class dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub inner: usize,
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
            // a quarter of the rows in units of 4 (ce_fwd 2048×8192: −16%)
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

/// Per position `r` of a plane (`c × inner`), the maximum over the classes
/// (NaNs skipped, as in [`lanes_max`]), or 0 where it is infinite: the shift of the log-sum-exp. Returns
/// whether some maximum was `+inf` (then `z − shift` may overflow `exp`).
#[inline(always)]
fn plane_shift<T: Float>(z: &[T], c: usize, inner: usize, r: &Range<usize>, m: &mut [T]) -> bool {
    m.fill(T::neg_infinity());
    for k in 0..c {
        for (mi, &v) in m.iter_mut().zip(row(z, k, inner, r)) {
            *mi = larger(*mi, v);
        }
    }
    finish_shift(m)
}

/// Turns maxima into shifts (0 where infinite); returns whether one was `+inf`.
#[inline(always)]
fn finish_shift<T: Float>(m: &mut [T]) -> bool {
    // a fold, not `any`: without the early exit the scan vectorises (as an
    // early-exit scalar loop it took 3% of nll_2d's kernel)
    let overflow = m.iter().fold(false, |o, &v| o | (v == T::infinity()));
    for v in m.iter_mut() {
        if v.is_infinite() {
            *v = T::zero();
        }
    }
    overflow
}

/// `m` and `ls` of every position of a plane (`c × inner`), block by block,
/// keeping `e = exp(z − m)` when `e` is not empty; `after(r, m, ls, e)` is called
/// once the statistics of the positions `r` are done (a chunk of
/// [`ahead_chunk`], or the rest of a block), while they are in cache. The next block's
/// maximum is found in the loop that exponentiates this one (when the blocks
/// have one length), so that its loads from memory overlap this block's `exp`.
///
/// The blocks after the first start `lead` positions past a multiple of a
/// vector's length: with `lead` from [`lead_of`], where `e` (or, not keeping,
/// `z`) is 64-byte aligned. Buffers are only 16-byte aligned, and every
/// 64-byte vector load and store of the blocks would otherwise touch two
/// cache lines (nll_2d's fused kernel ran 15–20% slower so). The blocks thus
/// depend on the address, the results do not: every position is computed alone, and when some maximum is
/// `+inf` (where the capped `exp` would overflow) the whole plane is walked
/// again with the full-range `exp` rather than only the blocks that hold one.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane_stats<T: Float>(
    z: &[T],
    c: usize,
    inner: usize,
    lead: usize,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
    mut after: impl FnMut(&Range<usize>, &[T], &[T], &mut [T]),
) {
    let lanes = 64 / std::mem::size_of::<T>();
    let lead = lead % lanes;
    let first = if lead == 0 { BLOCK } else { BLOCK - lanes + lead };
    // one call site, so that the walk is inlined once
    let mut fast = false;
    while plane_walk(z, c, inner, m, ls, e, first, fast, &mut after) && !fast {
        fast = true;
    }
}

/// [`plane_stats`]' walk with a first block of `first` positions, with the
/// full-range `exp` everywhere when `fast` (else the capped one, and the
/// full-range one in blocks with a `+inf` maximum). Returns whether some
/// maximum was `+inf`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane_walk<T: Float, A: FnMut(&Range<usize>, &[T], &[T], &mut [T])>(
    z: &[T],
    c: usize,
    inner: usize,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
    first: usize,
    fast: bool,
    after: &mut A,
) -> bool {
    let keep = !e.is_empty();
    // the block's maxima and sums and the next block's maxima, in 64-byte
    // aligned arrays (written once per chunk, or once per class for the
    // positions outside the chunks), copied out per block
    let (mut cur, mut nxt, mut sums) = (Lanes::<T>::new(), Lanes::<T>::new(), Lanes::<T>::new());
    let mut r = 0..first.min(inner);
    let mut overflow = plane_shift(z, c, inner, &r, &mut cur.0[..r.len()]);
    let mut any = overflow;
    while !r.is_empty() {
        let next = r.end..(r.end + BLOCK).min(inner);
        let ahead = next.len() == r.len() && !overflow && !fast;
        let (mb, nm, lb) = (&cur.0[..r.len()], &mut nxt.0[..next.len()], &mut sums.0[..r.len()]);
        // with a next block of this one's length, the positions a chunk at a
        // time (the chunk's sums and next maxima in registers), the rest one
        // by one; each position's sums run over the classes in the same order
        // either way
        let full = if ahead { r.len() / CHUNK * CHUNK } else { 0 };
        for q in (0..full).step_by(CHUNK) {
            let (lq, nq) = (&mut lb[q..q + CHUNK], &mut nm[q..q + CHUNK]);
            if keep {
                ahead_chunk::<T, true>(z, c, inner, r.start + q, next.start + q, &mb[q..q + CHUNK], e, lq, nq);
            } else {
                ahead_chunk::<T, false>(z, c, inner, r.start + q, next.start + q, &mb[q..q + CHUNK], &mut [], lq, nq);
            }
            // the chunk's statistics are done: `after` while its rows are in L1
            for v in lq.iter_mut() {
                *v = v.ln_fast();
            }
            after(&(r.start + q..r.start + q + CHUNK), &mb[q..q + CHUNK], lq, e);
        }
        let (rest, next_rest) = (r.start + full..r.end, next.start + full.min(next.len())..next.end);
        let (mb, lb, nm) = (&mb[full..], &mut lb[full..], &mut nm[full.min(next.len())..]);
        lb.fill(T::zero());
        nm.fill(T::neg_infinity());
        for k in 0..c {
            let zk = row(z, k, inner, &rest);
            match (ahead, keep) {
                (true, false) => {
                    let zn = row(z, k, inner, &next_rest);
                    for ((((l, &v), &mi), n), &w) in lb.iter_mut().zip(zk).zip(mb).zip(nm.iter_mut()).zip(zn) {
                        *l += (v - mi).exp_capped();
                        *n = larger(*n, w);
                    }
                }
                (true, true) => {
                    let (zn, ek) = (row(z, k, inner, &next_rest), row_mut(e, k, inner, &rest));
                    let it = lb.iter_mut().zip(ek.iter_mut()).zip(zk).zip(mb).zip(nm.iter_mut()).zip(zn);
                    for (((((l, o), &v), &mi), n), &w) in it {
                        *o = (v - mi).exp_capped();
                        *l += *o;
                        *n = larger(*n, w);
                    }
                }
                (false, _) => {
                    let ex = |v: T| if overflow || fast { v.exp_fast() } else { v.exp_capped() };
                    if keep {
                        let ek = row_mut(e, k, inner, &rest);
                        for (((l, o), &v), &mi) in lb.iter_mut().zip(ek.iter_mut()).zip(zk).zip(mb) {
                            *o = ex(v - mi);
                            *l += *o;
                        }
                    } else {
                        for ((l, &v), &mi) in lb.iter_mut().zip(zk).zip(mb) {
                            *l += ex(v - mi);
                        }
                    }
                }
            }
        }
        for v in lb.iter_mut() {
            *v = v.ln_fast();
        }
        if !rest.is_empty() {
            after(&rest, mb, lb, e);
        }
        let (mb, lb, nm) = (&cur.0[..r.len()], &sums.0[..r.len()], &mut nxt.0[..next.len()]);
        // (a caller that does not want them passes empty `m` and `ls`)
        if !m.is_empty() {
            m[r.clone()].copy_from_slice(mb);
            ls[r.clone()].copy_from_slice(lb);
        }
        overflow = if ahead { finish_shift(nm) } else { plane_shift(z, c, inner, &next, nm) };
        any |= overflow;
        std::mem::swap(&mut cur, &mut nxt);
        r = next;
    }
    any
}

/// Positions per chunk of [`ahead_chunk`]: four 16-lane vectors of f32 sums
/// and four of next maxima stay in registers across the classes.
const CHUNK: usize = 64;

/// [`plane_walk`]'s inner loop for the `CHUNK` positions from `j` of a block
/// whose next block (the same positions from `jn`) has its length: over the
/// classes, `e = exp(z − m)` (kept when `KEEP`), its sum per position into `lb`
/// and the next block's maxima into `nm`. The sums and maxima are local
/// arrays that LLVM keeps in registers, where a block's (256 positions) went
/// through memory at every class (the walk alone, stand-alone: 12–15% faster;
/// nll_2d in the library: 4%). Each position's sum and maximum run over the
/// classes in order, as before.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ahead_chunk<T: Float, const KEEP: bool>(
    z: &[T],
    c: usize,
    inner: usize,
    j: usize,
    jn: usize,
    mb: &[T],
    e: &mut [T],
    lb: &mut [T],
    nm: &mut [T],
) {
    let (mut acc, mut mx) = ([T::zero(); CHUNK], [T::neg_infinity(); CHUNK]);
    let mb = &mb.as_chunks::<CHUNK>().0[0];
    for k in 0..c {
        // slices of exactly `CHUNK`: one bounds check each, no length check
        let (a, an) = (k * inner + j, k * inner + jn);
        let (zc, zn) = (&z[a..a + CHUNK].as_chunks::<CHUNK>().0[0], &z[an..an + CHUNK].as_chunks::<CHUNK>().0[0]);
        // the block after next into L2: a plane's 21+ rows (and the gradient's)
        // are more streams than the hardware prefetcher follows (nll_2d −3%)
        for l in (0..CHUNK).step_by(64 / std::mem::size_of::<T>()) {
            prefetch_l2(z, k * inner + jn + BLOCK + l);
        }
        if KEEP {
            let ec = &mut e[a..a + CHUNK].as_chunks_mut::<CHUNK>().0[0];
            for i in 0..CHUNK {
                ec[i] = (zc[i] - mb[i]).exp_capped();
                acc[i] += ec[i];
            }
        } else {
            for i in 0..CHUNK {
                acc[i] += (zc[i] - mb[i]).exp_capped();
            }
        }
        for i in 0..CHUNK {
            mx[i] = larger(mx[i], zn[i]);
        }
    }
    lb.copy_from_slice(&acc);
    nm.copy_from_slice(&mx);
}

/// A block's worth of per-position values, 64-byte aligned.
#[repr(C, align(64))]
struct Lanes<T>([T; BLOCK]);

impl<T: Float> Lanes<T> {
    fn new() -> Self {
        Lanes([T::zero(); BLOCK])
    }
}

/// Rows shorter than this take [`short_rows`]: a row of 10 would never fill a vector.
const SHORT: usize = 64;

dispatch! {
    /// `m` and `ls` of short rows (`c < SHORT`), keeping `e = exp(z − m)`: every
    /// row shifted first, then one long vectorised `exp` pass over all of them,
    /// then each row's sum. Every row kernel takes it for short rows, keeping or
    /// not, so that a row's statistics do not depend on which one ran (the loss
    /// is the same bits with and without recording). A kernel of its own:
    /// inlined into the row kernels, it made LLVM keep their accumulators on the
    /// stack.
    fn short_rows<T: Float>(z: &[T], c: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
        let c1 = c.max(1);
        let mut overflow = false;
        for (r, (row, erow)) in z.chunks_exact(c1).zip(e.chunks_exact_mut(c1)).enumerate().take(m.len()) {
            let mx = row.iter().fold(T::neg_infinity(), |a, &b| larger(a, b));
            overflow |= mx == T::infinity();
            let shift = if mx.is_infinite() { T::zero() } else { mx };
            for (o, &v) in erow.iter_mut().zip(row) {
                *o = v - shift;
            }
            m[r] = shift;
        }
        if overflow {
            e.iter_mut().for_each(|v| *v = v.exp_fast());
        } else {
            e.iter_mut().for_each(|v| *v = v.exp_capped());
        }
        for (r, erow) in e.chunks_exact(c1).enumerate().take(ls.len()) {
            ls[r] = sum1(erow, |v| v).ln_fast();
        }
    }
}

dispatch! {
    /// [`short_rows`] without keeping the exponentials: a few thousand elements
    /// at a time through a buffer that stays in L1.
    fn short_rows_stats<T: Float>(z: &[T], c: usize, m: &mut [T], ls: &mut [T]) {
        const ELEMS: usize = 2048;
        let c1 = c.max(1);
        let rows = (ELEMS / c1).max(1);
        let mut buf = vec![T::zero(); rows * c1];
        let n = m.len().min(z.len() / c1);
        for r0 in (0..n).step_by(rows) {
            let r1 = (r0 + rows).min(n);
            let e = &mut buf[..(r1 - r0) * c1];
            short_rows(&z[r0 * c1..r1 * c1], c, &mut m[r0..r1], &mut ls[r0..r1], e);
        }
    }
}

/// `m` and `ls` of rows of `c` (`inner == 1`), keeping `e = exp(z − m)` when
/// `KEEP`: [`short_rows`] below [`SHORT`] classes, else the row walk
/// [`fused_rows`]. The one choice every row statistic makes.
#[inline(always)]
fn row_stats<T: Float, const KEEP: bool>(z: &[T], c: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
    let unit = unit_rows(z, m.len(), c);
    match (c < SHORT, KEEP) {
        (true, true) => short_rows(unit, c, m, ls, e),
        (true, false) => short_rows_stats(unit, c, m, ls),
        (false, _) => fused_rows::<T, 0, KEEP>(z, c, m, ls, e, [], Plain),
    }
}

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

/// Per row `r` of `z` (rows of `c`), `picked = (z_t − m) − ls` (0 where `t == ignore`).
#[inline(always)]
fn pick_rows<T: Float>(z: &[T], c: usize, t: &[i64], ignore: i64, m: &[T], ls: &[T], picked: &mut [T]) {
    let rows = m.len().min(z.len() / c.max(1));
    for r in 0..rows {
        picked[r] = if t[r] == ignore { T::zero() } else { (z[r * c + t[r] as usize] - m[r]) - ls[r] };
    }
}

/// The picked log-probabilities made losses in place: `l ← −w_j·l`, or `−l`
/// without weights (`w` holds each position's target weight `w[t_j]`).
#[inline(always)]
pub(crate) fn losses_of_picked<T: Float>(picked: &mut [T], w: Option<&[T]>) {
    match w {
        Some(w) => picked.iter_mut().zip(w).for_each(|(l, &wj)| *l = -wj * *l),
        None => picked.iter_mut().for_each(|l| *l = -*l),
    }
}

/// As [`pick_rows`], for the positions `r` of a plane (`mb`, `lb` are the block's statistics).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pick_block<T: Float>(
    z: &[T],
    c: usize,
    inner: usize,
    r: &Range<usize>,
    t: &[i64],
    ignore: i64,
    mb: &[T],
    lb: &[T],
    picked: &mut [T],
) {
    let f32s = (T::as_f32(z), T::as_f32(mb), T::as_f32(lb), T::as_f32_mut(&mut picked[r.clone()]));
    if let (Some(z), Some(mb), Some(lb), Some(p)) = f32s
        && pick_plane_f32(Plane { z, c, inner, j0: r.start }, Picks { t: &t[r.clone()], ignore, m: mb, ls: lb }, p)
    {
        return;
    }
    for (i, j) in r.clone().enumerate() {
        picked[j] = if t[j] == ignore { T::zero() } else { (z[t[j] as usize * inner + j] - mb[i]) - lb[i] };
    }
}

dispatch! {
    /// As [`stats`], and per position the log-probability of its target class
    /// `picked = (z_t − m) − ls` (0 where `t == ignore`), read while the row or
    /// block is still in cache. Targets are in `[0, c)` or `ignore`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats_pick<T: Float>(z: &[T], c: usize, inner: usize, lead: usize, t: &[i64], ignore: i64, m: &mut [T], ls: &mut [T], picked: &mut [T]) {
        if inner == 1 {
            row_stats::<T, false>(z, c, m, ls, &mut []);
            pick_rows(z, c, t, ignore, m, ls, picked);
        } else {
            planes_pick(z, c, inner, lead, t, ignore, None, m, ls, picked, &mut []);
        }
    }
}

/// The scales `a_j` of [`stats_pick_onehot`]'s gradient: at each position `j`
/// the upstream gradient `s` times the position's target weight `w[j]`
/// (`w[j]·s`; `s` without weights), 0 where the target is ignored: nll's
/// `target_scales` for one upstream gradient, made a block at a time where
/// they are used rather than in a pass of their own.
#[derive(Clone, Copy)]
pub(crate) struct Scales<'a, T> {
    /// The upstream gradient reaching every position.
    pub s: T,
    /// Each position's target weight (`w[t_j]`), if there are class weights.
    pub w: Option<&'a [T]>,
}

impl<T: Float> Scales<'_, T> {
    /// `a_j` of the positions `r` (of the targets `t`) into `out`.
    #[inline(always)]
    fn fill(&self, t: &[i64], ignore: i64, r: Range<usize>, out: &mut [T]) {
        match self.w {
            Some(w) => {
                for ((o, &tj), &wj) in out.iter_mut().zip(&t[r.clone()]).zip(&w[r]) {
                    *o = if tj == ignore { T::zero() } else { wj * self.s };
                }
            }
            None => {
                for (o, &tj) in out.iter_mut().zip(&t[r]) {
                    *o = if tj == ignore { T::zero() } else { self.s };
                }
            }
        }
    }
}

dispatch! {
    /// [`stats_pick`] and then [`softmax_onehot`] with the scales `a` (known
    /// before the statistics), the unit (rows) or a block of positions (planes)
    /// at a time while it is in cache: the logits are read from memory once, and the
    /// exponentials summed for the statistics, kept in `out`, become the
    /// gradient there. `picked` receives the losses, [`losses_of_picked`]
    /// with the scales' weights. Equal to the kernels run one after the
    /// other, bit for bit (both compute `a·exp(−ls) · exp(z − m)`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats_pick_onehot<T: Float>(
        z: &[T], c: usize, inner: usize, lead: usize, t: &[i64], ignore: i64, a: Scales<'_, T>, m: &mut [T], ls: &mut [T],
        picked: &mut [T], out: &mut [T],
    ) {
        if inner == 1 {
            row_stats::<T, true>(z, c, m, ls, out);
            pick_rows(z, c, t, ignore, m, ls, picked);
            losses_of_picked(picked, a.w);
            let mut ar = vec![T::zero(); m.len()];
            a.fill(t, ignore, 0..m.len(), &mut ar);
            onehot_rows::<T, true>(z, c, m, ls, &ar, t, ignore, out);
        } else {
            planes_pick(z, c, inner, lead, t, ignore, Some(a), m, ls, picked, out);
        }
    }
}

dispatch! {
    /// The plane part of [`stats`] (`e` empty) and [`stats_keep`]: a kernel of
    /// its own, never inlined, so that the row kernels are compiled without
    /// the plane walk (whether LLVM keeps their accumulators in registers has
    /// proved sensitive to what else a function holds: see [`lead_of`]).
    #[inline(never)]
    fn planes_keep<T: Float>(z: &[T], c: usize, inner: usize, lead: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
        plane_stats(z, c, inner, lead, m, ls, e, |_, _, _, _| {});
    }
}

dispatch! {
    /// The plane part of [`stats_pick`] (`a` none, `out` empty) and
    /// [`stats_pick_onehot`], for the same reason as [`planes_keep`].
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn planes_pick<T: Float>(
        z: &[T], c: usize, inner: usize, lead: usize, t: &[i64], ignore: i64, a: Option<Scales<'_, T>>, m: &mut [T],
        ls: &mut [T], picked: &mut [T], out: &mut [T],
    ) {
        match a {
            None => {
                plane_stats(z, c, inner, lead, m, ls, &mut [], #[inline(always)] |r, mb, lb, _| pick_block(z, c, inner, r, t, ignore, mb, lb, picked));
            }
            Some(a) => {
                let mut ab = [T::zero(); BLOCK];
                plane_stats(z, c, inner, lead, m, ls, out, #[inline(always)] |r, mb, lb, e| {
                    pick_block(z, c, inner, r, t, ignore, mb, lb, picked);
                    // made losses while in L1: as a pass after the walk,
                    // when they have left the cache, 1.3% of nll_2d
                    losses_of_picked(&mut picked[r.clone()], a.w.map(|w| &w[r.clone()]));
                    let ab = &mut ab[..r.len()];
                    a.fill(t, ignore, r.clone(), ab);
                    onehot_block::<T, true>(z, c, inner, r, mb, lb, ab, t, ignore, e);
                });
            }
        }
    }
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
    /// Per position, `Σ_c w_c · (z_c − m)` (`w = 1` when absent): the label-smoothing term.
    /// Used for short rows; its plane branch is the reference that
    /// [`planes_smooth`] is tested against.
    pub(crate) fn weighted_shifted_sum<T: Float>(z: &[T], c: usize, inner: usize, m: &[T], w: Option<&[T]>, out: &mut [T]) {
        if inner == 1 {
            for (r, row) in z.chunks_exact(c.max(1)).enumerate().take(out.len()) {
                let mr = m[r];
                out[r] = match w {
                    Some(w) => sum2(row, w, |v, wi| wi * (v - mr)),
                    None => sum1(row, |v| v - mr),
                };
            }
        } else {
            for r in blocks(inner) {
                shifted_sum_block(z, c, inner, &r, &m[r.clone()], w, &mut out[r.clone()]);
            }
        }
    }
}

/// [`weighted_shifted_sum`] for the positions `r` of a plane (`m`, `out`
/// the block's): each position's classes in order, from 0.
#[inline(always)]
fn shifted_sum_block<T: Float>(
    z: &[T],
    c: usize,
    inner: usize,
    r: &Range<usize>,
    m: &[T],
    w: Option<&[T]>,
    out: &mut [T],
) {
    out.fill(T::zero());
    for k in 0..c {
        let wk = w.map_or(T::one(), |w| w[k]);
        for ((o, &v), &mi) in out.iter_mut().zip(row(z, k, inner, r)).zip(m) {
            *o += wk * (v - mi);
        }
    }
}

/// Rows of `c`: `out_c = a·exp(−ls) · e_c − a · [c = t]`, rows with `a = 0`
/// exactly zero, where `e_c` is the kept exponential already in `out` when
/// `KEPT`, else `exp(z_c − m)` from the logits `z` and maxima `m`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn onehot_rows<T: Float, const KEPT: bool>(
    z: &[T],
    c: usize,
    m: &[T],
    ls: &[T],
    a: &[T],
    t: &[i64],
    ignore: i64,
    out: &mut [T],
) {
    for (r, orow) in out.chunks_exact_mut(c.max(1)).enumerate().take(ls.len()) {
        let ar = a[r];
        if ar == T::zero() {
            orow.fill(T::zero());
            continue;
        }
        let scale = ar * (-ls[r]).exp_fast();
        if KEPT {
            orow.iter_mut().for_each(|o| *o = scale * *o);
        } else {
            let mr = m[r];
            for (o, &v) in orow.iter_mut().zip(&z[r * c..(r + 1) * c]) {
                *o = scale * (v - mr).exp_capped();
            }
        }
        if t[r] != ignore {
            orow[t[r] as usize] -= ar;
        }
    }
}

/// As [`onehot_rows`], for the positions `r` of a plane (`mb`, `lb` and `ab`,
/// the scales `a`, the block's; `z` and `t` for the whole plane).
///
/// A block whose positions share one nonzero scale (no ignored target, no
/// class weights: every block of a plain `mean`) takes a loop that subtracts
/// that scale at the target without looking at each position's: the same
/// values, as [`onehot_term`] only differs from `y − a` / `y` where `a = 0`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn onehot_block<T: Float, const KEPT: bool>(
    z: &[T],
    c: usize,
    inner: usize,
    r: &Range<usize>,
    mb: &[T],
    lb: &[T],
    ab: &[T],
    t: &[i64],
    ignore: i64,
    out: &mut [T],
) {
    let (mut scale, mut tb) = ([T::zero(); BLOCK], [-1i32; BLOCK]);
    let (scale, tb) = (&mut scale[..r.len()], &mut tb[..r.len()]);
    for ((sc, &ai), &li) in scale.iter_mut().zip(ab).zip(lb) {
        *sc = ai * (-li).exp_fast();
    }
    // the target class as an i32 lane (−1 where ignored: no class), so that
    // the per-class loops subtract `a` at the target themselves
    for (d, &tj) in tb.iter_mut().zip(&t[r.clone()]) {
        *d = if tj == ignore { -1 } else { tj as i32 };
    }
    // NaN is unequal to itself: a NaN scale takes the general loop (a fold, so
    // that the check vectorises)
    let uniform = ab.first().copied().filter(|&a0| a0 != T::zero() && ab.iter().fold(true, |u, &ai| u & (ai == a0)));
    for k in 0..c {
        let (ok, ki) = (row_mut(out, k, inner, r), k as i32);
        match (KEPT, uniform) {
            (true, Some(a0)) => {
                for ((o, &sc), &tj) in ok.iter_mut().zip(&*scale).zip(&*tb) {
                    let y = sc * *o;
                    *o = if tj == ki { y - a0 } else { y };
                }
            }
            (true, None) => {
                for (((o, &sc), &ai), &tj) in ok.iter_mut().zip(&*scale).zip(ab).zip(&*tb) {
                    let y = sc * *o;
                    *o = onehot_term(y, ai, tj == ki);
                }
            }
            (false, Some(a0)) => {
                let it = ok.iter_mut().zip(row(z, k, inner, r)).zip(mb).zip(&*scale).zip(&*tb);
                for ((((o, &v), &mi), &sc), &tj) in it {
                    let y = sc * (v - mi).exp_capped();
                    *o = if tj == ki { y - a0 } else { y };
                }
            }
            (false, None) => {
                let it = ok.iter_mut().zip(row(z, k, inner, r)).zip(mb).zip(&*scale).zip(ab).zip(&*tb);
                for (((((o, &v), &mi), &sc), &ai), &tj) in it {
                    let y = sc * (v - mi).exp_capped();
                    *o = onehot_term(y, ai, tj == ki);
                }
            }
        }
    }
}

/// One entry of `a·softmax − a·onehot`: `y − a` at the target, `y` elsewhere,
/// exactly 0 where `a = 0` (an ignored target or a zero weight).
#[inline(always)]
fn onehot_term<T: Float>(y: T, a: T, target: bool) -> T {
    if a == T::zero() {
        T::zero()
    } else if target {
        y - a
    } else {
        y
    }
}

dispatch! {
    /// The gradient of `nll_loss(log_softmax(z))` for one unit, per position:
    /// `out_c = a·exp(−ls) · exp(z_c − m) − a · [c = t]` (rows with `a = 0`,
    /// such as ignored targets, exactly zero); the target's term is subtracted
    /// while the row or block is still in cache.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn softmax_onehot<T: Float>(z: &[T], c: usize, inner: usize, m: &[T], ls: &[T], a: &[T], t: &[i64], ignore: i64, out: &mut [T]) {
        if inner == 1 {
            onehot_rows::<T, false>(z, c, m, ls, a, t, ignore, out);
        } else {
            for r in blocks(inner) {
                onehot_block::<T, false>(z, c, inner, &r, &m[r.clone()], &ls[r.clone()], &a[r.clone()], t, ignore, out);
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
    /// Class-probability targets `t` smoothed to `t' = (1 − ε)·t + ε/C`: per
    /// position `tw = Σ_c w_c·t'_c` and `zw = Σ_c w_c·t'_c·(z_c − m)`, so that the
    /// loss is `ls·tw − zw`. Without weights or smoothing `w·t'` is `t` itself
    /// (see [`plain_targets`]). Used for short rows; its plane branch is the
    /// reference that [`planes_prob`] is tested against.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prob_sums<T: Float>(z: &[T], t: &[T], c: usize, inner: usize, m: &[T], w: Option<&[T]>, eps: T, tw: &mut [T], zw: &mut [T]) {
        let (keep, uniform) = (T::one() - eps, eps / T::from_f64(c as f64));
        let plain = plain_targets(w, eps);
        if inner == 1 {
            for (r, (zrow, trow)) in z.chunks_exact(c.max(1)).zip(t.chunks_exact(c.max(1))).enumerate() {
                let mr = m[r];
                match w {
                    Some(w) => {
                        tw[r] = sum2(trow, w, |tv, wv| wv * (keep * tv + uniform));
                        zw[r] = sum3(trow, w, zrow, |tv, wv, zv| wv * (keep * tv + uniform) * (zv - mr));
                    }
                    None if plain => {
                        tw[r] = sum1(trow, |tv| tv);
                        zw[r] = sum2(trow, zrow, |tv, zv| tv * (zv - mr));
                    }
                    None => {
                        tw[r] = sum1(trow, |tv| keep * tv + uniform);
                        zw[r] = sum2(trow, zrow, |tv, zv| (keep * tv + uniform) * (zv - mr));
                    }
                }
            }
        } else {
            let p = TargetMix { w, keep, uniform, plain };
            for r in blocks(inner) {
                p.sums_block(z, t, c, inner, &r, &m[r.clone()], &mut tw[r.clone()], &mut zw[r.clone()]);
            }
        }
    }
}

/// How probability targets enter the sums and the gradient: `p'_c =
/// w_c·(keep·t_c + uniform)` (`keep = 1 − ε`, `uniform = ε/C`), or `t_c`
/// itself when `plain` ([`plain_targets`]).
#[derive(Clone, Copy)]
struct TargetMix<'a, T> {
    w: Option<&'a [T]>,
    keep: T,
    uniform: T,
    plain: bool,
}

impl<T: Float> TargetMix<'_, T> {
    /// [`prob_sums`] for the positions `r` of a plane (`m`, `tw`, `zw` the
    /// block's): each position's classes in order, from 0.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn sums_block(
        &self,
        z: &[T],
        t: &[T],
        c: usize,
        inner: usize,
        r: &Range<usize>,
        m: &[T],
        tw: &mut [T],
        zw: &mut [T],
    ) {
        let TargetMix { w, keep, uniform, plain } = *self;
        tw.fill(T::zero());
        zw.fill(T::zero());
        for k in 0..c {
            let wk = w.map_or(T::one(), |w| w[k]);
            let (zk, tk) = (row(z, k, inner, r), row(t, k, inner, r));
            for ((((twi, zwi), &zv), &tv), &mi) in tw.iter_mut().zip(zw.iter_mut()).zip(zk).zip(tk).zip(m) {
                let wt = if plain { tv } else { wk * (keep * tv + uniform) };
                *twi += wt;
                *zwi += wt * (zv - mi);
            }
        }
    }

    /// [`prob_grads_kept`]'s `gz` for the positions `r` of a plane from their
    /// kept exponentials (`ls`, `s`, `tw` the block's): `e_c ← s·(e_c·scale −
    /// p'_c)` with `scale = tw·exp(−ls)`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn grad_block(&self, e: &mut [T], t: &[T], c: usize, inner: usize, r: &Range<usize>, ls: &[T], s: &[T], tw: &[T]) {
        let TargetMix { w, keep, uniform, plain } = *self;
        let mut scale = [T::zero(); BLOCK];
        let scale = &mut scale[..r.len()];
        for ((sc, &twi), &li) in scale.iter_mut().zip(tw).zip(ls) {
            *sc = twi * (-li).exp_fast();
        }
        for k in 0..c {
            let wk = w.map_or(T::one(), |w| w[k]);
            for (((o, &tv), &si), &sc) in
                row_mut(e, k, inner, r).iter_mut().zip(row(t, k, inner, r)).zip(s).zip(&*scale)
            {
                *o = si * (*o * sc - if plain { tv } else { wk * (keep * tv + uniform) });
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

/// For one row with its shift known: `Σ exp(z − shift)` (kept in `e` when
/// `KEEP`), `Σ w·(z − shift)`, and the maximum of the `next` row (of the same
/// length), in one loop; sums as [`sum1`] / [`sum2`] would make them.
#[inline(always)]
fn smooth_row_ahead<T: Float, const KEEP: bool>(row: &[T], next: &[T], w: &[T], shift: T, e: &mut [T]) -> (T, T, T) {
    let (mut acc, mut sacc, mut nm) = ([T::zero(); 16], [T::zero(); 16], [T::neg_infinity(); 16]);
    let ((xc, xr), (yc, yr), (wc, wr)) = (row.as_chunks::<16>(), next.as_chunks::<16>(), w.as_chunks::<16>());
    let (mut rest, mut srest) = (T::zero(), T::zero());
    if KEEP {
        let (ec, erest) = e.as_chunks_mut::<16>();
        for (((e16, a16), b16), w16) in ec.iter_mut().zip(xc).zip(yc).zip(wc) {
            for i in 0..16 {
                let d = a16[i] - shift;
                e16[i] = d.exp_capped();
                acc[i] += e16[i];
                sacc[i] += w16[i] * d;
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for ((o, &v), &wi) in erest.iter_mut().zip(xr).zip(wr) {
            *o = (v - shift).exp_capped();
            rest += *o;
            srest += wi * (v - shift);
        }
    } else {
        for ((a16, b16), w16) in xc.iter().zip(yc).zip(wc) {
            for i in 0..16 {
                let d = a16[i] - shift;
                acc[i] += d.exp_capped();
                sacc[i] += w16[i] * d;
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for (&v, &wi) in xr.iter().zip(wr) {
            rest += (v - shift).exp_capped();
            srest += wi * (v - shift);
        }
    }
    let next_max = lanes_max_with(nm, yr);
    (lanes_sum(acc) + rest, lanes_sum(sacc) + srest, next_max)
}

/// Whether [`stats_smooth`] makes the smoothing term (and a gradient, if
/// given) in its walk: rows of at least [`SHORT`] classes in the same pass as
/// the exponentials, planes a chunk of positions at a time right after
/// their statistics.
pub(crate) fn smooth_fused(c: usize, inner: usize) -> bool {
    inner > 1 || c >= SHORT
}

dispatch! {
    /// As [`stats_keep`] (or [`stats`] when `e` is empty), and per position the
    /// label-smoothing term `sm = Σ_c w_c·(z_c − m)` of
    /// [`weighted_shifted_sum`], with the same results: for rows of at least [`SHORT`]
    /// classes in the same pass as the exponentials (the row is read once, and
    /// the next row's maximum found alongside); for planes, a chunk of
    /// positions at a time right after their statistics ([`planes_smooth`]);
    /// otherwise one pass after the other. With `grad` (given only where
    /// [`smooth_fused`], and `e` kept), each row's or position's exponentials
    /// become its gradient right after its statistics (see [`RowGrads`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats_smooth<T: Float>(
        z: &[T], c: usize, inner: usize, lead: usize, w: Option<&[T]>, grad: Option<RowGrads<'_, T>>, m: &mut [T], ls: &mut [T],
        sm: &mut [T], e: &mut [T],
    ) {
        debug_assert!(grad.is_none() || (smooth_fused(c, inner) && !e.is_empty()), "stats_smooth: a gradient it cannot make");
        if inner > 1 {
            planes_smooth(z, c, inner, lead, w, grad, m, ls, sm, e);
            return;
        }
        if !smooth_fused(c, inner) {
            let z = unit_rows(z, m.len(), c);
            stats_maybe_keep(z, c, inner, lead, m, ls, e);
            weighted_shifted_sum(z, c, inner, m, w, sm);
            return;
        }
        let wo = &*weights_or_ones(w, c);
        if !e.is_empty() {
            fused_rows::<T, 1, true>(z, c, m, ls, e, [sm], Smooth { w: wo, grad });
        } else {
            fused_rows::<T, 1, false>(z, c, m, ls, e, [sm], Smooth { w: wo, grad: None });
        }
    }
}

dispatch! {
    /// The plane part of [`stats_smooth`]: the plane walk, and after each
    /// chunk (or block rest) of positions, while its rows are in cache, the
    /// smoothing term `sm = Σ_c w_c·(z_c − m)` of those positions (as
    /// [`weighted_shifted_sum`]: each position's classes in order) and, with
    /// `grad`, their gradient (as [`affine_in_place`], then the target's
    /// subtraction): the same bits as those passes over the whole unit after
    /// the walk. A kernel of its own for the reason given at [`planes_keep`].
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn planes_smooth<T: Float>(
        z: &[T], c: usize, inner: usize, lead: usize, w: Option<&[T]>, grad: Option<RowGrads<'_, T>>, m: &mut [T], ls: &mut [T],
        sm: &mut [T], e: &mut [T],
    ) {
        plane_stats(z, c, inner, lead, m, ls, e, #[inline(always)] |r, mb, lb, e| {
            shifted_sum_block(z, c, inner, r, mb, w, &mut sm[r.clone()]);
            if let Some(g) = grad {
                smooth_block(e, c, inner, r, lb, g);
            }
        });
    }
}

/// The gradient of the positions `r` of a plane from their kept
/// exponentials (`lb`: their `ls`): [`affine_block`] with each position's
/// `a`, `b` ([`RowGrads::at`]), then `e_t −= d` at each target, as
/// `IndexGrad::unit` computes it.
#[inline(always)]
fn smooth_block<T: Float>(e: &mut [T], c: usize, inner: usize, r: &Range<usize>, lb: &[T], g: RowGrads<'_, T>) {
    let (mut a, mut b) = ([T::zero(); BLOCK], [T::zero(); BLOCK]);
    let (a, b) = (&mut a[..r.len()], &mut b[..r.len()]);
    for (i, j) in r.clone().enumerate() {
        (a[i], b[i], _) = g.at(j);
    }
    affine_block(e, c, inner, r, lb, a, b, g.w);
    for j in r.clone() {
        if let (_, _, Some((t, d))) = g.at(j) {
            e[t * inner + j] -= d;
        }
    }
}

dispatch! {
    /// The plane part of [`stats_prob`]: the plane walk, and after each chunk
    /// (or block rest) of positions, while the chunk's logits are in cache,
    /// its target sums `tw`, `zw` (as [`prob_sums`]: each position's classes
    /// in order) and, with `grad = Some(s)` and `e` kept, its gradient (as
    /// [`prob_grads_kept`] with `s` at every position): the same bits as those
    /// passes over the whole unit after the walk. A kernel of its own for the
    /// reason given at [`planes_keep`].
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn planes_prob<T: Float>(
        z: &[T], t: &[T], c: usize, inner: usize, lead: usize, w: Option<&[T]>, eps: T, grad: Option<T>, m: &mut [T],
        ls: &mut [T], tw: &mut [T], zw: &mut [T], e: &mut [T],
    ) {
        let (keep, uniform) = (T::one() - eps, eps / T::from_f64(c as f64));
        let p = TargetMix { w, keep, uniform, plain: plain_targets(w, eps) };
        // the one upstream gradient, as the per-position scales `grad_block` takes
        let s = grad.filter(|_| !e.is_empty()).map(|s| [s; BLOCK]);
        plane_stats(z, c, inner, lead, m, ls, e, #[inline(always)] |r, mb, lb, e| {
            let (twr, zwr) = (&mut tw[r.clone()], &mut zw[r.clone()]);
            p.sums_block(z, t, c, inner, r, mb, twr, zwr);
            if let Some(s) = &s {
                p.grad_block(e, t, c, inner, r, lb, &s[..r.len()], twr);
            }
        });
    }
}

dispatch! {
    /// As [`stats_keep`] (or [`stats`] when `e` is empty), and per position the
    /// target sums of [`prob_sums`] (`tw = Σ_c w_c·p'_c`, `zw = Σ_c w_c·p'_c·(z_c − m)`
    /// with `p' = (1 − ε)·p + ε/C`), with the same results: for rows of at least
    /// [`SHORT`] classes in the same pass as the exponentials; for planes a
    /// chunk of positions at a time right after their statistics
    /// ([`planes_prob`]); otherwise one pass after the other. With `grad` =
    /// `Some(s)` (and `e` kept), `e` then becomes the gradient of
    /// [`prob_grads_kept`] for the scale `s` at every position: for rows of at
    /// least [`SHORT`] classes each row right after its statistics, while it
    /// is in cache, for planes each chunk after its sums; otherwise by
    /// [`prob_grads_kept`] itself. The same bits either way.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats_prob<T: Float>(z: &[T], t: &[T], c: usize, inner: usize, lead: usize, w: Option<&[T]>, eps: T, grad: Option<T>, m: &mut [T], ls: &mut [T], tw: &mut [T], zw: &mut [T], e: &mut [T]) {
        if inner > 1 {
            planes_prob(z, t, c, inner, lead, w, eps, grad, m, ls, tw, zw, e);
            return;
        }
        if c < SHORT {
            let z = unit_rows(z, m.len(), c);
            stats_maybe_keep(z, c, inner, lead, m, ls, e);
            prob_sums(z, t, c, inner, m, w, eps, tw, zw);
            if let Some(s) = grad.filter(|_| !e.is_empty()) {
                let s = vec![s; m.len()];
                prob_grads_kept(e, z, t, c, inner, m, ls, &s, tw, w, eps, &mut []);
            }
            return;
        }
        let plain = plain_targets(w, eps);
        let w = &*weights_or_ones(w, c);
        let (kept, uniform) = (T::one() - eps, eps / T::from_f64(c as f64));
        let sums = Prob { t, w, kept, uniform, plain, grad };
        if !e.is_empty() {
            fused_rows::<T, 2, true>(z, c, m, ls, e, [tw, zw], sums);
        } else {
            fused_rows::<T, 2, false>(z, c, m, ls, e, [tw, zw], sums);
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
/// it on the stack (cross-entropy on rows of 100 went 2.5 → 4.3 ms).
pub(crate) fn lead_of<T>(s: &[T]) -> usize {
    let size = std::mem::size_of::<T>().max(1);
    (64 - s.as_ptr() as usize % 64) % 64 / size
}

/// [`lead_of`] the buffer a plane walk writes: `e` when not empty, else `z`.
pub(crate) fn lead_of_walk<T>(z: &[T], e: &[T]) -> usize {
    if e.is_empty() { lead_of(z) } else { lead_of(e) }
}

/// Whether class-probability targets are used as they are: no class weights
/// and no label smoothing, where `w·((1 − ε)·t + ε/C)` is `t` (every kernel
/// then skips its three operations per element: the same sums, bit for bit,
/// since they start from `+0`; a zero gradient entry may differ from the
/// general formula only in its sign, at `t = −0`).
fn plain_targets<T: Float>(w: Option<&[T]>, eps: T) -> bool {
    w.is_none() && eps == T::zero()
}

/// The class weights, or `c` ones: `1·x == x` exactly, so the unweighted sums
/// come out bit for bit as without a weight.
fn weights_or_ones<T: Float>(w: Option<&[T]>, c: usize) -> std::borrow::Cow<'_, [T]> {
    w.map_or_else(|| vec![T::one(); c].into(), Into::into)
}

/// The extra per-row sums that [`fused_rows`] computes with the statistics.
/// (A trait rather than closures: closures are not inlined into the SIMD
/// builds of the kernels, and then run as portable code.)
trait RowSums<T: Float, const N: usize> {
    /// `(Σ exp(row − shift)` (kept in `e` when not empty), the `next` row's
    /// maximum, the sums`)`, in one loop.
    fn fast<const KEEP: bool>(&self, r: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; N]);
    /// The sums alone.
    fn general(&self, r: usize, row: &[T], shift: T) -> [T; N];
    /// Once row `r`'s statistics are done: may turn its kept exponentials
    /// `e` into something else in place, from its `ls` and its sums.
    #[inline(always)]
    fn finish(&self, _r: usize, _e: &mut [T], _ls: T, _sums: &[T; N]) {}
}

/// No extra sums: the statistics alone.
struct Plain;

impl<T: Float> RowSums<T, 0> for Plain {
    #[inline(always)]
    fn fast<const KEEP: bool>(&self, _: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; 0]) {
        let (s, next_max) = plain_row_ahead::<T, KEEP>(row, next, shift, e);
        (s, next_max, [])
    }
    #[inline(always)]
    fn general(&self, _: usize, _: &[T], _: T) -> [T; 0] {
        []
    }
}

/// For one row with its shift known: `Σ exp(z − shift)` (kept in `e` when
/// `KEEP`) and the maximum of the `next` row (of the same length), in one
/// loop, so that the next row's loads from memory overlap this row's `exp`;
/// the sum as [`sum1`] would make it.
#[inline(always)]
fn plain_row_ahead<T: Float, const KEEP: bool>(row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T) {
    let (mut acc, mut nm) = ([T::zero(); 16], [T::neg_infinity(); 16]);
    let ((xc, xr), (yc, yr)) = (row.as_chunks::<16>(), next.as_chunks::<16>());
    let mut rest = T::zero();
    if KEEP {
        let (ec, erest) = e.as_chunks_mut::<16>();
        for ((e16, a16), b16) in ec.iter_mut().zip(xc).zip(yc) {
            for i in 0..16 {
                e16[i] = (a16[i] - shift).exp_capped();
                acc[i] += e16[i];
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for (o, &v) in erest.iter_mut().zip(xr) {
            *o = (v - shift).exp_capped();
            rest += *o;
        }
    } else {
        for (a16, b16) in xc.iter().zip(yc) {
            for i in 0..16 {
                acc[i] += (a16[i] - shift).exp_capped();
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        rest = xr.iter().fold(T::zero(), |s, &v| s + (v - shift).exp_capped());
    }
    let next_max = lanes_max_with(nm, yr);
    (lanes_sum(acc) + rest, next_max)
}

/// `Σ_c w_c·(z_c − m)`, the label-smoothing term.
struct Smooth<'a, T> {
    w: &'a [T],
    /// When given: each row's kept exponentials become its gradient (see
    /// [`RowSums::finish`] and [`RowGrads`]).
    grad: Option<RowGrads<'a, T>>,
}

/// What the cross-entropy gradient (class indices, label smoothing ε) of a
/// unit's rows or positions needs, so that each one's gradient can be made
/// in the walk right after its statistics: the unit's targets `t`, the
/// class weights `w` (none: ones), and one upstream gradient `s` for all
/// (a reduced loss). [`RowGrads::at`] gives a row's or position's scales.
#[derive(Clone, Copy)]
pub(crate) struct RowGrads<'a, T> {
    pub t: &'a [i64],
    pub ignore: i64,
    pub w: Option<&'a [T]>,
    pub s: T,
    /// `1 − ε`
    pub keep: T,
    /// `ε / C`
    pub uniform: T,
    /// `Σ_c w_c` (`C` without weights)
    pub wsum: T,
}

impl<T: Float> RowGrads<'_, T> {
    /// For row or position `j`: `a`, `b` (of [`affine_row`]) and the target
    /// entry's subtraction, as [`index_scales`] makes them; zeros and `None`
    /// where the target is ignored.
    #[inline(always)]
    fn at(&self, j: usize) -> (T, T, Option<(usize, T)>) {
        let tj = self.t[j];
        if tj == self.ignore {
            return (T::zero(), T::zero(), None);
        }
        let wt = self.w.map_or(T::one(), |w| w[tj as usize]);
        let (a, b, d) = index_scales(self.s, wt, self.keep, self.uniform, self.wsum);
        (a, b, Some((tj as usize, d)))
    }
}

/// The cross-entropy gradient of one row or position with class index `t`,
/// target weight `wt = w_t` and upstream gradient `s`, label smoothing ε:
/// `a·softmax_c − b·w_c`, minus `d` at the target, with
/// `a = s·((1 − ε)·w_t + (ε/C)·Σw)`, `b = s·ε/C`, `d = s·(1 − ε)·w_t`.
/// Returns `(a, b, d)` (`keep = 1 − ε`, `uniform = ε/C`, `wsum = Σw`).
#[inline(always)]
pub(crate) fn index_scales<T: Float>(s: T, wt: T, keep: T, uniform: T, wsum: T) -> (T, T, T) {
    (s * (keep * wt + uniform * wsum), s * uniform, s * keep * wt)
}

impl<T: Float> RowSums<T, 1> for Smooth<'_, T> {
    #[inline(always)]
    fn fast<const KEEP: bool>(&self, _: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; 1]) {
        let (s, smooth, next_max) = smooth_row_ahead::<T, KEEP>(row, next, self.w, shift, e);
        (s, next_max, [smooth])
    }
    #[inline(always)]
    fn general(&self, _: usize, row: &[T], shift: T) -> [T; 1] {
        [sum2(row, self.w, |v, wi| wi * (v - shift))]
    }
    #[inline(always)]
    fn finish(&self, r: usize, e: &mut [T], ls: T, _: &[T; 1]) {
        if let Some(g) = self.grad {
            let (a, b, target) = g.at(r);
            affine_row_target(e, ls, a, b, g.w, target);
        }
    }
}

/// `[Σ_c w_c·p'_c, Σ_c w_c·p'_c·(z_c − m)]` with `p' = kept·t + uniform`, for
/// probability targets `t` (rows of the logits' length).
struct Prob<'a, T> {
    t: &'a [T],
    w: &'a [T],
    kept: T,
    uniform: T,
    /// [`plain_targets`]: `p'` is `t` itself.
    plain: bool,
    /// When `Some(s)`: each row's kept exponentials become its gradient for the
    /// scale `s` (see [`RowSums::finish`]).
    grad: Option<T>,
}

impl<T: Float> RowSums<T, 2> for Prob<'_, T> {
    #[inline(always)]
    fn fast<const KEEP: bool>(&self, r: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; 2]) {
        let (c, p) = (row.len(), (self.kept, self.uniform));
        let t = &self.t[r * c..(r + 1) * c];
        let (s, sums, next_max) = if self.plain {
            prob_row_ahead::<T, KEEP, true>(row, t, next, self.w, p, shift, e)
        } else {
            prob_row_ahead::<T, KEEP, false>(row, t, next, self.w, p, shift, e)
        };
        (s, next_max, sums)
    }
    #[inline(always)]
    fn general(&self, r: usize, row: &[T], shift: T) -> [T; 2] {
        let (c, kept, uniform) = (row.len(), self.kept, self.uniform);
        let t = &self.t[r * c..(r + 1) * c];
        if self.plain {
            return [sum1(t, |tv| tv), sum2(t, row, |tv, zv| tv * (zv - shift))];
        }
        [
            sum2(t, self.w, |tv, wv| wv * (kept * tv + uniform)),
            sum3(t, self.w, row, |tv, wv, zv| wv * (kept * tv + uniform) * (zv - shift)),
        ]
    }
    #[inline(always)]
    fn finish(&self, r: usize, e: &mut [T], ls: T, sums: &[T; 2]) {
        if let Some(s) = self.grad {
            let c = e.len();
            let scale = sums[0] * (-ls).exp_fast();
            prob_row_grad(e, &self.t[r * c..(r + 1) * c], self.w, self.kept, self.uniform, self.plain, s, scale);
        }
    }
}

dispatch! {
    /// One row of [`prob_grads_kept`]: `e ← s·(e·scale − w·(kept·t + uniform))`
    /// (with `w` the ones of [`weights_or_ones`] when there are no weights,
    /// `w·x` is `x` exactly), or `e ← s·(e·scale − t)` when `plain`
    /// ([`plain_targets`]). A kernel of its own, never inlined, so that the row
    /// walk's code does not change with it (inlined, it measured the same). What
    /// did make LLVM keep the walk's accumulators on the stack was a third
    /// instantiation of the walk for a separate gradient type (`ce_prob` 0.8 →
    /// 1.2 ms): hence [`Prob`]'s `grad` field.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn prob_row_grad<T: Float>(e: &mut [T], t: &[T], w: &[T], kept: T, uniform: T, plain: bool, s: T, scale: T) {
        if plain {
            for (o, &tv) in e.iter_mut().zip(t) {
                *o = s * (*o * scale - tv);
            }
        } else {
            for ((o, &tv), &wv) in e.iter_mut().zip(t).zip(w) {
                *o = s * (*o * scale - wv * (kept * tv + uniform));
            }
        }
    }
}

/// The row walk of every row statistic (rows of `c`): per row its shift `m`
/// and `ls = log Σ exp(z − m)`, the exponentials kept in `e` when `KEEP` (then
/// `e` holds the unit's elements), and the `N` per-row sums of `sums` written
/// to `out`. Each row's maximum is found while the row before it is
/// exponentiated: rows with a finite maximum and a next row go to
/// [`RowSums::fast`]; the others (`+inf`, the last row) take the general exp
/// here and [`RowSums::general`] for the sums.
#[inline(always)]
fn fused_rows<T: Float, const N: usize, const KEEP: bool>(
    z: &[T],
    c: usize,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
    mut out: [&mut [T]; N],
    sums: impl RowSums<T, N>,
) {
    let keep = KEEP;
    let rows = m.len().min(z.len() / c.max(1));
    // `z` may hold a row beyond the unit's (the next unit's first): the last
    // row then overlaps its loads too; only that row's maximum is read
    let row = |r: usize| if c > 0 && (r + 1) * c <= z.len() { &z[r * c..(r + 1) * c] } else { &[] };
    let mut mx = lanes_max(row(0));
    let mut pending = [T::zero(); N];
    for r in 0..rows {
        let (zr, next) = (row(r), row(r + 1));
        let shift = if mx.is_infinite() { T::zero() } else { mx };
        m[r] = shift;
        let er: &mut [T] = if keep { &mut e[r * c..(r + 1) * c] } else { &mut [] };
        let (s, row_sums) = if mx == T::infinity() || next.len() != c {
            // +inf: the general exp; last row: no next row to look at
            let ex = |v: T| if mx == T::infinity() { v.exp_fast() } else { (v - shift).exp_capped() };
            let s = if keep {
                er.iter_mut().zip(zr).for_each(|(o, &v)| *o = ex(v));
                sum1(er, |v| v)
            } else {
                sum1(zr, ex)
            };
            mx = lanes_max(next);
            (s, sums.general(r, zr, shift))
        } else {
            let (s, next_max, row_sums) = sums.fast::<KEEP>(r, zr, next, shift, er);
            mx = next_max;
            (s, row_sums)
        };
        ls[r] = s.ln_fast();
        // the row before's finish, now that its scale (a logarithm and an
        // exponential away from its sums) has long been ready: this row's
        // walk ran while it was computed
        if keep && r > 0 {
            sums.finish(r - 1, &mut e[(r - 1) * c..r * c], ls[r - 1], &pending);
        }
        pending = row_sums;
        for (o, v) in out.iter_mut().zip(row_sums) {
            o[r] = v;
        }
    }
    if keep && rows > 0 {
        sums.finish(rows - 1, &mut e[(rows - 1) * c..rows * c], ls[rows - 1], &pending);
    }
}

/// For one row with its shift known and its target row `t`: `Σ exp(z − shift)`
/// (kept in `e` when `KEEP`), `[Σ w·p', Σ w·p'·(z − shift)]` with
/// `p' = kept·t + uniform`, and the maximum of the `next` row, in one loop;
/// sums as [`sum1`] / [`sum2`] / [`sum3`] would make them.
#[inline(always)]
fn prob_row_ahead<T: Float, const KEEP: bool, const PLAIN: bool>(
    row: &[T],
    t: &[T],
    next: &[T],
    w: &[T],
    (kept, uniform): (T, T),
    shift: T,
    e: &mut [T],
) -> (T, [T; 2], T) {
    let (mut acc, mut tacc, mut zacc, mut nm) =
        ([T::zero(); 16], [T::zero(); 16], [T::zero(); 16], [T::neg_infinity(); 16]);
    // f32 with AVX-512: the full vectors on 64-byte boundaries, the same bits
    // (rows are 16-byte aligned, and every 64-byte access split two lines)
    let aligned = match (T::as_f32(row), T::as_f32(t), T::as_f32(next), T::as_f32(w)) {
        (Some(row), Some(t), Some(next), Some(w)) => {
            let e = if KEEP { T::as_f32_mut(e) } else { None };
            let w = if PLAIN { None } else { Some(w) };
            let (kept, uniform, shift) = (kept.to_f64() as f32, uniform.to_f64() as f32, shift.to_f64() as f32);
            prob_row::row_lanes(prob_row::RowWalk { row, t, next, w, kept, uniform, shift }, e)
        }
        _ => None,
    };
    if let Some(l) = &aligned {
        let of = |a: &[f32; 16]| a.map(|v| T::from_f64(v as f64));
        (acc, tacc, zacc, nm) = (of(&l.acc), of(&l.tacc), of(&l.zacc), of(&l.nm));
    }
    // the portable walk's full vectors: none when the aligned walk made them
    let portable = if aligned.is_some() { 0 } else { usize::MAX };
    let ((xc, xr), (tc, tr), (yc, yr), (wc, wr)) =
        (row.as_chunks::<16>(), t.as_chunks::<16>(), next.as_chunks::<16>(), w.as_chunks::<16>());
    let (mut rest, mut trest, mut zrest) = (T::zero(), T::zero(), T::zero());
    if KEEP {
        let (ec, erest) = e.as_chunks_mut::<16>();
        for ((((e16, a16), t16), b16), w16) in ec.iter_mut().zip(xc).zip(tc).zip(yc).zip(wc).take(portable) {
            for i in 0..16 {
                let d = a16[i] - shift;
                e16[i] = d.exp_capped();
                acc[i] += e16[i];
                let tp = if PLAIN { t16[i] } else { w16[i] * (kept * t16[i] + uniform) };
                tacc[i] += tp;
                zacc[i] += tp * d;
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for (((o, &v), &tv), &wv) in erest.iter_mut().zip(xr).zip(tr).zip(wr) {
            *o = (v - shift).exp_capped();
            rest += *o;
            let tp = if PLAIN { tv } else { wv * (kept * tv + uniform) };
            trest += tp;
            zrest += tp * (v - shift);
        }
    } else {
        for (((a16, t16), b16), w16) in xc.iter().zip(tc).zip(yc).zip(wc).take(portable) {
            for i in 0..16 {
                let d = a16[i] - shift;
                acc[i] += d.exp_capped();
                let tp = if PLAIN { t16[i] } else { w16[i] * (kept * t16[i] + uniform) };
                tacc[i] += tp;
                zacc[i] += tp * d;
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for ((&v, &tv), &wv) in xr.iter().zip(tr).zip(wr) {
            rest += (v - shift).exp_capped();
            let tp = if PLAIN { tv } else { wv * (kept * tv + uniform) };
            trest += tp;
            zrest += tp * (v - shift);
        }
    }
    let next_max = lanes_max_with(nm, yr);
    (lanes_sum(acc) + rest, [lanes_sum(tacc) + trest, lanes_sum(zacc) + zrest], next_max)
}

/// One row of [`affine_in_place`]: `e_c ← a·e_c·exp(−ls) − b·w_c` (`w_c = 1`
/// without weights), all zero where `a = b = 0`.
#[inline(always)]
fn affine_row<T: Float>(erow: &mut [T], ls: T, ar: T, br: T, w: Option<&[T]>) {
    if ar == T::zero() && br == T::zero() {
        erow.fill(T::zero());
        return;
    }
    let scale = ar * (-ls).exp_fast();
    match w {
        Some(w) => {
            for (o, &wi) in erow.iter_mut().zip(w) {
                *o = scale * *o - br * wi;
            }
        }
        None => {
            for o in erow.iter_mut() {
                *o = scale * *o - br;
            }
        }
    }
}

dispatch! {
    /// [`affine_row`], then `e_t −= d` for a target `t` (with label smoothing
    /// and class indices: the cross-entropy gradient of one row, see
    /// `IndexGrad`), as a kernel of its own for [`Smooth`]'s `finish`, for
    /// the reason given at [`prob_row_grad`].
    #[inline(never)]
    fn affine_row_target<T: Float>(erow: &mut [T], ls: T, ar: T, br: T, w: Option<&[T]>, target: Option<(usize, T)>) {
        affine_row(erow, ls, ar, br, w);
        if let Some((t, d)) = target {
            erow[t] -= d;
        }
    }
}

dispatch! {
    /// In place, `e_c ← a · e_c · exp(−ls) − b · w_c`: the softmax-affine of
    /// [`softmax_affine`] computed from kept exponentials `e = exp(z − m)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn affine_in_place<T: Float>(e: &mut [T], c: usize, inner: usize, ls: &[T], a: &[T], b: &[T], w: Option<&[T]>) {
        if inner == 1 {
            for (r, erow) in e.chunks_exact_mut(c.max(1)).enumerate().take(ls.len()) {
                affine_row(erow, ls[r], a[r], b[r], w);
            }
        } else {
            for r in blocks(inner) {
                affine_block(e, c, inner, &r, &ls[r.clone()], &a[r.clone()], &b[r.clone()], w);
            }
        }
    }
}

/// [`affine_in_place`] for the positions `r` of a plane (`ls`, `a`, `b` the
/// block's): `e_c ← a·e_c·exp(−ls) − b·w_c`, all zero where `a = b = 0`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn affine_block<T: Float>(
    e: &mut [T],
    c: usize,
    inner: usize,
    r: &Range<usize>,
    ls: &[T],
    a: &[T],
    b: &[T],
    w: Option<&[T]>,
) {
    let mut scale = [T::zero(); BLOCK];
    let scale = &mut scale[..r.len()];
    for ((sc, &ai), &li) in scale.iter_mut().zip(a).zip(ls) {
        *sc = ai * (-li).exp_fast();
    }
    for k in 0..c {
        let wk = w.map_or(T::one(), |w| w[k]);
        for (((o, &si), &ai), &bi) in row_mut(e, k, inner, r).iter_mut().zip(&*scale).zip(a).zip(b) {
            let y = si * *o - bi * wk;
            *o = if ai == T::zero() && bi == T::zero() { T::zero() } else { y };
        }
    }
}

dispatch! {
    /// Gradients with class-probability targets, per element of one unit:
    /// `gz_c = s·(softmax_c·tw − w_c·t'_c)` and, if `gt` is not empty,
    /// `gt_c = −s·(1 − ε)·w_c·log_softmax_c`, with per-position `s` and `tw`;
    /// computed from kept exponentials `e = exp(z − m)`, which become `gz` in
    /// place (no `exp` per element).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prob_grads_kept<T: Float>(
        e: &mut [T], z: &[T], t: &[T], c: usize, inner: usize, m: &[T], ls: &[T], s: &[T], tw: &[T],
        w: Option<&[T]>, eps: T, gt: &mut [T],
    ) {
        let (keep, uniform) = (T::one() - eps, eps / T::from_f64(c as f64));
        let plain = plain_targets(w, eps);
        let want_t = !gt.is_empty();
        if inner == 1 {
            let c1 = c.max(1);
            for (r, (er, (zrow, trow))) in e.chunks_exact_mut(c1).zip(z.chunks_exact(c1).zip(t.chunks_exact(c1))).enumerate() {
                let (mr, lr, sr, twr) = (m[r], ls[r], s[r], tw[r]);
                let scale = twr * (-lr).exp_fast();
                match w {
                    Some(w) => {
                        for ((o, &tv), &wv) in er.iter_mut().zip(trow).zip(w) {
                            *o = sr * (*o * scale - wv * (keep * tv + uniform));
                        }
                    }
                    None if plain => {
                        for (o, &tv) in er.iter_mut().zip(trow) {
                            *o = sr * (*o * scale - tv);
                        }
                    }
                    None => {
                        for (o, &tv) in er.iter_mut().zip(trow) {
                            *o = sr * (*o * scale - (keep * tv + uniform));
                        }
                    }
                }
                if want_t {
                    let gtr = &mut gt[r * c..(r + 1) * c];
                    for (i, (o, &zv)) in gtr.iter_mut().zip(zrow).enumerate() {
                        let wv = w.map_or(T::one(), |w| w[i]);
                        *o = -sr * keep * wv * ((zv - mr) - lr);
                    }
                }
            }
        } else {
            let p = TargetMix { w, keep, uniform, plain };
            for r in blocks(inner) {
                let (m, ls, s) = (&m[r.clone()], &ls[r.clone()], &s[r.clone()]);
                p.grad_block(e, t, c, inner, &r, ls, s, &tw[r.clone()]);
                if want_t {
                    for k in 0..c {
                        let wk = w.map_or(T::one(), |w| w[k]);
                        let it = row_mut(gt, k, inner, &r).iter_mut().zip(row(z, k, inner, &r)).zip(m).zip(ls).zip(s);
                        for ((((o, &zv), &mi), &li), &si) in it {
                            *o = -si * keep * wk * ((zv - mi) - li);
                        }
                    }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The row kernels given a row past their unit (the next unit's first,
    /// read for its maximum only) make the same bits as without it, for long
    /// rows (the fused walks) and short ones (which never look at it).
    #[test]
    fn a_row_past_the_unit_changes_no_bit() {
        let mut x = 0x2545_f491u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 12.0
        };
        for c in [10, 70, 1000] {
            let rows = 9;
            let z: Vec<f32> = (0..(rows + 1) * c).map(|_| next()).collect();
            let p: Vec<f32> = (0..rows * c).map(|_| next().abs() / c as f32).collect();
            let t: Vec<i64> = (0..rows).map(|r| ((r * 7) % c) as i64).collect();
            let w: Vec<f32> = (0..c).map(|_| next().abs()).collect();
            let run = |z: &[f32]| {
                let o = || vec![0.0f32; rows];
                let (mut m, mut ls, mut tw, mut zw, mut e) = (o(), o(), o(), o(), vec![0.0f32; rows * c]);
                stats_prob(z, &p, c, 1, 0, Some(&w), 0.1, Some(0.5), &mut m, &mut ls, &mut tw, &mut zw, &mut e);
                let (mut m2, mut l2, mut sm, mut e2) = (o(), o(), o(), vec![0.0f32; rows * c]);
                let g = RowGrads {
                    t: &t,
                    ignore: -100,
                    w: Some(&w),
                    s: 0.25,
                    keep: 0.9,
                    uniform: 0.1 / c as f32,
                    wsum: w.iter().sum(),
                };
                let g = smooth_fused(c, 1).then_some(g);
                stats_smooth(z, c, 1, 0, Some(&w), g, &mut m2, &mut l2, &mut sm, &mut e2);
                let (mut m3, mut l3, mut e3) = (o(), o(), vec![0.0f32; rows * c]);
                stats_keep(z, c, 1, 0, &mut m3, &mut l3, &mut e3);
                [m, ls, tw, zw, e, m2, l2, sm, e2, m3, l3, e3].map(|v| bits(&v))
            };
            assert_eq!(run(&z), run(&z[..rows * c]), "rows of {c}");
        }
    }

    /// Units of rows cover every row once, in order; wide rows come 16 to a
    /// unit while that leaves 8 units, never fewer units than before.
    #[test]
    fn row_units_cover_the_rows_in_runs_of_at_least_16() {
        for (n, c) in [(2048, 8192), (2048, 1000), (64, 1000), (16, 1 << 20), (100, 4096), (7, 3), (131072, 10)] {
            let units = Dims { n, c, inner: 1 }.units();
            let mut next = 0;
            for u in &units {
                assert_eq!((u.j0, u.e0), (next, next * c), "({n}, {c})");
                next += u.len;
            }
            assert_eq!(next, n, "({n}, {c})");
            let old = (PAR_THRESHOLD / c).max(1);
            let len = units[0].len;
            assert!(len >= old.min(n), "({n}, {c}): units of {len} rows");
            assert!(len >= 16.min(n) || n.div_ceil(len) >= 8, "({n}, {c}): units of {len} rows");
            assert!(units.len() >= n.div_ceil(old).min(8), "({n}, {c}): {} units", units.len());
        }
        assert_eq!(Dims { n: 2048, c: 8192, inner: 1 }.units()[0].len, 16);
    }

    /// Reproducible values in [−15, 15).
    fn values(seed: u64) -> impl FnMut() -> f32 {
        let mut u = crate::tensor::test_values::uniform(seed);
        move || (u() - 0.5) * 30.0
    }

    /// The bits of each value, every NaN as one (a NaN's sign is not meaningful).
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect()
    }

    /// The fused statistics-and-gradient kernel of `nll_loss(log_softmax)`
    /// equals `stats_pick` then `softmax_onehot` bit for bit: rows long and
    /// short, planes with a partial last block, ignored targets (in every
    /// block, in some, in none), class weights with zeros, a row all `-inf`
    /// and one holding NaN. Both kernels take the loop for blocks of one
    /// scale where they can, so the gradient is also checked against the
    /// formula itself, entry by entry.
    #[test]
    fn fused_pick_and_gradient_equal_separate_kernels() {
        let mut next = values(11);
        let shapes = [(9usize, 1001usize, 1usize), (6, 10, 1), (300, 21, 1), (7, 64, 1), (3, 7, 300), (2, 21, 700)];
        for ((rows, c, inner), mode) in
            shapes.into_iter().flat_map(|s| ["weighted", "some ignored", "plain"].map(|m| (s, m)))
        {
            let mut z: Vec<f32> = (0..rows * c * inner).map(|_| next()).collect();
            if inner == 1 {
                z[c..2 * c].fill(f32::NEG_INFINITY);
                z[2 * c + 3] = f32::NAN;
            }
            let positions = rows * inner;
            let ignored = |j: usize| match mode {
                "weighted" => j % 5 == 1,
                "some ignored" => j % 5 == 1 && j < positions / 2,
                _ => false,
            };
            let t: Vec<i64> =
                (0..positions).map(|j| if ignored(j) { -100 } else { (next().abs() as usize % c) as i64 }).collect();
            let w: Vec<f32> = (0..positions).map(|j| if j % 7 == 4 { 0.0 } else { next().abs() / 9.0 }).collect();
            let scales = Scales { s: 0.37f32, w: (mode == "weighted").then_some(&w[..]) };
            let mut a = vec![0.0; positions];
            scales.fill(&t, -100, 0..positions, &mut a);
            let (mut m1, mut l1, mut p1) = (vec![0.0; positions], vec![0.0; positions], vec![0.0; positions]);
            let (mut m2, mut l2, mut p2) = (m1.clone(), l1.clone(), p1.clone());
            let (mut g1, mut g2) = (vec![0.0; z.len()], vec![0.0; z.len()]);
            // the kernels take one unit: all the rows, or one plane (sample)
            let unit = if inner == 1 { positions } else { inner };
            for u in 0..positions / unit {
                let (p, e) = (u * unit..(u + 1) * unit, u * unit * c..(u + 1) * unit * c);
                let (z, t, a) = (&z[e.clone()], &t[p.clone()], &a[p.clone()]);
                let scales = Scales { w: scales.w.map(|w| &w[p.clone()]), ..scales };
                let g1 = &mut g1[e.clone()];
                let (m1, l1, p1) = (&mut m1[p.clone()], &mut l1[p.clone()], &mut p1[p.clone()]);
                stats_pick_onehot(z, c, inner, lead_of(g1), t, -100, scales, m1, l1, p1, g1);
                let (m2, l2, p2) = (&mut m2[p.clone()], &mut l2[p.clone()], &mut p2[p.clone()]);
                stats_pick(z, c, inner, lead_of(z), t, -100, m2, l2, p2);
                losses_of_picked(p2, scales.w);
                softmax_onehot(z, c, inner, m2, l2, a, t, -100, &mut g2[e]);
            }
            let what = format!("{rows}x{c}x{inner} {mode}");
            assert_eq!(bits(&m1), bits(&m2), "m {what}");
            assert_eq!(bits(&l1), bits(&l2), "ls {what}");
            assert_eq!(bits(&p1), bits(&p2), "picked {what}");
            assert_eq!(bits(&g1), bits(&g2), "gradient {what}");
            assert!(g1.iter().any(|&v| v != 0.0), "{what}: some gradient");
            let d = Dims { n: rows, c, inner };
            for j in 0..positions {
                for k in 0..c {
                    let at = d.offset(j, k);
                    let y = (a[j] * (-l1[j]).exp_fast()) * (z[at] - m1[j]).exp_capped();
                    let want = onehot_term(y, a[j], t[j] == k as i64);
                    // (a NaN's sign depends on the order of the operations that made it)
                    let same = g1[at].to_bits() == want.to_bits() || (g1[at].is_nan() && want.is_nan());
                    assert!(same, "{what}: position {j} class {k}: {} vs {want}", g1[at]);
                }
            }
        }
    }

    /// The fused label-smoothing and probability-target statistics equal the
    /// separate passes bit for bit (maximum, log-sum-exp, kept exponentials,
    /// smoothing term, target sums): weighted
    /// and not, keeping and not, rows long and short (with tails), a row with
    /// `+inf`, one with NaN, one all `-inf`, and planes.
    #[test]
    fn fused_statistics_equal_separate_passes() {
        let mut next = values(7);
        for (rows, c, inner) in
            [(9usize, 1001usize, 1usize), (5, 64, 1), (4, 70, 1), (6, 10, 1), (200, 33, 1), (3, 7, 300), (1, 5, 1200)]
        {
            let mut z: Vec<f32> = (0..rows * c * inner).map(|_| next()).collect();
            if inner == 1 {
                z[c + 5] = f32::INFINITY;
                z[2 * c + 1] = f32::NAN;
                z[3 * c..4 * c].fill(f32::NEG_INFINITY);
            }
            let w: Vec<f32> = (0..c).map(|_| next().abs() / 15.0).collect();
            let t: Vec<f32> = (0..z.len()).map(|_| next().abs() / 15.0).collect();
            let positions = rows * inner;
            for weight in [None, Some(&w[..])] {
                for keep in [false, true] {
                    let (mut m1, mut l1, mut s1) = (vec![0.0; positions], vec![0.0; positions], vec![0.0; positions]);
                    let (mut m2, mut l2, mut s2) = (m1.clone(), l1.clone(), s1.clone());
                    let (mut e1, mut e2) =
                        (vec![0.0; if keep { z.len() } else { 0 }], vec![0.0; if keep { z.len() } else { 0 }]);
                    stats_smooth(&z, c, inner, lead_of_walk(&z, &e1), weight, None, &mut m1, &mut l1, &mut s1, &mut e1);
                    if keep {
                        stats_keep(&z, c, inner, lead_of(&e2), &mut m2, &mut l2, &mut e2);
                    } else {
                        stats(&z, c, inner, lead_of(&z), &mut m2, &mut l2);
                    }
                    weighted_shifted_sum(&z, c, inner, &m2, weight, &mut s2);
                    // raw bits, NaNs included: these paths must agree on a NaN's sign too
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let what = format!("{rows}x{c}x{inner} weighted {} keep {keep}", weight.is_some());
                    assert_eq!(bits(&m1), bits(&m2), "m {what}");
                    assert_eq!(bits(&l1), bits(&l2), "ls {what}");
                    assert_eq!(bits(&s1), bits(&s2), "smoothing {what}");
                    assert_eq!(bits(&e1), bits(&e2), "exponentials {what}");
                    // probability targets: the target sums fused, against prob_sums, with
                    // label smoothing and without (then, unweighted, the plain kernels)
                    for eps in [0.1f32, 0.0] {
                        let (mut tw1, mut zw1) = (vec![0.0; positions], vec![0.0; positions]);
                        let (mut tw2, mut zw2) = (tw1.clone(), zw1.clone());
                        e1.fill(0.0);
                        stats_prob(
                            &z,
                            &t,
                            c,
                            inner,
                            lead_of_walk(&z, &e1),
                            weight,
                            eps,
                            None,
                            &mut m1,
                            &mut l1,
                            &mut tw1,
                            &mut zw1,
                            &mut e1,
                        );
                        prob_sums(&z, &t, c, inner, &m2, weight, eps, &mut tw2, &mut zw2);
                        assert_eq!(bits(&m1), bits(&m2), "m (probabilities) {what}");
                        assert_eq!(bits(&l1), bits(&l2), "ls (probabilities) {what}");
                        assert_eq!(bits(&e1), bits(&e2), "exponentials (probabilities) {what}");
                        assert_eq!(bits(&tw1), bits(&tw2), "target weight {what}");
                        assert_eq!(bits(&zw1), bits(&zw2), "target sum {what}");
                        if keep {
                            // the gradient made row by row in the walk, against prob_grads_kept after it
                            let s = vec![0.37; positions];
                            prob_grads_kept(&mut e1, &z, &t, c, inner, &m1, &l1, &s, &tw1, weight, eps, &mut []);
                            let mut e3 = vec![0.0; z.len()];
                            let (mut tw3, mut zw3) = (vec![0.0; positions], vec![0.0; positions]);
                            stats_prob(
                                &z,
                                &t,
                                c,
                                inner,
                                lead_of_walk(&z, &e3),
                                weight,
                                eps,
                                Some(0.37),
                                &mut m2,
                                &mut l2,
                                &mut tw3,
                                &mut zw3,
                                &mut e3,
                            );
                            assert_eq!(bits(&e3), bits(&e1), "gradient (probabilities) {what}");
                            assert_eq!(bits(&tw3), bits(&tw1), "target weight with gradient {what}");
                            assert!(e3.iter().zip(&z).any(|(g, v)| g.is_finite() && *g != 0.0 && v.is_finite()));
                        }
                        if weight.is_none() && eps == 0.0 {
                            // the plain kernels give what the general formula gives with weights of one
                            let ones = vec![1.0; c];
                            let (mut tw4, mut zw4) = (vec![0.0; positions], vec![0.0; positions]);
                            prob_sums(&z, &t, c, inner, &m2, Some(&ones), eps, &mut tw4, &mut zw4);
                            assert_eq!(bits(&tw4), bits(&tw1), "plain target weight {what}");
                            assert_eq!(bits(&zw4), bits(&zw1), "plain target sum {what}");
                            if keep {
                                let (s, mut e4) = (vec![0.37; positions], e2.clone());
                                prob_grads_kept(
                                    &mut e4,
                                    &z,
                                    &t,
                                    c,
                                    inner,
                                    &m1,
                                    &l1,
                                    &s,
                                    &tw1,
                                    Some(&ones),
                                    eps,
                                    &mut [],
                                );
                                let mut e5 = e2.clone();
                                prob_grads_kept(&mut e5, &z, &t, c, inner, &m1, &l1, &s, &tw1, None, eps, &mut []);
                                assert_eq!(bits(&e5), bits(&e4), "plain gradient {what}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Plane blocks start where the output (or input) buffer is 64-byte
    /// aligned, so they move with the address; the results must not. Every
    /// position has one exponential that the capped and the full-range `exp`
    /// round differently (`e^−87.2`), and the plane holds a `+inf` (so the
    /// full-range one is taken everywhere) and a NaN: statistics, kept
    /// exponentials, picks and gradients are the same bits at all 16 offsets.
    #[test]
    fn plane_results_do_not_depend_on_the_buffers_alignment() {
        let mut next = values(5);
        let (c, inner) = (21usize, 700usize);
        for special in [true, false] {
            let mut z: Vec<f32> = (0..c * inner).map(|_| next()).collect();
            for j in 0..inner {
                z[j] = 20.0;
                z[inner + j] = 20.0 - 87.2;
            }
            if special {
                z[5 * inner + 300] = f32::INFINITY;
                z[7 * inner + 123] = f32::NAN;
            }
            let t: Vec<i64> = (0..inner).map(|j| if j % 9 == 2 { -100 } else { (j % c) as i64 }).collect();
            let a = Scales { s: 0.25f32, w: None };
            let run = |off: usize| {
                let mut zb = vec![0.0f32; z.len() + 16];
                zb[off..off + z.len()].copy_from_slice(&z);
                let zs = &zb[off..off + z.len()];
                let (mut m, mut l, mut e) = (vec![0.0; inner], vec![0.0; inner], vec![0.0f32; z.len() + 16]);
                stats_keep(zs, c, inner, lead_of(&e[off..off + z.len()]), &mut m, &mut l, &mut e[off..off + z.len()]);
                let (mut m2, mut l2, mut p, mut g) =
                    (m.clone(), l.clone(), vec![0.0; inner], vec![0.0f32; z.len() + 16]);
                stats_pick_onehot(
                    zs,
                    c,
                    inner,
                    lead_of(&g[off..off + z.len()]),
                    &t,
                    -100,
                    a,
                    &mut m2,
                    &mut l2,
                    &mut p,
                    &mut g[off..off + z.len()],
                );
                let (mut m3, mut l3) = (m.clone(), l.clone());
                stats(zs, c, inner, lead_of(zs), &mut m3, &mut l3);
                let e = &e[off..off + z.len()];
                let g = &g[off..off + z.len()];
                [bits(&m), bits(&l), bits(e), bits(&m2), bits(&l2), bits(&p), bits(g), bits(&m3), bits(&l3)]
            };
            let aligned = run(0);
            if special {
                // the full-range exp flushes e^−87.2 to 0 (the capped one does not),
                // but at the +inf position (shift 0: e^−67.2)
                let flushed = aligned[2][inner..2 * inner].iter().enumerate().all(|(j, &b)| (b == 0) != (j == 300));
                assert!(flushed, "full-range exp everywhere");
            } else {
                assert!(aligned[2][inner..2 * inner].iter().all(|&b| b != 0), "capped exp everywhere");
            }
            for off in 1..16 {
                assert_eq!(run(off), aligned, "offset {off} special {special}");
            }
        }
    }
}
