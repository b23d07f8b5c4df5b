//! Binary cross-entropy on probabilities: `F.binary_cross_entropy`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss};
use crate::tensor::Float;
use crate::tensor::ops::float_op;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`binary_cross_entropy`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct BceOptions {
    /// Per-element weight, broadcast to the input's shape (default none).
    pub weight: Option<Tensor>,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

#[derive(Clone, Copy)]
struct Bce;

/// PyTorch's lower bound on `x(1 - x)` in the gradient: the f32 literal `1e-12`.
const EPSILON: f64 = 1e-12_f32 as f64;

impl Pointwise for Bce {
    const OP: &'static str = "binary_cross_entropy";
    const BACKWARD: &'static str = "BinaryCrossEntropyBackward0";
    #[inline(always)]
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        // −(t·max(log x, −100) + (1 − t)·max(log(1 − x), −100))
        let lx = x.log().clamp(Some(-100.0), None)?;
        let l1x = x.neg().add_scalar(1.0)?.log().clamp(Some(-100.0), None)?;
        Ok(t.mul(&lx)?.add(&t.neg().add_scalar(1.0)?.mul(&l1x)?)?.neg())
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        let floor = T::from_f64(-100.0);
        let (lx, l1x) = (x.ln_fast().max(floor), (T::one() - x).ln_fast().max(floor));
        -(t * lx + (T::one() - t) * l1x)
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, _: T) -> T {
        (x - t) / ((T::one() - x) * x).max(T::from_f64(EPSILON))
    }
    fn dfdt<T: Float>(self, x: T, _: T, _: T) -> T {
        (T::one() - x).ln() - x.ln()
    }
}

/// Binary cross-entropy between probabilities `x` and targets `y`:
/// `ℓ = -w · (y · log x + (1 - y) · log(1 - x))`, each log clamped at −100 as
/// PyTorch does (`F.binary_cross_entropy`, `nn.BCELoss`).
///
/// Shapes: `target` must have `input`'s shape; `weight` broadcasts to it.
/// `mean` divides by the number of elements. Errors if any input value lies
/// outside `[0, 1]` (or is NaN). For logits, use
/// [`binary_cross_entropy_with_logits`](super::binary_cross_entropy_with_logits),
/// which is stabler.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let p = Tensor::from_vec(vec![0.5f32, 1.0], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f32, 0.0], &[2])?;
/// let l = F::binary_cross_entropy(&p, &y, &F::BceOptions::default())?;
/// assert!((l.item::<f32>()? - (2f32.ln() + 100.0) / 2.0).abs() < 1e-4);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn binary_cross_entropy(input: &Tensor, target: &Tensor, opts: &BceOptions) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy";
    float_op!(OP, "input", input, |x| {
        let outside = |v: T| !(v >= T::zero() && v <= T::one());
        // a branch-free scan first (it vectorises); the position only when it fails
        let any_outside = x.iter().fold(false, |acc, &v| acc | outside(v));
        let first = if any_outside { x.iter().enumerate().find(|(_, v)| outside(**v)) } else { None };
        if let Some((k, v)) = first {
            return Err(Error::value(
                OP,
                format!(
                    "input[{k}] = {v} is outside [0, 1]: all elements of input must be probabilities \
                     (did you mean binary_cross_entropy_with_logits?)"
                ),
            ));
        }
    });
    pointwise_loss(
        Bce,
        Args {
            input,
            target,
            weight: opts.weight.as_ref(),
            pos_weight: None,
            reduction: opts.reduction,
            mean_over: MeanOver::Numel,
            target_shape: TargetShape::Same,
        },
    )
}
