//! Numerical gradient checking, like `torch.autograd.gradcheck` and
//! `gradgradcheck`: analytic gradients from `backward` (and second
//! derivatives from a `create_graph` pass) against central finite differences in f64.

use super::{GradOptions, grad, with_grad};
use crate::tensor::{DType, Storage};
use crate::{Error, Result, Tensor, no_grad};
use rand::SeedableRng;

/// The outcome of [`gradcheck`]: the worst element found.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// True when every element is within `atol + rtol·|numeric|`.
    pub passed: bool,
    /// Number of gradient elements compared.
    pub checked: usize,
    /// Which input (position in `inputs`) holds the worst element.
    pub worst_input: usize,
    /// Flat index of the worst element within that input.
    pub worst_index: usize,
    /// Analytic gradient at the worst element.
    pub analytic: f64,
    /// Finite-difference gradient at the worst element.
    pub numeric: f64,
    /// `|analytic - numeric|` at the worst element.
    pub abs_err: f64,
}

/// Checks the gradients of `f` at `inputs` against central finite differences.
///
/// Float inputs must be F64 (finite differences in f32 are too coarse); I64
/// inputs (class indices, say) are passed through and not differentiated.
/// The scalar checked is `Σ f(inputs) ⊙ v` for a fixed random `v`, which tests
/// the full vector-Jacobian product, as PyTorch's `gradcheck` does column by column.
///
/// ```
/// use tapegrad::{autograd::gradcheck, Tensor};
/// let x = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], &[3])?;
/// let r = gradcheck(|t| t[0].tanh().mul(&t[0]), &[x], 1e-6, 1e-6, 1e-4)?;
/// assert!(r.passed, "{r:?}");
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    eps: f64,
    atol: f64,
    rtol: f64,
) -> Result<GradcheckReport> {
    for (i, t) in inputs.iter().enumerate() {
        if t.dtype() == DType::F32 {
            return Err(Error::dtype("gradcheck", format!("inputs[{i}] is F32; gradcheck needs F64 inputs")));
        }
    }
    let leaves: Vec<Tensor> =
        inputs.iter().map(|t| if t.dtype().is_float() { t.detach().requires_grad() } else { t.clone() }).collect();
    let out = f(&leaves)?;
    if out.dtype() != DType::F64 {
        return Err(Error::dtype("gradcheck", format!("f returned dtype {}, expected F64", out.dtype())));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let v = Tensor::rand(out.shape(), DType::F64, &mut rng).mul_scalar(2.0)?.sub_scalar(1.0)?;
    let vs = v.to_vec::<f64>()?;
    if out.tracks_grad() {
        out.backward_with(&v)?;
    }
    let project = |ts: &[Tensor]| -> Result<f64> {
        let o = f(ts)?;
        let ov = o.to_vec::<f64>()?;
        Ok(ov.iter().zip(&vs).map(|(a, b)| a * b).sum())
    };
    let mut report = GradcheckReport {
        passed: true,
        checked: 0,
        worst_input: 0,
        worst_index: 0,
        analytic: 0.0,
        numeric: 0.0,
        abs_err: 0.0,
    };
    let mut worst_excess = f64::NEG_INFINITY;
    for (i, leaf) in leaves.iter().enumerate() {
        if !leaf.dtype().is_float() {
            continue;
        }
        let analytic = match leaf.grad() {
            Some(g) => g.to_vec::<f64>()?,
            None => vec![0.0; leaf.numel()],
        };
        let base = leaf.to_vec::<f64>()?;
        for j in 0..base.len() {
            let eval = |delta: f64| -> Result<f64> {
                let mut d = base.clone();
                d[j] += delta;
                let mut ts: Vec<Tensor> = leaves.iter().map(|t| t.detach()).collect();
                ts[i] = Tensor::from_storage(Storage::F64(d), leaf.shape());
                no_grad(|| project(&ts))
            };
            let numeric = (eval(eps)? - eval(-eps)?) / (2.0 * eps);
            let a = analytic[j];
            let err = (a - numeric).abs();
            let excess = if err.is_nan() && !(a.is_nan() && numeric.is_nan()) {
                f64::INFINITY
            } else if err.is_nan() {
                f64::NEG_INFINITY
            } else {
                err - atol - rtol * numeric.abs()
            };
            report.checked += 1;
            if excess > worst_excess {
                worst_excess = excess;
                report.worst_input = i;
                report.worst_index = j;
                report.analytic = a;
                report.numeric = numeric;
                report.abs_err = err;
            }
        }
    }
    report.passed = worst_excess <= 0.0;
    Ok(report)
}

/// Checks the second derivatives of `f` at `inputs`, like
/// `torch.autograd.gradgradcheck`: the analytic gradient of `f` is taken with
/// `create_graph`, projected on fixed random vectors `u`, and that scalar
/// `s(x) = Σᵢ ⟨∂⟨f(x), v⟩/∂xᵢ, uᵢ⟩` is checked with [`gradcheck`]: its gradient
/// from differentiating the recorded backward against central finite
/// differences of the analytic first derivative.
///
/// Float inputs must be F64; I64 inputs are passed through. An input `f` does
/// not depend on contributes nothing.
///
/// ```
/// use tapegrad::{autograd::gradgradcheck, Tensor};
/// let x = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], &[3])?;
/// let y = Tensor::from_vec(vec![1.5f64, 0.25, -0.5], &[3])?;
/// let r = gradgradcheck(|t| t[0].tanh().mul(&t[1].sigmoid()), &[x, y], 1e-6, 1e-6, 1e-4)?;
/// assert!(r.passed, "{r:?}");
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn gradgradcheck(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    eps: f64,
    atol: f64,
    rtol: f64,
) -> Result<GradcheckReport> {
    for (i, t) in inputs.iter().enumerate() {
        if t.dtype() == DType::F32 {
            return Err(Error::dtype("gradgradcheck", format!("inputs[{i}] is F32; gradgradcheck needs F64 inputs")));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x9ead);
    let probe = with_grad(|| {
        let xs: Vec<Tensor> =
            inputs.iter().map(|t| if t.dtype().is_float() { t.detach().requires_grad() } else { t.clone() }).collect();
        f(&xs)
    })?;
    let v = Tensor::rand(probe.shape(), DType::F64, &mut rng).mul_scalar(2.0)?.sub_scalar(1.0)?;
    let us: Vec<Tensor> = inputs
        .iter()
        .map(|t| Tensor::rand(t.shape(), DType::F64, &mut rng).mul_scalar(2.0)?.sub_scalar(1.0))
        .collect::<Result<_>>()?;
    // s(x) = Σᵢ ⟨∂⟨f(x), v⟩/∂xᵢ, uᵢ⟩, recorded so that gradcheck can differentiate it
    let s = |ts: &[Tensor]| -> Result<Tensor> {
        with_grad(|| {
            let xs: Vec<Tensor> = ts
                .iter()
                .map(|t| if t.dtype().is_float() && !t.tracks_grad() { t.clone().requires_grad() } else { t.clone() })
                .collect();
            let out = f(&xs)?;
            let float: Vec<usize> = (0..xs.len()).filter(|&i| xs[i].dtype().is_float()).collect();
            let mut total = Tensor::scalar(0.0f64);
            if !out.tracks_grad() || float.is_empty() {
                return Ok(total);
            }
            let wrt: Vec<Tensor> = float.iter().map(|&i| xs[i].clone()).collect();
            let opts = GradOptions { grad_outputs: Some(vec![v.clone()]), create_graph: true, allow_unused: true };
            for (g, &i) in grad(&[out], &wrt, &opts)?.into_iter().zip(&float) {
                if let Some(g) = g {
                    total = total.add(&g.mul(&us[i])?.sum_all())?;
                }
            }
            Ok(total)
        })
    };
    gradcheck(s, inputs, eps, atol, rtol)
}
