//! Smooth L1 loss: `F.smooth_l1_loss`.

use super::l1::L1;
use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, mask_of, pointwise_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`smooth_l1_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct SmoothL1Options {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Where the loss turns from quadratic to linear (default 1.0; `0` gives L1; must be >= 0).
    pub beta: f64,
}

impl Default for SmoothL1Options {
    fn default() -> Self {
        SmoothL1Options { reduction: Reduction::Mean, beta: 1.0 }
    }
}

/// The loss for `β = self.0`; `UNIT` when `β = 1` (the default), where the
/// divisions by `β` are left out (exact: `v / 1 = v`), which makes the kernel
/// no longer bound by the divider.
#[derive(Clone, Copy)]
struct SmoothL1<const UNIT: bool>(f64);

impl<const UNIT: bool> SmoothL1<UNIT> {
    #[inline(always)]
    fn over_beta<T: Float>(v: T, beta: T) -> T {
        if UNIT { v } else { v / beta }
    }
}

impl<const UNIT: bool> Pointwise for SmoothL1<UNIT> {
    const OP: &'static str = "smooth_l1_loss";
    const BACKWARD: &'static str = "SmoothL1LossBackward0";
    #[inline(always)]
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        // 0.5·d²/β where |d| < β, |d| − 0.5·β elsewhere
        let d = x.sub(t)?;
        let beta = self.0;
        let inside = mask_of(&d, |v| v.abs() < beta)?;
        let quad = d.mul(&d)?.mul_scalar(0.5 / beta)?;
        let lin = d.abs().sub_scalar(0.5 * beta)?;
        Tensor::where_cond(&inside, &quad, &lin)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        let (d, beta) = ((x - t).abs(), T::from_f64(self.0));
        let half = T::from_f64(0.5);
        if d < beta { Self::over_beta(half * d * d, beta) } else { d - half * beta }
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, _: T) -> T {
        let (d, beta) = (x - t, T::from_f64(self.0));
        if d <= -beta {
            -T::one()
        } else if d >= beta {
            T::one()
        } else {
            Self::over_beta(d, beta)
        }
    }
    #[inline(always)]
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T {
        -self.dfdx(x, t, p)
    }
}

/// Smooth L1 loss: `ℓ = ½ d² / β` where `|d| < β`, else `|d| - ½ β`, with
/// `d = x - y` (`F.smooth_l1_loss`, `nn.SmoothL1Loss`).
///
/// Shapes as [`mse_loss`](super::mse_loss). `beta = 0` is exactly
/// [`l1_loss`](super::l1_loss) (gradient 0 at ties, as PyTorch). Errors if
/// `beta < 0` or NaN.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.5f64, 3.0], &[2])?;
/// let y = Tensor::zeros(&[2], tapegrad::DType::F64);
/// let l = F::smooth_l1_loss(&x, &y, &F::SmoothL1Options::default())?;
/// assert_eq!(l.item::<f64>()?, (0.125 + 2.5) / 2.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, opts: &SmoothL1Options) -> Result<Tensor> {
    if opts.beta.is_nan() || opts.beta < 0.0 {
        return Err(Error::value("smooth_l1_loss", format!("beta = {} must be >= 0", opts.beta)));
    }
    let args = Args {
        input,
        target,
        weight: None,
        pos_weight: None,
        reduction: opts.reduction,
        mean_over: MeanOver::Numel,
        target_shape: TargetShape::Broadcast,
    };
    match opts.beta {
        0.0 => pointwise_loss(L1, args),
        1.0 => pointwise_loss(SmoothL1::<true>(1.0), args),
        beta => pointwise_loss(SmoothL1::<false>(beta), args),
    }
}
