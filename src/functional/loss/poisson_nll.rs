//! Negative log-likelihood of a Poisson distribution: `F.poisson_nll_loss`.

use super::pointwise::{Args, MeanOver, Pointwise, TargetShape, mask_of, pointwise_loss};
use crate::tensor::Float;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`poisson_nll_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct PoissonNllOptions {
    /// Whether the input is the log of the rate (default `true`).
    pub log_input: bool,
    /// Whether to add the Stirling approximation of `ln(y!)` (default `false`).
    pub full: bool,
    /// Added to the rate before its log when `log_input` is false (default 1e-8).
    pub eps: f64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for PoissonNllOptions {
    fn default() -> Self {
        PoissonNllOptions { log_input: true, full: false, eps: 1e-8, reduction: Reduction::Mean }
    }
}

/// The loss for `log_input = LOG`, `full`, `eps`.
#[derive(Clone, Copy)]
struct Poisson<const LOG: bool> {
    full: bool,
    eps: f64,
}

/// PyTorch's Stirling term `y·ln y − y + ½·ln(2πy)` for `y > 1`, else 0.
#[inline(always)]
fn stirling<T: Float>(t: T) -> T {
    if t > T::one() {
        t * t.ln() - t + T::from_f64(0.5) * (T::from_f64(2.0 * std::f64::consts::PI) * t).ln()
    } else {
        T::zero()
    }
}

impl<const LOG: bool> Pointwise for Poisson<LOG> {
    const OP: &'static str = "poisson_nll_loss";
    const BACKWARD: &'static str = "PoissonNllLossBackward0";
    fn graph(self, x: &Tensor, t: &Tensor, _: Option<&Tensor>) -> Result<Tensor> {
        let mut loss = if LOG { x.exp().sub(&t.mul(x)?)? } else { x.sub(&t.mul(&x.add_scalar(self.eps)?.log())?)? };
        if self.full {
            // the Stirling term where y > 1 (elsewhere 0, with its gradient)
            let above = mask_of(t, |v| v > 1.0)?;
            let safe = Tensor::where_cond(&above, t, &t.full_like(2.0))?;
            let term = safe
                .mul(&safe.log())?
                .sub(&safe)?
                .add(&safe.mul_scalar(2.0 * std::f64::consts::PI)?.log().mul_scalar(0.5)?)?;
            loss = loss.add(&Tensor::where_cond(&above, &term, &t.full_like(0.0))?)?;
        }
        Ok(loss)
    }
    #[inline(always)]
    fn f<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).0
    }
    #[inline(always)]
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T {
        self.f_dfdx(x, t, p).1
    }
    fn dfdt<T: Float>(self, x: T, t: T, _: T) -> T {
        let d = if LOG { -x } else { -(x + T::from_f64(self.eps)).ln() };
        // d/dy of the Stirling term: ln y + 1/(2y)
        if self.full && t > T::one() { d + t.ln() + T::from_f64(0.5) / t } else { d }
    }
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, _: T) -> (T, T) {
        let (f, d) = if LOG {
            let e = x.exp_fast();
            (e - t * x, e - t)
        } else {
            let xe = x + T::from_f64(self.eps);
            (x - t * xe.ln_fast(), T::one() - t / xe)
        };
        if self.full { (f + stirling(t), d) } else { (f, d) }
    }
}

/// Negative log-likelihood of targets `y` under a Poisson distribution of
/// rate `λ` (`F.poisson_nll_loss`, `nn.PoissonNLLLoss`):
/// `ℓ = eˣ − y·x` with `log_input` (`x = ln λ`, the default), else
/// `ℓ = x − y·ln(x + eps)` (`x = λ`); with `full`, plus the Stirling term
/// `y·ln y − y + ½·ln(2πy)` where `y > 1`.
///
/// Shapes: `target` of the input's shape (or broadcasting to it without
/// enlarging it); the output is `()` reduced, the input's shape for `None`.
/// Gradients flow to input and target. Errors if `eps` is NaN.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let log_rate = Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
/// let counts = Tensor::from_vec(vec![1.0f64, 3.0], &[2])?;
/// let l = F::poisson_nll_loss(&log_rate, &counts, &F::PoissonNllOptions::default())?;
/// let expected = ((1.0 - 0.0) + (1f64.exp() - 3.0)) / 2.0;
/// assert!((l.item::<f64>()? - expected).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn poisson_nll_loss(input: &Tensor, target: &Tensor, opts: &PoissonNllOptions) -> Result<Tensor> {
    if opts.eps.is_nan() {
        return Err(Error::value("poisson_nll_loss", format!("eps = {} must be a number", opts.eps)));
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
    let (full, eps) = (opts.full, opts.eps);
    if opts.log_input {
        pointwise_loss(Poisson::<true> { full, eps }, args)
    } else {
        pointwise_loss(Poisson::<false> { full, eps }, args)
    }
}

/// [`poisson_nll_loss`] from differentiable tensor ops, the same formula
/// (the elementwise `graph` its double backward differentiates), reduced
/// with tensor ops; tested equal to the fused path.
#[cfg(test)]
pub(crate) fn poisson_nll_loss_composite(input: &Tensor, target: &Tensor, opts: &PoissonNllOptions) -> Result<Tensor> {
    super::pointwise::target_fits("poisson_nll_loss", input.shape(), target.shape())?;
    let (full, eps) = (opts.full, opts.eps);
    let loss = if opts.log_input {
        Poisson::<true> { full, eps }.graph(input, target, None)?
    } else {
        Poisson::<false> { full, eps }.graph(input, target, None)?
    };
    super::composite::reduce(&loss, opts.reduction, "poisson_nll_loss")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let x = Tensor::rand(&[3, 4], DType::F64, rng).add_scalar(0.1).unwrap();
        let y = Tensor::rand(&[3, 4], DType::F64, rng).mul_scalar(4.0).unwrap();
        for (log_input, full) in [(true, false), (true, true), (false, false), (false, true)] {
            for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                let opts = PoissonNllOptions { log_input, full, reduction, ..Default::default() };
                super::super::composite::assert_same(
                    &[&x, &y],
                    |t| poisson_nll_loss(t[0], t[1], &opts),
                    |t| poisson_nll_loss_composite(t[0], t[1], &opts),
                );
            }
        }
    }
}
