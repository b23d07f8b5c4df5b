//! Activations: `log_softmax`, `softmax` (fused, numerically stable),
//! `sigmoid`, `gelu` and `leaky_relu`.

use crate::Result;
use crate::autograd::Backward;
use crate::cpu::alloc::{scratch, zeros};
use crate::kernels::softmax::{Dims, lead_of, normalise, softmax_backward, stats};
use crate::tensor::ops::float_op;
use crate::tensor::shape::{normalize_dim, split_at_dim};
use crate::tensor::{Deferred, Element, Float, Recipe, Storage, Tensor};
use std::sync::Arc;

struct SoftmaxBackward {
    dim: usize,
    log: bool,
    out: Arc<Deferred>,
}

/// The data of a `softmax` / `log_softmax` output, computed on first read from
/// a snapshot of the input's data. A loss that consumes `log_softmax(x)` can
/// read `x` from here instead ([`log_softmax_of`]) and never compute it.
struct SoftmaxRecipe {
    x: Arc<Storage>,
    d: Dims,
    dim: usize,
    log: bool,
}

impl Recipe for SoftmaxRecipe {
    fn make(&self) -> Storage {
        match &*self.x {
            Storage::F32(x) => f32::wrap(softmax_data(x, self.d, self.log)),
            Storage::F64(x) => f64::wrap(softmax_data(x, self.d, self.log)),
            Storage::I64(_) | Storage::Bool(_) => unreachable!("softmax: the input was checked to be a float tensor"),
        }
    }
}

/// `softmax` or `log_softmax` of `x` over the class dim of `d`: per unit, the
/// statistics and the output together, while the unit's data is still in cache.
fn softmax_data<T: Float>(x: &[T], d: Dims, log: bool) -> Vec<T> {
    let mut out = scratch::<T>(x.len());
    d.run([], [&mut out], |u, [], [o]| {
        let e = u.e0..u.e0 + u.len * d.c;
        let (mut m, mut ls) = (scratch::<T>(u.len), scratch::<T>(u.len));
        stats(&x[e.clone()], d.c, d.inner, lead_of(&x[e.clone()]), &mut m, &mut ls);
        normalise(&x[e], d.c, d.inner, &m, &ls, !log, o)
    });
    out
}

/// What a `log_softmax` output says of its input (see [`log_softmax_of`]).
pub(crate) struct LogSoftmaxOf<'a> {
    /// The input's data when the output was made.
    pub data: &'a Storage,
    /// The input, when the output records a graph (then a consumer that reads
    /// `data` in its place records itself on the input).
    pub x: Option<Tensor>,
}

/// When `y` is `log_softmax(x, dim)` (its data computed or not): the data of
/// `x` and, if `y` records a graph, `x` itself.
pub(crate) fn log_softmax_of(y: &Tensor, dim: usize) -> Option<LogSoftmaxOf<'_>> {
    let r = y.deferred::<SoftmaxRecipe>()?;
    let x = y.node().map(|n| n.inputs()[0].clone());
    (r.log && r.dim == dim).then_some(LogSoftmaxOf { data: &r.x, x })
}

fn dims_of(shape: &[usize], dim: usize) -> Dims {
    let (n, c, inner) = split_at_dim(shape, dim);
    Dims { n, c, inner }
}

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        if self.log { "LogSoftmaxBackward0" } else { "SoftmaxBackward0" }
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let d = dims_of(x.shape(), self.dim);
        let g = float_op!(self.name(), "grad", grad, |g| {
            let y = T::slice(self.out.get()).unwrap_or_default();
            let mut out = scratch::<T>(g.len());
            d.run([], [&mut out], |u, [], [o]| {
                let e = u.e0..u.e0 + u.len * d.c;
                let mut sums = zeros::<T>(if d.inner > 1 { u.len } else { 0 });
                softmax_backward(&g[e.clone()], &y[e], d.c, d.inner, self.log, &mut sums, o)
            });
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, dim) = (&inputs[0], self.dim as isize);
        let y = softmax(x, dim)?;
        let gx = if self.log {
            // g − softmax(x)·Σ g
            grad.sub(&y.mul(&grad.sum(dim, true)?)?)?
        } else {
            // y·(g − Σ g·y)
            y.mul(&grad.sub(&grad.mul(&y)?.sum(dim, true)?)?)?
        };
        Ok(vec![Some(gx)])
    }
}

fn softmax_impl(op: &'static str, input: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let dim = normalize_dim(op, dim, input.ndim())?;
    let d = dims_of(input.shape(), dim);
    input.require_float(op, "input")?;
    // computed when first read (a fused loss may read the input instead)
    let out = Deferred::new(SoftmaxRecipe { x: input.storage_arc(), d, dim, log });
    let node = SoftmaxBackward { dim, log, out: out.clone() };
    Ok(Tensor::from_op_deferred(out, input.dtype(), input.0.shape.clone(), node, &[input]))
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

/// The Gaussian error linear unit, exact form:
/// `gelu(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2))`, elementwise
/// (`F.gelu(input)`, PyTorch's default `approximate='none'`). The gradient is
/// `Φ(x) + x·φ(x)` with `φ` the standard normal density.
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let y = F::gelu(&Tensor::from_vec(vec![0.0f64, 1.0], &[2])?)?;
/// let v = y.to_vec::<f64>()?;
/// assert_eq!(v[0], 0.0);
/// assert!((v[1] - 0.8413447460685429).abs() < 1e-15);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn gelu(input: &Tensor) -> Result<Tensor> {
    input.require_float("gelu", "input")?;
    input.gelu()
}

/// `x` where `x > 0`, `negative_slope·x` elsewhere, elementwise
/// (`F.leaky_relu(input, negative_slope)`; PyTorch's module default slope is
/// 0.01). The gradient is 1 for `x > 0` and `negative_slope` otherwise
/// (also at 0, as in PyTorch). A non-finite slope is an error.
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let y = F::leaky_relu(&Tensor::from_vec(vec![-2.0f32, 3.0], &[2])?, 0.1)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![-0.2, 3.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn leaky_relu(input: &Tensor, negative_slope: f64) -> Result<Tensor> {
    input.require_float("leaky_relu", "input")?;
    input.leaky_relu(negative_slope)
}

#[cfg(test)]
mod tests {
    use crate::functional as F;
    use crate::{DType, Tensor};

    /// `nll_loss(log_softmax(x))`, forward and backward, never computes the
    /// log-probabilities; reading them computes them once.
    #[test]
    fn fused_nll_leaves_the_log_probabilities_uncomputed() {
        let x = Tensor::randn(&[4, 3, 5], DType::F32, &mut rand::rng()).requires_grad();
        let t = Tensor::randint(0, 3, &[4, 5], &mut rand::rng());
        let y = F::log_softmax(&x, 1).unwrap();
        F::nll_loss(&y, &t, &Default::default()).unwrap().backward().unwrap();
        assert!(y.data_pending() && x.grad().is_some());
        let v = y.to_vec::<f32>().unwrap();
        assert!(!y.data_pending() && v.len() == 60);
        // not over the class dim: not fused, so the data is read
        let y2 = F::log_softmax(&x, 2).unwrap();
        F::nll_loss(&y2, &Tensor::randint(0, 3, &[4, 5], &mut rand::rng()), &Default::default()).unwrap();
        assert!(!y2.data_pending());
    }
}
