//! Cross-entropy of a linear layer's output, in chunks of rows:
//! `F.linear_cross_entropy`.
//!
//! `cross_entropy(linear(x, W, b), t)` makes the `(N, C)` logits and then
//! their gradient, two buffers of `N·C` elements. Here the rows go through
//! in chunks: each chunk's logits come from the GEMM, the fused cross-entropy
//! kernel turns them into the chunk's loss and logit gradient while they are
//! in cache, and two more GEMMs add the chunk's share to the gradients of `x`
//! and `W` (and a column sum to `b`'s). Only one chunk's logits and logit
//! gradient are alive at a time; for a reduced loss over class indices
//! without label smoothing (the usual language-model head) the logits become
//! their own gradient in place, so a chunk holds twice the rows, and `W`,
//! which the products pack again for every chunk, is packed half as often.
//! For a reduced loss the gradients are made in the forward and the backward
//! only scales them; an unreduced loss (whose upstream gradient the forward
//! cannot know) runs the chunks again in the backward.

use super::cross_entropy::{CrossEntropyOptions, cross_entropy};
use super::rows::check_reduction;
use crate::autograd::{Backward, composite_backward, enable_grad, is_grad_enabled};
use crate::cpu::alloc::give_back;
use crate::cpu::sum::pairwise_sum;
use crate::kernels::softmax::ce_rows_in_place;
use crate::tensor::ops::float_op;
use crate::tensor::ops::matmul::Gemm;
use crate::tensor::{DType, Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

const OP: &str = "linear_cross_entropy";

/// Bytes of one chunk's logits when `chunk_rows` is not given: with the
/// chunk's logit gradient, twice this is alive at a time.
const CHUNK_BYTES: usize = 10 << 20;

/// Bytes of one chunk's logits when they become their own gradient (see
/// `pass`), one buffer for every chunk: below 32 MiB with the products'
/// small temporaries.
const IN_PLACE_BYTES: usize = 20 << 20;

/// Options of [`linear_cross_entropy`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct LinearCrossEntropyOptions {
    /// Per-class weight, a 1-D tensor of `C` elements (default none).
    pub weight: Option<Tensor>,
    /// A class-index target value that contributes nothing (default −100).
    pub ignore_index: i64,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
    /// Label smoothing ε in [0, 1] (default 0.0).
    pub label_smoothing: f64,
    /// Rows per chunk (default `None`: as many as fit 20 MiB of logits for a
    /// reduced loss over class indices without label smoothing, whose logits
    /// become their own gradient, else 10 MiB; at least one).
    pub chunk_rows: Option<usize>,
}

impl Default for LinearCrossEntropyOptions {
    fn default() -> Self {
        LinearCrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
            chunk_rows: None,
        }
    }
}

impl LinearCrossEntropyOptions {
    fn cross_entropy(&self, reduction: Reduction) -> CrossEntropyOptions {
        CrossEntropyOptions {
            weight: self.weight.clone(),
            ignore_index: self.ignore_index,
            reduction,
            label_smoothing: self.label_smoothing,
        }
    }
}

/// The checked problem: `n` rows of `fin` features, `c` classes.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    fin: usize,
    c: usize,
    /// rows per chunk
    rows: usize,
    /// class probabilities (float targets) rather than class indices
    probs: bool,
}

fn check(x: &Tensor, w: &Tensor, t: &Tensor, b: Option<&Tensor>, opts: &LinearCrossEntropyOptions) -> Result<Dims> {
    x.require_float(OP, "input")?;
    x.require_same_dtype(w, OP, "linear_weight")?;
    check_reduction(OP, opts.reduction)?;
    let ls = opts.label_smoothing;
    if !(0.0..=1.0).contains(&ls) {
        return Err(Error::value(OP, format!("label_smoothing = {ls} must lie in [0.0, 1.0]")));
    }
    let (c, fin) = match w.shape() {
        [c, fin] => (*c, *fin),
        s => return Err(Error::shape(OP, format!("linear_weight has shape {s:?}; expected (C, in_features)"))),
    };
    let n = match x.shape() {
        [k] if *k == fin => 1,
        [n, k] if *k == fin => *n,
        s => {
            return Err(Error::shape(
                OP,
                format!(
                    "input has shape {s:?}, linear_weight {:?}: expected input (N, {fin}) or ({fin},), equal \
                     in_features last",
                    w.shape()
                ),
            ));
        }
    };
    if c == 0 {
        return Err(Error::shape(OP, "linear_weight has 0 rows: at least one class is needed"));
    }
    if let Some(b) = b {
        x.require_same_dtype(b, OP, "linear_bias")?;
        if b.shape() != [c] {
            return Err(Error::shape(OP, format!("linear_bias has shape {:?}; expected ({c},)", b.shape())));
        }
    }
    let probs = t.dtype().is_float();
    let lead = &x.shape()[..x.ndim() - 1];
    if probs {
        x.require_same_dtype(t, OP, "target")?;
        let want: Vec<usize> = lead.iter().copied().chain([c]).collect();
        if t.shape() != want {
            return Err(Error::shape(
                OP,
                format!("target has shape {:?}; class probabilities need {want:?}", t.shape()),
            ));
        }
    } else {
        if t.dtype() != DType::I64 {
            return Err(Error::dtype(OP, format!("target has dtype {}; expected I64 or a float dtype", t.dtype())));
        }
        if t.shape() != lead {
            return Err(Error::shape(OP, format!("target has shape {:?}; class indices need {lead:?}", t.shape())));
        }
        let tv = t.data::<i64>(OP, "target")?;
        if let Some((j, &v)) =
            tv.iter().enumerate().find(|&(_, &v)| v != opts.ignore_index && (v < 0 || v as usize >= c))
        {
            return Err(Error::index(OP, format!("target[{j}] = {v} is out of range for {c} classes")));
        }
    }
    if let Some(wt) = &opts.weight {
        x.require_same_dtype(wt, OP, "weight")?;
        if wt.shape() != [c] {
            return Err(Error::shape(OP, format!("weight has shape {:?}; expected ({c},)", wt.shape())));
        }
    }
    let size = if x.dtype() == DType::F64 { 8 } else { 4 };
    let rows = match opts.chunk_rows {
        Some(0) => return Err(Error::value(OP, "chunk_rows = 0: a chunk needs at least one row")),
        Some(r) => r,
        None => (CHUNK_BYTES / (c * size)).max(1),
    };
    Ok(Dims { n, fin, c, rows: rows.min(n.max(1)), probs })
}

/// What the chunks produce: the loss values (per row, or the sum) and the
/// gradients asked for.
struct Pass {
    values: Tensor,
    gx: Option<Tensor>,
    gw: Option<Tensor>,
    gb: Option<Tensor>,
    gt: Option<Tensor>,
}

/// Which gradients a pass makes.
#[derive(Clone, Copy)]
struct Want {
    x: bool,
    w: bool,
    b: bool,
    t: bool,
}

impl Want {
    fn any(self) -> bool {
        self.x || self.w || self.b || self.t
    }
}

/// Runs the chunks: the logits `x·Wᵀ + b` of each, its cross-entropy (per
/// row for `upstream = Some(g)` or `Reduction::None`, else summed), and (if
/// `want.any()`) the gradients of the sum `Σ_rows s_r·ℓ_r` with `s_r = g_r`
/// (`upstream`) or 1, times `scale`.
fn pass(
    (x, w, t, b): (&Tensor, &Tensor, &Tensor, Option<&Tensor>),
    d: Dims,
    opts: &LinearCrossEntropyOptions,
    per_row: bool,
    upstream: Option<&Tensor>,
    want: Want,
    scale: f64,
) -> Result<Pass> {
    let Dims { n, fin, c, rows, probs } = d;
    let reduction = if per_row { Reduction::None } else { Reduction::Sum };
    let ce = opts.cross_entropy(reduction);
    let p = float_op!(OP, "input", x, |xs| {
        let ws = w.data::<T>(OP, "linear_weight")?;
        let bs = b.map(|b| b.data::<T>(OP, "linear_bias")).transpose()?;
        let g = upstream.map(|g| g.data::<T>(OP, "grad")).transpose()?;
        let (ws, xs): (&[T], &[T]) = (&ws, xs);
        let mut gx = crate::cpu::alloc::scratch::<T>(if want.x { n * fin } else { 0 });
        let mut gw = crate::cpu::alloc::zeros::<T>(if want.w { c * fin } else { 0 });
        let mut gb = crate::cpu::alloc::zeros::<T>(if want.b { c } else { 0 });
        let mut gt = crate::cpu::alloc::scratch::<T>(if want.t { n * c } else { 0 });
        let mut values: Vec<T> = Vec::with_capacity(if per_row { n } else { 1 });
        let mut total = T::zero();
        // a chunk's share of the gradients of x, W and b from its logit gradient G
        let mut products = |gzs: &[T], r0: usize, m: usize| {
            if want.x {
                // dx = G·W : (m×C)·(C×in)
                T::gemm_deep(m, c, fin, gzs, (c, 1), ws, (fin, 1), &mut gx[r0 * fin..(r0 + m) * fin]);
            }
            if want.w {
                // dW += Gᵀ·x : (C×m)·(m×in)
                T::gemm(c, m, fin, gzs, (1, c), &xs[r0 * fin..(r0 + m) * fin], (fin, 1), &mut gw, T::one());
            }
            if want.b {
                for row in gzs.chunks_exact(c) {
                    gb.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
            }
        };
        // A summed loss over class indices without smoothing, whose logit
        // gradient only feeds the products: each chunk's logits become their
        // gradient in place, one buffer per chunk instead of two, so a chunk
        // holds twice the rows (`IN_PLACE_BYTES`).
        let in_place = !probs && !per_row && opts.label_smoothing == 0.0 && want.any();
        let rows = match (in_place, opts.chunk_rows) {
            (true, None) => (IN_PLACE_BYTES / (c * std::mem::size_of::<T>()).max(1)).clamp(1, n.max(1)),
            _ => rows,
        };
        let tv = if probs { None } else { Some(t.data::<i64>(OP, "target")?) };
        let cw = opts.weight.as_ref().map(|w| w.data::<T>(OP, "weight")).transpose()?;
        // in place, one buffer serves every chunk (the last one uses its start)
        let mut zbuf = crate::cpu::alloc::scratch::<T>(if in_place { rows * c } else { 0 });
        for r0 in (0..n).step_by(rows.max(1)) {
            let m = rows.min(n - r0);
            // the chunk's logits: bias rows, plus x·Wᵀ
            let mut z = if in_place { std::mem::take(&mut zbuf) } else { crate::cpu::alloc::scratch::<T>(m * c) };
            z.truncate(m * c);
            let beta = match &bs {
                Some(bs) => {
                    z.chunks_exact_mut(c).for_each(|row| row.copy_from_slice(bs));
                    T::one()
                }
                None => T::zero(),
            };
            T::gemm_wide(m, fin, c, &xs[r0 * fin..(r0 + m) * fin], (fin, 1), ws, (1, fin), &mut z, beta);
            if let (true, Some(tv)) = (in_place, &tv) {
                let losses = ce_rows_in_place(&mut z, c, &tv[r0..r0 + m], cw.as_deref(), opts.ignore_index);
                total += pairwise_sum(&losses);
                products(&z, r0, m);
                zbuf = z;
                continue;
            }
            let mut zt = Tensor::from_storage(T::wrap(z), &[m, c]);
            if want.any() {
                zt = zt.requires_grad();
            }
            let tc = if probs {
                let tc = t.detach().reshape(&[n as isize, c as isize])?;
                let tc = narrow_rows::<T>(&tc, r0, m, c)?;
                if want.t { tc.requires_grad() } else { tc }
            } else {
                let tv = tv.as_deref().unwrap_or_default();
                Tensor::from_slice(&tv[r0..r0 + m], &[m])?
            };
            let loss = cross_entropy(&zt, &tc, &ce)?;
            if per_row {
                values.extend_from_slice(&loss.data::<T>(OP, "loss")?);
            } else {
                total += loss.data::<T>(OP, "loss")?[0];
            }
            if !want.any() {
                continue;
            }
            match &g {
                Some(g) => loss.backward_with(&Tensor::from_slice(&g[r0..r0 + m], &[m])?)?,
                None => loss.backward()?,
            }
            drop(loss);
            if let (true, Some(gtc)) = (want.t, tc.grad()) {
                gt[r0 * c..(r0 + m) * c].copy_from_slice(&gtc.data::<T>(OP, "grad")?);
            }
            let gz = zt.grad().ok_or_else(|| Error::autograd(OP, "the chunk's logits got no gradient"))?;
            drop(zt);
            products(&gz.data::<T>(OP, "grad")?, r0, m);
        }
        give_back(zbuf);
        if !per_row {
            values.push(total);
        }
        // a mean's divisor, applied in place (no second buffer of W's size)
        if scale != 1.0 {
            let k = T::from_f64(scale);
            for v in [&mut gx, &mut gw, &mut gb, &mut gt] {
                v.iter_mut().for_each(|e| *e *= k);
            }
        }
        let vl = values.len();
        Pass {
            values: Tensor::from_storage(T::wrap(values), &[vl]),
            gx: want.x.then(|| Tensor::from_storage(T::wrap(gx), x.shape())),
            gw: want.w.then(|| Tensor::from_storage(T::wrap(gw), w.shape())),
            gb: want.b.then(|| Tensor::from_storage(T::wrap(gb), &[c])),
            gt: want.t.then(|| Tensor::from_storage(T::wrap(gt), t.shape())),
        }
    });
    Ok(p)
}

/// Rows `r0..r0 + m` of a `(n, c)` tensor, as a new `(m, c)` tensor.
fn narrow_rows<T: Float>(t: &Tensor, r0: usize, m: usize, c: usize) -> Result<Tensor> {
    let v = t.data::<T>(OP, "target")?;
    Tensor::from_slice(&v[r0 * c..(r0 + m) * c], &[m, c])
}

/// What `mean` divides by: the summed weight of the counted targets, or the
/// number of rows for class probabilities.
fn divisor(t: &Tensor, d: Dims, opts: &LinearCrossEntropyOptions) -> Result<f64> {
    if d.probs {
        return Ok(d.n as f64);
    }
    let tv = t.to_vec::<i64>()?;
    let counted = tv.iter().filter(|&&v| v != opts.ignore_index);
    Ok(match &opts.weight {
        Some(w) => {
            let wv = w.to_dtype(DType::F64)?.to_vec::<f64>()?;
            counted.map(|&v| wv[v as usize]).sum()
        }
        None => counted.count() as f64,
    })
}

/// Keeps the gradients of a reduced loss (for an upstream gradient of 1), or
/// (unreduced) what it needs to run the chunks again.
struct LceBackward {
    dims: Dims,
    opts: LinearCrossEntropyOptions,
    /// gradients of x, W, b, target for an upstream 1 (reduced losses)
    saved: Option<[Option<Tensor>; 4]>,
}

impl Backward for LceBackward {
    fn name(&self) -> &'static str {
        "LinearCrossEntropyBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w, t, b) = (&inputs[0], &inputs[1], &inputs[2], inputs.get(3));
        let grads: [Option<Tensor>; 4] = match &self.saved {
            Some(saved) => {
                let one = grad.to_dtype(DType::F64)?.to_vec::<f64>()?.first() == Some(&1.0);
                let scale = |s: &Option<Tensor>| -> Result<Option<Tensor>> {
                    s.as_ref().map(|s| if one { Ok(s.clone()) } else { s.mul(grad) }).transpose()
                };
                [scale(&saved[0])?, scale(&saved[1])?, scale(&saved[2])?, scale(&saved[3])?]
            }
            None => {
                let want = Want {
                    x: x.tracks_grad(),
                    w: w.tracks_grad(),
                    b: b.is_some_and(Tensor::tracks_grad),
                    t: t.dtype().is_float() && t.tracks_grad(),
                };
                let g = grad.reshape(&[self.dims.n as isize])?;
                // the chunks' cross-entropy records its own small graph
                let p = enable_grad(|| pass((x, w, t, b), self.dims, &self.opts, true, Some(&g), want, 1.0))?;
                [p.gx, p.gw, p.gb, p.gt]
            }
        };
        let [gx, gw, gb, gt] = grads;
        let mut out = vec![gx, gw, gt];
        if b.is_some() {
            out.push(gb);
        }
        Ok(out)
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            linear_cross_entropy_composite(&xs[0], &xs[1], &xs[2], xs.get(3), &self.opts)
        })
    }
}

/// Cross-entropy of the linear map `x·Wᵀ + b` against `t`, computed in
/// chunks of rows (`F.linear_cross_entropy`): the value and the gradients
/// of `cross_entropy(linear(x, W, b), t)` with the same options (class
/// weights, `ignore_index`, label smoothing, class-index or class-probability
/// targets), without ever holding the `(N, C)` logits or their gradient.
///
/// Shapes: input `(N, in)` or `(in,)`, linear_weight `(C, in)`, linear_bias
/// `(C,)`, target `(N,)` I64 class indices or `(N, C)` float probabilities;
/// the unreduced loss is `(N,)`.
///
/// Memory: one chunk's logits and logit gradient at a time (by default
/// 20 MiB for both, or 10 MiB each; see `chunk_rows`), plus the gradients of
/// `x`, `W` and `b` that a reduced loss makes in the forward and hands to the
/// backward.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, -1.0, 0.5], &[2, 2])?.requires_grad();
/// let w = Tensor::from_vec(vec![0.5f32, -0.5, 1.0, 0.0, 0.2, 0.3], &[3, 2])?.requires_grad();
/// let t = Tensor::from_vec(vec![2i64, 0], &[2])?;
/// let fused = F::linear_cross_entropy(&x, &w, &t, None, &F::LinearCrossEntropyOptions::default())?;
/// let plain = F::cross_entropy(&F::linear(&x, &w, None)?, &t, &F::CrossEntropyOptions::default())?;
/// assert!((fused.item::<f32>()? - plain.item::<f32>()?).abs() < 1e-6);
/// fused.backward()?;
/// assert_eq!(w.grad().unwrap().shape(), &[3, 2]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn linear_cross_entropy(
    input: &Tensor,
    linear_weight: &Tensor,
    target: &Tensor,
    linear_bias: Option<&Tensor>,
    opts: &LinearCrossEntropyOptions,
) -> Result<Tensor> {
    let d = check(input, linear_weight, target, linear_bias, opts)?;
    let record = is_grad_enabled();
    let want = Want {
        x: record && input.tracks_grad(),
        w: record && linear_weight.tracks_grad(),
        b: record && linear_bias.is_some_and(Tensor::tracks_grad),
        t: record && d.probs && target.tracks_grad(),
    };
    let reduced = opts.reduction != Reduction::None;
    let args = (input, linear_weight, target, linear_bias);
    let denom = if opts.reduction == Reduction::Mean { divisor(target, d, opts)? } else { 1.0 };
    let none = Want { x: false, w: false, b: false, t: false };
    // every target ignored: the mean is 0/0 (NaN, as PyTorch's), but no
    // element has a gradient (PyTorch's are 0, where 0·(1/0) would be NaN);
    // the targets are looked at again only for a zero divisor
    let all_ignored = || -> Result<bool> {
        Ok(!d.probs && target.data::<i64>(OP, "target")?.iter().all(|&v| v == opts.ignore_index))
    };
    let grad_scale = if denom == 0.0 && all_ignored()? { 0.0 } else { 1.0 / denom };
    let p = pass(args, d, opts, !reduced, None, if reduced { want } else { none }, grad_scale)?;
    let values = if opts.reduction == Reduction::Mean { p.values.div_scalar(denom)? } else { p.values };
    let shape: Shape = if reduced || input.ndim() == 1 { Shape::new() } else { Shape::from_slice(&[d.n]) };
    let values = values.reshape(&shape.iter().map(|&s| s as isize).collect::<Vec<_>>())?.detach();
    let saved = reduced.then_some([p.gx, p.gw, p.gb, p.gt]);
    let node = LceBackward { dims: d, opts: opts.clone(), saved };
    let mut inputs = vec![input, linear_weight, target];
    inputs.extend(linear_bias);
    Ok(Tensor::from_op_shared(values.storage_arc(), shape, node, &inputs))
}

/// [`linear_cross_entropy`] as `cross_entropy(linear(x, W, b), t)`: the same
/// value and gradient, and the formula the engine differentiates for
/// gradients of gradients.
pub(crate) fn linear_cross_entropy_composite(
    input: &Tensor,
    linear_weight: &Tensor,
    target: &Tensor,
    linear_bias: Option<&Tensor>,
    opts: &LinearCrossEntropyOptions,
) -> Result<Tensor> {
    check(input, linear_weight, target, linear_bias, opts)?;
    let z = crate::functional::linear(input, linear_weight, linear_bias)?;
    cross_entropy(&z, target, &opts.cross_entropy(opts.reduction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functional::loss::rows::{assert_near, value_and_grads};
    use rand::SeedableRng;

    #[test]
    fn the_chunked_loss_equals_its_composite() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let x = Tensor::randn(&[9, 4], DType::F64, &mut rng);
        let w = Tensor::randn(&[6, 4], DType::F64, &mut rng);
        let b = Tensor::randn(&[6], DType::F64, &mut rng);
        let cw = Tensor::rand(&[6], DType::F64, &mut rng);
        let t = Tensor::from_vec(vec![0i64, 5, 2, 1, 1, 3, 4, 0, 5], &[9]).unwrap();
        let probs = crate::functional::softmax(&Tensor::randn(&[9, 6], DType::F64, &mut rng), 1).unwrap();
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for (target, weight, eps) in [
                (&t, None, 0.0),
                (&t, Some(cw.clone()), 0.0),
                (&t, Some(cw.clone()), 0.1),
                (&probs, None, 0.2),
                (&probs, Some(cw.clone()), 0.0),
            ] {
                let o = LinearCrossEntropyOptions {
                    weight,
                    ignore_index: 1,
                    reduction,
                    label_smoothing: eps,
                    chunk_rows: Some(2),
                };
                let inputs = [x.clone(), w.clone(), b.clone()];
                let fused = value_and_grads(|v| linear_cross_entropy(&v[0], &v[1], target, Some(&v[2]), &o), &inputs);
                let comp =
                    value_and_grads(|v| linear_cross_entropy_composite(&v[0], &v[1], target, Some(&v[2]), &o), &inputs);
                assert_near("value", &fused.0, &comp.0);
                for i in 0..3 {
                    assert_near("grad", &fused.1[i], &comp.1[i]);
                }
            }
        }
    }

    /// Every target ignored: a mean of 0/0 is NaN, and the gradients are
    /// zeros, as the composite's (and PyTorch's), not NaN.
    #[test]
    fn a_mean_over_ignored_targets_has_zero_gradients() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let x = Tensor::randn(&[3, 4], DType::F64, &mut rng);
        let w = Tensor::randn(&[5, 4], DType::F64, &mut rng);
        let t = Tensor::from_vec(vec![-100i64; 3], &[3]).unwrap();
        let o = LinearCrossEntropyOptions::default();
        let inputs = [x, w];
        let fused = value_and_grads(|v| linear_cross_entropy(&v[0], &v[1], &t, None, &o), &inputs);
        let comp = value_and_grads(|v| linear_cross_entropy_composite(&v[0], &v[1], &t, None, &o), &inputs);
        assert!(fused.0[0].is_nan() && comp.0[0].is_nan());
        for i in 0..2 {
            assert!(comp.1[i].iter().all(|&g| g == 0.0), "the composite's gradients");
            assert_eq!(fused.1[i], comp.1[i]);
        }
    }
}
