//! Multi-label hinge loss: `F.multilabel_margin_loss`.
//!
//! Fused: one pass over each row makes the loss and, when the input tracks
//! gradients, its derivative; the backward only scales it (see `rows`).

use super::rows::{RowGradBackward, check_reduction, reduce, reduce_values, reduction_scale};
use crate::autograd::is_grad_enabled;
use crate::cpu::par::chunks3;
use crate::tensor::ops::float_op;
use crate::tensor::{DType, Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

const OP: &str = "multilabel_margin_loss";
/// Elements per parallel chunk (whole rows).
const CHUNK: usize = 1 << 14;

/// Options of [`multilabel_margin_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, Default)]
pub struct MultilabelMarginOptions {
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

/// `n` samples of `c` classes, and the unreduced output's shape.
fn check(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<(usize, usize, Shape)> {
    input.require_float(OP, "input")?;
    check_reduction(OP, reduction)?;
    let (n, c, out): (usize, usize, Shape) = match input.shape() {
        [c] => (1, *c, Shape::new()),
        [n, c] => (*n, *c, Shape::from_slice(&[*n])),
        s => return Err(Error::shape(OP, format!("input has shape {s:?}; expected (C,) or (N, C)"))),
    };
    if c == 0 {
        return Err(Error::shape(OP, format!("input has shape {:?}: the class dim is empty", input.shape())));
    }
    if target.dtype() != DType::I64 {
        return Err(Error::dtype(OP, format!("target has dtype {}; expected I64 class indices", target.dtype())));
    }
    if target.shape() != input.shape() {
        return Err(Error::shape(
            OP,
            format!("target has shape {:?}; expected the input's shape {:?}", target.shape(), input.shape()),
        ));
    }
    let t = target.data::<i64>(OP, "target")?;
    if let Some((j, &v)) = t.iter().enumerate().find(|&(_, &v)| v < -1 || v >= c as i64) {
        return Err(Error::index(
            OP,
            format!("target[{j}] = {v} is out of range: expected a class in [0, {c}) or -1 (end of the labels)"),
        ));
    }
    Ok((n, c, out))
}

/// The labels of one row: its target values before the first −1.
fn labels(t: &[i64]) -> impl Iterator<Item = usize> + '_ {
    t.iter().take_while(|&&v| v >= 0).map(|&v| v as usize)
}

/// One row: `Σ_{j ∈ labels} Σ_{i ∉ labels} max(0, 1 − x_j + x_i) / C`, and
/// (if `d` is not empty) its derivative in the row times `scale`. `is_label`
/// is scratch.
fn row<T: Float>(x: &[T], t: &[i64], is_label: &mut [bool], scale: T, d: &mut [T]) -> T {
    let c = T::from_f64(x.len() as f64);
    is_label.iter_mut().for_each(|b| *b = false);
    labels(t).for_each(|j| is_label[j] = true);
    d.iter_mut().for_each(|v| *v = T::zero());
    let g = T::one() / c * scale;
    let mut sum = T::zero();
    for j in labels(t) {
        let base = T::one() - x[j];
        for (i, &xi) in x.iter().enumerate() {
            let z = base + xi;
            if !is_label[i] && z > T::zero() {
                sum += z;
                if !d.is_empty() {
                    d[j] -= g;
                    d[i] += g;
                }
            }
        }
    }
    sum / c
}

/// Multi-label margin (hinge) loss (`F.multilabel_margin_loss`,
/// `nn.MultiLabelMarginLoss`): each row of `y` lists the sample's labels,
/// ended by the first −1 (the rest is ignored), and
/// `ℓ_n = Σ_{j ∈ labels} Σ_{i ∉ labels} max(0, 1 − x[n, j] + x[n, i]) / C`;
/// `mean` averages over the samples.
///
/// Shapes: input `(N, C)` or `(C,)`, target the same shape (I64, values in
/// `[-1, C)`); the unreduced loss is `(N,)` (or `()`).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.1f32, 0.2, 0.4, 0.8], &[1, 4])?;
/// let y = Tensor::from_vec(vec![3i64, 0, -1, 1], &[1, 4])?;
/// let loss = F::multilabel_margin_loss(&x, &y, &F::MultilabelMarginOptions::default())?;
/// // labels 3 and 0 against classes 1 and 2
/// let expected = ((1.0 - 0.8 + 0.2) + (1.0 - 0.8 + 0.4) + (1.0 - 0.1 + 0.2) + (1.0 - 0.1 + 0.4)) / 4.0;
/// assert!((loss.item::<f32>()? - expected).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn multilabel_margin_loss(input: &Tensor, target: &Tensor, opts: &MultilabelMarginOptions) -> Result<Tensor> {
    let (n, c, out) = check(input, target, opts.reduction)?;
    let t = target.data::<i64>(OP, "target")?;
    let t: &[i64] = &t;
    let want_grad = is_grad_enabled() && input.tracks_grad();
    let (values, d) = float_op!(OP, "input", input, |xs| {
        let mut d = crate::cpu::alloc::scratch::<T>(if want_grad { xs.len() } else { 0 });
        // a reduced loss's derivative carries the reduction (see `rows`)
        let scale = T::from_f64(reduction_scale(opts.reduction, n));
        let chunk = (CHUNK / c).max(1) * c;
        let parts = chunks3(xs.len(), chunk, &mut d, &mut [], &mut [], |r, d, _, _| {
            let mut is_label = vec![false; c];
            let rows = r.start / c..r.end / c;
            rows.clone()
                .map(|j| {
                    let dj =
                        if d.is_empty() { &mut [][..] } else { &mut d[(j - rows.start) * c..(j - rows.start + 1) * c] };
                    row(&xs[j * c..(j + 1) * c], &t[j * c..(j + 1) * c], &mut is_label, scale, dj)
                })
                .collect::<Vec<T>>()
        });
        let losses: Vec<T> = parts.concat();
        let d = want_grad.then(|| Tensor::from_storage(T::wrap(d), input.shape()));
        (T::wrap(reduce_values(&losses, opts.reduction)), d)
    });
    let shape: &[usize] = if opts.reduction == Reduction::None { &out } else { &[] };
    Ok(match d {
        Some(d) => {
            let node = RowGradBackward {
                name: "MultilabelMarginLossBackward0",
                op: OP,
                d: vec![Some(d)],
                rows: n,
                reduction: opts.reduction,
                composite: {
                    let opts = opts.clone();
                    Box::new(move |xs| multilabel_margin_composite(&xs[0], &xs[1], &opts))
                },
            };
            Tensor::from_op(values, shape, node, &[input, target])
        }
        None => Tensor::from_storage(values, shape),
    })
}

/// [`multilabel_margin_loss`] from differentiable tensor ops (gathers of the
/// label and non-label scores of every pair, relu, sums): the same value and
/// gradient, and the formula the engine differentiates for gradients of
/// gradients.
pub(crate) fn multilabel_margin_composite(
    input: &Tensor,
    target: &Tensor,
    opts: &MultilabelMarginOptions,
) -> Result<Tensor> {
    let (n, c, _) = check(input, target, opts.reduction)?;
    let ts = target.to_vec::<i64>()?;
    // every (label, non-label) pair of a row; the unused slots masked out
    let pairs = c * c;
    let (mut lab, mut other, mut mask) = (vec![0i64; n * pairs], vec![0i64; n * pairs], vec![0.0f64; n * pairs]);
    for r in 0..n {
        let t = &ts[r * c..(r + 1) * c];
        let is_label: Vec<bool> = (0..c).map(|i| labels(t).any(|j| j == i)).collect();
        for (k, j) in labels(t).enumerate() {
            for i in (0..c).filter(|&i| !is_label[i]) {
                let s = r * pairs + k * c + i;
                (lab[s], other[s], mask[s]) = (j as i64, i as i64, 1.0);
            }
        }
    }
    let x = input.reshape(&[n as isize, c as isize])?;
    let xj = x.gather(1, &Tensor::from_vec(lab, &[n, pairs])?)?;
    let xi = x.gather(1, &Tensor::from_vec(other, &[n, pairs])?)?;
    let z = xi.sub(&xj)?.add_scalar(1.0)?.relu();
    let z = z.mul(&Tensor::from_vec(mask, &[n, pairs])?.to_dtype(input.dtype())?)?;
    let loss = z.sum(1, false)?.div_scalar(c as f64)?;
    let loss = if input.ndim() == 1 { loss.reshape(&[0usize; 0])? } else { loss };
    reduce(OP, loss, opts.reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functional::loss::rows::{assert_near, value_and_grads};
    use rand::SeedableRng;

    #[test]
    fn the_fused_loss_equals_its_composite() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let x = Tensor::randn(&[4, 5], DType::F64, &mut rng);
        let t =
            Tensor::from_vec(vec![3i64, 0, -1, 1, 2, 1, 2, 3, 4, 0, -1, 0, 0, 0, 0, 4, -1, 2, 2, 2], &[4, 5]).unwrap();
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let o = MultilabelMarginOptions { reduction };
            let fused = value_and_grads(|v| multilabel_margin_loss(&v[0], &t, &o), std::slice::from_ref(&x));
            let comp = value_and_grads(|v| multilabel_margin_composite(&v[0], &t, &o), std::slice::from_ref(&x));
            assert_near("value", &fused.0, &comp.0);
            assert_near("grad", &fused.1[0], &comp.1[0]);
        }
    }
}
