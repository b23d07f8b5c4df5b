//! Hinge embedding loss: `F.hinge_embedding_loss`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, mask_of, pointwise_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`hinge_embedding_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct HingeEmbeddingOptions {
    /// The margin below which a dissimilar pair's distance is penalised (default 1.0).
    pub margin: f64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for HingeEmbeddingOptions {
    fn default() -> Self {
        HingeEmbeddingOptions { margin: 1.0, reduction: Reduction::Mean }
    }
}

#[derive(Clone, Copy)]
struct HingeEmbedding(f64);

impl Pointwise for HingeEmbedding {
    const OP: &'static str = "hinge_embedding_loss";
    const BACKWARD: &'static str = "HingeEmbeddingLossBackward0";
    const TARGET_GRAD: bool = false;
    /// The target only selects the terms: constant masks.
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        let zeros = x.full_like(0.0);
        let hinge = x.neg().add_scalar(self.0)?.clamp(Some(0.0), None)?;
        let hinge = Tensor::where_cond(&mask_of(t, |v| v != 1.0)?, &hinge, &zeros)?;
        hinge.add(&Tensor::where_cond(&mask_of(t, |v| v != -1.0)?, x, &zeros)?)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).0
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).1
    }
    fn dfdt<T: Float>(self, _: T, _: T, _: T) -> T {
        T::zero()
    }
    /// `max(0, margin − x)` unless `y = 1`, plus `x` unless `y = −1` (both
    /// for any other target, as PyTorch); the clamp passes its gradient at 0.
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, _: T) -> (T, T) {
        let (zero, one) = (T::zero(), T::one());
        let v = T::from_f64(self.0) - x;
        let (hinge, dh) = if v >= zero {
            (v, -one)
        } else if v < zero {
            (zero, zero)
        } else {
            (v, zero) // NaN
        };
        let (hinge, dh) = if t != one { (hinge, dh) } else { (zero, zero) };
        let (lin, dl) = if t != -one { (x, one) } else { (zero, zero) };
        (hinge + lin, dh + dl)
    }
}

/// The hinge embedding loss, for distances `x` between pairs labelled
/// similar (`y = 1`) or dissimilar (`y = −1`): `ℓ = x` for `y = 1`,
/// `max(0, margin − x)` for `y = −1` (`F.hinge_embedding_loss`,
/// `nn.HingeEmbeddingLoss`). Any other target value gets both terms, as in PyTorch.
///
/// Shapes: `target` of the input's shape (or broadcasting to it without
/// enlarging it); the output is `()` reduced, the input's shape for `None`.
/// The gradient flows to the input only (the target selects a branch).
/// Errors if `margin` is NaN.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let d = Tensor::from_vec(vec![0.3f32, 0.3], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f32, -1.0], &[2])?;
/// let l = F::hinge_embedding_loss(&d, &y, &F::HingeEmbeddingOptions::default())?;
/// assert!((l.item::<f32>()? - (0.3 + 0.7) / 2.0).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn hinge_embedding_loss(input: &Tensor, target: &Tensor, opts: &HingeEmbeddingOptions) -> Result<Tensor> {
    if opts.margin.is_nan() {
        return Err(Error::value("hinge_embedding_loss", "margin = NaN must be a number"));
    }
    pointwise_loss(
        HingeEmbedding(opts.margin),
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

/// [`hinge_embedding_loss`] from differentiable tensor ops, the same
/// formula (the elementwise `graph` its double backward differentiates),
/// reduced with tensor ops; tested equal to the fused path.
#[cfg(test)]
pub(crate) fn hinge_embedding_loss_composite(
    input: &Tensor,
    target: &Tensor,
    opts: &HingeEmbeddingOptions,
) -> Result<Tensor> {
    super::pointwise::target_fits("hinge_embedding_loss", input.shape(), target.shape())?;
    let loss = HingeEmbedding(opts.margin).graph(input, target, None)?;
    super::composite::reduce(&loss, opts.reduction, "hinge_embedding_loss")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let x = Tensor::randn(&[3, 4], DType::F64, rng);
        let y = Tensor::from_vec(vec![1.0f64, -1.0, 1.0, 0.5, -1.0, -1.0, 1.0, 1.0, 2.0, -1.0, 1.0, -1.0], &[3, 4])
            .unwrap();
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let opts = HingeEmbeddingOptions { margin: 0.5, reduction };
            super::super::composite::assert_same(
                &[&x, &y],
                |t| hinge_embedding_loss(t[0], t[1], &opts),
                |t| hinge_embedding_loss_composite(t[0], t[1], &opts),
            );
        }
    }
}
