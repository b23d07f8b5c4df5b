//! Multi-class hinge loss: `F.multi_margin_loss`.
//!
//! Fused: one pass over each row makes the loss and, when the input tracks
//! gradients, its derivative; the backward only scales it (see `rows`).
//! Rows run in parallel chunks for large inputs.

use super::rows::{RowGradBackward, check_reduction, reduce, reduce_values, reduction_scale};
use crate::autograd::is_grad_enabled;
use crate::cpu::par::chunks3;
use crate::cpu::simd::dispatch;
use crate::tensor::ops::float_op;
use crate::tensor::{DType, Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

const OP: &str = "multi_margin_loss";
/// Elements per parallel chunk (whole rows).
const CHUNK: usize = 1 << 15;

/// Options of [`multi_margin_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct MultiMarginOptions {
    /// The exponent of the hinge: 1 (default) or 2.
    pub p: i64,
    /// The margin (default 1.0).
    pub margin: f64,
    /// Per-class weight, a 1-D tensor of `C` elements (default none).
    pub weight: Option<Tensor>,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for MultiMarginOptions {
    fn default() -> Self {
        MultiMarginOptions { p: 1, margin: 1.0, weight: None, reduction: Reduction::Mean }
    }
}

/// The checked shapes: `n` samples of `c` classes, the unreduced output's shape.
struct Checked {
    n: usize,
    c: usize,
    out: Shape,
}

fn check(input: &Tensor, target: &Tensor, opts: &MultiMarginOptions) -> Result<Checked> {
    input.require_float(OP, "input")?;
    check_reduction(OP, opts.reduction)?;
    if opts.p != 1 && opts.p != 2 {
        return Err(Error::value(OP, format!("p = {}: only p = 1 and p = 2 are supported", opts.p)));
    }
    if !opts.margin.is_finite() {
        return Err(Error::value(OP, format!("margin = {}: expected a finite number", opts.margin)));
    }
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
    if target.ndim() > 1 || target.numel() != n {
        return Err(Error::shape(
            OP,
            format!("target has shape {:?}; expected ({n},) for input of shape {:?}", target.shape(), input.shape()),
        ));
    }
    if let Some(w) = &opts.weight {
        input.require_same_dtype(w, OP, "weight")?;
        if w.shape() != [c] {
            return Err(Error::shape(OP, format!("weight has shape {:?}; expected ({c},)", w.shape())));
        }
    }
    let t = target.data::<i64>(OP, "target")?;
    if let Some((j, &v)) = t.iter().enumerate().find(|&(_, &v)| v < 0 || v as usize >= c) {
        return Err(Error::index(OP, format!("target[{j}] = {v} is out of range for {c} classes")));
    }
    Ok(Checked { n, c, out })
}

dispatch! {
    /// One row: its loss `Σ_{i≠y} w_y·max(0, margin − x_y + x_i)ᵖ / C`, and (if
    /// `d` is not empty) its derivative in the row times `scale`. The classes
    /// before and after `y` run as two vectorised stretches, eight lanes each.
    fn row<T: Float>(x: &[T], y: usize, wy: T, margin: T, p2: bool, scale: T, d: &mut [T]) -> T {
        let c = T::from_f64(x.len() as f64);
        let base = margin - x[y];
        let zero = T::zero();
        // the derivative's factor: w_y/C (p = 1) or 2·w_y/C, times z (p = 2)
        let g = if p2 { T::from_f64(2.0) } else { T::one() } / c * wy * scale;
        let mut acc = [zero; 8];
        let mut gacc = [zero; 8];
        let want = !d.is_empty();
        for (lo, hi) in [(0, y), (y + 1, x.len())] {
            let xs = &x[lo..hi];
            let (xc, xr) = xs.as_chunks::<8>();
            for (k, x8) in xc.iter().enumerate() {
                let mut d8 = [zero; 8];
                for l in 0..8 {
                    let z = base + x8[l];
                    let pos = z > zero;
                    let h = if p2 { z * z } else { z };
                    acc[l] += if pos { h * wy } else { zero };
                    let gi = if p2 { g * z } else { g };
                    d8[l] = if pos { gi } else { zero };
                    gacc[l] += d8[l];
                }
                if want {
                    d[lo + 8 * k..lo + 8 * k + 8].copy_from_slice(&d8);
                }
            }
            let start = lo + 8 * xc.len();
            for (i, &xi) in xr.iter().enumerate() {
                let z = base + xi;
                let pos = z > zero;
                let h = if p2 { z * z } else { z };
                acc[i] += if pos { h * wy } else { zero };
                let gi = if pos { if p2 { g * z } else { g } } else { zero };
                gacc[i] += gi;
                if want {
                    d[start + i] = gi;
                }
            }
        }
        if want {
            d[y] = -gacc.iter().fold(zero, |a, &v| a + v);
        }
        acc.iter().fold(zero, |a, &v| a + v) / c
    }
}

/// Multi-class margin (hinge) loss between scores `x` and class indices `y`
/// (`F.multi_margin_loss`, `nn.MultiMarginLoss`):
/// `ℓ_n = Σ_{i ≠ y_n} w[y_n] · max(0, margin − x[n, y_n] + x[n, i])ᵖ / C`, with
/// `p` 1 or 2; `mean` averages over the samples.
///
/// Shapes: input `(N, C)` or `(C,)`, target `(N,)` or `()` (I64), weight
/// `(C,)`; the unreduced loss is `(N,)` (or `()`). Errors on `p` other than 1
/// or 2, a class index outside `[0, C)`, or mismatched shapes.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![0.1f32, 0.2, 0.4, 0.8], &[1, 4])?;
/// let y = Tensor::from_vec(vec![3i64], &[1])?;
/// let loss = F::multi_margin_loss(&x, &y, &F::MultiMarginOptions::default())?;
/// // (1 − 0.8 + 0.1) + (1 − 0.8 + 0.2) + (1 − 0.8 + 0.4), over 4 classes
/// assert!((loss.item::<f32>()? - 0.325).abs() < 1e-6);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn multi_margin_loss(input: &Tensor, target: &Tensor, opts: &MultiMarginOptions) -> Result<Tensor> {
    let Checked { n, c, out } = check(input, target, opts)?;
    let t = target.data::<i64>(OP, "target")?;
    let t: &[i64] = &t;
    let want_grad = is_grad_enabled() && input.tracks_grad();
    let p2 = opts.p == 2;
    let (values, d) = float_op!(OP, "input", input, |xs| {
        let w = opts.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
        let w = w.as_deref();
        let margin = T::from_f64(opts.margin);
        // a reduced loss's derivative carries the reduction (see `rows`)
        let scale = T::from_f64(reduction_scale(opts.reduction, n));
        let mut d = crate::cpu::alloc::scratch::<T>(if want_grad { xs.len() } else { 0 });
        let chunk = (CHUNK / c).max(1) * c;
        let parts = chunks3(xs.len(), chunk, &mut d, &mut [], &mut [], |r, d, _, _| {
            let rows = r.start / c..r.end / c;
            rows.clone()
                .map(|j| {
                    let y = t[j] as usize;
                    let wy = w.map_or(T::one(), |w| w[y]);
                    let dj =
                        if d.is_empty() { &mut [][..] } else { &mut d[(j - rows.start) * c..(j - rows.start + 1) * c] };
                    row(&xs[j * c..(j + 1) * c], y, wy, margin, p2, scale, dj)
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
                name: "MultiMarginLossBackward0",
                op: OP,
                d: vec![Some(d)],
                rows: n,
                reduction: opts.reduction,
                composite: {
                    let opts = opts.clone();
                    Box::new(move |xs| multi_margin_composite(&xs[0], &xs[1], &opts))
                },
            };
            Tensor::from_op(values, shape, node, &[input, target])
        }
        None => Tensor::from_storage(values, shape),
    })
}

/// [`multi_margin_loss`] from differentiable tensor ops (gather, relu,
/// products, sums): the same value and gradient, and the formula the
/// engine differentiates for gradients of gradients.
pub(crate) fn multi_margin_composite(input: &Tensor, target: &Tensor, opts: &MultiMarginOptions) -> Result<Tensor> {
    let Checked { n, c, .. } = check(input, target, opts)?;
    let x = input.reshape(&[n as isize, c as isize])?;
    let y = target.reshape(&[n as isize, 1])?;
    let xy = x.gather(1, &y)?;
    let z = x.sub(&xy)?.add_scalar(opts.margin)?.relu();
    let mut h = if opts.p == 2 { z.mul(&z)? } else { z };
    let ts = target.to_vec::<i64>()?;
    let mut mask = vec![1.0f64; n * c];
    for (j, &tj) in ts.iter().enumerate() {
        mask[j * c + tj as usize] = 0.0;
    }
    h = h.mul(&Tensor::from_vec(mask, &[n, c])?.to_dtype(input.dtype())?)?;
    if let Some(w) = &opts.weight {
        h = h.mul(&w.gather(0, &target.reshape(&[n as isize])?)?.reshape(&[n as isize, 1])?)?;
    }
    let loss = h.sum(1, false)?.div_scalar(c as f64)?;
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
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x = Tensor::randn(&[7, 5], DType::F64, &mut rng);
        let t = Tensor::from_vec(vec![0i64, 4, 2, 2, 1, 3, 0], &[7]).unwrap();
        let w = Tensor::rand(&[5], DType::F64, &mut rng);
        for p in [1, 2] {
            for weight in [None, Some(w.clone())] {
                for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                    let o = MultiMarginOptions { p, margin: 0.7, weight: weight.clone(), reduction };
                    let fused = value_and_grads(|v| multi_margin_loss(&v[0], &t, &o), std::slice::from_ref(&x));
                    let comp = value_and_grads(|v| multi_margin_composite(&v[0], &t, &o), std::slice::from_ref(&x));
                    assert_near("value", &fused.0, &comp.0);
                    assert_near("grad", &fused.1[0], &comp.1[0]);
                }
            }
        }
    }
}
