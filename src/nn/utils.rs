//! Gradient clipping, PyTorch's `torch.nn.utils.clip_grad_norm_` and
//! `clip_grad_value_`: called between `backward()` and the optimizer's
//! `step()`, on the parameters' accumulated gradients.

use crate::{Error, Result, Tensor, no_grad};

/// Scales the gradients of `params` together so that their total
/// `norm_type`-norm is at most `max_norm` (`torch.nn.utils.clip_grad_norm_`),
/// and returns the total norm before clipping.
///
/// The total norm is the norm of the per-tensor norms,
/// `‖(‖g₁‖_p, …, ‖g_k‖_p)‖_p` (the largest `|g|` for `p = ∞`), computed in
/// f64; every gradient is then multiplied by
/// `min(1, max_norm / (total + 1e-6))`, as PyTorch does. Parameters without a
/// gradient are skipped. A NaN or infinite gradient gives a NaN or infinite
/// total, returned as it is (the gradients then become NaN, as in PyTorch).
///
/// Errors if `max_norm` is negative or NaN, or `norm_type` is not positive
/// (`f64::INFINITY` is the max-norm).
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let w = Tensor::from_vec(vec![1.0f32, 1.0], &[2])?.requires_grad();
/// w.set_grad(Some(Tensor::from_vec(vec![3.0f32, 4.0], &[2])?))?;
/// let total = nn::utils::clip_grad_norm(&[w.clone()], 1.0, 2.0)?;
/// assert_eq!(total, 5.0);
/// let g = w.grad().unwrap().to_vec::<f32>()?;
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64, norm_type: f64) -> Result<f64> {
    const OP: &str = "clip_grad_norm";
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::value(OP, format!("max_norm = {max_norm} must be a number >= 0")));
    }
    if norm_type.is_nan() || norm_type <= 0.0 {
        return Err(Error::value(OP, format!("norm_type = {norm_type} must be > 0 (or f64::INFINITY)")));
    }
    let grads: Vec<(&Tensor, Tensor)> = params.iter().filter_map(|p| p.grad().map(|g| (p, g))).collect();
    let mut norms = Vec::with_capacity(grads.len());
    for (_, g) in &grads {
        let v = g.to_dtype(crate::DType::F64)?.to_vec::<f64>()?;
        norms.push(norm(&v, norm_type));
    }
    let total = norm(&norms, norm_type);
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    no_grad(|| {
        for (p, g) in &grads {
            p.set_grad(Some(g.mul_scalar(coef)?))?;
        }
        Ok::<(), Error>(())
    })?;
    Ok(total)
}

/// `‖v‖_p` in f64: `max |v_i|` for `p = ∞`.
fn norm(v: &[f64], p: f64) -> f64 {
    if p == f64::INFINITY {
        // NaN-propagating, as PyTorch's max-norm
        v.iter().fold(0.0f64, |m, &x| if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x.abs()) })
    } else if p == 2.0 {
        v.iter().map(|x| x * x).sum::<f64>().sqrt()
    } else if p == 1.0 {
        v.iter().map(|x| x.abs()).sum()
    } else {
        v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// Clamps every gradient of `params` to `[−clip_value, clip_value]`
/// elementwise (`torch.nn.utils.clip_grad_value_`); parameters without a
/// gradient are skipped. Errors if `clip_value` is negative or NaN.
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let w = Tensor::from_vec(vec![0.0f64; 3], &[3])?.requires_grad();
/// w.set_grad(Some(Tensor::from_vec(vec![-2.0f64, 0.25, 3.0], &[3])?))?;
/// nn::utils::clip_grad_value(&[w.clone()], 0.5)?;
/// assert_eq!(w.grad().unwrap().to_vec::<f64>()?, vec![-0.5, 0.25, 0.5]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn clip_grad_value(params: &[Tensor], clip_value: f64) -> Result<()> {
    const OP: &str = "clip_grad_value";
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::value(OP, format!("clip_value = {clip_value} must be a number >= 0")));
    }
    no_grad(|| {
        for p in params {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.clamp(Some(-clip_value), Some(clip_value))?))?;
            }
        }
        Ok(())
    })
}
