//! Reductions: sum, mean, max and logsumexp over one dim or over all elements.
//! A tensor is viewed as `(outer, n, inner)` around the reduced dim.

use crate::autograd::Backward;
use crate::cpu::sum::pairwise_sum;
use crate::tensor::shape::{normalize_dim, split_at_dim};
use crate::tensor::{DType, Float, Shape, Storage, Tensor};
use crate::{Error, Result};
use std::sync::Arc;

/// Shape of a reduction over `dim` (kept as size 1 with `keepdim`).
fn reduced_shape(shape: &[usize], dim: usize, keepdim: bool) -> Shape {
    let mut s: Shape = shape.into();
    if s.is_empty() {
        return s;
    }
    if keepdim {
        s[dim] = 1;
    } else {
        s.remove(dim);
    }
    s
}

/// Sums `x`, viewed as `(outer, n, inner)`, over its middle axis.
pub(crate) fn sum_middle<T: Float>(x: &[T], outer: usize, n: usize, inner: usize) -> Vec<T> {
    if inner == 1 {
        return (0..outer).map(|o| pairwise_sum(&x[o * n..(o + 1) * n])).collect();
    }
    let mut out = crate::cpu::alloc::zeros::<T>(outer * inner);
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        for k in 0..n {
            let src = &x[(o * n + k) * inner..(o * n + k + 1) * inner];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
    out
}

/// Repeats `g` (shape `(outer, inner)`) `n` times along the middle axis, scaled by `scale`.
fn expand_middle<T: Float>(g: &[T], outer: usize, n: usize, inner: usize, scale: T) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * n * inner);
    for o in 0..outer {
        let row = &g[o * inner..(o + 1) * inner];
        for _ in 0..n {
            out.extend(row.iter().map(|&v| v * scale));
        }
    }
    out
}

struct SumBackward {
    dim: usize,
    mean: bool,
}

impl Backward for SumBackward {
    fn name(&self) -> &'static str {
        if self.mean { "MeanBackward1" } else { "SumBackward1" }
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (outer, n, inner) = split_at_dim(x.shape(), self.dim);
        let g = float_op!("sum", "grad", grad, |g| {
            let scale = if self.mean { T::one() / T::from_f64(n as f64) } else { T::one() };
            T::wrap(expand_middle(g, outer, n, inner, scale))
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let e = kept_dim(grad, x, self.dim)?.broadcast_to(x.shape())?;
        let n = x.shape().get(self.dim).copied().unwrap_or(1);
        Ok(vec![Some(if self.mean { e.div_scalar(n as f64)? } else { e })])
    }
}

/// `grad` of a reduction of `x` over `dim`, with that dim (size 1) restored.
fn kept_dim(grad: &Tensor, x: &Tensor, dim: usize) -> Result<Tensor> {
    if grad.ndim() < x.ndim() { grad.unsqueeze(dim as isize) } else { Ok(grad.clone()) }
}

struct MaxBackward {
    dim: usize,
    argmax: Vec<usize>,
}

impl Backward for MaxBackward {
    fn name(&self) -> &'static str {
        "MaxBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (_, n, inner) = split_at_dim(x.shape(), self.dim);
        let g = float_op!("max", "grad", grad, |g| {
            let mut out = crate::cpu::alloc::zeros::<T>(x.numel());
            for (j, (&gv, &k)) in g.iter().zip(&self.argmax).enumerate() {
                let (o, i) = (j / inner, j % inner);
                out[(o * n + k) * inner + i] += gv;
            }
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (_, n, inner) = split_at_dim(x.shape(), self.dim);
        let offsets: Vec<usize> = self
            .argmax
            .iter()
            .enumerate()
            .map(|(j, &k)| ((j / inner.max(1)) * n + k) * inner + j % inner.max(1))
            .collect();
        Ok(vec![Some(grad.scatter_offsets(std::sync::Arc::new(offsets), x.shape(), "MaxBackward0")?)])
    }
}

struct LogSumExpBackward {
    dim: usize,
    out: Arc<Storage>,
}

impl Backward for LogSumExpBackward {
    fn name(&self) -> &'static str {
        "LogsumexpBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (outer, n, inner) = split_at_dim(x.shape(), self.dim);
        let g = float_op!("logsumexp", "grad", grad, |g| {
            let xs = x.data::<T>("logsumexp", "input")?;
            let xs: &[T] = &xs;
            let lse = T::slice(&self.out).unwrap_or_default();
            let mut out = Vec::with_capacity(x.numel());
            for o in 0..outer {
                for k in 0..n {
                    for i in 0..inner {
                        let j = o * inner + i;
                        out.push(g[j] * (xs[(o * n + k) * inner + i] - lse[j]).exp());
                    }
                }
            }
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // g·softmax(x) over dim = g·exp(x − logsumexp(x))
        let x = &inputs[0];
        let p = x.sub(&x.logsumexp(self.dim as isize, true)?)?.exp();
        Ok(vec![Some(kept_dim(grad, x, self.dim)?.mul(&p)?)])
    }
}

impl Tensor {
    /// Sum over `dim` (`torch.sum(x, dim, keepdim)`).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.sum(0, false)?.to_vec::<f32>()?, vec![4.0, 6.0]);
    /// assert_eq!(x.sum(-1, true)?.shape(), &[2, 1]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn sum(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.sum_or_mean(dim, keepdim, false)
    }

    /// Mean over `dim` (`torch.mean(x, dim, keepdim)`); NaN over an empty dim.
    pub fn mean(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.sum_or_mean(dim, keepdim, true)
    }

    fn sum_or_mean(&self, dim: isize, keepdim: bool, mean: bool) -> Result<Tensor> {
        let op = if mean { "mean" } else { "sum" };
        let d = normalize_dim(op, dim, self.ndim())?;
        let (outer, n, inner) = split_at_dim(self.shape(), d);
        let out = float_op!(op, "input", self, |x| {
            let mut v = sum_middle(x, outer, n, inner);
            if mean {
                let nn = T::from_f64(n as f64);
                v.iter_mut().for_each(|s| *s /= nn);
            }
            T::wrap(v)
        });
        let shape = reduced_shape(self.shape(), d, keepdim);
        Ok(Tensor::from_op(out, &shape, SumBackward { dim: d, mean }, &[self]))
    }

    /// The largest value over `dim` (the values of `torch.max(x, dim, keepdim)`);
    /// NaN propagates. The gradient goes to the first position of the maximum.
    pub fn max(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let (d, values, argmax) = self.max_with_index("max", dim)?;
        let shape = reduced_shape(self.shape(), d, keepdim);
        Ok(Tensor::from_op(values, &shape, MaxBackward { dim: d, argmax }, &[self]))
    }

    /// The maxima over `dim` and their first positions.
    fn max_with_index(&self, op: &'static str, dim: isize) -> Result<(usize, Storage, Vec<usize>)> {
        let d = normalize_dim(op, dim, self.ndim())?;
        let (outer, n, inner) = split_at_dim(self.shape(), d);
        if n == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "dim {dim} of input (shape {:?}) has size 0: the maximum of nothing is undefined",
                    self.shape()
                ),
            ));
        }
        let mut argmax = vec![0usize; outer * inner];
        let values = float_op!(op, "input", self, |x| {
            let mut best: Vec<T> =
                (0..outer).flat_map(|o| x[o * n * inner..o * n * inner + inner].iter().copied()).collect();
            for o in 0..outer {
                for k in 1..n {
                    for i in 0..inner {
                        let v = x[(o * n + k) * inner + i];
                        let j = o * inner + i;
                        if (v > best[j] || v.is_nan()) && !best[j].is_nan() {
                            best[j] = v;
                            argmax[j] = k;
                        }
                    }
                }
            }
            T::wrap(best)
        });
        Ok((d, values, argmax))
    }

    /// `log Σ exp(x)` over `dim`, computed stably with the maximum subtracted
    /// (`torch.logsumexp`).
    pub fn logsumexp(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let d = normalize_dim("logsumexp", dim, self.ndim())?;
        let (outer, n, inner) = split_at_dim(self.shape(), d);
        let out = float_op!("logsumexp", "input", self, |x| {
            let mut out = Vec::with_capacity(outer * inner);
            for o in 0..outer {
                for i in 0..inner {
                    let at = |k: usize| x[(o * n + k) * inner + i];
                    let m = (0..n).map(at).fold(T::neg_infinity(), |m, v| if v > m || v.is_nan() { v } else { m });
                    let shift = if m.is_infinite() { T::zero() } else { m };
                    let s: T = (0..n).map(|k| (at(k) - shift).exp()).sum();
                    out.push(shift + s.ln());
                }
            }
            T::wrap(out)
        });
        let out = Arc::new(out);
        let shape = reduced_shape(self.shape(), d, keepdim);
        Ok(Tensor::from_op_shared(out.clone(), shape, LogSumExpBackward { dim: d, out }, &[self]))
    }

    /// The sum of all elements, as a 0-d tensor (pairwise summation). On I64
    /// input, the I64 sum (wrapping on overflow); on Bool input, the number of
    /// `true` elements as I64 (`mask.sum()` in PyTorch).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![0.2f32, 0.9, 0.7], &[3])?;
    /// assert_eq!(x.gt_scalar(0.5)?.sum_all().item::<i64>()?, 2);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn sum_all(&self) -> Tensor {
        match &*self.storage() {
            Storage::I64(v) => return Tensor::scalar(v.iter().fold(0i64, |a, &b| a.wrapping_add(b))),
            Storage::Bool(v) => return Tensor::scalar(v.iter().filter(|&&b| b).count() as i64),
            Storage::F32(_) | Storage::F64(_) => {}
        }
        match self.reshape_internal(&[self.numel()]).and_then(|t| t.sum(0, false)) {
            Ok(t) => t,
            Err(_) => unreachable!("sum_all: a float tensor reshaped to its length sums over dim 0"),
        }
    }

    /// The mean of all elements, as a 0-d tensor (NaN when empty). On I64
    /// and Bool input, the F64 mean (for Bool, the fraction of `true`: an
    /// accuracy from `pred.eq(&target)?.mean_all()`).
    pub fn mean_all(&self) -> Tensor {
        let x = if self.dtype().is_float() { self.clone() } else { self.detach().storage_as(DType::F64) };
        match x.reshape_internal(&[x.numel()]).and_then(|t| t.mean(0, false)) {
            Ok(t) => t,
            Err(_) => Tensor::scalar(f64::NAN), // unreachable: x is float
        }
    }

    fn storage_as(&self, dtype: DType) -> Tensor {
        Tensor::from_storage(self.storage().convert(dtype), self.shape())
    }
}
