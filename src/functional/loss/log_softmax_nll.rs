//! `nll_loss(log_softmax(x, class dim))` as one op, on `x` itself: the
//! forward computes every position's softmax statistics and picked
//! log-probability from `x` (the log-probabilities are never made), and the
//! backward is `∂ℓ/∂x_c = s·w_t·(softmax_c − [c = t])`, one pass per unit.
//!
//! `cross_entropy` with class indices over `(N, C, d…)` calls it directly;
//! `nll_loss` calls it when its input is a `log_softmax` output over the
//! class dim ([`log_softmax_of`]), recording the loss on that output's input.

use super::classes::{
    Layout, TargetScan, bad_target, check_targets, check_weight, index_layout, index_loss_graph, scan_in_kernel,
    target_weights,
};
use super::kept::{Kept, KeptSlot, Taken};
use super::nll::{NllLossOptions, divisor, position_scale, reduce_classes, reduced, target_scales};
use crate::autograd::{Backward, composite_backward, is_grad_enabled};
use crate::cpu::alloc::{give_back, scratch};
use crate::cpu::sum::{pairwise_of_parts, pairwise_part, pairwise_part_len};
use crate::functional::activation::log_softmax_of;
use crate::kernels::softmax::{
    self as kernel, Dims, Indices, Logits, Scales, StatsOut, Unit, lead_of, lead_of_walk, losses_of_picked,
    softmax_onehot, stats as stats_of, stats_pick, stats_pick_onehot,
};
use crate::tensor::ops::float_op;
use crate::tensor::{Float, Storage};
use crate::{DType, Error, Reduction, Result, Tensor};
use std::sync::OnceLock;

/// `nll_loss(log_softmax(x, class dim), target)` of the logits `x` (whose data
/// is `xs`, a snapshot when `x` is a trainable leaf), recorded on `x`; errors
/// named `op`. For `mean` and `sum`, when `x` tracks gradients, the forward
/// also writes `x`'s gradient for `loss.backward()` (see `kept`). `logp`: the
/// `log_softmax` output the loss was asked of, if any, listed as the node's
/// skipped input (see `Backward::skipped`).
pub(crate) fn log_softmax_nll(
    op: &'static str,
    x: &Tensor,
    xs: &Storage,
    target: &Tensor,
    opts: &NllLossOptions,
    logp: Option<&Tensor>,
) -> Result<Tensor> {
    let layout = index_layout(op, x, target)?;
    check_weight(op, x, opts.weight.as_ref(), layout.c)?;
    let t = target.data::<i64>(op, "target")?;
    let t: &[i64] = &t;
    let shape = if opts.reduction == Reduction::None { layout.out.clone() } else { Default::default() };
    // a reduced loss writes x's gradient for an upstream 1 (see `kept`)
    let eager = opts.reduction != Reduction::None && is_grad_enabled() && x.tracks_grad();
    // that gradient, without class weights, is made from the targets alone:
    // many targets are checked in its kernel's parallel section (one wake-up
    // of the thread team for both)
    let counted = if eager && opts.weight.is_none() && scan_in_kernel(t) {
        None
    } else {
        Some(check_targets(op, target, t, layout.c, opts.ignore_index)?)
    };
    let (storage, denom, stats, kept) = match x.dtype() {
        DType::F32 => forward::<f32>(op, xs, Targets { target, t, counted }, &layout, opts, eager)?,
        DType::F64 => forward::<f64>(op, xs, Targets { target, t, counted }, &layout, opts, eager)?,
        d @ (DType::I64 | DType::Bool) => {
            return Err(Error::dtype(op, format!("input has dtype {d}, expected a float tensor (F32 or F64)")));
        }
    };
    let node = LogSoftmaxNllBackward {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction,
        denom,
        stats,
        kept: KeptSlot::new(kept),
        skipped: false,
    };
    match logp.filter(|y| y.tracks_grad() && is_grad_enabled()) {
        Some(y) => {
            Ok(Tensor::from_op(storage, &shape, LogSoftmaxNllBackward { skipped: true, ..node }, &[x, target, y]))
        }
        None => Ok(Tensor::from_op(storage, &shape, node, &[x, target])),
    }
}

/// `nll_loss(input, …)` when `input` is `log_softmax(x, class dim)`: the
/// fused op on `x` (on `input` itself when it records no graph, as then
/// nothing is recorded); `None` for any other input.
pub(crate) fn over_log_softmax(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    opts: &NllLossOptions,
) -> Option<Result<Tensor>> {
    let class_dim = if input.ndim() == 1 { 0 } else { 1 };
    let of = log_softmax_of(input, class_dim)?;
    let x = of.x.unwrap_or_else(|| input.clone());
    Some(log_softmax_nll(op, &x, of.data, target, opts, Some(input)))
}

/// The target tensor, its values, and how many of them are not ignored
/// (`None` when the kernel's parallel section checks them).
struct Targets<'a> {
    target: &'a Tensor,
    t: &'a [i64],
    counted: Option<usize>,
}

/// The forward in dtype `T`: the reduced loss, the `mean` divisor, the
/// statistics `(m, ls)` and (when `eager`) the gradient for an upstream 1.
fn forward<T: Float>(
    op: &'static str,
    xs: &Storage,
    targets: Targets<'_>,
    layout: &Layout,
    opts: &NllLossOptions,
    eager: bool,
) -> Result<(Storage, f64, Stats, Option<Kept>)> {
    let Targets { target, t, counted } = targets;
    let w = opts.weight.as_ref().map(|w| w.data::<T>(op, "weight")).transpose()?;
    let w = w.as_deref();
    // per position w[t_j], only with class weights (without, `counted` is their sum)
    let weights = w.map(|w| target_weights(t, Some(w), opts.ignore_index));
    let xs = T::slice(xs).ok_or_else(|| Error::dtype(op, "input: the data is not of the input's dtype"))?;
    let found = fused_forward(xs, layout.dims(), t, weights.as_deref(), opts, counted, eager);
    if let Some(we) = weights {
        give_back(we);
    }
    let Some(Fused { losses, stats, grad, parts, denom }) = found else {
        return Err(bad_target(op, target, t, layout.c, opts.ignore_index));
    };
    let stats = match stats {
        Some((m, ls)) => Stats::Kept(T::wrap(m), T::wrap(ls)),
        None => Stats::Recompute,
    };
    let kept = eager.then(|| Kept::GradForOne(T::wrap(grad)));
    let v = match parts {
        // as `reduce_classes`, from the units' parts of the sum
        Some(parts) => {
            give_back(losses);
            vec![reduced(pairwise_of_parts(&parts), opts.reduction, denom)]
        }
        None => reduce_classes(losses, opts.reduction, denom),
    };
    Ok((T::wrap(v), denom, stats, kept))
}

/// `nll_loss(log_softmax(x))` from `x` itself, per unit while it is in cache:
/// the statistics `m`, `ls` of every position and `ℓ_j = −w[t_j]·((x_t − m) − ls)`
/// (the log-probability exactly as `log_softmax` computes it); and, when
/// `eager`, the gradient of `x` for an upstream gradient of 1 (see `kept`),
/// with the backward's own scales (`target_scales`, `mean` divided by its
/// divisor). `weights` holds each position's `w[t_j]` (none: 1); `counted` is
/// the number of targets not ignored, or `None` when the targets are still to
/// be checked: then the units' parallel section scans them first
/// ([`Dims::run_scanned`]). Returns `None` if the scan found a target out of
/// range.
fn fused_forward<T: Float>(
    x: &[T],
    d: Dims,
    t: &[i64],
    weights: Option<&[T]>,
    opts: &NllLossOptions,
    counted: Option<usize>,
    eager: bool,
) -> Option<Fused<T>> {
    let (p, ignore) = (d.positions(), opts.ignore_index);
    // a reduced loss over planes of 2ᵏ whole leaves: each unit sums its losses
    // while they are in cache, the same bits as one sum over all
    let by_parts = opts.reduction != Reduction::None && d.inner > 1 && pairwise_part_len(d.inner);
    let parts: Vec<OnceLock<(T, u32)>> = (0..if by_parts { d.n } else { 0 }).map(|_| OnceLock::new()).collect();
    // `m` and `ls` are not written where the gradient is (see `Stats::Recompute`)
    let sp = if eager && d.inner > 1 { 0 } else { p };
    let (mut losses, mut m, mut ls) = (scratch::<T>(p), scratch::<T>(sp), scratch::<T>(sp));
    let mut grad = scratch::<T>(if eager { x.len() } else { 0 });
    // `one`: the upstream gradient 1 reaching every position (divided by the mean's divisor)
    let unit = |u: Unit, [lo, m, ls]: [&mut [T]; 3], [g]: [&mut [T]; 1], one: T| {
        let (t, we) = (&t[u.j0..u.j0 + u.len], weights.map(|w| &w[u.j0..u.j0 + u.len]));
        let x = &x[u.e0..u.e0 + u.len * d.c];
        let lead = lead_of_walk(x, g);
        if eager {
            // `target_scales` for an upstream 1: w[t_j]·s, s without weights;
            // the losses made in the kernel
            let (x, tg) = (Logits { z: x, c: d.c, inner: d.inner }, Indices { t, ignore });
            stats_pick_onehot(x, lead, tg, Scales { s: one, w: we }, StatsOut { m, ls }, lo, g);
        } else {
            let (x, tg) = (Logits { z: x, c: d.c, inner: d.inner }, Indices { t, ignore });
            stats_pick(x, lead, tg, StatsOut { m, ls }, lo);
            losses_of_picked(lo, we);
        }
        if let Some(part) = by_parts.then(|| pairwise_part(lo)).flatten() {
            // a unit is one sample here; each is set once
            let _ = parts[u.j0 / d.inner].set(part);
        }
    };
    let one = |denom: f64| position_scale(&[T::one()], opts.reduction, denom)(0);
    let denom = match counted {
        Some(counted) => {
            let denom = divisor(weights, counted, opts.reduction);
            d.run([&mut losses, &mut m, &mut ls], [&mut grad], |u, p, e| unit(u, p, e, one(denom)));
            denom
        }
        None => {
            let scan = TargetScan { t, c: d.c, ignore };
            let denom_of = |counted| divisor(weights, counted, opts.reduction);
            let (wrong, counted) = d.run_scanned(
                scan.parts(),
                |i| scan.part(i),
                [&mut losses, &mut m, &mut ls],
                [&mut grad],
                |u, p, e, counted| unit(u, p, e, one(denom_of(counted))),
            );
            if wrong {
                [losses, m, ls, grad].into_iter().for_each(give_back);
                return None;
            }
            denom_of(counted)
        }
    };
    let parts = by_parts.then(|| parts.into_iter().map(OnceLock::into_inner).collect::<Option<Vec<_>>>()).flatten();
    let stats = (sp == p).then_some((m, ls));
    Some(Fused { losses, stats, grad, parts, denom })
}

/// What [`fused_forward`] makes.
struct Fused<T> {
    /// Each position's loss.
    losses: Vec<T>,
    /// Each position's maximum and log-sum-exp (`None` when the gradient was
    /// made along planes: see `Stats::Recompute`).
    stats: Option<(Vec<T>, Vec<T>)>,
    /// The gradient for an upstream 1 (empty unless eager).
    grad: Vec<T>,
    /// Each unit's [`pairwise_part`] of the losses' sum, when every unit has one.
    parts: Option<Vec<(T, u32)>>,
    /// The `mean` divisor.
    denom: f64,
}

/// Per position `(m, ls)`, the maximum and the shifted log-sum-exp of the
/// logits, for the fused backward.
enum Stats {
    /// Kept by the forward.
    Kept(Storage, Storage),
    /// Not kept: the forward wrote the gradient for an upstream 1 along
    /// planes, where writing them too would be one more stream; a backward with
    /// another upstream gradient (or a second one) makes them again from the
    /// input, the same bits (the plane walk's results do not depend on where
    /// its blocks start).
    Recompute,
}

/// The backward of [`log_softmax_nll`]: with `s_j` the upstream gradient at
/// position `j`, `∂ℓ/∂x_c = s_j·w_t·(exp(x_c − m)·exp(−ls) − [c = t])` from
/// the forward's statistics `(m, ls)` (or made again, [`Stats::Recompute`]),
/// in one pass per unit (neither the log-probabilities nor a one-hot
/// gradient is ever made); or written by the forward itself for a reduced
/// loss and an upstream gradient of 1 (`kept`).
struct LogSoftmaxNllBackward {
    layout: Layout,
    weight: Option<Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    denom: f64,
    stats: Stats,
    /// the gradient for an upstream 1, from the forward
    kept: KeptSlot,
    /// whether `inputs[2]` is the `log_softmax` output (see `Backward::skipped`)
    skipped: bool,
}

impl Backward for LogSoftmaxNllBackward {
    fn name(&self) -> &'static str {
        "NllLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "nll_loss";
        let (x, target) = (&inputs[0], &inputs[1]);
        let t = target.data::<i64>(OP, "target")?;
        let t: &[i64] = &t;
        let l = &self.layout;
        let gx = float_op!(OP, "grad", grad, |g| {
            if let Taken::Grad(done) = self.kept.take_for(g) {
                return Ok(vec![Some(Tensor::from_storage(T::wrap(done), x.shape())), None]);
            }
            let w = self.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
            let w = w.as_deref();
            let a = target_scales(t, w, self.ignore_index, g, self.reduction, self.denom);
            let ignore = self.ignore_index;
            let stats = &self.stats;
            let out = {
                // per unit: a·exp((x − m) − ls), then − a at the target
                let xs = x.data::<T>(OP, "input")?;
                let d = l.dims();
                let mut out = scratch::<T>(xs.len());
                let onehot = |u: Unit, m: &[T], ls: &[T], o: &mut [T]| {
                    let (p, e) = (u.j0..u.j0 + u.len, u.e0..u.e0 + u.len * l.c);
                    let x = Logits { z: &xs[e], c: l.c, inner: l.inner };
                    let tg = Indices { t: &t[p.clone()], ignore };
                    softmax_onehot(x, kernel::Stats { m, ls }, &a[p], tg, o);
                };
                match stats {
                    Stats::Kept(m, ls) => {
                        let (m, ls) = (T::slice(m).unwrap_or_default(), T::slice(ls).unwrap_or_default());
                        d.run([], [&mut out], |u, [], [o]| {
                            let p = u.j0..u.j0 + u.len;
                            onehot(u, &m[p.clone()], &ls[p], o);
                        });
                    }
                    Stats::Recompute => {
                        let (mut m, mut ls) = (scratch::<T>(d.positions()), scratch::<T>(d.positions()));
                        d.run([&mut m, &mut ls], [&mut out], |u, [m, ls], [o]| {
                            let z = &xs[u.e0..u.e0 + u.len * l.c];
                            stats_of(z, l.c, l.inner, lead_of(z), m, ls);
                            onehot(u, m, ls, o);
                        });
                        give_back(m);
                        give_back(ls);
                    }
                }
                out
            };
            give_back(a);
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(gx, x.shape())), None])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // the gradient asked of the log-probabilities themselves: nll_loss's
        let at_logp = self.skipped && needs.get(2).copied().unwrap_or(false);
        composite_backward(inputs, grad, needs, |xs| {
            let logp = if at_logp {
                xs[2].clone()
            } else {
                let dim = if xs[0].ndim() >= 2 { 1 } else { 0 };
                crate::functional::log_softmax(&xs[0], dim)?
            };
            let w = self.weight.as_ref();
            index_loss_graph(&logp, &xs[1], &self.layout, w, self.ignore_index, self.reduction, self.denom, 0.0)
        })
    }
    fn skipped(&self) -> Option<usize> {
        self.skipped.then_some(2)
    }
}
