//! Negative log-likelihood: `F.nll_loss`.

use super::classes::{
    Layout, TargetScan, bad_target, check_targets, check_weight, class_weight, index_layout, scan_in_kernel,
    target_weights,
};
use super::kept::{Kept, KeptSlot, Taken};
use crate::autograd::Backward;
use crate::autograd::is_grad_enabled;
use crate::cpu::alloc::{give_back, scratch, zeros};
use crate::cpu::sum::{pairwise_of_parts, pairwise_part, pairwise_part_len, pairwise_sum};
use crate::functional::activation::log_softmax_input;
use crate::kernels::softmax::{
    Dims, Scales, Unit, lead_of, lead_of_walk, losses_of_picked, softmax_onehot, stats as stats_of, stats_pick,
    stats_pick_onehot,
};
use crate::tensor::ops::float_op;
use crate::tensor::{Float, Storage};
use crate::{DType, Error, Reduction, Result, Tensor};
use std::sync::OnceLock;

/// Options of [`nll_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct NllLossOptions {
    /// Per-class weight, a 1-D tensor of `C` elements (default none).
    pub weight: Option<Tensor>,
    /// A target value that contributes nothing (default −100; any value).
    pub ignore_index: i64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for NllLossOptions {
    fn default() -> Self {
        NllLossOptions { weight: None, ignore_index: -100, reduction: Reduction::Mean }
    }
}

/// Per position the loss `−w[t_j]·x[j, t_j]` (`w` the class weights), 0 for ignored targets.
fn nll_forward<T: Float>(x: &[T], t: &[i64], w: Option<&[T]>, l: &Layout, ignore: i64) -> Vec<T> {
    t.iter()
        .zip(l.bases())
        .map(
            |(&tj, base)| {
                if tj == ignore { T::zero() } else { -class_weight(w, tj as usize) * x[base + tj as usize * l.inner] }
            },
        )
        .collect()
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
    // while they are in cache, the same bits as one sum over all (nll_2d −3%)
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
            stats_pick_onehot(x, d.c, d.inner, lead, t, ignore, Scales { s: one, w: we }, m, ls, lo, g);
        } else {
            stats_pick(x, d.c, d.inner, lead, t, ignore, m, ls, lo);
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
    /// planes, and writing them too cost `nll_2d` ~3%; a backward with
    /// another upstream gradient (or a second one) makes them again from the
    /// input, the same bits (the plane walk's results do not depend on where
    /// its blocks start).
    Recompute,
}

/// The forward in dtype `T`: from the log-softmax's input `fused` when given (the
/// input's data is then never read), else a gather from `input`; `counted` is
/// the number of targets not ignored (the `mean` divisor without weights), or
/// `None` when the targets are still to be checked (by the fused kernel's
/// parallel section, or here). Returns the reduced loss, the `mean` divisor
/// and, when fused, the statistics `(m, ls)` and (when `eager`) the gradient
/// for an upstream 1.
#[allow(clippy::too_many_arguments)]
fn forward<T: Float>(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    fused: Option<&Storage>,
    layout: &Layout,
    t: &[i64],
    counted: Option<usize>,
    opts: &NllLossOptions,
    eager: bool,
) -> Result<(Storage, f64, Option<Stats>, Option<Kept>)> {
    let w = opts.weight.as_ref().map(|w| w.data::<T>(op, "weight")).transpose()?;
    let w = w.as_deref();
    // per position w[t_j], only with class weights (without, `counted` is their sum)
    let weights = w.map(|w| target_weights(t, Some(w), opts.ignore_index));
    let (v, denom, stats, kept) = match fused.and_then(T::slice) {
        Some(xs) => {
            let found = fused_forward(xs, layout.dims(), t, weights.as_deref(), opts, counted, eager);
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
            (v, denom, Some(stats), kept)
        }
        None => {
            let counted = match counted {
                Some(counted) => counted,
                None => check_targets(op, target, t, layout.c, opts.ignore_index)?,
            };
            let x = input.data::<T>(op, "input")?;
            let denom = divisor(weights.as_deref(), counted, opts.reduction);
            let losses = nll_forward(&x, t, w, layout, opts.ignore_index);
            (reduce_classes(losses, opts.reduction, denom), denom, None, None)
        }
    };
    if let Some(we) = weights {
        give_back(we);
    }
    Ok((T::wrap(v), denom, stats, kept))
}

/// What `mean` divides by: the summed target weights `weights` with class
/// weights, else the number of targets not ignored, `counted` (0 when every
/// target is ignored, and the mean is then NaN, as PyTorch); 1 for `sum` and `none`.
pub(crate) fn divisor<T: Float>(weights: Option<&[T]>, counted: usize, reduction: Reduction) -> f64 {
    match (reduction, weights) {
        (Reduction::Mean, Some(we)) => pairwise_sum(we).to_f64(),
        (Reduction::Mean, None) => counted as f64,
        _ => 1.0,
    }
}

/// Reduces per-position losses, `mean` dividing by `denom` (see [`divisor`]);
/// `losses` is handed back to the cache (or becomes the result).
pub(crate) fn reduce_classes<T: Float>(losses: Vec<T>, reduction: Reduction, denom: f64) -> Vec<T> {
    if reduction == Reduction::None {
        return losses;
    }
    let total = pairwise_sum(&losses);
    give_back(losses);
    vec![reduced(total, reduction, denom)]
}

/// A reduced loss from its summed losses `total`: `mean` divides by `denom`.
fn reduced<T: Float>(total: T, reduction: Reduction, denom: f64) -> T {
    if reduction == Reduction::Mean { total / T::from_f64(denom) } else { total }
}

/// Per position, the weight of its target class times the upstream gradient
/// reaching it (`w[t_j] · s_j`), 0 where the target is ignored.
fn target_scales<T: Float>(
    t: &[i64],
    w: Option<&[T]>,
    ignore: i64,
    g: &[T],
    reduction: Reduction,
    denom: f64,
) -> Vec<T> {
    let scale = position_scale(g, reduction, denom);
    t.iter()
        .enumerate()
        .map(|(j, &tj)| if tj == ignore { T::zero() } else { class_weight(w, tj as usize) * scale(j) })
        .collect()
}

/// The upstream gradient reaching each position `j`, as a function of `j`:
/// `g[j]` without reduction, else one value for all (for `mean`, divided by
/// `denom` once here rather than at every position).
pub(crate) fn position_scale<T: Float>(g: &[T], reduction: Reduction, denom: f64) -> impl Fn(usize) -> T + Sync + '_ {
    let all = match reduction {
        Reduction::None => None,
        Reduction::Sum => Some(g[0]),
        Reduction::Mean => Some(g[0] / T::from_f64(denom)),
    };
    move |j| all.unwrap_or_else(|| g[j])
}

/// The backward of `nll_loss`: `∂ℓ/∂x[j, t_j] = −w[t_j] · s_j`. When the input was
/// `y = log_softmax(x)` over the class dim, the node is recorded on `x` itself
/// and `stats` holds the forward's `(m, ls)` of every position (or says to
/// make them again, [`Stats::Recompute`]): then
/// `∂ℓ/∂x_c = s · w_t · (exp(x_c − m)·exp(−ls) − [c = t])`, in one pass per unit
/// (neither `y` nor a one-hot gradient is ever made), or written by the forward
/// itself for a reduced loss and an upstream gradient of 1 (`kept`).
struct NllBackward {
    layout: Layout,
    weight: Option<Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    denom: f64,
    stats: Option<Stats>,
    /// the fused gradient for an upstream 1, from the forward
    kept: KeptSlot,
}

impl Backward for NllBackward {
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
            let out = match &self.stats {
                None => {
                    let mut out = zeros::<T>(x.numel());
                    for ((&tj, &aj), base) in t.iter().zip(&a).zip(l.bases()) {
                        if tj != ignore {
                            out[base + tj as usize * l.inner] -= aj;
                        }
                    }
                    out
                }
                Some(stats) => {
                    // per unit: a·exp((x − m) − ls), then − a at the target
                    let xs = x.data::<T>(OP, "input")?;
                    let d = l.dims();
                    let mut out = scratch::<T>(xs.len());
                    let onehot = |u: Unit, m: &[T], ls: &[T], o: &mut [T]| {
                        let (p, e) = (u.j0..u.j0 + u.len, u.e0..u.e0 + u.len * l.c);
                        softmax_onehot(&xs[e], l.c, l.inner, m, ls, &a[p.clone()], &t[p], ignore, o);
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
                }
            };
            give_back(a);
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(gx, x.shape())), None])
    }
}

/// Negative log-likelihood of class indices under log-probabilities:
/// `ℓ_j = -w[y_j] · x[j, y_j]` (`F.nll_loss`, `nn.NLLLoss`). Usually fed by
/// [`log_softmax`](crate::functional::log_softmax); see
/// [`cross_entropy`](super::cross_entropy) for both fused.
///
/// Shapes: input `(N, C)` with target `(N,)`; unbatched `(C,)` with a 0-d
/// target; or `(N, C, d1, …, dK)` with target `(N, d1, …, dK)`. Targets are
/// I64 in `[0, C)` or equal to `ignore_index` (which then contributes
/// nothing). `mean` divides by `Σ w[y_j]` over the non-ignored targets (NaN if
/// all are ignored); `none` returns the target's shape.
///
/// `nll_loss(log_softmax(x, 1), …)` never makes the log-probabilities: it is
/// computed from `x` and recorded on `x`; for `mean` and `sum`, when `x`
/// tracks gradients, the forward also writes `x`'s gradient for
/// `loss.backward()` (one buffer of `x`'s size, kept until the backward).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let logp = Tensor::from_vec(vec![-0.5f32, -1.0, -2.0, -0.1], &[2, 2])?;
/// let y = Tensor::from_vec(vec![1i64, 0], &[2])?;
/// let l = F::nll_loss(&logp, &y, &F::NllLossOptions::default())?;
/// assert_eq!(l.item::<f32>()?, (1.0 + 2.0) / 2.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn nll_loss(input: &Tensor, target: &Tensor, opts: &NllLossOptions) -> Result<Tensor> {
    nll_loss_as("nll_loss", input, target, opts)
}

/// [`nll_loss`], its errors named `op` (`cross_entropy` hands it
/// `log_softmax(x)`).
pub(crate) fn nll_loss_as(op: &'static str, input: &Tensor, target: &Tensor, opts: &NllLossOptions) -> Result<Tensor> {
    let layout = index_layout(op, input, target)?;
    check_weight(op, input, opts.weight.as_ref(), layout.c)?;
    let t = target.data::<i64>(op, "target")?;
    let t: &[i64] = &t;
    let shape = if opts.reduction == Reduction::None { layout.out.clone() } else { Default::default() };
    let class_dim = if input.ndim() == 1 { 0 } else { 1 };
    // nll_loss(log_softmax(x, class dim)): computed from x (the log-probabilities
    // are never made unless read), and recorded on x itself with the fused backward
    let fused = log_softmax_input(input, class_dim).filter(|&(_, dx)| dx == layout.dims());
    let over = input.node().filter(|n| n.op.log_softmax_dim() == Some(class_dim)).map(|n| n.inputs()[0].clone());
    // a reduced loss over log_softmax writes x's gradient for an upstream 1 (see `kept`)
    let eager = fused.is_some()
        && opts.reduction != Reduction::None
        && is_grad_enabled()
        && over.as_ref().is_some_and(Tensor::tracks_grad);
    // that gradient, without class weights, is made from the targets alone:
    // many targets are checked in its kernel's parallel section (one wake-up
    // of the pool for both: nll_2d −8.5%)
    let counted = if eager && opts.weight.is_none() && scan_in_kernel(t) {
        None
    } else {
        Some(check_targets(op, target, t, layout.c, opts.ignore_index)?)
    };
    let (storage, denom, stats, kept) = match input.dtype() {
        DType::F32 => forward::<f32>(op, input, target, fused.map(|f| f.0), &layout, t, counted, opts, eager)?,
        DType::F64 => forward::<f64>(op, input, target, fused.map(|f| f.0), &layout, t, counted, opts, eager)?,
        DType::I64 => return Err(Error::dtype(op, "input has dtype I64, expected a float tensor (F32 or F64)")),
    };
    // the fused backward needs the statistics; without them, the plain one on the input
    let (x, stats) = match (over, stats) {
        (Some(x), Some(stats)) => (x, Some(stats)),
        _ => (input.clone(), None),
    };
    let node = NllBackward {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction,
        denom,
        stats,
        kept: KeptSlot::new(kept),
    };
    Ok(Tensor::from_op(storage, &shape, node, &[&x, target]))
}
