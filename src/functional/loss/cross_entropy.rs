//! Cross-entropy on logits, fused with the log-softmax: `F.cross_entropy`.
//!
//! The forward reads the logits for the maximum and the log-sum-exp of each
//! position (see `softmax_kernels`); when the logits track gradients it also
//! keeps the exponentials `exp(z − m)` it summed. For a reduced loss it turns
//! them into the gradient `softmax − target` (scaled, for an upstream gradient
//! of 1) while each unit is still in cache, and `backward()` hands that buffer
//! over (see `kept`); otherwise the backward turns the buffer into the gradient
//! in place. Either way no second `exp`, no one-hot tensor, no log-probability
//! tensor, no transpose for K-dimensional inputs; large inputs run in parallel.

use super::classes::{
    Layout, check_targets, check_weight, class_weight, index_layout, index_loss_graph, prob_loss_graph, target_weights,
};
use super::kept::{Kept, KeptSlot, Taken};
use super::log_softmax_nll::log_softmax_nll;
use super::nll::{NllLossOptions, divisor, position_scale, reduce_classes};
use crate::autograd::is_grad_enabled;
use crate::autograd::{Backward, composite_backward};
use crate::cpu::alloc::{give_back, scratch, zeros};
use crate::cpu::sum::pairwise_sum;
use crate::kernels::softmax::{
    Affine, Dims, Logits, Probs, RowGrads, Stats, StatsOut, TargetSums, Unit, affine_in_place, all_stats_keep,
    index_scales, lead_of_walk, prob_grads_kept, smooth_fused, stats_maybe_keep, stats_prob, stats_smooth,
};
use crate::tensor::ops::{float_op, float_op2};
use crate::tensor::{Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`cross_entropy`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// Per-class weight, a 1-D tensor of `C` elements (default none).
    pub weight: Option<Tensor>,
    /// A class-index target value that contributes nothing (default −100).
    pub ignore_index: i64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Mass ε moved from the target to a uniform distribution over the classes
    /// (default 0.0; must lie in [0, 1]).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean, label_smoothing: 0.0 }
    }
}

/// The forward's exponentials `exp(z − m)` when it kept them, else computed
/// again exactly as the forward did.
fn exps_or_recompute<T: Float>(taken: Taken<T>, zs: &[T], d: Dims) -> Vec<T> {
    match taken {
        Taken::Exps(e) => e,
        Taken::Grad(g) => {
            give_back(g);
            all_stats_keep(zs, d, true).2
        }
        Taken::Nothing => all_stats_keep(zs, d, true).2,
    }
}

/// The cross-entropy gradient with class-index targets, one unit at a time:
/// `∂ℓ/∂z_c = s·((1 − ε)·w_t + ε/C·Σw)·softmax_c − s·ε/C·w_c − s·(1 − ε)·w_t·[c = t]`
/// per position (zero where the target is ignored), `s` the upstream gradient
/// reaching it. The forward (for an upstream gradient of 1) and the backward
/// both compute it here.
struct IndexGrad<'a, T> {
    d: Dims,
    w: Option<&'a [T]>,
    ignore: i64,
    eps: T,
    uniform: T,
    wsum: T,
}

impl<'a, T: Float> IndexGrad<'a, T> {
    fn new(d: Dims, w: Option<&'a [T]>, ignore: i64, eps: f64) -> Self {
        let eps = T::from_f64(eps);
        let uniform = eps / T::from_f64(d.c as f64);
        let wsum = w.map_or(T::from_f64(d.c as f64), pairwise_sum);
        IndexGrad { d, w, ignore, eps, uniform, wsum }
    }

    /// Per position of the unit `u` (targets `t`, `s(j)` for position `j`):
    /// `e_c ← a·softmax_c − b·w_c`, then the target's entry `− s·(1 − ε)·w_t`;
    /// `a`, `b` and that subtraction (with the target), all zero and none where
    /// the target is ignored.
    fn scales(&self, u: Unit, t: &[i64], s: &impl Fn(usize) -> T) -> RowScales<T> {
        let (w, keep) = (self.w, T::one() - self.eps);
        let (mut a, mut b) = (zeros::<T>(u.len), zeros::<T>(u.len));
        let mut sub = vec![None; u.len];
        for (i, &tj) in t.iter().enumerate() {
            if tj != self.ignore {
                let s = s(u.j0 + i);
                let (ai, bi, d) = index_scales(s, class_weight(w, tj as usize), keep, self.uniform, self.wsum);
                (a[i], b[i], sub[i]) = (ai, bi, Some((tj as usize, d)));
            }
        }
        RowScales { a, b, sub }
    }

    /// For a unit's targets `t` and one upstream gradient `s` for all its
    /// positions: what its gradient made in the walk needs ([`RowGrads`]).
    fn in_walk(&self, t: &'a [i64], s: T) -> RowGrads<'a, T> {
        let keep = T::one() - self.eps;
        RowGrads { t, ignore: self.ignore, w: self.w, s, keep, uniform: self.uniform, wsum: self.wsum }
    }

    /// Turns the unit's exponentials `e = exp(z − m)` into its gradient in place,
    /// given the unit's targets `t`, its `ls` and `s(j)` for position `j`.
    fn unit(&self, e: &mut [T], u: Unit, t: &[i64], ls: &[T], s: &impl Fn(usize) -> T) {
        let d = self.d;
        let RowScales { a, b, sub } = self.scales(u, t, s);
        affine_in_place(e, d.c, d.inner, ls, Affine { a: &a, b: &b, w: self.w });
        for (i, st) in sub.iter().enumerate() {
            if let Some((tj, v)) = *st {
                e[d.unit_offset(i, tj)] -= v;
            }
        }
        give_back(a);
        give_back(b);
    }
}

/// [`IndexGrad::scales`]: per position `a`, `b` and the target entry's
/// subtraction `(t, s·(1 − ε)·w_t)`, none where the target is ignored.
struct RowScales<T> {
    a: Vec<T>,
    b: Vec<T>,
    sub: Vec<Option<(usize, T)>>,
}

/// What the probability-target backward keeps: per position the maximum `m`
/// and `ls = log Σ exp(z − m)`.
struct Saved {
    m: Tensor,
    ls: Tensor,
}

struct IndexTargets {
    layout: Layout,
    weight: Option<Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    eps: f64,
    denom: f64,
    /// per position `log Σ exp(z − m)`
    ls: Tensor,
    /// the gradient for an upstream 1, or `exp(z − m)`, from the forward
    kept: KeptSlot,
}

struct ProbTargets {
    layout: Layout,
    weight: Option<Tensor>,
    reduction: Reduction,
    eps: f64,
    saved: Saved,
    /// the gradient for an upstream 1, or `exp(z − m)`, from the forward
    kept: KeptSlot,
    /// per position `Σ_c w_c·t'_c`
    tw: Tensor,
}

impl Backward for IndexTargets {
    fn name(&self) -> &'static str {
        "CrossEntropyLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "cross_entropy";
        let (z, target) = (&inputs[0], &inputs[1]);
        let t = target.data::<i64>(OP, "target")?;
        let t: &[i64] = &t;
        let l = &self.layout;
        let d = l.dims();
        let gz = float_op2!(OP, z, grad, "grad", |zs, g| {
            let w = self.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
            let out = match self.kept.take_for(g) {
                Taken::Grad(done) => done,
                taken => {
                    let ls = self.ls.data::<T>(OP, "ls")?;
                    let grads = IndexGrad::new(d, w.as_deref(), self.ignore_index, self.eps);
                    let scale = position_scale(g, self.reduction, self.denom);
                    // the forward's exp(z − m), turned into the gradient in place
                    let mut out = exps_or_recompute(taken, zs, d);
                    d.run([], [&mut out], |u, [], [o]| {
                        let p = u.j0..u.j0 + u.len;
                        grads.unit(o, u, &t[p.clone()], &ls[p], &scale);
                    });
                    out
                }
            };
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(gz, z.shape())), None])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            let logp = crate::functional::log_softmax(&xs[0], class_dim(&xs[0]))?;
            let (w, l) = (self.weight.as_ref(), &self.layout);
            index_loss_graph(&logp, &xs[1], l, w, self.ignore_index, self.reduction, self.denom, self.eps)
        })
    }
}

/// The class dim of logits: 1, or 0 for an unbatched `(C,)` input.
fn class_dim(z: &Tensor) -> isize {
    if z.ndim() >= 2 { 1 } else { 0 }
}

impl Backward for ProbTargets {
    fn name(&self) -> &'static str {
        "CrossEntropyLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "cross_entropy";
        let (z, target) = (&inputs[0], &inputs[1]);
        let l = &self.layout;
        let d = l.dims();
        let (gz, gt) = float_op2!(OP, z, target, "target", |zs, ts| {
            let g = grad.data::<T>(OP, "grad")?;
            let taken = self.kept.take_for(&g);
            if let Taken::Grad(done) = taken {
                // the forward only computes it when the target tracks no gradient
                debug_assert!(!target.tracks_grad());
                return Ok(vec![Some(Tensor::from_storage(T::wrap(done), z.shape())), None]);
            }
            let w = self.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
            let w = w.as_deref();
            let (m, ls) = (self.saved.m.data::<T>(OP, "m")?, self.saved.ls.data::<T>(OP, "ls")?);
            let tw = self.tw.data::<T>(OP, "tw")?;
            let denom = l.positions() as f64;
            let s: Vec<T> = (0..l.positions()).map(position_scale(&g, self.reduction, denom)).collect();
            let eps = T::from_f64(self.eps);
            let mut gt = scratch::<T>(if target.tracks_grad() { zs.len() } else { 0 });
            // the forward's exp(z − m), turned into the gradient in place
            let mut gz = exps_or_recompute(taken, zs, d);
            d.run([], [&mut gz, &mut gt], |u, [], [ge, gt]| {
                let (p, el) = (u.j0..u.j0 + u.len, u.e0..u.e0 + u.len * l.c);
                let x = Logits { z: &zs[el.clone()], c: l.c, inner: l.inner };
                let st = Stats { m: &m[p.clone()], ls: &ls[p.clone()] };
                prob_grads_kept(ge, x, Probs { t: &ts[el], w, eps }, st, &s[p.clone()], &tw[p], gt)
            });
            let gt = (!gt.is_empty()).then(|| Tensor::from_storage(T::wrap(gt), target.shape()));
            (Tensor::from_storage(T::wrap(gz), z.shape()), gt)
        });
        Ok(vec![Some(gz), gt])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            let logp = crate::functional::log_softmax(&xs[0], class_dim(&xs[0]))?;
            prob_loss_graph(&logp, &xs[1], &self.layout, self.weight.as_ref(), self.reduction, self.eps)
        })
    }
}

fn index_targets(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let layout = index_layout(OP, input, target)?;
    check_weight(OP, input, opts.weight.as_ref(), layout.c)?;
    if opts.label_smoothing == 0.0 && layout.inner > 1 {
        // K-dim input without smoothing: nll_loss over log_softmax as one op,
        // as PyTorch computes it, which takes the fused plane walk (the
        // gradient made in the walk, the targets checked in its parallel
        // section) rather than this function's own unit-wise pass
        let nll =
            NllLossOptions { weight: opts.weight.clone(), ignore_index: opts.ignore_index, reduction: opts.reduction };
        return log_softmax_nll(OP, input, &input.storage(), target, &nll, None);
    }
    let t = target.data::<i64>(OP, "target")?;
    let t: &[i64] = &t;
    let counted = check_targets(OP, target, t, layout.c, opts.ignore_index)?;
    let d = layout.dims();
    let keep = is_grad_enabled() && input.tracks_grad();
    // a reduced loss writes the gradient for an upstream 1 (see `kept`)
    let eager = keep && opts.reduction != Reduction::None;
    let (storage, ls, denom, kept) = float_op!(OP, "input", input, |zs| {
        let w = opts.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
        let w = w.as_deref();
        let eps = T::from_f64(opts.label_smoothing);
        let ignore = opts.ignore_index;
        let weights = target_weights(t, w, ignore);
        let denom = divisor(w.map(|_| &weights[..]), counted, opts.reduction);
        // the upstream gradient 1 reaching each position (divided by the mean's divisor)
        let one = [T::one()];
        let scale = position_scale(&one, opts.reduction, denom);
        let grads = IndexGrad::new(d, w, ignore, opts.label_smoothing);
        // per unit, while it is in cache: the maximum and log-sum-exp of each
        // position, the exponentials when recording (turned into the gradient
        // in place for a reduced loss), and (ε > 0) the label-smoothing term
        // Σ_c w_c·(z_c − m)
        let (c, inner, positions) = (layout.c, layout.inner, t.len());
        let (mut m, mut ls) = (scratch::<T>(positions), scratch::<T>(positions));
        let mut smooth = scratch::<T>(if opts.label_smoothing > 0.0 { positions } else { 0 });
        let mut exps = scratch::<T>(if keep { zs.len() } else { 0 });
        let (uniform, wsum) = (grads.uniform, grads.wsum);
        // each position's loss (0 where ignored), made in the unit
        let mut losses = scratch::<T>(positions);
        d.run([&mut m, &mut ls, &mut smooth, &mut losses], [&mut exps], |u, [m, ls, sm, lo], [e]| {
            let z = &zs[u.e0..u.e0 + u.len * c];
            let za = &zs[u.e0..ahead(zs.len(), u.e0 + u.len * c, c, inner)];
            let t = &t[u.j0..u.j0 + u.len];
            // with label smoothing, the gradient made row by row in the walk when it can be
            let in_walk = eager && !sm.is_empty() && smooth_fused(c, inner);
            if !sm.is_empty() {
                let rg = in_walk.then(|| grads.in_walk(t, scale(u.j0)));
                stats_smooth(Logits { z: za, c, inner }, lead_of_walk(z, e), w, rg, StatsOut { m, ls }, sm, e);
            } else {
                stats_maybe_keep(za, c, inner, lead_of_walk(z, e), m, ls, e);
            }
            let wt = &weights[u.j0..u.j0 + u.len];
            for (i, ((&tj, l), &wj)) in t.iter().zip(lo.iter_mut()).zip(wt).enumerate() {
                *l = if tj == ignore {
                    T::zero()
                } else {
                    // −log_softmax at the target: ls − (z_t − m)
                    let nll = wj * (ls[i] - (z[d.unit_offset(i, tj as usize)] - m[i]));
                    if sm.is_empty() { nll } else { (T::one() - eps) * nll + uniform * (wsum * ls[i] - sm[i]) }
                };
            }
            if eager && !in_walk {
                // while the unit is in cache (L2)
                grads.unit(e, u, t, ls, &scale);
            }
        });
        let v = reduce_classes(losses, opts.reduction, denom);
        give_back(weights);
        give_back(m);
        give_back(smooth);
        let kept = keep.then(|| if eager { Kept::GradForOne(T::wrap(exps)) } else { Kept::Exps(T::wrap(exps)) });
        (T::wrap(v), Tensor::from_storage(T::wrap(ls), &[t.len()]), denom, kept)
    });
    let shape: Shape = if opts.reduction == Reduction::None { layout.out.clone() } else { Shape::new() };
    let node = IndexTargets {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction,
        eps: opts.label_smoothing,
        denom,
        ls,
        kept: KeptSlot::new(kept),
    };
    Ok(Tensor::from_op(storage, &shape, node, &[input, target]))
}

fn prob_targets(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    input.require_float(OP, "input")?;
    if target.shape() != input.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "target has shape {:?} but input has shape {:?}: class-probability targets (float) need the \
                 input's shape; class indices must be I64",
                target.shape(),
                input.shape()
            ),
        ));
    }
    let is = input.shape();
    let layout = match input.ndim() {
        0 => {
            return Err(Error::shape(OP, "input is 0-d; expected (C,), (N, C) or (N, C, d1, ..., dK)"));
        }
        1 => Layout { n: 1, c: is[0], inner: 1, out: Shape::new() },
        _ => {
            let mut out: Shape = Shape::new();
            out.push(is[0]);
            out.extend_from_slice(&is[2..]);
            Layout { n: is[0], c: is[1], inner: is[2..].iter().product(), out }
        }
    };
    check_weight(OP, input, opts.weight.as_ref(), layout.c)?;
    let d = layout.dims();
    let keep = is_grad_enabled() && input.tracks_grad();
    // a reduced loss writes the gradient for an upstream 1 (see `kept`), unless
    // the target needs its own gradient too
    let eager = keep && opts.reduction != Reduction::None && !target.tracks_grad();
    let (storage, saved, tw, kept) = float_op2!(OP, input, target, "target", |zs, ts| {
        let w = opts.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
        let w = w.as_deref();
        let eps = T::from_f64(opts.label_smoothing);
        let one = [T::one()];
        let scale = position_scale(&one, opts.reduction, layout.positions() as f64)(0);
        // per unit, while its logits are in cache: the statistics (and the
        // exponentials when recording, turned into the gradient for a reduced
        // loss), then the target sums
        let p = d.positions();
        let (mut m, mut ls, mut tw, mut zw) = (scratch::<T>(p), scratch::<T>(p), scratch::<T>(p), scratch::<T>(p));
        let mut exps = scratch::<T>(if keep { zs.len() } else { 0 });
        d.run([&mut m, &mut ls, &mut tw, &mut zw], [&mut exps], |u, [m, ls, tw, zw], [e]| {
            let el = u.e0..u.e0 + u.len * layout.c;
            let (z, t) = (&zs[el.start..ahead(zs.len(), el.end, layout.c, layout.inner)], &ts[el]);
            let grad = eager.then_some(scale);
            let x = Logits { z, c: layout.c, inner: layout.inner };
            stats_prob(x, lead_of_walk(z, e), Probs { t, w, eps }, grad, StatsOut { m, ls }, TargetSums { tw, zw }, e);
        });
        let losses: Vec<T> = (0..d.positions()).map(|j| ls[j] * tw[j] - zw[j]).collect();
        let v = reduce_classes(losses, opts.reduction, layout.positions() as f64);
        give_back(zw);
        let p = d.positions();
        let saved = Saved { m: Tensor::from_storage(T::wrap(m), &[p]), ls: Tensor::from_storage(T::wrap(ls), &[p]) };
        let kept = keep.then(|| if eager { Kept::GradForOne(T::wrap(exps)) } else { Kept::Exps(T::wrap(exps)) });
        (T::wrap(v), saved, Tensor::from_storage(T::wrap(tw), &[p]), kept)
    });
    let shape: Shape = if opts.reduction == Reduction::None { layout.out.clone() } else { Shape::new() };
    let node = ProbTargets {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        reduction: opts.reduction,
        eps: opts.label_smoothing,
        saved,
        tw,
        kept: KeptSlot::new(kept),
    };
    Ok(Tensor::from_op(storage, &shape, node, &[input, target]))
}

/// Cross-entropy between logits and targets, fused with the log-softmax
/// (`F.cross_entropy`, `nn.CrossEntropyLoss`).
///
/// With class indices `y` (I64) and label smoothing ε over `C` classes:
/// `ℓ_j = (1 - ε) · w[y_j] · (lse_j - z[j, y_j]) + ε/C · Σ_c w_c · (lse_j - z[j, c])`,
/// where `lse_j = log Σ_c exp(z[j, c])`; `mean` divides by `Σ w[y_j]` over
/// non-ignored targets (NaN if all are ignored).
///
/// With class probabilities `p` (float, the input's shape), `p' = (1 - ε)·p + ε/C`:
/// `ℓ_j = -Σ_c w_c · p'[j, c] · log_softmax(z)[j, c]`; `mean` divides by
/// `N · d1 ⋯ dK`, and the target gets a gradient too.
///
/// Shapes: logits `(N, C)`, `(C,)` or `(N, C, d1, …, dK)`; index targets
/// `(N,)`, `()` or `(N, d1, …, dK)`. Errors on an out-of-range class, a batch
/// or spatial mismatch, a weight of the wrong length, or ε outside [0, 1].
///
/// Memory: when the logits track gradients, the forward keeps one buffer of
/// their size for the backward (as PyTorch keeps the `log_softmax` output);
/// for `mean` and `sum` it already holds the logits' gradient for
/// `loss.backward()`, which then costs no pass over the data.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let z = Tensor::from_vec(vec![2.0f32, 0.0, 0.0, 0.0, 2.0, 0.0], &[2, 3])?.requires_grad();
/// let y = Tensor::from_vec(vec![0i64, 1], &[2])?;
/// let loss = F::cross_entropy(&z, &y, &F::CrossEntropyOptions::default())?;
/// let expected = (1.0 + 2.0 * (-2f32).exp()).ln();
/// assert!((loss.item::<f32>()? - expected).abs() < 1e-6);
/// loss.backward()?;
/// assert_eq!(z.grad().unwrap().shape(), &[2, 3]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn cross_entropy(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    opts.reduction.reject_batchmean("cross_entropy")?;
    let ls = opts.label_smoothing;
    if !(0.0..=1.0).contains(&ls) {
        return Err(Error::value("cross_entropy", format!("label_smoothing = {ls} must lie in [0.0, 1.0]")));
    }
    if target.dtype().is_float() { prob_targets(input, target, opts) } else { index_targets(input, target, opts) }
}

/// Where a unit's logits end for the row kernels (`inner == 1`): one row
/// past `end` when there is one (the next unit's first row), whose maximum
/// the unit's last row finds while it is exponentiated, as every other row
/// does for its next (see `fused_rows`; only that maximum is read, the
/// results are the same bits). Along planes, `end`.
fn ahead(len: usize, end: usize, c: usize, inner: usize) -> usize {
    if inner == 1 { (end + c).min(len) } else { end }
}
