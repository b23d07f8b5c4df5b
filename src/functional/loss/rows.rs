//! What the row-wise losses of this crate's second set share: a loss made
//! sample by sample whose forward also writes each sample's derivative, the
//! backward node that scales it, and the reduction of a composite loss.

use crate::autograd::{Backward, composite_backward};
use crate::tensor::Tensor;
use crate::tensor::ops::float_op2;
use crate::{Error, Reduction, Result};

/// The backward of a loss whose forward wrote `d[i]`, the derivative of the
/// loss in its input `i` (that input's shape, `rows` samples of equal size;
/// `None` where the input gets no gradient): for a reduced loss the
/// derivative of the reduced value (so for the usual upstream gradient of 1
/// the backward hands `d` over without a pass), for `None` each sample's
/// own, scaled row by row by its upstream gradient. Differentiated again,
/// it differentiates `composite`, the loss from recorded ops with the
/// node's options, at the node's inputs.
pub(crate) struct RowGradBackward {
    pub name: &'static str,
    pub op: &'static str,
    pub d: Vec<Option<Tensor>>,
    pub rows: usize,
    pub reduction: Reduction,
    pub composite: Composite,
}

/// A loss from recorded (differentiable) ops at the node's inputs, with the
/// options of the fused call.
pub(crate) type Composite = Box<dyn Fn(&[Tensor]) -> Result<Tensor> + Send + Sync>;

/// The factor a reduced loss's derivative carries: `1 / rows` for `Mean`.
pub(crate) fn reduction_scale(reduction: Reduction, rows: usize) -> f64 {
    if reduction == Reduction::Mean { 1.0 / rows as f64 } else { 1.0 }
}

impl RowGradBackward {
    /// The gradient of one input from its kept derivative `d`.
    fn scaled(&self, d: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let reduced = self.reduction != Reduction::None;
        Ok(float_op2!(self.op, d, grad, "grad", |ds, g| {
            if reduced && g.len() == 1 && g[0] == T::one() {
                d.clone()
            } else {
                let width = ds.len().checked_div(self.rows).unwrap_or(0);
                let mut out = crate::cpu::alloc::scratch::<T>(ds.len());
                if width > 0 {
                    for (r, (o, dr)) in out.chunks_exact_mut(width).zip(ds.chunks_exact(width)).enumerate() {
                        let s = if reduced { g[0] } else { g[r] };
                        o.iter_mut().zip(dr).for_each(|(o, &v)| *o = s * v);
                    }
                }
                Tensor::from_storage(T::wrap(out), d.shape())
            }
        }))
    }
}

impl Backward for RowGradBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut grads: Vec<Option<Tensor>> =
            self.d.iter().map(|d| d.as_ref().map(|d| self.scaled(d, grad)).transpose()).collect::<Result<_>>()?;
        grads.resize(inputs.len(), None);
        Ok(grads)
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| (self.composite)(xs))
    }
}

/// Reduces per-sample losses built from tensor ops: as they are, their mean,
/// or their sum.
pub(crate) fn reduce(op: &'static str, loss: Tensor, reduction: Reduction) -> Result<Tensor> {
    #[allow(unreachable_patterns)] // a reduction this loss does not define
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Mean => Ok(loss.mean_all()),
        Reduction::Sum => Ok(loss.sum_all()),
        other => Err(Error::value(op, format!("reduction = {other:?} is not defined for {op}"))),
    }
}

/// Checks a reduction this loss accepts (all but the ones defined for one
/// loss only).
pub(crate) fn check_reduction(op: &'static str, reduction: Reduction) -> Result<()> {
    #[allow(unreachable_patterns)] // a reduction this loss does not define
    match reduction {
        Reduction::None | Reduction::Mean | Reduction::Sum => Ok(()),
        other => Err(Error::value(op, format!("reduction = {other:?} is not defined for {op}"))),
    }
}

/// Reduces per-sample losses computed in a kernel (mean: the sum over `rows`).
pub(crate) fn reduce_values<T: crate::tensor::Float>(losses: &[T], reduction: Reduction) -> Vec<T> {
    if reduction == Reduction::None {
        return losses.to_vec();
    }
    let s = crate::cpu::sum::pairwise_sum(losses);
    if reduction == Reduction::Mean { vec![s / T::from_f64(losses.len() as f64)] } else { vec![s] }
}

/// Test helper: the value and the gradients (of `Σ out ⊙ v` for a fixed
/// `v`) of `f` at `inputs` (F64 leaves), to compare two formulas.
#[cfg(test)]
pub(crate) fn value_and_grads(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let leaves: Vec<Tensor> = inputs.iter().map(|t| t.detach().requires_grad()).collect();
    let out = f(&leaves).unwrap();
    let v: Vec<f64> = (0..out.numel()).map(|i| 0.5 + 0.25 * i as f64).collect();
    out.backward_with(&Tensor::from_vec(v, out.shape()).unwrap()).unwrap();
    let grads = leaves.iter().map(|l| l.grad().map_or(vec![], |g| g.to_vec::<f64>().unwrap())).collect();
    (out.to_vec::<f64>().unwrap(), grads)
}

/// Test helper: `a` and `b` agree within `1e-12` relative.
#[cfg(test)]
pub(crate) fn assert_near(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12 * (1.0 + x.abs().max(y.abs())), "{what}[{i}]: {x} vs {y}");
    }
}
