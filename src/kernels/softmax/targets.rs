//! Class-index targets: the picked log-probability of each position's
//! target (`nll_loss`), and the gradient `a·softmax − a·onehot` (with label
//! smoothing: `a·softmax − b·w`, minus `d` at the target), made while the
//! statistics' row or block is in cache.

use super::*;

/// Per row `r` of `z` (rows of `c`), `picked = (z_t − m) − ls` (0 where `t == ignore`).
#[inline(always)]
pub(super) fn pick_rows<T: Float>(z: &[T], c: usize, t: &[i64], ignore: i64, m: &[T], ls: &[T], picked: &mut [T]) {
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
pub(super) fn pick_block<T: Float>(
    x: Logits<'_, T>,
    r: &Range<usize>,
    tg: Indices<'_>,
    mb: &[T],
    lb: &[T],
    picked: &mut [T],
) {
    let (Logits { z, c, inner }, Indices { t, ignore }) = (x, tg);
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
    pub(crate) fn stats_pick<T: Float>(x: Logits<'_, T>, lead: usize, tg: Indices<'_>, out: StatsOut<'_, T>, picked: &mut [T]) {
        let (Logits { z, c, inner }, Indices { t, ignore }, StatsOut { m, ls }) = (x, tg, out);
        if inner == 1 {
            row_stats::<T, false>(z, c, m, ls, &mut []);
            pick_rows(z, c, t, ignore, m, ls, picked);
        } else {
            planes_pick(x, lead, tg, StatsOut { m, ls }, picked);
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
    pub(super) fn fill(&self, t: &[i64], ignore: i64, r: Range<usize>, out: &mut [T]) {
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
    pub(crate) fn stats_pick_onehot<T: Float>(
        x: Logits<'_, T>, lead: usize, tg: Indices<'_>, a: Scales<'_, T>, st: StatsOut<'_, T>, picked: &mut [T], out: &mut [T],
    ) {
        let (Logits { z, c, inner }, Indices { t, ignore }, StatsOut { m, ls }) = (x, tg, st);
        if inner == 1 {
            row_stats::<T, true>(z, c, m, ls, out);
            pick_rows(z, c, t, ignore, m, ls, picked);
            losses_of_picked(picked, a.w);
            let mut ar = vec![T::zero(); m.len()];
            a.fill(t, ignore, 0..m.len(), &mut ar);
            onehot_rows::<T, true>(x, Stats { m, ls }, &ar, tg, out);
        } else {
            planes_pick_onehot(x, lead, tg, a, StatsOut { m, ls }, picked, out);
        }
    }
}

dispatch! {
    /// The plane part of [`stats_pick`], a kernel of its own for the reason
    /// given at [`planes_keep`].
    #[inline(never)]
    pub(super) fn planes_pick<T: Float>(x: Logits<'_, T>, lead: usize, tg: Indices<'_>, st: StatsOut<'_, T>, picked: &mut [T]) {
        let StatsOut { m, ls } = st;
        plane_stats(x, lead, m, ls, &mut [], #[inline(always)] |r, mb, lb, _| pick_block(x, r, tg, mb, lb, picked));
    }
}

dispatch! {
    /// The plane part of [`stats_pick_onehot`], a kernel of its own for the
    /// reason given at [`planes_keep`] (beside [`planes_pick`]'s walk, LLVM
    /// kept this walk's maxima on the stack).
    #[inline(never)]
    pub(super) fn planes_pick_onehot<T: Float>(
        x: Logits<'_, T>, lead: usize, tg: Indices<'_>, a: Scales<'_, T>, st: StatsOut<'_, T>, picked: &mut [T],
        out: &mut [T],
    ) {
        let (Indices { t, ignore }, StatsOut { m, ls }) = (tg, st);
        let mut ab = [T::zero(); BLOCK];
        plane_stats(x, lead, m, ls, out, #[inline(always)] |r, mb, lb, e| {
            pick_block(x, r, tg, mb, lb, picked);
            // made losses while in L1 (a pass after the walk would
            // find them gone from the cache)
            losses_of_picked(&mut picked[r.clone()], a.w.map(|w| &w[r.clone()]));
            let ab = &mut ab[..r.len()];
            a.fill(t, ignore, r.clone(), ab);
            onehot_block::<T, true>(x, r, Stats { m: mb, ls: lb }, ab, tg, e);
        });
    }
}

/// Rows of `c`: `out_c = a·exp(−ls) · e_c − a · [c = t]`, rows with `a = 0`
/// exactly zero, where `e_c` is the kept exponential already in `out` when
/// `KEPT`, else `exp(z_c − m)` from the logits `z` and maxima `m`.
#[inline(always)]
pub(super) fn onehot_rows<T: Float, const KEPT: bool>(
    x: Logits<'_, T>,
    st: Stats<'_, T>,
    a: &[T],
    tg: Indices<'_>,
    out: &mut [T],
) {
    let (Logits { z, c, .. }, Stats { m, ls }, Indices { t, ignore }) = (x, st, tg);
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
pub(super) fn onehot_block<T: Float, const KEPT: bool>(
    x: Logits<'_, T>,
    r: &Range<usize>,
    sb: Stats<'_, T>,
    ab: &[T],
    tg: Indices<'_>,
    out: &mut [T],
) {
    let (Logits { z, c, inner }, Stats { m: mb, ls: lb }, Indices { t, ignore }) = (x, sb, tg);
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
pub(super) fn onehot_term<T: Float>(y: T, a: T, target: bool) -> T {
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
    pub(crate) fn softmax_onehot<T: Float>(x: Logits<'_, T>, st: Stats<'_, T>, a: &[T], tg: Indices<'_>, out: &mut [T]) {
        let Stats { m, ls } = st;
        if x.inner == 1 {
            onehot_rows::<T, false>(x, st, a, tg, out);
        } else {
            for r in blocks(x.inner) {
                let sb = Stats { m: &m[r.clone()], ls: &ls[r.clone()] };
                onehot_block::<T, false>(x, &r, sb, &a[r.clone()], tg, out);
            }
        }
    }
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
    pub(super) fn at(&self, j: usize) -> (T, T, Option<(usize, T)>) {
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

/// One row of [`affine_in_place`]: `e_c ← a·e_c·exp(−ls) − b·w_c` (`w_c = 1`
/// without weights), all zero where `a = b = 0`.
#[inline(always)]
pub(super) fn affine_row<T: Float>(erow: &mut [T], ls: T, ar: T, br: T, w: Option<&[T]>) {
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
    pub(super) fn affine_row_target<T: Float>(erow: &mut [T], ls: T, ar: T, br: T, w: Option<&[T]>, target: Option<(usize, T)>) {
        affine_row(erow, ls, ar, br, w);
        if let Some((t, d)) = target {
            erow[t] -= d;
        }
    }
}

/// The per-position scales `a`, `b` and the class weights `w` of a
/// softmax-affine `e_c ← a·e_c·exp(−ls) − b·w_c` (`w_c = 1` without weights).
#[derive(Clone, Copy)]
pub(crate) struct Affine<'a, T> {
    /// Scales of the softmax, per position.
    pub a: &'a [T],
    /// Scales of the weights, per position.
    pub b: &'a [T],
    /// Class weights, if any.
    pub w: Option<&'a [T]>,
}

dispatch! {
    /// In place, `e_c ← a · e_c · exp(−ls) − b · w_c` for one unit of `c`
    /// classes by `inner` positions, from kept exponentials `e = exp(z − m)`.
    pub(crate) fn affine_in_place<T: Float>(e: &mut [T], c: usize, inner: usize, ls: &[T], f: Affine<'_, T>) {
        let Affine { a, b, w } = f;
        if inner == 1 {
            for (r, erow) in e.chunks_exact_mut(c.max(1)).enumerate().take(ls.len()) {
                affine_row(erow, ls[r], a[r], b[r], w);
            }
        } else {
            for r in blocks(inner) {
                let fb = Affine { a: &a[r.clone()], b: &b[r.clone()], w };
                affine_block(e, (c, inner), &r, &ls[r.clone()], fb);
            }
        }
    }
}

/// [`affine_in_place`] for the positions `r` of a plane (`ls`, `a`, `b` the
/// block's): `e_c ← a·e_c·exp(−ls) − b·w_c`, all zero where `a = b = 0`.
#[inline(always)]
pub(super) fn affine_block<T: Float>(
    e: &mut [T],
    (c, inner): (usize, usize),
    r: &Range<usize>,
    ls: &[T],
    f: Affine<'_, T>,
) {
    let Affine { a, b, w } = f;
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
