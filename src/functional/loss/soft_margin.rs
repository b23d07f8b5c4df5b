//! Logistic losses of ±1 labels: `F.soft_margin_loss` and
//! `F.multilabel_soft_margin_loss`.

use super::bce_with_logits::BceLogits;
use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`soft_margin_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct SoftMarginOptions {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

/// Options of [`multilabel_soft_margin_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct MultilabelSoftMarginOptions {
    /// Per-class weight, broadcast along the last dim (default none).
    pub weight: Option<Tensor>,
    /// How to reduce the per-sample losses (default `Mean`).
    pub reduction: Reduction,
}

#[derive(Clone, Copy)]
struct SoftMargin;

impl Pointwise for SoftMargin {
    const OP: &'static str = "soft_margin_loss";
    const BACKWARD: &'static str = "SoftMarginLossBackward0";
    /// `softplus(z)` with `z = −x·y`.
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        super::pointwise::softplus_graph(&x.mul(t)?.neg())
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).0
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).1
    }
    /// `−x·σ(−x·y)`
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T {
        self.dfdx(t, x, p)
    }
    /// `ln(1 + e^{−x·y})` as `max(z, 0) + ln(1 + e^{−|z|})` with `z = −x·y`
    /// (no overflow), and `−y·σ(z)` from the same exponential.
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, _: T) -> (T, T) {
        let (zero, one) = (T::zero(), T::one());
        let z = -(x * t);
        let e = (-z.abs()).exp_capped();
        let f = (if z > zero { z } else { zero }) + e.ln_1p_fast();
        let inv = one / (one + e);
        let sig = if z >= zero { inv } else { e * inv };
        (f, -t * sig)
    }
}

/// The two-class logistic loss of labels `y = ±1` (`F.soft_margin_loss`,
/// `nn.SoftMarginLoss`): `ℓ = ln(1 + e^{−x·y})` per element, computed
/// without overflow.
///
/// Shapes: `target` of the input's shape (or broadcasting to it without
/// enlarging it); the output is `()` reduced, the input's shape for `None`.
/// Gradients flow to input and target.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.0f64, 2.0], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f64, -1.0], &[2])?;
/// let l = F::soft_margin_loss(&x, &y, &F::SoftMarginOptions::default())?.item::<f64>()?;
/// assert!((l - (2f64.ln() + (1.0 + 2f64.exp()).ln()) / 2.0).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn soft_margin_loss(input: &Tensor, target: &Tensor, opts: &SoftMarginOptions) -> Result<Tensor> {
    pointwise_loss(
        SoftMargin,
        Args {
            input,
            target,
            weight: None,
            pos_weight: None,
            reduction: opts.reduction,
            mean_over: MeanOver::Numel,
            target_shape: TargetShape::Broadcast,
        },
    )
}

/// [`soft_margin_loss`] from differentiable tensor ops, the same formula
/// (the elementwise `graph` its double backward differentiates), reduced
/// with tensor ops; tested equal to the fused path.
#[cfg(test)]
pub(crate) fn soft_margin_loss_composite(input: &Tensor, target: &Tensor, opts: &SoftMarginOptions) -> Result<Tensor> {
    super::pointwise::target_fits("soft_margin_loss", input.shape(), target.shape())?;
    let loss = SoftMargin.graph(input, target, None)?;
    super::composite::reduce(&loss, opts.reduction, "soft_margin_loss")
}

/// Binary cross-entropy on logits under this loss's name.
#[derive(Clone, Copy)]
struct MultilabelSoftMargin;

impl Pointwise for MultilabelSoftMargin {
    const OP: &'static str = "multilabel_soft_margin_loss";
    const BACKWARD: &'static str = "MultilabelSoftMarginLossBackward0";
    fn graph(self, x: &Tensor, t: &Tensor, p: Option<&Tensor>) -> Result<Tensor> {
        BceLogits.graph(x, t, p)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        BceLogits.f(x, t, p)
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        BceLogits.dfdx(x, t, p)
    }
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T {
        BceLogits.dfdt(x, t, p)
    }
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, p: T) -> (T, T) {
        BceLogits.f_dfdx(x, t, p)
    }
}

/// The multi-label one-versus-all logistic loss (`F.multilabel_soft_margin_loss`,
/// `nn.MultiLabelSoftMarginLoss`): per sample,
/// `ℓ = −(1/C)·Σ_c w_c·(y_c·ln σ(x_c) + (1 − y_c)·ln σ(−x_c))`, for targets
/// `y_c ∈ {0, 1}` (computed stably, as binary cross-entropy on logits).
///
/// Shapes: `input (N, C)` or `(C,)` (any leading dims: the classes are the
/// last dim), `target` of the input's shape (or broadcasting to it without
/// enlarging it), `weight` broadcasting to the input (typically `(C,)`).
/// The output is `(N,)` (the input's shape without its last dim) for `None`,
/// `()` otherwise; `Mean` averages over the samples. Gradients flow to input
/// and target. Errors on a 0-d input.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.0f64, 0.0, 0.0, 0.0], &[2, 2])?;
/// let y = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0], &[2, 2])?;
/// let l = F::multilabel_soft_margin_loss(&x, &y, &F::MultilabelSoftMarginOptions::default())?;
/// assert!((l.item::<f64>()? - 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn multilabel_soft_margin_loss(
    input: &Tensor,
    target: &Tensor,
    opts: &MultilabelSoftMarginOptions,
) -> Result<Tensor> {
    const OP: &str = "multilabel_soft_margin_loss";
    if input.ndim() == 0 {
        return Err(Error::shape(OP, "input is 0-d; expected (N, C) or (C,) with the classes in the last dim"));
    }
    let c = input.shape()[input.ndim() - 1] as f64;
    let elementwise = |reduction| {
        pointwise_loss(
            MultilabelSoftMargin,
            Args {
                input,
                target,
                weight: opts.weight.as_ref(),
                pos_weight: None,
                reduction,
                mean_over: MeanOver::Numel,
                target_shape: TargetShape::Broadcast,
            },
        )
    };
    match opts.reduction {
        // the mean over samples of per-sample means over classes: the mean of every element
        Reduction::Mean => elementwise(Reduction::Mean),
        Reduction::Sum => elementwise(Reduction::Sum)?.div_scalar(c),
        Reduction::None => elementwise(Reduction::None)?.sum(-1, false)?.div_scalar(c),
        Reduction::BatchMean => elementwise(Reduction::BatchMean),
    }
}

/// [`multilabel_soft_margin_loss`] from differentiable tensor ops, the same
/// formula written independently (per-sample sums of `(1 − y)·x + ln(1 + e^{−x})`);
/// tested equal to the fused path.
#[cfg(test)]
pub(crate) fn multilabel_soft_margin_loss_composite(
    input: &Tensor,
    target: &Tensor,
    opts: &MultilabelSoftMarginOptions,
) -> Result<Tensor> {
    const OP: &str = "multilabel_soft_margin_loss";
    super::pointwise::target_fits(OP, input.shape(), target.shape())?;
    let c = input.shape().last().copied().unwrap_or(1) as f64;
    // −(y·ln σ(x) + (1 − y)·ln σ(−x)) = (1 − y)·x + ln(1 + e^{−x})
    let softplus = input.neg().exp().log1p();
    let mut loss = target.neg().add_scalar(1.0)?.mul(input)?.add(&softplus)?;
    if let Some(w) = &opts.weight {
        loss = loss.mul(w)?;
    }
    let per_sample = loss.sum(-1, false)?.div_scalar(c)?;
    super::composite::reduce(&per_sample, opts.reduction, OP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let x = Tensor::randn(&[3, 4], DType::F64, rng);
        let y = Tensor::randn(&[3, 4], DType::F64, rng);
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let opts = SoftMarginOptions { reduction };
            super::super::composite::assert_same(
                &[&x, &y],
                |t| soft_margin_loss(t[0], t[1], &opts),
                |t| soft_margin_loss_composite(t[0], t[1], &opts),
            );
            let w = Tensor::rand(&[4], DType::F64, rng);
            for weight in [None, Some(w)] {
                let opts = MultilabelSoftMarginOptions { weight, reduction };
                let y = Tensor::rand(&[3, 4], DType::F64, rng);
                super::super::composite::assert_same(
                    &[&x, &y],
                    |t| multilabel_soft_margin_loss(t[0], t[1], &opts),
                    |t| multilabel_soft_margin_loss_composite(t[0], t[1], &opts),
                );
            }
        }
    }
}
