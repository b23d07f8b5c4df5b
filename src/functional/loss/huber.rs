//! Huber loss: `F.huber_loss`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, mask_of, pointwise_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`huber_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct HuberOptions {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Where the loss turns from quadratic to linear (default 1.0; must be > 0).
    pub delta: f64,
    /// Per-element weight, broadcast to the loss's shape (default none).
    pub weight: Option<Tensor>,
}

impl Default for HuberOptions {
    fn default() -> Self {
        HuberOptions { reduction: Reduction::Mean, delta: 1.0, weight: None }
    }
}

#[derive(Clone, Copy)]
struct Huber(f64);

impl Pointwise for Huber {
    const OP: &'static str = "huber_loss";
    const BACKWARD: &'static str = "HuberLossBackward0";
    #[inline(always)]
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        // 0.5·d² where |d| < δ, δ·(|d| − 0.5·δ) elsewhere
        let d = x.sub(t)?;
        let delta = self.0;
        let inside = mask_of(&d, |v| v.abs() < delta)?;
        let quad = d.mul(&d)?.mul_scalar(0.5)?;
        let lin = d.abs().sub_scalar(0.5 * delta)?.mul_scalar(delta)?;
        Tensor::where_cond(&inside, &quad, &lin)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        let (d, delta) = ((x - t).abs(), T::from_f64(self.0));
        let half = T::from_f64(0.5);
        if d < delta { half * d * d } else { delta * (d - half * delta) }
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, _: T) -> T {
        let (d, delta) = (x - t, T::from_f64(self.0));
        if d <= -delta {
            -delta
        } else if d >= delta {
            delta
        } else {
            d
        }
    }
    #[inline(always)]
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T {
        -self.dfdx(x, t, p)
    }
}

/// Huber loss: `ℓ = ½ d²` where `|d| < δ`, else `δ (|d| - ½ δ)`, with `d = x - y`,
/// times the optional weight (`F.huber_loss`, `nn.HuberLoss`).
///
/// Shapes as [`mse_loss`](super::mse_loss). Errors if `delta <= 0` or NaN.
/// With a `weight`, `mean` divides by the number of elements (PyTorch 2.15).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.5f32, 3.0], &[2])?;
/// let y = Tensor::zeros(&[2], tapegrad::DType::F32);
/// let opts = F::HuberOptions { reduction: tapegrad::Reduction::Sum, ..Default::default() };
/// assert_eq!(F::huber_loss(&x, &y, &opts)?.item::<f32>()?, 0.125 + 2.5);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn huber_loss(input: &Tensor, target: &Tensor, opts: &HuberOptions) -> Result<Tensor> {
    if opts.delta.is_nan() || opts.delta <= 0.0 {
        return Err(Error::value("huber_loss", format!("delta = {} must be > 0", opts.delta)));
    }
    pointwise_loss(
        Huber(opts.delta),
        Args {
            input,
            target,
            weight: opts.weight.as_ref(),
            pos_weight: None,
            reduction: opts.reduction,
            mean_over: MeanOver::Numel,
            target_shape: TargetShape::Broadcast,
        },
    )
}
