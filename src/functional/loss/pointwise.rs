//! One op for every elementwise loss: a value `f(x, t)` with its partial
//! derivatives (dfdx style), an optional `weight` multiplying each element,
//! an optional positive-class weight `p` (BCE-with-logits), and the reduction.
//!
//! Fused: when the input tracks gradients, the forward computes each value and
//! its derivative from one read of input and target (pre-scaled by the
//! reduction), in parallel chunks with cascade summation. The backward then
//! only scales the saved derivative by the upstream gradient, and hands it over
//! without a copy when that gradient is 1 (the usual `loss.backward()`).

use crate::autograd::{Backward, composite_backward, is_grad_enabled};
use crate::cpu::par::chunks3;
use crate::cpu::simd::dispatch;
use crate::cpu::sum::{lanes_sum, pairwise_sum, sum1, sum2};
use crate::functional::Reduction;
use crate::tensor::ops::float_op;
use crate::tensor::shape::{broadcast_shapes, reduce_to};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Error, Result};

/// An elementwise loss: the value and its derivatives in the input `x` and the target `t`.
/// `p` is the positive-class weight (1 for every loss but BCE-with-logits).
pub(crate) trait Pointwise: Copy + Send + Sync + 'static {
    /// The functional's name, for errors.
    const OP: &'static str;
    /// PyTorch's grad_fn name.
    const BACKWARD: &'static str;
    /// Whether the loss is differentiable in its target (`false`: the target
    /// only selects a branch, and gets no gradient, as in PyTorch).
    const TARGET_GRAD: bool = true;
    /// Whether the loss accepts [`Reduction::BatchMean`] (KL divergence only).
    const BATCHMEAN: bool = false;
    fn f<T: Float>(self, x: T, t: T, p: T) -> T;
    fn dfdx<T: Float>(self, x: T, t: T, p: T) -> T;
    fn dfdt<T: Float>(self, x: T, t: T, p: T) -> T;
    /// The elementwise value `f(x, t)` (`p`: the positive-class weight, if
    /// any) from recorded ops, for double backward; it must agree with `f`.
    fn graph(self, x: &Tensor, t: &Tensor, p: Option<&Tensor>) -> Result<Tensor>;
    /// `(f, ∂f/∂x)` together; losses override it to share work between the two.
    #[inline(always)]
    fn f_dfdx<T: Float>(self, x: T, t: T, p: T) -> (T, T) {
        (self.f(x, t, p), self.dfdx(x, t, p))
    }
    /// `(f, scale·∂f/∂x)`: what the kernel stores, `scale` holding the
    /// reduction's factor and the element's weight. A loss fused with the op
    /// before it (`binary_cross_entropy` of a `sigmoid`) chains that op's
    /// derivative here, after the scaling, as the two ops' backwards would.
    #[inline(always)]
    fn f_dfdx_scaled<T: Float>(self, x: T, t: T, p: T, scale: T) -> (T, T) {
        let (v, d) = self.f_dfdx(x, t, p);
        (v, scale * d)
    }
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

/// One chunk's operands: input `x`, target `t`, and the optional
/// elementwise weight `w` and `pos_weight` `p` (broadcast to `x`'s shape).
#[derive(Clone, Copy)]
struct Operands<'a, T> {
    x: &'a [T],
    t: &'a [T],
    w: Option<&'a [T]>,
    p: Option<&'a [T]>,
}

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 16;
/// Elements per block of the cascade summation.
const BLOCK: usize = 256;

dispatch! {
    /// Values (written to `vals`, or summed) and scaled derivatives `scale·w·∂f/∂x`
    /// (written to `dx` unless it is empty) of one chunk. Returns the chunk's
    /// sum in f64: each block of [`BLOCK`] values is summed in `T` on 16
    /// lanes, the block sums in f64, so that an f32 loss reduced over millions
    /// of elements is rounded once, at the end (it is memory-bound, so the
    /// wider sums of the few block sums cost nothing).
    fn value_and_grad<T: Float, L: Pointwise>(loss: L, ops: Operands<'_, T>, scale: T, vals: &mut [T], dx: &mut [T]) -> f64 {
        let Operands { x, t, w, p } = ops;
        let one = T::one();
        let mut block_sums = Vec::with_capacity(x.len() / BLOCK + 1);
        let mut buf = [T::zero(); BLOCK];
        for start in (0..x.len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(x.len());
            let b = &mut buf[..end - start];
            let (xb, tb) = (&x[start..end], &t[start..end]);
            let wb = w.map(|w| &w[start..end]);
            let pb = p.map(|p| &p[start..end]);
            if wb.is_none() && pb.is_none() && dx.is_empty() && vals.is_empty() {
                // a reduced loss without a gradient: the same sum, made directly
                block_sums.push(sum2(xb, tb, |xk, tk| loss.f(xk, tk, one)).to_f64());
                continue;
            }
            if wb.is_none() && pb.is_none() && !dx.is_empty() && vals.is_empty() {
                // the usual reduced loss with a gradient: the values summed as
                // they are made, lane by lane as `sum1` over the block would
                // (the same bits), without a round trip through `buf`
                let db = &mut dx[start..end];
                let ((xc, xr), (tc, tr)) = (xb.as_chunks::<16>(), tb.as_chunks::<16>());
                let (dc, dr) = db.as_chunks_mut::<16>();
                let mut acc = [T::zero(); 16];
                for ((d16, x16), t16) in dc.iter_mut().zip(xc).zip(tc) {
                    for i in 0..16 {
                        let (v, d) = loss.f_dfdx_scaled(x16[i], t16[i], one, scale);
                        acc[i] += v;
                        d16[i] = d;
                    }
                }
                let mut rest = T::zero();
                for ((dk, &xk), &tk) in dr.iter_mut().zip(xr).zip(tr) {
                    let (v, d) = loss.f_dfdx_scaled(xk, tk, one, scale);
                    rest += v;
                    *dk = d;
                }
                block_sums.push((lanes_sum(acc) + rest).to_f64());
                continue;
            }
            if wb.is_none() && pb.is_none() && !dx.is_empty() {
                // unreduced with a gradient, without a per-element check of the options
                let db = &mut dx[start..end];
                for (((bk, dk), &xk), &tk) in b.iter_mut().zip(db.iter_mut()).zip(xb).zip(tb) {
                    let (v, d) = loss.f_dfdx_scaled(xk, tk, one, scale);
                    *bk = v;
                    *dk = d;
                }
            } else if dx.is_empty() {
                for k in 0..b.len() {
                    let v = loss.f(xb[k], tb[k], pb.map_or(one, |p| p[k]));
                    b[k] = wb.map_or(v, |w| w[k] * v);
                }
            } else {
                let db = &mut dx[start..end];
                for k in 0..b.len() {
                    let wk = wb.map_or(one, |w| w[k]);
                    let (v, d) = loss.f_dfdx_scaled(xb[k], tb[k], pb.map_or(one, |p| p[k]), scale * wk);
                    b[k] = wk * v;
                    db[k] = d;
                }
            }
            if vals.is_empty() {
                block_sums.push(sum1(b, |v| v).to_f64());
            } else {
                vals[start..end].copy_from_slice(b);
            }
        }
        pairwise_sum(&block_sums)
    }
}

/// Scaled derivatives `scale·w·∂f/∂t` of one chunk.
fn target_grad<T: Float, L: Pointwise>(loss: L, ops: Operands<'_, T>, scale: T, dt: &mut [T]) {
    let Operands { x, t, w, p } = ops;
    for k in 0..x.len() {
        let d = loss.dfdt(x[k], t[k], p.map_or(T::one(), |p| p[k]));
        dt[k] = scale * w.map_or(d, |w| w[k] * d);
    }
}

/// An elementwise loss with its weight and reduction, from recorded ops.
type Formula = Box<dyn Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

struct PointwiseBackward {
    name: &'static str,
    /// the loss recomputed from recorded ops (its double backward)
    formula: Formula,
    /// for a loss fused with the op before it, the unfused loss of that op's
    /// output, `inputs[2]` (see `Backward::skipped`)
    unfused: Option<Formula>,
    reduction: Reduction,
    /// `scale·w·∂f/∂x` over the broadcast shape, if the input tracks gradients
    dx: Option<Tensor>,
    /// `scale·w·∂f/∂t`, if the target does
    dt: Option<Tensor>,
}

fn broadcast_arg(op: &'static str, name: &str, a: &Tensor, input: &Tensor, out: &[usize]) -> Result<Tensor> {
    input.require_same_dtype(a, op, name)?;
    let fits = broadcast_shapes(op, a.shape(), out).is_ok_and(|s| s.as_slice() == out);
    if !fits {
        return Err(Error::shape(
            op,
            format!("{name} of shape {:?} cannot be broadcast to the loss shape {out:?}", a.shape()),
        ));
    }
    a.detach().broadcast_to(out)
}

/// The loss shape of an elementwise loss whose target broadcasts to the input:
/// the input's shape. A target that would enlarge it (an `(N, 1)` prediction
/// against an `(N,)` target silently becoming `(N, N)`, where PyTorch only
/// warns) is an `Err` that says to squeeze or reshape; one that broadcasts
/// without changing the input's shape (`(1, C)` against `(N, C)`) is accepted.
pub(crate) fn target_fits(op: &'static str, input: &[usize], target: &[usize]) -> Result<Shape> {
    let out = broadcast_shapes(op, input, target).map_err(|_| {
        Error::shape(
            op,
            format!("target of shape {target:?} does not match (nor broadcast with) input of shape {input:?}"),
        )
    })?;
    if out.as_slice() != input {
        return Err(Error::shape(
            op,
            format!(
                "target of shape {target:?} would broadcast input of shape {input:?} to {:?}, \
                 a loss over every pair of elements; squeeze or reshape one of them so the shapes match",
                out.as_slice()
            ),
        ));
    }
    Ok(out)
}

/// Computes an elementwise loss with its reduction, recording one node.
pub(crate) fn pointwise_loss<L: Pointwise>(loss: L, a: Args<'_>) -> Result<Tensor> {
    pointwise_impl(loss, a, None::<(L, &Tensor)>)
}

/// [`pointwise_loss`] of a loss fused with the op before it (`loss` of `x` is
/// `unfused` of `y`, where `y` was computed from `x`, a tensor the loss does not
/// read): recorded on `x`, with `y` listed as the node's skipped input (see
/// `Backward::skipped`), so that a gradient asked for `y` is `unfused`'s.
pub(crate) fn pointwise_loss_over<L: Pointwise, U: Pointwise>(
    loss: L,
    a: Args<'_>,
    unfused: U,
    y: &Tensor,
) -> Result<Tensor> {
    pointwise_impl(loss, a, Some((unfused, y)))
}

fn pointwise_impl<L: Pointwise, U: Pointwise>(loss: L, a: Args<'_>, skipped: Option<(U, &Tensor)>) -> Result<Tensor> {
    let op = L::OP;
    a.input.require_float(op, "input")?;
    a.target.require_float(op, "target")?;
    a.input.require_same_dtype(a.target, op, "target")?;
    if !L::BATCHMEAN {
        a.reduction.reject_batchmean(op)?;
    }
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
        TargetShape::Broadcast => target_fits(op, a.input.shape(), a.target.shape())?,
    };
    let x = a.input.detach().broadcast_to(&out)?;
    let t = a.target.detach().broadcast_to(&out)?;
    let w = a.weight.map(|w| broadcast_arg(op, "weight", w, a.input, &out)).transpose()?;
    let p = a.pos_weight.map(|p| broadcast_arg(op, "pos_weight", p, a.input, &out)).transpose()?;
    let need_dx = is_grad_enabled() && a.input.tracks_grad();
    let need_dt = L::TARGET_GRAD && is_grad_enabled() && a.target.tracks_grad();
    let n = x.numel();
    let (storage, dx, dt) = float_op!(op, "input", x, |xs| {
        let ts = t.data::<T>(op, "target")?;
        let ws = w.as_ref().map(|w| w.data::<T>(op, "weight")).transpose()?;
        let ps = p.as_ref().map(|p| p.data::<T>(op, "pos_weight")).transpose()?;
        let (ts, ws, ps): (&[T], Option<&[T]>, Option<&[T]>) = (&ts, ws.as_deref(), ps.as_deref());
        let denom = match (a.reduction, a.mean_over, ws) {
            // PyTorch's batchmean: the sum over the size of the first dim (a 0-d input is summed)
            (Reduction::BatchMean, _, _) => T::from_f64(out.first().map_or(1.0, |&b| b as f64)),
            (_, MeanOver::WeightSum, Some(w)) => pairwise_sum(w),
            _ => T::from_f64(n as f64),
        };
        let divides = matches!(a.reduction, Reduction::Mean | Reduction::BatchMean);
        let scale = if divides { T::one() / denom } else { T::one() };
        let denom = denom.to_f64();
        // every element of these is written by the kernels below
        let zeros = |want: bool| crate::cpu::alloc::scratch::<T>(if want { n } else { 0 });
        let (mut vals, mut dx, mut dt) = (zeros(a.reduction == Reduction::None), zeros(need_dx), zeros(need_dt));
        let sums = chunks3(n, CHUNK, &mut vals, &mut dx, &mut dt, |r, v, gx, gt| {
            let (xc, tc) = (&xs[r.clone()], &ts[r.clone()]);
            let (wc, pc) = (ws.map(|w| &w[r.clone()]), ps.map(|p| &p[r.clone()]));
            let ops = Operands { x: xc, t: tc, w: wc, p: pc };
            if !gt.is_empty() {
                target_grad(loss, ops, scale, gt);
            }
            value_and_grad(loss, ops, scale, v, gx)
        });
        let total = pairwise_sum(&sums);
        let storage = match a.reduction {
            Reduction::None => T::wrap(vals),
            Reduction::Sum => T::wrap(vec![T::from_f64(total)]),
            Reduction::Mean | Reduction::BatchMean => T::wrap(vec![T::from_f64(total / denom)]),
        };
        let keep = |v: Vec<T>, want: bool| want.then(|| Tensor::from_storage(T::wrap(v), &out));
        (storage, keep(dx, need_dx), keep(dt, need_dt))
    });
    let shape: &[usize] = if a.reduction == Reduction::None { &out } else { &[] };
    // the intermediate only when it records a graph (then so does the loss)
    let skipped = skipped.filter(|(_, y)| y.tracks_grad() && is_grad_enabled());
    let unfused = skipped.as_ref().map(|&(u, _)| formula(u, w.clone(), p.clone(), a.reduction, a.mean_over));
    let formula = formula(loss, w, p, a.reduction, a.mean_over);
    let node = PointwiseBackward { name: L::BACKWARD, formula, unfused, reduction: a.reduction, dx, dt };
    match skipped {
        Some((_, y)) => Ok(Tensor::from_op(storage, shape, node, &[a.input, a.target, y])),
        None => Ok(Tensor::from_op(storage, shape, node, &[a.input, a.target])),
    }
}

/// The loss as recorded ops: `w·f(x, t)` reduced (`mean` over the elements,
/// or over the summed weights for `MeanOver::WeightSum`; `batchmean` over the
/// first dim).
fn formula<L: Pointwise>(
    loss: L,
    w: Option<Tensor>,
    p: Option<Tensor>,
    reduction: Reduction,
    mean_over: MeanOver,
) -> Formula {
    Box::new(move |x: &Tensor, t: &Tensor| {
        let v = loss.graph(x, t, p.as_ref())?;
        let v = match &w {
            Some(w) => v.mul(w)?,
            None => v,
        };
        match (reduction, &w) {
            (Reduction::None, _) => Ok(v),
            (Reduction::Sum, _) => Ok(v.sum_all()),
            (Reduction::Mean, Some(w)) if mean_over == MeanOver::WeightSum => v.sum_all().div(&w.sum_all()),
            (Reduction::Mean, _) => Ok(v.mean_all()),
            // PyTorch's batchmean: the sum over the size of the first dim (a 0-d input is summed)
            (Reduction::BatchMean, _) => match x.shape().first() {
                Some(&b) => v.sum_all().div_scalar(b as f64),
                None => Ok(v.sum_all()),
            },
        }
    })
}

/// A 0/1 tensor of `x`'s shape and dtype: `pred(x)` elementwise on its data (untracked).
pub(crate) fn mask_of(x: &Tensor, pred: impl Fn(f64) -> bool) -> Result<Tensor> {
    let v = x.detach().to_dtype(crate::DType::F64)?.to_vec::<f64>()?;
    let m: Vec<f64> = v.into_iter().map(|a| if pred(a) { 1.0 } else { 0.0 }).collect();
    Tensor::from_vec(m, x.shape())?.to_dtype(x.dtype())
}

/// `softplus(z) = ln(1 + eᶻ)` from recorded ops, without overflow:
/// `ln(1 + eᶻ)` where `z ≤ 0`, `z + ln(1 + e⁻ᶻ)` elsewhere, each branch fed
/// only its own side's values. Its derivative is `σ(z)` everywhere, `½` at 0
/// (a form through `|z|` and `max(z, 0)` would give 0 there).
pub(crate) fn softplus_graph(z: &Tensor) -> Result<Tensor> {
    let low = mask_of(z, |v| v <= 0.0)?;
    let zero = z.full_like(0.0);
    let (zn, zp) = (Tensor::where_cond(&low, z, &zero)?, Tensor::where_cond(&low, &zero, z)?);
    let pos = zp.add(&zp.neg().exp().log1p())?;
    Tensor::where_cond(&low, &zn.exp().log1p(), &pos)
}

/// A saved derivative `d` (over the loss's broadcast shape, pre-scaled by the
/// reduction) times the upstream gradient, summed down to `to`'s shape: the
/// backward of every loss that writes its derivatives in its forward.
pub(crate) fn chain_saved(
    name: &'static str,
    reduction: Reduction,
    d: &Tensor,
    grad: &Tensor,
    to: &Tensor,
) -> Result<Tensor> {
    let full = float_op!(name, "grad", grad, |g| {
        if reduction != Reduction::None && g[0] == T::one() {
            d.clone() // the usual loss.backward(): no pass over the data at all
        } else {
            let ds = d.data::<T>(name, "derivative")?;
            let v: Vec<T> = if reduction == Reduction::None {
                ds.iter().zip(g.iter()).map(|(&d, &g)| d * g).collect()
            } else {
                ds.iter().map(|&d| d * g[0]).collect()
            };
            Tensor::from_storage(T::wrap(v), d.shape())
        }
    });
    if full.shape() == to.shape() {
        return Ok(full);
    }
    let reduced = float_op!(name, "grad", full, |f| T::wrap(reduce_to(f, full.shape(), to.shape())));
    Ok(Tensor::from_storage(reduced, to.shape()))
}

impl Backward for PointwiseBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let chain = |d: &Tensor, to: &Tensor| chain_saved(self.name, self.reduction, d, grad, to);
        let gx = self.dx.as_ref().map(|d| chain(d, &inputs[0])).transpose()?;
        let gt = self.dt.as_ref().map(|d| chain(d, &inputs[1])).transpose()?;
        Ok(vec![gx, gt])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        match &self.unfused {
            Some(unfused) if needs.get(2).copied().unwrap_or(false) => {
                composite_backward(inputs, grad, needs, |xs| unfused(&xs[2], &xs[1]))
            }
            _ => composite_backward(inputs, grad, needs, |xs| (self.formula)(&xs[0], &xs[1])),
        }
    }
    fn skipped(&self) -> Option<usize> {
        self.unfused.as_ref().map(|_| 2)
    }
}
