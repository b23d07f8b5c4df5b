//! Class-probability targets (optionally weighted and smoothed): per
//! position the target sums `Σ w·p'` and `Σ w·p'·(z − m)`, and the gradient
//! `s·(softmax·Σw·p' − w·p')`, made in the same pass as the statistics.

use super::*;

dispatch! {
    /// Class-probability targets `t` smoothed to `t' = (1 − ε)·t + ε/C`: per
    /// position `tw = Σ_c w_c·t'_c` and `zw = Σ_c w_c·t'_c·(z_c − m)`, so that the
    /// loss is `ls·tw − zw`. Without weights or smoothing `w·t'` is `t` itself
    /// (see [`plain_targets`]). Used for short rows; its plane branch is the
    /// reference that [`planes_prob`] is tested against.
    pub(crate) fn prob_sums<T: Float>(x: Logits<'_, T>, p: Probs<'_, T>, m: &[T], tw: &mut [T], zw: &mut [T]) {
        let (Logits { z, c, inner }, Probs { t, w, eps }) = (x, p);
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
            let p = TargetMix { t, w, keep, uniform, plain, c, inner };
            for r in blocks(inner) {
                p.sums_block(z, &r, &m[r.clone()], &mut tw[r.clone()], &mut zw[r.clone()]);
            }
        }
    }
}

/// A plane's probability targets `t` (`c × inner`) and how they enter the
/// sums and the gradient: `p'_c = w_c·(keep·t_c + uniform)` (`keep = 1 − ε`,
/// `uniform = ε/C`), or `t_c` itself when `plain` ([`plain_targets`]).
#[derive(Clone, Copy)]
pub(super) struct TargetMix<'a, T> {
    t: &'a [T],
    w: Option<&'a [T]>,
    keep: T,
    uniform: T,
    plain: bool,
    c: usize,
    inner: usize,
}

impl<T: Float> TargetMix<'_, T> {
    /// [`prob_sums`] for the positions `r` of a plane (`m`, `tw`, `zw` the
    /// block's): each position's classes in order, from 0.
    #[inline(always)]
    pub(super) fn sums_block(&self, z: &[T], r: &Range<usize>, m: &[T], tw: &mut [T], zw: &mut [T]) {
        let TargetMix { t, w, keep, uniform, plain, c, inner } = *self;
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
    pub(super) fn grad_block(&self, e: &mut [T], r: &Range<usize>, ls: &[T], s: &[T], tw: &[T]) {
        let TargetMix { t, w, keep, uniform, plain, c, inner } = *self;
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
    /// The plane part of [`stats_prob`]: the plane walk, and after each chunk
    /// (or block rest) of positions, while the chunk's logits are in cache,
    /// its target sums `tw`, `zw` (as [`prob_sums`]: each position's classes
    /// in order) and, with `grad = Some(s)` and `e` kept, its gradient (as
    /// [`prob_grads_kept`] with `s` at every position): the same bits as those
    /// passes over the whole unit after the walk. A kernel of its own for the
    /// reason given at [`planes_keep`].
    #[inline(never)]
    pub(super) fn planes_prob<T: Float>(
        x: Logits<'_, T>, lead: usize, p: Probs<'_, T>, grad: Option<T>, st: StatsOut<'_, T>, sums: TargetSums<'_, T>,
        e: &mut [T],
    ) {
        let (Logits { z, c, inner }, Probs { t, w, eps }) = (x, p);
        let (StatsOut { m, ls }, TargetSums { tw, zw }) = (st, sums);
        let (keep, uniform) = (T::one() - eps, eps / T::from_f64(c as f64));
        let p = TargetMix { t, w, keep, uniform, plain: plain_targets(w, eps), c, inner };
        // the one upstream gradient, as the per-position scales `grad_block` takes
        let s = grad.filter(|_| !e.is_empty()).map(|s| [s; BLOCK]);
        plane_stats(x, lead, m, ls, e, #[inline(always)] |r, mb, lb, e| {
            let (twr, zwr) = (&mut tw[r.clone()], &mut zw[r.clone()]);
            p.sums_block(z, r, mb, twr, zwr);
            if let Some(s) = &s {
                p.grad_block(e, r, lb, &s[..r.len()], twr);
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
    pub(crate) fn stats_prob<T: Float>(
        x: Logits<'_, T>, lead: usize, p: Probs<'_, T>, grad: Option<T>, st: StatsOut<'_, T>, sums: TargetSums<'_, T>,
        e: &mut [T],
    ) {
        let (Logits { z, c, inner }, Probs { t, w, eps }) = (x, p);
        if inner > 1 {
            planes_prob(x, lead, p, grad, st, sums, e);
            return;
        }
        let (StatsOut { m, ls }, TargetSums { tw, zw }) = (st, sums);
        if c < SHORT {
            let z = unit_rows(z, m.len(), c);
            stats_maybe_keep(z, c, inner, lead, m, ls, e);
            let x = Logits { z, c, inner };
            prob_sums(x, p, m, tw, zw);
            if let Some(s) = grad.filter(|_| !e.is_empty()) {
                let s = vec![s; m.len()];
                prob_grads_kept(e, x, p, Stats { m, ls }, &s, tw, &mut []);
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

/// Whether class-probability targets are used as they are: no class weights
/// and no label smoothing, where `w·((1 − ε)·t + ε/C)` is `t` (every kernel
/// then skips its three operations per element: the same sums, bit for bit,
/// since they start from `+0`; a zero gradient entry may differ from the
/// general formula only in its sign, at `t = −0`).
pub(super) fn plain_targets<T: Float>(w: Option<&[T]>, eps: T) -> bool {
    w.is_none() && eps == T::zero()
}

/// `[Σ_c w_c·p'_c, Σ_c w_c·p'_c·(z_c − m)]` with `p' = kept·t + uniform`, for
/// probability targets `t` (rows of the logits' length).
pub(super) struct Prob<'a, T> {
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
            prob_row_grad(e, &self.t[r * c..(r + 1) * c], self, s, scale);
        }
    }
}

dispatch! {
    /// One row of [`prob_grads_kept`]: `e ← s·(e·scale − w·(kept·t + uniform))`
    /// (with `w` the ones of [`weights_or_ones`] when there are no weights,
    /// `w·x` is `x` exactly), or `e ← s·(e·scale − t)` when `plain`
    /// ([`plain_targets`]). A kernel of its own, never inlined, so that the row
    /// walk's code does not change with it. The gradient is a field of [`Prob`]
    /// rather than a type of its own: a third instantiation of the walk made
    /// LLVM keep the walk's accumulators on the stack. `t` is the row's
    /// targets; `p` gives the weights and the mix.
    #[inline(never)]
    pub(super) fn prob_row_grad<T: Float>(e: &mut [T], t: &[T], p: &Prob<'_, T>, s: T, scale: T) {
        let Prob { w, kept, uniform, plain, .. } = *p;
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

/// For one row with its shift known and its target row `t`: `Σ exp(z − shift)`
/// (kept in `e` when `KEEP`), `[Σ w·p', Σ w·p'·(z − shift)]` with
/// `p' = kept·t + uniform`, and the maximum of the `next` row, in one loop;
/// sums as [`sum1`] / [`sum2`] / [`sum3`] would make them.
#[inline(always)]
pub(super) fn prob_row_ahead<T: Float, const KEEP: bool, const PLAIN: bool>(
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

dispatch! {
    /// Gradients with class-probability targets, per element of one unit:
    /// `gz_c = s·(softmax_c·tw − w_c·t'_c)` and, if `gt` is not empty,
    /// `gt_c = −s·(1 − ε)·w_c·log_softmax_c`, with per-position `s` and `tw`;
    /// computed from kept exponentials `e = exp(z − m)`, which become `gz` in
    /// place (no `exp` per element).
    pub(crate) fn prob_grads_kept<T: Float>(
        e: &mut [T], x: Logits<'_, T>, p: Probs<'_, T>, st: Stats<'_, T>, s: &[T], tw: &[T], gt: &mut [T],
    ) {
        let (Logits { z, c, inner }, Probs { t, w, eps }, Stats { m, ls }) = (x, p, st);
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
            let p = TargetMix { t, w, keep, uniform, plain, c, inner };
            for r in blocks(inner) {
                let (m, ls, s) = (&m[r.clone()], &ls[r.clone()], &s[r.clone()]);
                p.grad_block(e, &r, ls, s, &tw[r.clone()]);
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
