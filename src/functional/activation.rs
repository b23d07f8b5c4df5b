//! Activations: `log_softmax`, `softmax` (fused, numerically stable) and `sigmoid`.

use crate::Result;
use crate::autograd::Backward;
use crate::tensor::ops::float_op;
use crate::tensor::shape::{normalize_dim, split_at_dim};
use crate::tensor::{Float, Storage, Tensor};
use std::sync::Arc;

/// `x - logsumexp(x)` along the middle axis of `(outer, n, inner)`, max subtracted.
pub(crate) fn log_softmax_kernel<T: Float>(
    x: &[T],
    outer: usize,
    n: usize,
    inner: usize,
) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            let m = (0..n).map(|k| x[at(k)]).fold(T::neg_infinity(), |m, v| {
                if v > m || v.is_nan() { v } else { m }
            });
            let shift = if m.is_infinite() { T::zero() } else { m };
            let s: T = (0..n).map(|k| (x[at(k)] - shift).exp()).sum();
            // (x - max) - log Σ: keeps the small differences that x - (max + log Σ) would round away
            let log_s = s.ln();
            for k in 0..n {
                out[at(k)] = (x[at(k)] - shift) - log_s;
            }
        }
    }
    out
}

struct SoftmaxBackward {
    dim: usize,
    log: bool,
    out: Arc<Storage>,
}

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        if self.log {
            "LogSoftmaxBackward0"
        } else {
            "SoftmaxBackward0"
        }
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (outer, n, inner) = split_at_dim(x.shape(), self.dim);
        let g = float_op!(self.name(), "grad", grad, |g| {
            let y = T::slice(&self.out).unwrap_or_default();
            let mut out = vec![T::zero(); g.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let at = |k: usize| (o * n + k) * inner + i;
                    if self.log {
                        // d/dx of log_softmax: g - softmax · Σ g
                        let sg: T = (0..n).map(|k| g[at(k)]).sum();
                        for k in 0..n {
                            out[at(k)] = g[at(k)] - y[at(k)].exp() * sg;
                        }
                    } else {
                        // d/dx of softmax: y · (g - Σ g·y)
                        let sgy: T = (0..n).map(|k| g[at(k)] * y[at(k)]).sum();
                        for k in 0..n {
                            out[at(k)] = y[at(k)] * (g[at(k)] - sgy);
                        }
                    }
                }
            }
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
}

fn softmax_impl(op: &'static str, input: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let d = normalize_dim(op, dim, input.ndim())?;
    let (outer, n, inner) = split_at_dim(input.shape(), d);
    let out = float_op!(op, "input", input, |x| {
        let mut v = log_softmax_kernel(x, outer, n, inner);
        if !log {
            v.iter_mut().for_each(|y| *y = y.exp());
        }
        T::wrap(v)
    });
    let out = Arc::new(out);
    Ok(Tensor::from_op_shared(
        out.clone(),
        input.0.shape.clone(),
        SoftmaxBackward { dim: d, log, out },
        &[input],
    ))
}

/// `log(softmax(x))` along `dim`, computed as `x - logsumexp(x)` with the
/// maximum subtracted, so it never overflows (`F.log_softmax(input, dim)`).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1000.0f32, 1000.0], &[1, 2])?;
/// let y = F::log_softmax(&x, 1)?;
/// assert!((y.to_vec::<f32>()?[0] + 2f32.ln()).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn log_softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    softmax_impl("log_softmax", input, dim, true)
}

/// `exp(x_i) / Σ_j exp(x_j)` along `dim`, computed stably (`F.softmax(input, dim)`).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let p = F::softmax(&Tensor::from_vec(vec![0.0f64, 0.0], &[2])?, 0)?;
/// assert_eq!(p.to_vec::<f64>()?, vec![0.5, 0.5]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    softmax_impl("softmax", input, dim, false)
}

/// The logistic function `1 / (1 + exp(-x))`, elementwise and stable
/// (`torch.sigmoid` / `F.sigmoid`).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let y = F::sigmoid(&Tensor::from_vec(vec![0.0f32], &[1])?)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.5]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn sigmoid(input: &Tensor) -> Result<Tensor> {
    input.require_float("sigmoid", "input")?;
    Ok(input.sigmoid())
}
