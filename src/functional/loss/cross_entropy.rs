//! Cross-entropy on logits, fused with the log-softmax: `F.cross_entropy`.
//!
//! One pass per position computes the log-sum-exp of the logits and the loss;
//! only the per-position log-sum-exp is kept for the backward, which writes
//! `softmax - target` (scaled) in one pass. No one-hot tensor, no
//! log-probability tensor, no transpose for K-dimensional inputs.

use super::classes::{Layout, check_targets, check_weight, index_layout};
use super::nll::{position_scale, reduce_classes};
use crate::autograd::Backward;
use crate::tensor::ops::{float_op, float_op2};
use crate::tensor::shape::pairwise_sum;
use crate::tensor::{Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

/// Options of [`cross_entropy`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// Per-class weight, a 1-D tensor of `C` elements (default none).
    pub weight: Option<Tensor>,
    /// A class-index target value that contributes nothing (default −100).
    pub ignore_index: i64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Mass ε moved from the target to a uniform distribution over the classes
    /// (default 0.0; must lie in [0, 1]).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

/// The log-sum-exp of one position, kept as `(max, log Σ exp(z - max))` so that
/// `log_softmax = (z - max) - log Σ` is formed as PyTorch forms it, without
/// the rounding of `z - lse` at large logits.
#[derive(Clone, Copy)]
struct Lse<T> {
    shift: T,
    log_sum: T,
}

impl<T: Float> Lse<T> {
    /// `log_softmax(z)` for a logit `z` of this position.
    #[inline]
    fn logp(self, z: T) -> T {
        (z - self.shift) - self.log_sum
    }
    /// Reads position `j` of a saved `[positions, 2]` buffer.
    #[inline]
    fn load(buf: &[T], j: usize) -> Self {
        Lse {
            shift: buf[2 * j],
            log_sum: buf[2 * j + 1],
        }
    }
    #[inline]
    fn store(self, buf: &mut Vec<T>) {
        buf.push(self.shift);
        buf.push(self.log_sum);
    }
}

/// The log-sum-exp of the logits at position `j`, with the maximum subtracted.
#[inline]
fn lse_at<T: Float>(z: &[T], l: &Layout, j: usize) -> Lse<T> {
    let mut m = T::neg_infinity();
    for k in 0..l.c {
        let v = z[l.at(j, k)];
        if v > m || v.is_nan() {
            m = v;
        }
    }
    let shift = if m.is_infinite() { T::zero() } else { m };
    let mut s = T::zero();
    for k in 0..l.c {
        s += (z[l.at(j, k)] - shift).exp();
    }
    Lse {
        shift,
        log_sum: s.ln(),
    }
}

/// Class weight `k`, 1 without weights.
#[inline]
fn wk<T: Float>(w: Option<&[T]>, k: usize) -> T {
    w.map_or(T::one(), |w| w[k])
}

struct IndexTargets {
    layout: Layout,
    weight: Option<Tensor>,
    ignore_index: i64,
    reduction: Reduction,
    eps: f64,
    denom: f64,
    /// per-position `(max, log Σ exp)` of the logits, shape `[positions, 2]`
    lse: Tensor,
}

struct ProbTargets {
    layout: Layout,
    weight: Option<Tensor>,
    reduction: Reduction,
    eps: f64,
    lse: Tensor,
}

impl Backward for IndexTargets {
    fn name(&self) -> &'static str {
        "CrossEntropyLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (z, target) = (&inputs[0], &inputs[1]);
        let t = target.data::<i64>("cross_entropy", "target")?;
        let t: &[i64] = &t;
        let l = &self.layout;
        let gz = float_op2!("cross_entropy", z, grad, "grad", |zs, g| {
            let w = self
                .weight
                .as_ref()
                .map(|w| w.data::<T>("cross_entropy", "weight"))
                .transpose()?;
            let w = w.as_deref();
            let lse = self.lse.data::<T>("cross_entropy", "lse")?;
            let lse: &[T] = &lse;
            let eps = T::from_f64(self.eps);
            let smooth = eps / T::from_f64(l.c as f64);
            let wsum = w.map_or(T::from_f64(l.c as f64), pairwise_sum);
            let mut out = vec![T::zero(); zs.len()];
            for (j, &tj) in t.iter().enumerate() {
                if tj == self.ignore_index {
                    continue;
                }
                let s = position_scale(g, j, self.reduction, self.denom);
                let wt = wk(w, tj as usize) * (T::one() - eps);
                for k in 0..l.c {
                    let at = l.at(j, k);
                    let p = Lse::load(lse, j).logp(zs[at]).exp();
                    let hit = if k == tj as usize {
                        T::one()
                    } else {
                        T::zero()
                    };
                    out[at] = s * (wt * (p - hit) + smooth * (wsum * p - wk(w, k)));
                }
            }
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(gz, z.shape())), None])
    }
}

impl Backward for ProbTargets {
    fn name(&self) -> &'static str {
        "CrossEntropyLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (z, target) = (&inputs[0], &inputs[1]);
        let l = &self.layout;
        let (gz, gt) = float_op2!("cross_entropy", z, target, "target", |zs, ts| {
            let g = grad.data::<T>("cross_entropy", "grad")?;
            let g: &[T] = &g;
            let w = self
                .weight
                .as_ref()
                .map(|w| w.data::<T>("cross_entropy", "weight"))
                .transpose()?;
            let w = w.as_deref();
            let lse = self.lse.data::<T>("cross_entropy", "lse")?;
            let lse: &[T] = &lse;
            let eps = T::from_f64(self.eps);
            let uniform = eps / T::from_f64(l.c as f64);
            let denom = l.positions() as f64;
            let mut gz = vec![T::zero(); zs.len()];
            let mut gt = vec![T::zero(); if target.tracks_grad() { zs.len() } else { 0 }];
            for j in 0..l.positions() {
                let s = position_scale(g, j, self.reduction, denom);
                let tw: T = (0..l.c)
                    .map(|k| wk(w, k) * ((T::one() - eps) * ts[l.at(j, k)] + uniform))
                    .sum();
                for k in 0..l.c {
                    let at = l.at(j, k);
                    let logp = Lse::load(lse, j).logp(zs[at]);
                    let tk = (T::one() - eps) * ts[at] + uniform;
                    gz[at] = s * (logp.exp() * tw - wk(w, k) * tk);
                    if !gt.is_empty() {
                        gt[at] = -s * (T::one() - eps) * wk(w, k) * logp;
                    }
                }
            }
            let gt = (!gt.is_empty()).then(|| Tensor::from_storage(T::wrap(gt), target.shape()));
            (Tensor::from_storage(T::wrap(gz), z.shape()), gt)
        });
        Ok(vec![Some(gz), gt])
    }
}

fn index_targets(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let layout = index_layout(OP, input, target)?;
    check_weight(OP, input, opts.weight.as_ref(), layout.c)?;
    let t = target.data::<i64>(OP, "target")?;
    let t: &[i64] = &t;
    check_targets(OP, target, t, layout.c, opts.ignore_index)?;
    let (storage, lse, denom) = float_op!(OP, "input", input, |zs| {
        let w = opts
            .weight
            .as_ref()
            .map(|w| w.data::<T>(OP, "weight"))
            .transpose()?;
        let w = w.as_deref();
        let eps = T::from_f64(opts.label_smoothing);
        let smooth = eps / T::from_f64(layout.c as f64);
        let mut lse = Vec::with_capacity(t.len());
        let mut losses = Vec::with_capacity(t.len());
        let mut weights = Vec::with_capacity(t.len());
        for (j, &tj) in t.iter().enumerate() {
            let m = lse_at(zs, &layout, j);
            m.store(&mut lse);
            if tj == opts.ignore_index {
                losses.push(T::zero());
                weights.push(T::zero());
                continue;
            }
            let wt = wk(w, tj as usize);
            let nll = -wt * m.logp(zs[layout.at(j, tj as usize)]);
            let loss = if opts.label_smoothing > 0.0 {
                let sm: T = (0..layout.c)
                    .map(|k| -wk(w, k) * m.logp(zs[layout.at(j, k)]))
                    .sum();
                (T::one() - eps) * nll + smooth * sm
            } else {
                nll
            };
            losses.push(loss);
            weights.push(wt);
        }
        let (v, denom) = reduce_classes(&losses, &weights, opts.reduction);
        (
            T::wrap(v),
            Tensor::from_storage(T::wrap(lse), &[t.len(), 2]),
            denom,
        )
    });
    let shape: Shape = if opts.reduction == Reduction::None {
        layout.out.clone()
    } else {
        Shape::new()
    };
    let node = IndexTargets {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        ignore_index: opts.ignore_index,
        reduction: opts.reduction,
        eps: opts.label_smoothing,
        denom,
        lse,
    };
    Ok(Tensor::from_op(storage, &shape, node, &[input, target]))
}

fn prob_targets(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    input.require_float(OP, "input")?;
    if target.shape() != input.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "target has shape {:?} but input has shape {:?}: class-probability targets (float) need the \
                 input's shape; class indices must be I64",
                target.shape(),
                input.shape()
            ),
        ));
    }
    let is = input.shape();
    let layout = match input.ndim() {
        0 => {
            return Err(Error::shape(
                OP,
                "input is 0-d; expected (C,), (N, C) or (N, C, d1, ..., dK)",
            ));
        }
        1 => Layout {
            n: 1,
            c: is[0],
            inner: 1,
            out: Shape::new(),
        },
        _ => {
            let mut out: Shape = Shape::new();
            out.push(is[0]);
            out.extend_from_slice(&is[2..]);
            Layout {
                n: is[0],
                c: is[1],
                inner: is[2..].iter().product(),
                out,
            }
        }
    };
    check_weight(OP, input, opts.weight.as_ref(), layout.c)?;
    let (storage, lse) = float_op2!(OP, input, target, "target", |zs, ts| {
        let w = opts
            .weight
            .as_ref()
            .map(|w| w.data::<T>(OP, "weight"))
            .transpose()?;
        let w = w.as_deref();
        let eps = T::from_f64(opts.label_smoothing);
        let uniform = eps / T::from_f64(layout.c as f64);
        let mut lse = Vec::with_capacity(layout.positions());
        let mut losses = Vec::with_capacity(layout.positions());
        for j in 0..layout.positions() {
            let m = lse_at(zs, &layout, j);
            m.store(&mut lse);
            let loss: T = (0..layout.c)
                .map(|k| {
                    let at = layout.at(j, k);
                    -wk(w, k) * ((T::one() - eps) * ts[at] + uniform) * m.logp(zs[at])
                })
                .sum();
            losses.push(loss);
        }
        let v = match opts.reduction {
            Reduction::None => losses,
            Reduction::Sum => vec![pairwise_sum(&losses)],
            Reduction::Mean => vec![pairwise_sum(&losses) / T::from_f64(layout.positions() as f64)],
        };
        (
            T::wrap(v),
            Tensor::from_storage(T::wrap(lse), &[layout.positions(), 2]),
        )
    });
    let shape: Shape = if opts.reduction == Reduction::None {
        layout.out.clone()
    } else {
        Shape::new()
    };
    let node = ProbTargets {
        layout,
        weight: opts.weight.as_ref().map(Tensor::detach),
        reduction: opts.reduction,
        eps: opts.label_smoothing,
        lse,
    };
    Ok(Tensor::from_op(storage, &shape, node, &[input, target]))
}

/// Cross-entropy between logits and targets, fused with the log-softmax
/// (`F.cross_entropy`, `nn.CrossEntropyLoss`).
///
/// With class indices `y` (I64) and label smoothing ε over `C` classes:
/// `ℓ_j = (1 - ε) · w[y_j] · (lse_j - z[j, y_j]) + ε/C · Σ_c w_c · (lse_j - z[j, c])`,
/// where `lse_j = log Σ_c exp(z[j, c])`; `mean` divides by `Σ w[y_j]` over
/// non-ignored targets (NaN if all are ignored).
///
/// With class probabilities `p` (float, the input's shape), `p' = (1 - ε)·p + ε/C`:
/// `ℓ_j = -Σ_c w_c · p'[j, c] · log_softmax(z)[j, c]`; `mean` divides by
/// `N · d1 ⋯ dK`, and the target gets a gradient too.
///
/// Shapes: logits `(N, C)`, `(C,)` or `(N, C, d1, …, dK)`; index targets
/// `(N,)`, `()` or `(N, d1, …, dK)`. Errors on an out-of-range class, a batch
/// or spatial mismatch, a weight of the wrong length, or ε outside [0, 1].
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let z = Tensor::from_vec(vec![2.0f32, 0.0, 0.0, 0.0, 2.0, 0.0], &[2, 3])?.requires_grad();
/// let y = Tensor::from_vec(vec![0i64, 1], &[2])?;
/// let loss = F::cross_entropy(&z, &y, &F::CrossEntropyOptions::default())?;
/// let expected = (1.0 + 2.0 * (-2f32).exp()).ln();
/// assert!((loss.item::<f32>()? - expected).abs() < 1e-6);
/// loss.backward()?;
/// assert_eq!(z.grad().unwrap().shape(), &[2, 3]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    opts: &CrossEntropyOptions,
) -> Result<Tensor> {
    let ls = opts.label_smoothing;
    if !(0.0..=1.0).contains(&ls) {
        return Err(Error::value(
            "cross_entropy",
            format!("label_smoothing = {ls} must lie in [0.0, 1.0]"),
        ));
    }
    if target.dtype().is_float() {
        prob_targets(input, target, opts)
    } else {
        index_targets(input, target, opts)
    }
}
