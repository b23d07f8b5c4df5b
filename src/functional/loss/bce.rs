//! Binary cross-entropy on probabilities: `F.binary_cross_entropy`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss, pointwise_loss_over};
use crate::tensor::Float;
use crate::tensor::ops::float_op;
use crate::tensor::ops::unary::{sigmoid_of, stable_sigmoid};
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

/// [`Bce`] of `σ(x)`, on the logits `x`: `binary_cross_entropy(sigmoid(x), y)`
/// in one pass (the probabilities are never stored). Each value is the one
/// the two ops give, and the derivative `(s·w·∂ℓ/∂p)·σ(x)(1 − σ(x))` is
/// rounded as the two backwards round it: first the loss's, then sigmoid's.
#[derive(Clone, Copy)]
struct BceOfSigmoid;

impl Pointwise for BceOfSigmoid {
    const OP: &'static str = Bce::OP;
    const BACKWARD: &'static str = Bce::BACKWARD;
    fn graph(self, x: &Tensor, t: &Tensor, p: Option<&Tensor>) -> Result<Tensor> {
        Bce.graph(&x.sigmoid(), t, p)
    }
    /// NaN where `x` is NaN (the caller then reports it, as `binary_cross_entropy`
    /// reports a NaN probability), so that one NaN makes a reduced loss NaN.
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        let y = stable_sigmoid(x);
        let v = Bce.f(y, t, p);
        if y.is_nan() { y } else { v }
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx_scaled(x, t, p, T::one()).1
    }
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T {
        Bce.dfdt(stable_sigmoid(x), t, p)
    }
    /// [`Bce`]'s `f` and `dfdx` at `y = σ(x)`, written for `y` in `[0, 1]`
    /// (the same bits, with fewer operations): the clamped logs through
    /// `ln_unit_floor`, and `max(y(1 − y), ε)` as a comparison, which agrees
    /// with `max` wherever the operands are not NaN.
    #[inline(always)]
    fn f_dfdx_scaled<T: Float>(self, x: T, t: T, _: T, scale: T) -> (T, T) {
        let one = T::one();
        let y = stable_sigmoid(x);
        let v = -(t * y.ln_unit_floor() + (one - t) * (one - y).ln_unit_floor());
        let q = (one - y) * y;
        let eps = T::from_f64(EPSILON);
        let d = (y - t) / if q > eps { q } else { eps };
        (if y.is_nan() { y } else { v }, (scale * d) * (y * (one - y)))
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
    if let Some(of) = sigmoid_of(input)
        // a trainable x whose data was replaced since the sigmoid (an optimizer
        // step, set_data): the probabilities are of the old data, which the
        // unfused route below reads
        && of.x.as_ref().is_none_or(|x| std::sync::Arc::ptr_eq(&x.storage_arc(), of.data))
    {
        // the probabilities are σ(x): the loss on x itself, recorded on x when
        // the probabilities record a graph
        let x = of.x.unwrap_or_else(|| Tensor::from_shared(of.data.clone(), input.0.shape.clone()));
        // A probability is outside [0, 1] only where its logit is NaN, and
        // then its loss is NaN: a reduced loss is searched only when it is NaN.
        let nan_logit = || -> Result<()> {
            float_op!(OP, "input", x, |v| {
                if let Some(k) = v.iter().position(|a| a.is_nan()) {
                    return Err(not_probability(k, f64::NAN));
                }
            });
            Ok(())
        };
        if opts.reduction == Reduction::None {
            nan_logit()?;
        }
        let loss = pointwise_loss_over(BceOfSigmoid, args(&x, target, opts), Bce, input)?;
        if opts.reduction != Reduction::None && float_op!(OP, "loss", loss, |v| v[0].is_nan()) {
            nan_logit()?;
        }
        return Ok(loss);
    }
    float_op!(OP, "input", input, |x| {
        let outside = |v: T| !(v >= T::zero() && v <= T::one());
        // a branch-free scan first (it vectorises); the position only when it fails
        let any_outside = x.iter().fold(false, |acc, &v| acc | outside(v));
        let first = if any_outside { x.iter().enumerate().find(|(_, v)| outside(**v)) } else { None };
        if let Some((k, v)) = first {
            return Err(not_probability(k, v));
        }
    });
    pointwise_loss(Bce, args(input, target, opts))
}

/// The error for a probability `input[k] = v` outside `[0, 1]`.
fn not_probability(k: usize, v: impl std::fmt::Display) -> Error {
    Error::value(
        "binary_cross_entropy",
        format!(
            "input[{k}] = {v} is outside [0, 1]: all elements of input must be probabilities \
             (did you mean binary_cross_entropy_with_logits?)"
        ),
    )
}

fn args<'a>(input: &'a Tensor, target: &'a Tensor, opts: &'a BceOptions) -> Args<'a> {
    Args {
        input,
        target,
        weight: opts.weight.as_ref(),
        pos_weight: None,
        reduction: opts.reduction,
        mean_over: MeanOver::Numel,
        target_shape: TargetShape::Same,
    }
}
