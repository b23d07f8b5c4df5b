//! Mean squared error (L2): `F.mse_loss`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss};
use crate::tensor::Float;
use crate::{Reduction, Result, Tensor};

/// Options of [`mse_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct MseOptions {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Per-element weight, broadcast to the loss's shape (default none).
    pub weight: Option<Tensor>,
}

#[derive(Clone, Copy)]
struct Mse;

impl Pointwise for Mse {
    const OP: &'static str = "mse_loss";
    const BACKWARD: &'static str = "MseLossBackward0";
    #[inline(always)]
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        x.sub(t)?.pow(2.0)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        (x - t) * (x - t)
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, _: T) -> T {
        T::from_f64(2.0) * (x - t)
    }
    #[inline(always)]
    fn dfdt<T: Float>(self, x: T, t: T, _: T) -> T {
        T::from_f64(2.0) * (t - x)
    }
}

/// Mean squared error, `ℓ = w · (x - y)²` per element (`F.mse_loss`, `nn.MSELoss`).
///
/// Shapes: `input` any, `target` broadcastable with it; the output is
/// `()` for `mean` / `sum` and the broadcast shape for `none`. With a
/// `weight`, `mean` is `Σ w·ℓ / Σ w` (PyTorch 2.15). Gradients flow to input
/// and target.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
/// let y = Tensor::from_vec(vec![1.0f32, 0.0, 0.0], &[3])?;
/// let l = F::mse_loss(&x, &y, &F::MseOptions::default())?;
/// assert_eq!(l.item::<f32>()?, (0.0 + 4.0 + 9.0) / 3.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor, opts: &MseOptions) -> Result<Tensor> {
    pointwise_loss(
        Mse,
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
