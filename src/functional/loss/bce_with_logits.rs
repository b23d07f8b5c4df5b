//! Binary cross-entropy on logits: `F.binary_cross_entropy_with_logits`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, pointwise_loss};
use crate::tensor::Float;
use crate::{Reduction, Result, Tensor};

/// Options of [`binary_cross_entropy_with_logits`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct BceWithLogitsOptions {
    /// Per-element weight, broadcast to the input's shape (default none).
    pub weight: Option<Tensor>,
    /// Weight of the positive class, broadcast along the last dim (default none = 1).
    pub pos_weight: Option<Tensor>,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

#[derive(Clone, Copy)]
pub(crate) struct BceLogits;

/// `a · b` with `0 · ∞ = 0`: the limit the loss takes at infinite logits.
#[inline]
fn mul0<T: Float>(a: T, b: T) -> T {
    if a == T::zero() { T::zero() } else { a * b }
}

impl Pointwise for BceLogits {
    const OP: &'static str = "binary_cross_entropy_with_logits";
    const BACKWARD: &'static str = "BinaryCrossEntropyWithLogitsBackward0";
    /// `(1 - y)·max(x, 0) + p·y·max(-x, 0) + (1 + (p - 1)·y)·log1p(e^{-|x|})`
    fn graph(self, x: &Tensor, t: &Tensor, p: Option<&Tensor>) -> Result<Tensor> {
        // (1 − t)·x + (1 + (p − 1)·t)·softplus(−x)
        let softplus = super::pointwise::softplus_graph(&x.neg())?;
        let lw = match p {
            Some(p) => t.mul(&p.sub_scalar(1.0)?)?.add_scalar(1.0)?,
            None => t.full_like(1.0),
        };
        t.neg().add_scalar(1.0)?.mul(x)?.add(&lw.mul(&softplus)?)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).0
    }
    /// `(1 + (p - 1)·y)·σ(x) - p·y`
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).1
    }
    /// `-x + (p - 1)·softplus(-x)`
    fn dfdt<T: Float>(self, x: T, _: T, p: T) -> T {
        let softplus = (-x).max(T::zero()) + (-x.abs()).exp().ln_1p();
        -x + mul0(p - T::one(), softplus)
    }
    /// Both from one `e^{-|x|}`: `σ(x) = 1/(1 + e)` for `x ≥ 0`, `e/(1 + e)` below.
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, p: T) -> (T, T) {
        let (one, zero) = (T::one(), T::zero());
        let e = (-x.abs()).exp_capped();
        let lw = one + (p - one) * t;
        let f = mul0(one - t, x.max(zero)) + mul0(p * t, (-x).max(zero)) + lw * e.ln_1p_fast();
        let inv = one / (one + e);
        let sig = if x >= zero { inv } else { e * inv };
        (f, lw * sig - p * t)
    }
}

/// Binary cross-entropy on logits, fused with the sigmoid and computed stably:
/// `ℓ = w · [(1 - y)·x + (1 + (p - 1)·y)·log(1 + e^{-x})]`, evaluated as
/// `max(x, 0) - x·y + log1p(e^{-|x|})` generalised to `p`
/// (`F.binary_cross_entropy_with_logits`, `nn.BCEWithLogitsLoss`).
///
/// Shapes: `target` must have `input`'s shape; `weight` broadcasts to it and
/// `pos_weight` (`p`, one per class) broadcasts along the last dim. `mean`
/// divides by the number of elements. At infinite logits the loss takes its
/// limit (PyTorch returns NaN there).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![f32::INFINITY, 0.0], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f32, 1.0], &[2])?;
/// let opts = F::BceWithLogitsOptions { reduction: tapegrad::Reduction::None, ..Default::default() };
/// let l = F::binary_cross_entropy_with_logits(&x, &y, &opts)?.to_vec::<f32>()?;
/// assert_eq!(l[0], 0.0);
/// assert!((l[1] - 2f32.ln()).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    opts: &BceWithLogitsOptions,
) -> Result<Tensor> {
    pointwise_loss(
        BceLogits,
        Args {
            input,
            target,
            weight: opts.weight.as_ref(),
            pos_weight: opts.pos_weight.as_ref(),
            reduction: opts.reduction,
            mean_over: MeanOver::Numel,
            target_shape: TargetShape::Same,
        },
    )
}
