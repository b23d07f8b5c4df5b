//! Kullback-Leibler divergence: `F.kl_div`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, mask_of, pointwise_loss};
use crate::tensor::Float;
use crate::{Reduction, Result, Tensor};

/// Options of [`kl_div`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct KlDivOptions {
    /// How to reduce (default `Mean`, the mean over every element, as
    /// PyTorch's default; `BatchMean` gives the true KL divergence per sample).
    pub reduction: Reduction,
    /// Whether the target holds log-probabilities (default `false`: probabilities).
    pub log_target: bool,
}

/// `ℓ = xlogy(y, y) − y·x` (probabilities `y`).
#[derive(Clone, Copy)]
struct KlDiv;

/// `ℓ = eʸ·(y − x)` (log-probabilities `y`).
#[derive(Clone, Copy)]
struct KlDivLog;

impl Pointwise for KlDiv {
    const OP: &'static str = "kl_div";
    const BACKWARD: &'static str = "KlDivBackward0";
    const BATCHMEAN: bool = true;
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        // xlogy(y, y) = y·ln y, and 0 where y = 0
        let safe = Tensor::where_cond(&mask_of(t, |v| v != 0.0)?, t, &t.full_like(1.0))?;
        t.mul(&safe.log())?.sub(&t.mul(x)?)
    }
    /// `y·ln y − y·x`, with `0·ln 0 = 0` (PyTorch's `xlogy`).
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        let xlogy = if t == T::zero() { T::zero() } else { t * t.ln_fast() };
        xlogy - t * x
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, _: T, t: T, _: T) -> T {
        -t
    }
    /// `ln y + 1 − x`; NaN at `y = 0`, where the loss has no derivative
    /// (PyTorch's `xlogy` backward gives NaN there too).
    fn dfdt<T: Float>(self, x: T, t: T, _: T) -> T {
        if t == T::zero() { T::nan() } else { t.ln() + T::one() - x }
    }
}

impl Pointwise for KlDivLog {
    const OP: &'static str = "kl_div";
    const BACKWARD: &'static str = "KlDivBackward0";
    const BATCHMEAN: bool = true;
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        t.exp().mul(&t.sub(x)?)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, _: T) -> T {
        t.exp_fast() * (t - x)
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, _: T, t: T, _: T) -> T {
        -t.exp_fast()
    }
    fn dfdt<T: Float>(self, x: T, t: T, _: T) -> T {
        t.exp() * (t - x + T::one())
    }
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, _: T) -> (T, T) {
        let e = t.exp_fast();
        (e * (t - x), -e)
    }
}

/// The Kullback-Leibler divergence of the target distribution `y` from the
/// model's, given as log-probabilities `x` (`F.kl_div`, `nn.KLDivLoss`):
/// `ℓ = y·(ln y − x)` per element (`0` where `y = 0`), or `ℓ = eʸ·(y − x)`
/// when `log_target` (the target also as log-probabilities).
///
/// Shapes: `input` any, `target` of the input's shape (or broadcasting to it
/// without enlarging it); the output is `()` reduced, the input's shape for
/// `None`. `Mean` divides by the number of elements (PyTorch's default, which
/// is not the KL divergence); `BatchMean` divides the sum by the size of the
/// first dim, which is (a 0-d input is summed). Gradients flow to input and target.
///
/// ```
/// use tapegrad::{functional as F, Reduction, Tensor};
/// let logq = Tensor::from_vec(vec![0.25f64.ln(), 0.75f64.ln()], &[1, 2])?;
/// let p = Tensor::from_vec(vec![0.5f64, 0.5], &[1, 2])?;
/// let opts = F::KlDivOptions { reduction: Reduction::BatchMean, ..Default::default() };
/// let kl = F::kl_div(&logq, &p, &opts)?.item::<f64>()?;
/// let expected = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
/// assert!((kl - expected).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn kl_div(input: &Tensor, target: &Tensor, opts: &KlDivOptions) -> Result<Tensor> {
    let args = Args {
        input,
        target,
        weight: None,
        pos_weight: None,
        reduction: opts.reduction,
        mean_over: MeanOver::Numel,
        target_shape: TargetShape::Broadcast,
    };
    if opts.log_target { pointwise_loss(KlDivLog, args) } else { pointwise_loss(KlDiv, args) }
}

/// [`kl_div`] from differentiable tensor ops, the same formula (the
/// elementwise `graph` its double backward differentiates), reduced with
/// tensor ops; tested equal to the fused path.
#[cfg(test)]
pub(crate) fn kl_div_composite(input: &Tensor, target: &Tensor, opts: &KlDivOptions) -> Result<Tensor> {
    super::pointwise::target_fits("kl_div", input.shape(), target.shape())?;
    let loss = if opts.log_target { KlDivLog.graph(input, target, None)? } else { KlDiv.graph(input, target, None)? };
    super::composite::reduce(&loss, opts.reduction, "kl_div")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let x = Tensor::randn(&[3, 4], DType::F64, rng);
        let y = Tensor::rand(&[3, 4], DType::F64, rng);
        for log_target in [false, true] {
            for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean] {
                let opts = KlDivOptions { reduction, log_target };
                super::super::composite::assert_same(
                    &[&x, &y],
                    |t| kl_div(t[0], t[1], &opts),
                    |t| kl_div_composite(t[0], t[1], &opts),
                );
            }
        }
    }
}
