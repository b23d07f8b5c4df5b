//! The plane walk (`inner > 1`): the classes of a position are `inner`
//! apart, and the loops vectorise along the positions of one sample, a block
//! of positions at a time, with no transpose. The statistics of a block are
//! handed to a closure while its rows are in cache (PyTorch's strided
//! `SoftMaxKernel` path).

use super::*;

/// Per position `r` of a plane (`c × inner`), the maximum over the classes
/// (NaNs skipped, as in [`lanes_max`]), or 0 where it is infinite: the shift of the log-sum-exp. Returns
/// whether some maximum was `+inf` (then `z − shift` may overflow `exp`).
#[inline(always)]
pub(super) fn plane_shift<T: Float>(z: &[T], c: usize, inner: usize, r: &Range<usize>, m: &mut [T]) -> bool {
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
pub(super) fn finish_shift<T: Float>(m: &mut [T]) -> bool {
    // a fold, not `any`: without the early exit the scan vectorises
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
/// cache lines. The blocks thus depend on the address, the results do not:
/// every position is computed alone, and when some maximum is
/// `+inf` (where the capped `exp` would overflow) the whole plane is walked
/// again with the full-range `exp` rather than only the blocks that hold one.
#[inline(always)]
pub(super) fn plane_stats<T: Float>(
    x: Logits<'_, T>,
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
    while plane_walk(x, m, ls, e, first, fast, &mut after) && !fast {
        fast = true;
    }
}

/// [`plane_stats`]' walk with a first block of `first` positions, with the
/// full-range `exp` everywhere when `fast` (else the capped one, and the
/// full-range one in blocks with a `+inf` maximum). Returns whether some
/// maximum was `+inf`.
#[inline(always)]
pub(super) fn plane_walk<T: Float, A: FnMut(&Range<usize>, &[T], &[T], &mut [T])>(
    x: Logits<'_, T>,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
    first: usize,
    fast: bool,
    after: &mut A,
) -> bool {
    let Logits { z, c, inner } = x;
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
                ahead_chunk::<T, true>(x, r.start + q, next.start + q, &mb[q..q + CHUNK], e, lq, nq);
            } else {
                ahead_chunk::<T, false>(x, r.start + q, next.start + q, &mb[q..q + CHUNK], &mut [], lq, nq);
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
pub(super) const CHUNK: usize = 64;

/// [`plane_walk`]'s inner loop for the `CHUNK` positions from `j` of a block
/// whose next block (the same positions from `jn`) has its length: over the
/// classes, `e = exp(z − m)` (kept when `KEEP`), its sum per position into `lb`
/// and the next block's maxima into `nm`. The sums and maxima are local
/// arrays that LLVM keeps in registers, where a block's (256 positions) would
/// go through memory at every class. Each position's sum and maximum run over
/// the classes in order, as in the rest of the walk.
#[inline(always)]
pub(super) fn ahead_chunk<T: Float, const KEEP: bool>(
    x: Logits<'_, T>,
    j: usize,
    jn: usize,
    mb: &[T],
    e: &mut [T],
    lb: &mut [T],
    nm: &mut [T],
) {
    let Logits { z, c, inner } = x;
    let (mut acc, mut mx) = ([T::zero(); CHUNK], [T::neg_infinity(); CHUNK]);
    let mb = &mb.as_chunks::<CHUNK>().0[0];
    for k in 0..c {
        // slices of exactly `CHUNK`: one bounds check each, no length check
        let (a, an) = (k * inner + j, k * inner + jn);
        let (zc, zn) = (&z[a..a + CHUNK].as_chunks::<CHUNK>().0[0], &z[an..an + CHUNK].as_chunks::<CHUNK>().0[0]);
        // the block after next into L2: a plane's 21+ rows (and the gradient's)
        // are more streams than the hardware prefetcher follows
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
pub(super) struct Lanes<T>([T; BLOCK]);

impl<T: Float> Lanes<T> {
    pub(super) fn new() -> Self {
        Lanes([T::zero(); BLOCK])
    }
}

dispatch! {
    /// The plane part of [`stats`] (`e` empty) and [`stats_keep`]: a kernel of
    /// its own, never inlined, so that the row kernels are compiled without
    /// the plane walk (whether LLVM keeps their accumulators in registers has
    /// proved sensitive to what else a function holds: see [`lead_of`]).
    #[inline(never)]
    pub(super) fn planes_keep<T: Float>(z: &[T], c: usize, inner: usize, lead: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
        plane_stats(Logits { z, c, inner }, lead, m, ls, e, |_, _, _, _| {});
    }
}
