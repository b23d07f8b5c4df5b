//! One op for every elementwise loss: a value `f(x, t)` with its partial
//! derivatives (dfdx style), an optional `weight` multiplying each element,
//! an optional positive-class weight `p` (BCE-with-logits), and the reduction.
//! The reduction is fused into the op, so the graph holds one node per loss.

use crate::autograd::Backward;
use crate::functional::Reduction;
use crate::tensor::ops::float_op;
use crate::tensor::shape::{broadcast_shapes, pairwise_sum, reduce_to};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Error, Result};

/// An elementwise loss: the value and its derivatives in the input `x` and the target `t`.
/// `p` is the positive-class weight (1 for every loss but BCE-with-logits).
pub(crate) trait Pointwise: Copy + Send + Sync + 'static {
    /// The functional's name, for errors.
    const OP: &'static str;
    /// PyTorch's grad_fn name.
    const BACKWARD: &'static str;
    fn f<T: Float>(self, x: T, t: T, p: T) -> T;
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T;
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T;
}

/// What `mean` divides by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MeanOver {
    /// the number of elements
    Numel,
    /// the sum of the weights, when a weight is given (mse and l1 in PyTorch 2.15)
    WeightSum,
}

/// How the target's shape must relate to the input's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TargetShape {
    /// equal shapes (BCE, BCE-with-logits)
    Same,
    /// broadcastable shapes (the regression losses)
    Broadcast,
}

/// The arguments of an elementwise loss.
pub(crate) struct Args<'a> {
    pub input: &'a Tensor,
    pub target: &'a Tensor,
    pub weight: Option<&'a Tensor>,
    pub pos_weight: Option<&'a Tensor>,
    pub reduction: Reduction,
    pub mean_over: MeanOver,
    pub target_shape: TargetShape,
}

struct PointwiseBackward<L: Pointwise> {
    loss: L,
    reduction: Reduction,
    /// what `mean` divided by
    denom: f64,
    x: Tensor,
    t: Tensor,
    w: Option<Tensor>,
    p: Option<Tensor>,
}

fn broadcast_arg(
    op: &'static str,
    name: &str,
    a: &Tensor,
    input: &Tensor,
    out: &[usize],
) -> Result<Tensor> {
    input.require_same_dtype(a, op, name)?;
    let s = broadcast_shapes(op, a.shape(), out).map_err(|_| {
        Error::shape(
            op,
            format!(
                "{name} of shape {:?} cannot be broadcast to the loss shape {out:?}",
                a.shape()
            ),
        )
    })?;
    if s.as_slice() != out {
        return Err(Error::shape(
            op,
            format!(
                "{name} of shape {:?} cannot be broadcast to the loss shape {out:?}",
                a.shape()
            ),
        ));
    }
    a.detach().broadcast_to(out)
}

/// Computes an elementwise loss with its reduction, recording one node.
pub(crate) fn pointwise_loss<L: Pointwise>(loss: L, a: Args<'_>) -> Result<Tensor> {
    let op = L::OP;
    a.input.require_float(op, "input")?;
    a.target.require_float(op, "target")?;
    a.input.require_same_dtype(a.target, op, "target")?;
    let out: Shape = match a.target_shape {
        TargetShape::Same if a.input.shape() != a.target.shape() => {
            return Err(Error::shape(
                op,
                format!(
                    "target has shape {:?} but input has shape {:?}; they must be equal",
                    a.target.shape(),
                    a.input.shape()
                ),
            ));
        }
        TargetShape::Same => a.input.0.shape.clone(),
        TargetShape::Broadcast => broadcast_shapes(op, a.input.shape(), a.target.shape()).map_err(|_| {
            Error::shape(
                op,
                format!(
                    "target of shape {:?} does not match (nor broadcast with) input of shape {:?}",
                    a.target.shape(),
                    a.input.shape()
                ),
            )
        })?,
    };
    let x = a.input.detach().broadcast_to(&out)?;
    let t = a.target.detach().broadcast_to(&out)?;
    let w = a
        .weight
        .map(|w| broadcast_arg(op, "weight", w, a.input, &out))
        .transpose()?;
    let p = a
        .pos_weight
        .map(|p| broadcast_arg(op, "pos_weight", p, a.input, &out))
        .transpose()?;
    let (storage, denom) = float_op!(op, "input", x, |xs| {
        let ts = t.data::<T>(op, "target")?;
        let ts: &[T] = &ts;
        let ws = w.as_ref().map(|w| w.data::<T>(op, "weight")).transpose()?;
        let ws = ws.as_deref();
        let ps = p
            .as_ref()
            .map(|p| p.data::<T>(op, "pos_weight"))
            .transpose()?;
        let ps = ps.as_deref();
        let one = T::one();
        let vals: Vec<T> = (0..xs.len())
            .map(|k| {
                let v = loss.f(xs[k], ts[k], ps.map_or(one, |p| p[k]));
                ws.map_or(v, |w| w[k] * v)
            })
            .collect();
        let denom = match (a.mean_over, ws) {
            (MeanOver::WeightSum, Some(w)) => pairwise_sum(w),
            _ => T::from_f64(xs.len() as f64),
        };
        let storage = match a.reduction {
            Reduction::None => T::wrap(vals),
            Reduction::Sum => T::wrap(vec![pairwise_sum(&vals)]),
            Reduction::Mean => T::wrap(vec![pairwise_sum(&vals) / denom]),
        };
        (storage, denom.to_f64())
    });
    let shape: &[usize] = if a.reduction == Reduction::None {
        &out
    } else {
        &[]
    };
    let node = PointwiseBackward {
        loss,
        reduction: a.reduction,
        denom,
        x,
        t,
        w,
        p,
    };
    Ok(Tensor::from_op(storage, shape, node, &[a.input, a.target]))
}

impl<L: Pointwise> Backward for PointwiseBackward<L> {
    fn name(&self) -> &'static str {
        L::BACKWARD
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (input, target) = (&inputs[0], &inputs[1]);
        let out = self.x.shape();
        let loss = self.loss;
        let (gx, gt) = float_op!(L::OP, "grad", grad, |g| {
            let xs = self.x.data::<T>(L::OP, "input")?;
            let xs: &[T] = &xs;
            let ts = self.t.data::<T>(L::OP, "target")?;
            let ts: &[T] = &ts;
            let ws = self
                .w
                .as_ref()
                .map(|w| w.data::<T>(L::OP, "weight"))
                .transpose()?;
            let ws = ws.as_deref();
            let ps = self
                .p
                .as_ref()
                .map(|p| p.data::<T>(L::OP, "pos_weight"))
                .transpose()?;
            let ps = ps.as_deref();
            let scale = |k: usize| -> T {
                let s = match self.reduction {
                    Reduction::None => g[k],
                    Reduction::Sum => g[0],
                    Reduction::Mean => g[0] / T::from_f64(self.denom),
                };
                ws.map_or(s, |w| s * w[k])
            };
            let one = T::one();
            let grad_of = |d: &dyn Fn(T, T, T) -> T, to: &Tensor| -> Tensor {
                let full: Vec<T> = (0..xs.len())
                    .map(|k| scale(k) * d(xs[k], ts[k], ps.map_or(one, |p| p[k])))
                    .collect();
                Tensor::from_storage(T::wrap(reduce_to(&full, out, to.shape())), to.shape())
            };
            (
                input
                    .tracks_grad()
                    .then(|| grad_of(&|x, t, p| loss.dfdx(x, t, p), input)),
                target
                    .tracks_grad()
                    .then(|| grad_of(&|x, t, p| loss.dfdt(x, t, p), target)),
            )
        });
        Ok(vec![gx, gt])
    }
}
