//! Cosine embedding loss: `F.cosine_embedding_loss`.

use super::pointwise::target_fits;
use crate::autograd::{Backward, composite_backward, is_grad_enabled};
use crate::kernels::row_pairs::row_pass;
use crate::tensor::ops::float_op;
use crate::tensor::{DType, Float, Tensor};
use crate::{Error, Reduction, Result};
use std::sync::Mutex;

/// Options of [`cosine_embedding_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct CosineEmbeddingOptions {
    /// The cosine above which a dissimilar pair is penalised (default 0.0).
    pub margin: f64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

/// PyTorch's `EPSILON` added to each squared norm.
const EPSILON: f64 = 1e-12;

/// The loss of one row and its derivative in the cosine, for label `y`.
#[inline]
fn row_loss<T: Float>(cos: T, y: f64, margin: T) -> (T, T) {
    let zero = T::zero();
    if y == 1.0 {
        (T::one() - cos, -T::one())
    } else if y == -1.0 {
        // max(0, cos − margin), the gradient passing at 0 (PyTorch's clamp_min); NaN stays
        let v = cos - margin;
        if v >= zero {
            (v, T::one())
        } else if v < zero {
            (zero, zero)
        } else {
            (v, zero)
        }
    } else {
        (zero, zero)
    }
}

/// `cos = a·b / √((‖a‖² + ε)(‖b‖² + ε))` and `[1/D, −cos/m₁, −cos/m₂]`, the
/// coefficients of `∂cos/∂a = b/D − cos·a/m₁` (and symmetric in `b`).
#[inline]
fn cosine<T: Float>([dot, s1, s2]: [T; 3]) -> (T, [T; 3]) {
    let e = T::from_f64(EPSILON);
    let (m1, m2) = (s1 + e, s2 + e);
    let den = (m1 * m2).sqrt();
    let cos = dot / den;
    (cos, [T::one() / den, -cos / m1, -cos / m2])
}

struct CosineEmbeddingBackward {
    rows: usize,
    d: usize,
    reduction: Reduction,
    margin: f64,
    /// the targets as f64, one per row
    labels: Vec<f64>,
    /// the inputs' gradients for an upstream gradient of 1 (reduced losses),
    /// made in the forward while the rows were in cache; taken by the first backward
    kept: Mutex<Option<[Option<Tensor>; 2]>>,
}

impl Backward for CosineEmbeddingBackward {
    fn name(&self) -> &'static str {
        "CosineEmbeddingLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "cosine_embedding_loss";
        let (a, b) = (&inputs[0], &inputs[1]);
        let one = grad.numel() == 1 && grad.to_dtype(DType::F64)?.item::<f64>()? == 1.0;
        if self.reduction != Reduction::None && one {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some([ga, gb]) = kept {
                return Ok(vec![ga, gb, None]);
            }
        }
        let (need_a, need_b) = (a.tracks_grad(), b.tracks_grad());
        let (ga, gb) = float_op!(OP, "input1", a, |xa| {
            let xb = b.data::<T>(OP, "input2")?;
            let g = grad.data::<T>(OP, "grad")?;
            let scale = reduce_scale::<T>(self.reduction, self.rows);
            let margin = T::from_f64(self.margin);
            let coef = |r: usize, st: [T; 3]| {
                let (cos, [p, q, s]) = cosine(st);
                let gr = if self.reduction == Reduction::None { g[r] } else { g[0] * scale };
                let c = gr * row_loss(cos, self.labels[r], margin).1;
                [c * p, c * q, c * s]
            };
            let (rows, d) = (self.rows, self.d);
            let mut da = crate::cpu::alloc::scratch::<T>(if need_a { rows * d } else { 0 });
            let mut db = crate::cpu::alloc::scratch::<T>(if need_b { rows * d } else { 0 });
            row_pass(xa, &xb, rows, d, coef, &mut da, &mut db);
            let keep = |v: Vec<T>, want: bool, t: &Tensor| want.then(|| Tensor::from_storage(T::wrap(v), t.shape()));
            (keep(da, need_a, a), keep(db, need_b, b))
        });
        Ok(vec![ga, gb, None])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let opts = CosineEmbeddingOptions { margin: self.margin, reduction: self.reduction };
        composite_backward(inputs, grad, needs, |xs| cosine_embedding_loss_composite(&xs[0], &xs[1], &xs[2], &opts))
    }
}

/// What a reduced loss's gradient is scaled by: `1/N` for `mean`, else 1.
fn reduce_scale<T: Float>(reduction: Reduction, rows: usize) -> T {
    if reduction == Reduction::Mean { T::one() / T::from_f64(rows as f64) } else { T::one() }
}

/// The cosine embedding loss of pairs `(x₁, x₂)` labelled similar (`y = 1`)
/// or dissimilar (`y = −1`) (`F.cosine_embedding_loss`, `nn.CosineEmbeddingLoss`):
/// `ℓ = 1 − cos(x₁, x₂)` for `y = 1`, `max(0, cos(x₁, x₂) − margin)` for
/// `y = −1`, 0 for any other label, with
/// `cos = x₁·x₂ / √((‖x₁‖² + 1e-12)(‖x₂‖² + 1e-12))` as PyTorch computes it.
///
/// Shapes: `input1`, `input2` `(N, D)` with `target (N,)`, or `(D,)` with a 0-d
/// target; the inputs broadcast together. The output is `(N,)` (or `()`) for
/// `None`, `()` reduced. Gradients flow to both inputs (the target selects a
/// branch). Errors if `margin` is NaN.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 0.0], &[2, 2])?;
/// let b = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[2, 2])?;
/// let y = Tensor::from_vec(vec![1.0f32, -1.0], &[2])?;
/// let l = F::cosine_embedding_loss(&a, &b, &y, &F::CosineEmbeddingOptions::default())?;
/// // an orthogonal similar pair costs 1, an identical dissimilar pair 1
/// assert!((l.item::<f32>()? - 1.0).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn cosine_embedding_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    opts: &CosineEmbeddingOptions,
) -> Result<Tensor> {
    const OP: &str = "cosine_embedding_loss";
    opts.reduction.reject_batchmean(OP)?;
    if opts.margin.is_nan() {
        return Err(Error::value(OP, "margin = NaN must be a number"));
    }
    input1.require_float(OP, "input1")?;
    input1.require_same_dtype(input2, OP, "input2")?;
    let want = match target.ndim() {
        1 => 2,
        0 => 1,
        n => {
            return Err(Error::shape(
                OP,
                format!(
                    "target has {n} dims {:?}; expected (N,) with (N, D) inputs, or 0-d with (D,) inputs",
                    target.shape()
                ),
            ));
        }
    };
    if input1.ndim() != want || input2.ndim() != want {
        return Err(Error::shape(
            OP,
            format!(
                "a {}-d target expects {want}-d inputs, but input1 has shape {:?} and input2 {:?}",
                target.ndim(),
                input1.shape(),
                input2.shape()
            ),
        ));
    }
    let shape = crate::tensor::shape::broadcast_shapes(OP, input1.shape(), input2.shape()).map_err(|_| {
        Error::shape(
            OP,
            format!(
                "input1 of shape {:?} and input2 of shape {:?} do not broadcast together",
                input1.shape(),
                input2.shape()
            ),
        )
    })?;
    let out_shape: Vec<usize> = shape[..shape.len() - 1].to_vec();
    target_fits(OP, &out_shape, target.shape())?;
    let full = |x: &Tensor| -> Result<Tensor> {
        Ok(if x.shape() == shape.as_slice() { x.contiguous() } else { x.broadcast_to(&shape)?.contiguous() })
    };
    let (a, b) = (full(input1)?, full(input2)?);
    let (rows, d) = (out_shape.iter().product::<usize>(), shape[shape.len() - 1]);
    let labels: Vec<f64> = target.to_dtype(DType::F64)?.broadcast_to(&out_shape)?.contiguous().to_vec()?;
    let reduction = opts.reduction;
    let (need_a, need_b) = (is_grad_enabled() && a.tracks_grad(), is_grad_enabled() && b.tracks_grad());
    let eager = reduction != Reduction::None;
    let (storage, kept) = float_op!(OP, "input1", a, |xa| {
        let xb = b.data::<T>(OP, "input2")?;
        let margin = T::from_f64(opts.margin);
        let scale = reduce_scale::<T>(reduction, rows);
        let coef = |r: usize, st: [T; 3]| {
            let (cos, [p, q, s]) = cosine(st);
            let c = scale * row_loss(cos, labels[r], margin).1;
            [c * p, c * q, c * s]
        };
        let mut da = crate::cpu::alloc::scratch::<T>(if eager && need_a { rows * d } else { 0 });
        let mut db = crate::cpu::alloc::scratch::<T>(if eager && need_b { rows * d } else { 0 });
        let stats = row_pass(xa, &xb, rows, d, coef, &mut da, &mut db);
        let losses: Vec<T> = stats.iter().zip(&labels).map(|(&st, &y)| row_loss(cosine(st).0, y, margin).0).collect();
        let storage = match reduction {
            Reduction::None => T::wrap(losses),
            _ => {
                let total = crate::cpu::sum::pairwise_sum(&losses);
                T::wrap(vec![if reduction == Reduction::Mean { total / T::from_f64(rows as f64) } else { total }])
            }
        };
        let keep = |v: Vec<T>, want: bool| (eager && want).then(|| Tensor::from_storage(T::wrap(v), &shape));
        (storage, [keep(da, need_a), keep(db, need_b)])
    });
    let kept = (eager && (need_a || need_b)).then_some(kept);
    let node = CosineEmbeddingBackward { rows, d, reduction, margin: opts.margin, labels, kept: Mutex::new(kept) };
    let out: &[usize] = if reduction == Reduction::None { &out_shape } else { &[] };
    Ok(Tensor::from_op(storage, out, node, &[&a, &b, target]))
}

/// [`cosine_embedding_loss`] from differentiable tensor ops, the same
/// formula: what a second-order gradient differentiates.
pub(crate) fn cosine_embedding_loss_composite(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    opts: &CosineEmbeddingOptions,
) -> Result<Tensor> {
    let dim = input1.ndim() as isize - 1;
    let dot = input1.mul(input2)?.sum(dim, false)?;
    let m1 = input1.mul(input1)?.sum(dim, false)?.add_scalar(EPSILON)?;
    let m2 = input2.mul(input2)?.sum(dim, false)?.add_scalar(EPSILON)?;
    let cos = dot.div(&m1.mul(&m2)?.sqrt())?;
    let t = target.detach();
    let zeros = cos.full_like(0.0);
    let is_pos = Tensor::where_cond(&t.sub_scalar(1.0)?, &zeros, &zeros.add_scalar(1.0)?)?;
    let is_neg = Tensor::where_cond(&t.add_scalar(1.0)?, &zeros, &zeros.add_scalar(1.0)?)?;
    let pos = Tensor::where_cond(&is_pos, &cos.neg().add_scalar(1.0)?, &zeros)?;
    let neg = Tensor::where_cond(&is_neg, &cos.sub_scalar(opts.margin)?.clamp(Some(0.0), None)?, &zeros)?;
    super::composite::reduce(&pos.add(&neg)?, opts.reduction, "cosine_embedding_loss")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_equals_fused() {
        let rng = &mut rand::rng();
        let a = Tensor::randn(&[5, 6], DType::F64, rng);
        let b = Tensor::randn(&[5, 6], DType::F64, rng);
        let y = Tensor::from_vec(vec![1.0f64, -1.0, -1.0, 1.0, 0.5], &[5]).unwrap();
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let opts = CosineEmbeddingOptions { margin: -0.2, reduction };
            super::super::composite::assert_same(
                &[&a, &b, &y],
                |t| cosine_embedding_loss(t[0], t[1], t[2], &opts),
                |t| cosine_embedding_loss_composite(t[0], t[1], t[2], &opts),
            );
        }
    }
}
