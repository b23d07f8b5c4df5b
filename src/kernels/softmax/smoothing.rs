//! Label smoothing with class indices: the term `Σ_c w_c·(z_c − m)` per
//! position, made in the same pass as the statistics.

use super::*;

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
pub(super) fn shifted_sum_block<T: Float>(
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

/// For one row with its shift known: `Σ exp(z − shift)` (kept in `e` when
/// `KEEP`), `Σ w·(z − shift)`, and the maximum of the `next` row (of the same
/// length), in one loop; sums as [`sum1`] / [`sum2`] would make them.
#[inline(always)]
pub(super) fn smooth_row_ahead<T: Float, const KEEP: bool>(
    row: &[T],
    next: &[T],
    w: &[T],
    shift: T,
    e: &mut [T],
) -> (T, T, T) {
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

dispatch! {
    /// [`smooth_row_ahead`] keeping the exponentials, a kernel of its own:
    /// inlined into the row walk, LLVM kept its accumulators on the stack.
    #[inline(never)]
    pub(super) fn smooth_row_keep<T: Float>(row: &[T], next: &[T], w: &[T], shift: T, e: &mut [T]) -> (T, T, T) {
        smooth_row_ahead::<T, true>(row, next, w, shift, e)
    }
}

dispatch! {
    /// [`smooth_row_ahead`] without keeping the exponentials (see [`smooth_row_keep`]).
    #[inline(never)]
    pub(super) fn smooth_row<T: Float>(row: &[T], next: &[T], w: &[T], shift: T) -> (T, T, T) {
        smooth_row_ahead::<T, false>(row, next, w, shift, &mut [])
    }
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
    pub(crate) fn stats_smooth<T: Float>(
        x: Logits<'_, T>, lead: usize, w: Option<&[T]>, grad: Option<RowGrads<'_, T>>, st: StatsOut<'_, T>, sm: &mut [T],
        e: &mut [T],
    ) {
        let (Logits { z, c, inner }, StatsOut { m, ls }) = (x, st);
        debug_assert!(grad.is_none() || (smooth_fused(c, inner) && !e.is_empty()), "stats_smooth: a gradient it cannot make");
        if inner > 1 {
            planes_smooth(x, lead, w, grad, StatsOut { m, ls }, sm, e);
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
    pub(super) fn planes_smooth<T: Float>(
        x: Logits<'_, T>, lead: usize, w: Option<&[T]>, grad: Option<RowGrads<'_, T>>, st: StatsOut<'_, T>, sm: &mut [T],
        e: &mut [T],
    ) {
        let (Logits { z, c, inner }, StatsOut { m, ls }) = (x, st);
        plane_stats(x, lead, m, ls, e, #[inline(always)] |r, mb, lb, e| {
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
pub(super) fn smooth_block<T: Float>(
    e: &mut [T],
    c: usize,
    inner: usize,
    r: &Range<usize>,
    lb: &[T],
    g: RowGrads<'_, T>,
) {
    let (mut a, mut b) = ([T::zero(); BLOCK], [T::zero(); BLOCK]);
    let (a, b) = (&mut a[..r.len()], &mut b[..r.len()]);
    for (i, j) in r.clone().enumerate() {
        (a[i], b[i], _) = g.at(j);
    }
    affine_block(e, (c, inner), r, lb, Affine { a, b, w: g.w });
    for j in r.clone() {
        if let (_, _, Some((t, d))) = g.at(j) {
            e[t * inner + j] -= d;
        }
    }
}

/// The class weights, or `c` ones: `1·x == x` exactly, so the unweighted sums
/// come out bit for bit as without a weight.
pub(super) fn weights_or_ones<T: Float>(w: Option<&[T]>, c: usize) -> std::borrow::Cow<'_, [T]> {
    w.map_or_else(|| vec![T::one(); c].into(), Into::into)
}

/// `Σ_c w_c·(z_c − m)`, the label-smoothing term.
pub(super) struct Smooth<'a, T> {
    w: &'a [T],
    /// When given: each row's kept exponentials become its gradient (see
    /// [`RowSums::finish`] and [`RowGrads`]).
    grad: Option<RowGrads<'a, T>>,
}

impl<T: Float> RowSums<T, 1> for Smooth<'_, T> {
    #[inline(always)]
    fn fast<const KEEP: bool>(&self, _: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; 1]) {
        let (s, smooth, next_max) =
            if KEEP { smooth_row_keep(row, next, self.w, shift, e) } else { smooth_row(row, next, self.w, shift) };
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
