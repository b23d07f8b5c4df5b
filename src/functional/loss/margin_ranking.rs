//! Margin ranking loss: `F.margin_ranking_loss`.

use super::pointwise::target_fits;
use super::ternary::{Ternary, broadcast_pair, ternary_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`margin_ranking_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct MarginRankingOptions {
    /// The margin by which `x₁` should beat `x₂` (default 0.0).
    pub margin: f64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

#[derive(Clone, Copy)]
struct MarginRanking(f64);

impl Ternary for MarginRanking {
    const OP: &'static str = "margin_ranking_loss";
    const BACKWARD: &'static str = "ClampMinBackward0";
    const NAMES: [&'static str; 3] = ["input1", "input2", "target"];
    const GRADS: [bool; 3] = [true, true, true];
    /// `max(0, −y·(x₁ − x₂) + margin)`; the gradient passes where the
    /// argument is `≥ 0` (PyTorch's `clamp_min`), NaN propagates.
    #[inline(always)]
    fn eval<T: Float>(self, a: T, b: T, y: T) -> (T, [T; 3]) {
        let d = a - b;
        let v = -y * d + T::from_f64(self.0);
        let zero = T::zero();
        if v >= zero {
            (v, [-y, y, -d])
        } else if v < zero {
            (zero, [zero; 3])
        } else {
            (v, [zero; 3])
        }
    }
}

/// The margin ranking loss: `ℓ = max(0, −y·(x₁ − x₂) + margin)` per element,
/// for targets `y = 1` (`x₁` should rank higher) or `−1` (`x₂` should)
/// (`F.margin_ranking_loss`, `nn.MarginRankingLoss`).
///
/// Shapes: `input1`, `input2` and `target` have the same number of dims;
/// the inputs broadcast together, and the target broadcasts to their shape
/// without enlarging it. The output is `()` reduced, that shape for `None`.
/// Gradients flow to all three.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![1.0f32, 0.0], &[2])?;
/// let b = Tensor::from_vec(vec![0.0f32, 1.0], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f32, 1.0], &[2])?;
/// let opts = F::MarginRankingOptions { margin: 0.5, ..Default::default() };
/// // the first pair is ranked right by more than the margin, the second wrong
/// assert_eq!(F::margin_ranking_loss(&a, &b, &y, &opts)?.item::<f32>()?, (0.0 + 1.5) / 2.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn margin_ranking_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    opts: &MarginRankingOptions,
) -> Result<Tensor> {
    const OP: &str = "margin_ranking_loss";
    if input1.ndim() != input2.ndim() || input1.ndim() != target.ndim() {
        return Err(Error::shape(
            OP,
            format!(
                "input1 {:?}, input2 {:?} and target {:?} must have the same number of dims",
                input1.shape(),
                input2.shape(),
                target.shape()
            ),
        ));
    }
    if opts.margin.is_nan() {
        return Err(Error::value(OP, "margin = NaN must be a number"));
    }
    let out = broadcast_pair(OP, ["input1", "input2"], input1.shape(), input2.shape())?;
    target_fits(OP, &out, target.shape())?;
    let o = opts.clone();
    let formula = Box::new(move |a: &Tensor, b: &Tensor, y: &Tensor| margin_ranking_loss_composite(a, b, y, &o));
    ternary_loss(MarginRanking(opts.margin), [input1, input2, target], &out, opts.reduction, formula)
}

/// [`margin_ranking_loss`] from differentiable tensor ops, the same formula:
/// what a second-order gradient differentiates.
pub(crate) fn margin_ranking_loss_composite(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    opts: &MarginRankingOptions,
) -> Result<Tensor> {
    let loss = target.neg().mul(&input1.sub(input2)?)?.add_scalar(opts.margin)?.clamp(Some(0.0), None)?;
    super::composite::reduce(&loss, opts.reduction, "margin_ranking_loss")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let a = Tensor::randn(&[3, 4], DType::F64, rng);
        let b = Tensor::randn(&[3, 4], DType::F64, rng);
        let y = Tensor::randn(&[3, 4], DType::F64, rng);
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let opts = MarginRankingOptions { margin: 0.3, reduction };
            super::super::composite::assert_same(
                &[&a, &b, &y],
                |t| margin_ranking_loss(t[0], t[1], t[2], &opts),
                |t| margin_ranking_loss_composite(t[0], t[1], t[2], &opts),
            );
        }
    }
}
