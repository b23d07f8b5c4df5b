//! Negative log-likelihood: `F.nll_loss`.

use super::classes::{
    Layout, check_targets, check_weight, class_weight, index_layout, index_loss_graph, target_weights,
};
use super::log_softmax_nll::over_log_softmax;
use crate::autograd::{Backward, composite_backward};
use crate::cpu::alloc::{give_back, zeros};
use crate::cpu::sum::pairwise_sum;
use crate::tensor::Float;
use crate::tensor::ops::float_op;
use crate::{Reduction, Result, Tensor};

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
pub(super) fn reduced<T: Float>(total: T, reduction: Reduction, denom: f64) -> T {
    if reduction == Reduction::Mean { total / T::from_f64(denom) } else { total }
}

/// Per position, the weight of its target class times the upstream gradient
/// reaching it (`w[t_j] · s_j`), 0 where the target is ignored.
pub(super) fn target_scales<T: Float>(
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
        Reduction::Mean | Reduction::BatchMean => Some(g[0] / T::from_f64(denom)),
    };
    move |j| all.unwrap_or_else(|| g[j])
}

/// The backward of `nll_loss`: `∂ℓ/∂x[j, t_j] = −w[t_j] · s_j`, with `s_j` the
/// upstream gradient at position `j` (0 where the target is ignored).
struct NllBackward {
    layout: Layout,
    weight: Option<Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    denom: f64,
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
            let w = self.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
            let w = w.as_deref();
            let a = target_scales(t, w, self.ignore_index, g, self.reduction, self.denom);
            let mut out = zeros::<T>(x.numel());
            for ((&tj, &aj), base) in t.iter().zip(&a).zip(l.bases()) {
                if tj != self.ignore_index {
                    out[base + tj as usize * l.inner] -= aj;
                }
            }
            give_back(a);
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(gx, x.shape())), None])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            let w = self.weight.as_ref();
            index_loss_graph(&xs[0], &xs[1], &self.layout, w, self.ignore_index, self.reduction, self.denom, 0.0)
        })
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
/// one op, computed from `x` and recorded on `x`; for `mean` and `sum`, when `x`
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

/// [`nll_loss`], its errors named `op`.
pub(crate) fn nll_loss_as(op: &'static str, input: &Tensor, target: &Tensor, opts: &NllLossOptions) -> Result<Tensor> {
    opts.reduction.reject_batchmean(op)?;
    // nll_loss(log_softmax(x, class dim)): one op on x, the log-probabilities
    // never made unless read
    if let Some(fused) = over_log_softmax(op, input, target, opts) {
        return fused;
    }
    let layout = index_layout(op, input, target)?;
    check_weight(op, input, opts.weight.as_ref(), layout.c)?;
    let t = target.data::<i64>(op, "target")?;
    let t: &[i64] = &t;
    let shape = if opts.reduction == Reduction::None { layout.out.clone() } else { Default::default() };
    let counted = check_targets(op, target, t, layout.c, opts.ignore_index)?;
    let (storage, denom) = float_op!(op, "input", input, |x| {
        let w = opts.weight.as_ref().map(|w| w.data::<T>(op, "weight")).transpose()?;
        let w = w.as_deref();
        // per position w[t_j], only with class weights (without, `counted` is their sum)
        let weights = w.map(|w| target_weights(t, Some(w), opts.ignore_index));
        let denom = divisor(weights.as_deref(), counted, opts.reduction);
        if let Some(we) = weights {
            give_back(we);
        }
        let losses = nll_forward(x, t, w, &layout, opts.ignore_index);
        (T::wrap(reduce_classes(losses, opts.reduction, denom)), denom)
    });
    let node = NllBackward {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction,
        denom,
    };
    Ok(Tensor::from_op(storage, &shape, node, &[input, target]))
}
