//! Negative log-likelihood of a Gaussian: `F.gaussian_nll_loss`.

use super::pointwise::target_fits;
use super::ternary::{Ternary, ternary_loss};
use crate::tensor::Float;
use crate::tensor::ops::float_op;
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`gaussian_nll_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct GaussianNllOptions {
    /// Whether to add the constant `½·ln(2π)` (default `false`).
    pub full: bool,
    /// The floor of the variance, for stability (default 1e-6).
    pub eps: f64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for GaussianNllOptions {
    fn default() -> Self {
        GaussianNllOptions { full: false, eps: 1e-6, reduction: Reduction::Mean }
    }
}

#[derive(Clone, Copy)]
struct GaussianNll {
    eps: f64,
    /// `½·ln(2π)` with `full`, else 0
    constant: f64,
}

impl Ternary for GaussianNll {
    const OP: &'static str = "gaussian_nll_loss";
    const BACKWARD: &'static str = "GaussianNllLossBackward0";
    const NAMES: [&'static str; 3] = ["input", "target", "var"];
    const GRADS: [bool; 3] = [true, true, true];
    /// `½·(ln v + (x − y)²/v)` with `v = max(σ², eps)`; the gradient of `σ²`
    /// is taken at `v` and passes where the floor applies, as PyTorch's clamp
    /// under `no_grad` does (NaN stays NaN).
    #[inline(always)]
    fn eval<T: Float>(self, x: T, y: T, var: T) -> (T, [T; 3]) {
        let eps = T::from_f64(self.eps);
        let v = if var < eps { eps } else { var };
        let half = T::from_f64(0.5);
        let d = x - y;
        let r = d / v;
        let f = half * (v.ln_fast() + d * r) + T::from_f64(self.constant);
        (f, [r, -r, half * (T::one() - d * r) / v])
    }
}

/// `var` shaped to broadcast against `input` as PyTorch accepts it: the
/// input's shape, one dim fewer (unsqueezed), or the last dim 1.
fn var_for(op: &'static str, input: &Tensor, var: &Tensor) -> Result<Tensor> {
    let (xs, vs) = (input.shape(), var.shape());
    if vs == xs {
        return Ok(var.clone());
    }
    let lead = &xs[..xs.len().saturating_sub(1)];
    if !xs.is_empty() && vs == lead {
        return var.unsqueeze(-1);
    }
    if !xs.is_empty() && vs.len() == xs.len() && &vs[..vs.len() - 1] == lead && vs[vs.len() - 1] == 1 {
        return Ok(var.clone());
    }
    Err(Error::shape(
        op,
        format!(
            "var of shape {vs:?} does not fit input of shape {xs:?}: expected the input's shape, \
             the input's shape without its last dim, or with its last dim 1"
        ),
    ))
}

/// Negative log-likelihood of targets `y` under Gaussians of mean `x` and
/// variance `σ²` (`F.gaussian_nll_loss`, `nn.GaussianNLLLoss`):
/// `ℓ = ½·(ln v + (x − y)²/v)` with `v = max(σ², eps)`, plus `½·ln(2π)` when `full`.
///
/// Shapes: `target` of the input's shape (or broadcasting to it without
/// enlarging it); `var` of the input's shape (one variance per element), of
/// the input's shape without its last dim, or with its last dim 1 (one
/// variance per sample, shared along the last dim). The output is `()`
/// reduced, the input's shape for `None`. Errors if `var` has a negative
/// entry. The floor `eps` applies to the value only: the gradient of `var`
/// is taken at the floored value and passes to `var` unchanged (PyTorch clamps
/// under `no_grad`). Gradients flow to input, target and var.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let mu = Tensor::from_vec(vec![0.0f64, 1.0], &[2])?;
/// let y = Tensor::from_vec(vec![1.0f64, 1.0], &[2])?;
/// let var = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
/// let l = F::gaussian_nll_loss(&mu, &y, &var, &F::GaussianNllOptions::default())?;
/// let expected = (0.5 * (0.0 + 1.0) + 0.5 * 2f64.ln()) / 2.0;
/// assert!((l.item::<f64>()? - expected).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn gaussian_nll_loss(input: &Tensor, target: &Tensor, var: &Tensor, opts: &GaussianNllOptions) -> Result<Tensor> {
    const OP: &str = "gaussian_nll_loss";
    if opts.eps.is_nan() {
        return Err(Error::value(OP, "eps = NaN must be a number"));
    }
    let out = target_fits(OP, input.shape(), target.shape())?;
    let v = var_for(OP, input, var)?;
    var.require_float(OP, "var")?;
    input.require_same_dtype(var, OP, "var")?;
    float_op!(OP, "var", var, |vs| {
        // a branch-free scan first (it vectorises); the position only when it fails
        let any_negative = vs.iter().fold(false, |acc, &x| acc | (x < T::zero()));
        let first = if any_negative { vs.iter().enumerate().find(|(_, x)| **x < T::zero()) } else { None };
        if let Some((k, x)) = first {
            return Err(Error::value(OP, format!("var[{k}] = {x} is negative: variances must be >= 0")));
        }
    });
    let constant = if opts.full { 0.5 * (2.0 * std::f64::consts::PI).ln() } else { 0.0 };
    let o = opts.clone();
    let formula = Box::new(move |x: &Tensor, y: &Tensor, v: &Tensor| gaussian_nll_loss_composite(x, y, v, &o));
    ternary_loss(GaussianNll { eps: opts.eps, constant }, [input, target, &v], &out, opts.reduction, formula)
}

/// [`gaussian_nll_loss`] from differentiable tensor ops, the same formula:
/// what a second-order gradient differentiates. The floor is added as a
/// constant (`σ² + (max(σ², eps) − σ²)` detached), so the gradient passes it.
pub(crate) fn gaussian_nll_loss_composite(
    input: &Tensor,
    target: &Tensor,
    var: &Tensor,
    opts: &GaussianNllOptions,
) -> Result<Tensor> {
    let var = var_for("gaussian_nll_loss", input, var)?;
    let floor = var.detach().clamp(Some(opts.eps), None)?.sub(&var.detach())?;
    let v = var.add(&floor)?;
    let d = input.sub(target)?;
    let mut loss = v.log().add(&d.mul(&d)?.div(&v)?)?.mul_scalar(0.5)?;
    if opts.full {
        loss = loss.add_scalar(0.5 * (2.0 * std::f64::consts::PI).ln())?;
    }
    super::composite::reduce(&loss, opts.reduction, "gaussian_nll_loss")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let x = Tensor::randn(&[3, 4], DType::F64, rng);
        let y = Tensor::randn(&[3, 4], DType::F64, rng);
        for var in
            [Tensor::rand(&[3, 4], DType::F64, rng).add_scalar(0.1).unwrap(), Tensor::rand(&[3], DType::F64, rng)]
        {
            for (full, reduction) in [(false, Reduction::None), (true, Reduction::Mean), (false, Reduction::Sum)] {
                let opts = GaussianNllOptions { full, reduction, ..Default::default() };
                super::super::composite::assert_same(
                    &[&x, &y, &var],
                    |t| gaussian_nll_loss(t[0], t[1], t[2], &opts),
                    |t| gaussian_nll_loss_composite(t[0], t[1], t[2], &opts),
                );
            }
        }
    }
}
