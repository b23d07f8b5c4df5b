//! Distances and similarities between the rows of two tensors:
//! `F.pairwise_distance` and `F.cosine_similarity`.

use crate::autograd::{Backward, composite_backward, is_grad_enabled};
use crate::kernels::row_pairs::row_pass;
use crate::tensor::Tensor;
use crate::tensor::ops::float_op;
use crate::tensor::shape::{broadcast_shapes, normalize_dim};
use crate::{Error, Result};

/// The `p`-norm distance between the rows (last dim) of `x1` and `x2`,
/// `‖x₁ − x₂ + eps‖_p` (`F.pairwise_distance`, `nn.PairwiseDistance`):
/// `(Σ |d|ᵖ)^{1/p}`, the largest `|d|` for `p = ∞`, the count of non-zero
/// `d` for `p = 0`.
///
/// Shapes: `x1` and `x2` broadcast together (at least 1-D); the output is
/// their shape without its last dim (kept as 1 with `keepdim`). Gradients
/// flow to both (made of differentiable ops, so they differentiate again).
/// Errors if `p` is NaN or an input is 0-d.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![0.0f64, 0.0, 1.0, 1.0], &[2, 2])?;
/// let b = Tensor::from_vec(vec![3.0f64, 4.0, 1.0, 1.0], &[2, 2])?;
/// let d = F::pairwise_distance(&a, &b, 2.0, 0.0, false)?.to_vec::<f64>()?;
/// assert_eq!(d, vec![5.0, 0.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn pairwise_distance(x1: &Tensor, x2: &Tensor, p: f64, eps: f64, keepdim: bool) -> Result<Tensor> {
    const OP: &str = "pairwise_distance";
    x1.require_float(OP, "x1")?;
    x1.require_same_dtype(x2, OP, "x2")?;
    if p.is_nan() || eps.is_nan() {
        return Err(Error::value(OP, format!("p = {p}, eps = {eps}: both must be numbers")));
    }
    if x1.ndim() == 0 && x2.ndim() == 0 {
        return Err(Error::shape(OP, "x1 and x2 are 0-d; expected vectors, the last dim holding their elements"));
    }
    broadcast_shapes(OP, x1.shape(), x2.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!("x1 of shape {:?} and x2 of shape {:?} do not broadcast together", x1.shape(), x2.shape()),
        )
    })?;
    let d = x1.sub(x2)?.add_scalar(eps)?;
    let a = d.abs();
    if p == 2.0 {
        d.mul(&d)?.sum(-1, keepdim).map(|s| s.sqrt())
    } else if p == 1.0 {
        a.sum(-1, keepdim)
    } else if p == f64::INFINITY {
        a.max(-1, keepdim)
    } else if p == f64::NEG_INFINITY {
        a.neg().max(-1, keepdim).map(|m| m.neg())
    } else if p == 0.0 {
        Tensor::where_cond(&a, &a.full_like(1.0), &a.full_like(0.0))?.sum(-1, keepdim)
    } else {
        a.pow(p)?.sum(-1, keepdim)?.pow(1.0 / p)
    }
}

/// The backward of [`cosine_similarity`] over rows: per row the saved
/// `[x₁·x₂, ‖x₁‖², ‖x₂‖²]`.
struct CosineSimilarityBackward {
    rows: usize,
    d: usize,
    eps: f64,
    /// `(rows, 3)`: the statistics of each row
    stats: Tensor,
}

impl Backward for CosineSimilarityBackward {
    fn name(&self) -> &'static str {
        "SumBackward1"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "cosine_similarity";
        let (a, b) = (&inputs[0], &inputs[1]);
        let (need_a, need_b) = (a.tracks_grad(), b.tracks_grad());
        let (rows, d) = (self.rows, self.d);
        let (ga, gb) = float_op!(OP, "x1", a, |xa| {
            let xb = b.data::<T>(OP, "x2")?;
            let g = grad.data::<T>(OP, "grad")?;
            let st = self.stats.data::<T>(OP, "stats")?;
            let eps = T::from_f64(self.eps);
            let coef = |r: usize, _: [T; 3]| {
                let (dot, n1, n2) = (st[3 * r], st[3 * r + 1].sqrt(), st[3 * r + 2].sqrt());
                let (c1, c2) = (if n1 < eps { eps } else { n1 }, if n2 < eps { eps } else { n2 });
                let out = dot / (c1 * c2);
                // ∂/∂x₁ = x₂/(c₁c₂) − (out/c₁)·x₁/‖x₁‖ (the clamp passes the
                // gradient; a zero norm passes none, as PyTorch's norm backward)
                let q = if n1 > T::zero() { -out / (c1 * n1) } else { T::zero() };
                let s = if n2 > T::zero() { -out / (c2 * n2) } else { T::zero() };
                [g[r] / (c1 * c2), g[r] * q, g[r] * s]
            };
            let mut da = crate::cpu::alloc::scratch::<T>(if need_a { rows * d } else { 0 });
            let mut db = crate::cpu::alloc::scratch::<T>(if need_b { rows * d } else { 0 });
            row_pass(xa, &xb, rows, d, coef, &mut da, &mut db);
            let keep = |v: Vec<T>, want: bool, t: &Tensor| want.then(|| Tensor::from_storage(T::wrap(v), t.shape()));
            (keep(da, need_a, a), keep(db, need_b, b))
        });
        Ok(vec![ga, gb])
    }
    /// The composite form over the rows the node holds (the reduced dim last).
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| cosine_similarity_composite(&xs[0], &xs[1], -1, self.eps))
    }
}

/// Moves `dim` of `x` (broadcast to `shape`) to the last place, the other
/// dims keeping their order (so the rows come in the output's order),
/// contiguous: rows of the reduced dim.
fn rows_along(x: &Tensor, shape: &[usize], dim: usize) -> Result<Tensor> {
    let x = if x.shape() == shape { x.clone() } else { x.broadcast_to(shape)? };
    let last = shape.len() - 1;
    if dim == last {
        return Ok(x.contiguous());
    }
    let order: Vec<isize> = (0..shape.len()).filter(|&k| k != dim).chain([dim]).map(|k| k as isize).collect();
    Ok(x.permute(&order)?.contiguous())
}

/// The cosine of the angle between `x1` and `x2` along `dim`
/// (`F.cosine_similarity`, `nn.CosineSimilarity`):
/// `Σ (x₁ / max(‖x₁‖, eps)) · (x₂ / max(‖x₂‖, eps))`.
///
/// Shapes: `x1` and `x2` broadcast together; the output is their shape
/// without `dim`. As in PyTorch, the norms are floored at `eps` for the value
/// only: the gradient passes the floor, and a zero vector gets the gradient
/// of its direct term alone. Gradients flow to both. Errors if `eps` is NaN.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![1.0f64, 0.0, 1.0, 1.0], &[2, 2])?;
/// let b = Tensor::from_vec(vec![0.0f64, 2.0, 2.0, 2.0], &[2, 2])?;
/// let c = F::cosine_similarity(&a, &b, 1, 1e-8)?.to_vec::<f64>()?;
/// assert!(c[0].abs() < 1e-12 && (c[1] - 1.0).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn cosine_similarity(x1: &Tensor, x2: &Tensor, dim: isize, eps: f64) -> Result<Tensor> {
    const OP: &str = "cosine_similarity";
    x1.require_float(OP, "x1")?;
    x1.require_same_dtype(x2, OP, "x2")?;
    if eps.is_nan() {
        return Err(Error::value(OP, "eps = NaN must be a number"));
    }
    let shape = broadcast_shapes(OP, x1.shape(), x2.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!("x1 of shape {:?} and x2 of shape {:?} do not broadcast together", x1.shape(), x2.shape()),
        )
    })?;
    if shape.is_empty() {
        return Err(Error::shape(OP, "x1 and x2 are 0-d; expected vectors along dim"));
    }
    let dim = normalize_dim(OP, dim, shape.len())?;
    let (a, b) = (rows_along(x1, &shape, dim)?, rows_along(x2, &shape, dim)?);
    let d = shape[dim];
    let mut out_shape = shape.to_vec();
    out_shape.remove(dim);
    let rows: usize = out_shape.iter().product();
    let (storage, stats) = float_op!(OP, "x1", a, |xa| {
        let xb = b.data::<T>(OP, "x2")?;
        let stats = row_pass(xa, &xb, rows, d, |_, s| s, &mut [], &mut []);
        let e = T::from_f64(eps);
        let floor = |v: T| if v < e { e } else { v };
        let vals: Vec<T> = stats.iter().map(|&[dot, s1, s2]| dot / (floor(s1.sqrt()) * floor(s2.sqrt()))).collect();
        let flat: Vec<T> = stats.into_iter().flatten().collect();
        (T::wrap(vals), Tensor::from_storage(T::wrap(flat), &[rows, 3]))
    });
    let tracked = is_grad_enabled() && (a.tracks_grad() || b.tracks_grad());
    let stats = if tracked { stats } else { Tensor::zeros(&[0], a.dtype()) };
    Ok(Tensor::from_op(storage, &out_shape, CosineSimilarityBackward { rows, d, eps, stats }, &[&a, &b]))
}

/// [`cosine_similarity`] from differentiable tensor ops, the same formula
/// (the norms' floors added as detached constants, so the gradient passes
/// them): what a second-order gradient differentiates.
pub(crate) fn cosine_similarity_composite(x1: &Tensor, x2: &Tensor, dim: isize, eps: f64) -> Result<Tensor> {
    let floored = |x: &Tensor| -> Result<Tensor> {
        let n = x.mul(x)?.sum(dim, true)?.sqrt();
        let lift = n.detach().clamp(Some(eps), None)?.sub(&n.detach())?;
        n.add(&lift)
    };
    x1.div(&floored(x1)?)?.mul(&x2.div(&floored(x2)?)?)?.sum(dim, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn cosine_similarity_composite_equals_fused() {
        let rng = &mut rand::rng();
        let a = Tensor::randn(&[3, 4], DType::F64, rng);
        let b = Tensor::randn(&[3, 4], DType::F64, rng);
        for dim in [0isize, 1] {
            super::super::loss::assert_same(
                &[&a, &b],
                |t| cosine_similarity(t[0], t[1], dim, 1e-8),
                |t| cosine_similarity_composite(t[0], t[1], dim, 1e-8),
            );
        }
        // 3-D: the rows of an inner or leading dim come out in the output's order
        let a = Tensor::randn(&[2, 3, 4], DType::F64, rng);
        let b = Tensor::randn(&[2, 3, 4], DType::F64, rng);
        for dim in [0isize, 1, 2] {
            super::super::loss::assert_same(
                &[&a, &b],
                |t| cosine_similarity(t[0], t[1], dim, 1e-8),
                |t| cosine_similarity_composite(t[0], t[1], dim, 1e-8),
            );
        }
    }
}
