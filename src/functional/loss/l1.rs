//! Mean absolute error (L1, MAE): `F.l1_loss`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss};
use crate::tensor::Float;
use crate::tensor::ops::unary::sign0;
use crate::{Reduction, Result, Tensor};

/// Options of [`l1_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct L1Options {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Per-element weight, broadcast to the loss's shape (default none).
    pub weight: Option<Tensor>,
}

#[derive(Clone, Copy)]
pub(crate) struct L1;

impl Pointwise for L1 {
    const OP: &'static str = "l1_loss";
    const BACKWARD: &'static str = "L1LossBackward0";
    #[inline(always)]
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        Ok(x.sub(t)?.abs())
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        (x - t).abs()
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, _: T) -> T {
        sign0(x - t)
    }
    #[inline(always)]
    fn dfdt<T: Float>(self, x: T, t: T, _: T) -> T {
        -sign0(x - t)
    }
}

/// Mean absolute error, `ℓ = w · |x - y|` per element (`F.l1_loss`, `nn.L1Loss`).
///
/// Shapes as [`mse_loss`](super::mse_loss). The gradient at a tie
/// (`x == y`) is 0 (`sign(0) = 0`), as in PyTorch. With a `weight`, `mean`
/// is `Σ w·ℓ / Σ w` (PyTorch 2.15).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, -2.0], &[2])?;
/// let y = Tensor::from_vec(vec![0.0f64, 0.0], &[2])?;
/// assert_eq!(F::l1_loss(&x, &y, &F::L1Options::default())?.item::<f64>()?, 1.5);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn l1_loss(input: &Tensor, target: &Tensor, opts: &L1Options) -> Result<Tensor> {
    pointwise_loss(
        L1,
        Args {
            input,
            target,
            weight: opts.weight.as_ref(),
            pos_weight: None,
            reduction: opts.reduction,
            mean_over: MeanOver::WeightSum,
            target_shape: TargetShape::Broadcast,
        },
    )
}
