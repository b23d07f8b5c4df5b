//! The fused triplet margin loss: for equal `(N, D)` (or `(D,)`) embeddings
//! and a finite norm degree, one pass per row makes the three distances, the
//! hinge and the gradients of anchor, positive and negative (for an upstream
//! gradient of 1, carrying the reduction); the backward only scales them
//! (see `rows`). Rows run in parallel chunks. The same formula from tensor
//! ops is `triplet::triplet_margin_composite`.

use super::rows::{RowGradBackward, reduce_values, reduction_scale};
use super::triplet::{TripletMarginOptions, triplet_margin_composite};
use crate::autograd::is_grad_enabled;
use crate::cpu::alloc::scratch;
use crate::cpu::par::chunks3;
use crate::cpu::simd::dispatch;
use crate::tensor::ops::float_op;
use crate::tensor::{Float, Shape};
use crate::{Reduction, Result, Tensor};

const OP: &str = "triplet_margin_loss";
/// Elements per parallel chunk (whole rows).
const CHUNK: usize = 1 << 14;

/// The options of a row, in the element type.
#[derive(Clone, Copy)]
struct Params<T> {
    deg: T,
    eps: T,
    margin: T,
    swap: bool,
    /// the reduction's factor on the gradients (see `rows`)
    scale: T,
}

/// `Σ f(x_i − y_i + eps)` in eight lanes (vectorisable; the same order on
/// every build).
#[inline(always)]
fn lanes<T: Float>(x: &[T], y: &[T], eps: T, f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); 8];
    let (xc, xr) = x.as_chunks::<8>();
    let (yc, yr) = y.as_chunks::<8>();
    for (x8, y8) in xc.iter().zip(yc) {
        for l in 0..8 {
            acc[l] += f(x8[l] - y8[l] + eps);
        }
    }
    for (l, (&u, &v)) in xr.iter().zip(yr).enumerate() {
        acc[l] += f(u - v + eps);
    }
    acc.iter().fold(T::zero(), |a, &v| a + v)
}

/// The norm of degree `deg` (finite, > 0) of `x − y + eps`.
#[inline(always)]
fn norm<T: Float>(x: &[T], y: &[T], deg: T, eps: T) -> T {
    if deg == T::from_f64(2.0) {
        lanes(x, y, eps, |d| d * d).sqrt()
    } else if deg == T::one() {
        lanes(x, y, eps, |d| d.abs())
    } else {
        lanes(x, y, eps, |d| d.abs().powf(deg)).powf(T::one() / deg)
    }
}

/// The factor `k` of the norm's gradient `k·f(v)` at a norm `nv` (0 where
/// `nv` is 0, as PyTorch's norm backward), times `s`.
#[inline(always)]
fn factor<T: Float>(deg: T, nv: T, s: T) -> T {
    if nv == T::zero() {
        T::zero()
    } else if deg == T::from_f64(2.0) {
        s / nv
    } else if deg == T::one() {
        s
    } else {
        s / nv.powf(deg - T::one())
    }
}

/// Writes the three gradients of one active triplet: `u = ku·f(a − p + ε)`
/// and `w = kw·f(· − n + ε)` (the negative's vector: `p − n` with the swap,
/// else `a − n`); `f` is the norm's elementwise gradient shape.
#[inline(always)]
fn write_grads<T: Float>(
    (a, p, n): (&[T], &[T], &[T]),
    (ga, gp, gn): (&mut [T], &mut [T], &mut [T]),
    eps: T,
    (ku, kw): (T, T),
    use_swap: bool,
    f: impl Fn(T) -> T,
) {
    for i in 0..a.len() {
        let u = ku * f(a[i] - p[i] + eps);
        if use_swap {
            let w = kw * f(p[i] - n[i] + eps);
            (ga[i], gp[i], gn[i]) = (u, -u - w, w);
        } else {
            let w = kw * f(a[i] - n[i] + eps);
            (ga[i], gp[i], gn[i]) = (u - w, -u, w);
        }
    }
}

dispatch! {
    /// The losses of rows of `d` elements (`losses[j]` for row `j`) and, if
    /// `ga` is not empty, the three gradients of each (zero where the hinge
    /// is inactive).
    fn rows_kernel<T: Float>(x: (&[T], &[T], &[T]), d: usize, prm: Params<T>, g: (&mut [T], &mut [T], &mut [T]), losses: &mut [T]) {
        let ((a, p, n), (ga, gp, gn)) = (x, g);
        let two = T::from_f64(2.0);
        for (j, loss) in losses.iter_mut().enumerate() {
            let el = j * d..(j + 1) * d;
            let rows = (&a[el.clone()], &p[el.clone()], &n[el.clone()]);
            let dp = norm(rows.0, rows.1, prm.deg, prm.eps);
            let dn = norm(rows.0, rows.2, prm.deg, prm.eps);
            let ds = if prm.swap { norm(rows.1, rows.2, prm.deg, prm.eps) } else { T::infinity() };
            // PyTorch's minimum: the swap distance where it is smaller
            let use_swap = prm.swap && ds < dn;
            let x = prm.margin + dp - if use_swap { ds } else { dn };
            *loss = if x > T::zero() { x } else { T::zero() };
            if ga.is_empty() {
                continue;
            }
            let g = (&mut ga[el.clone()], &mut gp[el.clone()], &mut gn[el]);
            // clamp_min's gradient passes at 0 too
            if x.is_nan() || x < T::zero() {
                g.0.fill(T::zero());
                g.1.fill(T::zero());
                g.2.fill(T::zero());
                continue;
            }
            let k = (factor(prm.deg, dp, prm.scale), factor(prm.deg, if use_swap { ds } else { dn }, prm.scale));
            let deg = prm.deg;
            if deg == two {
                write_grads(rows, g, prm.eps, k, use_swap, |v| v);
            } else if deg == T::one() {
                write_grads(rows, g, prm.eps, k, use_swap, crate::tensor::ops::unary::sign0);
            } else {
                write_grads(rows, g, prm.eps, k, use_swap, |v| v * v.abs().powf(deg - two));
            }
        }
    }
}

/// The fused loss, for equal shapes `(N, D)` or `(D,)` and a finite `p`.
pub(crate) fn triplet_fused(a: &Tensor, p: &Tensor, n: &Tensor, opts: &TripletMarginOptions) -> Result<Tensor> {
    let (rows, d, out): (usize, usize, Shape) = match a.shape() {
        [d] => (1, *d, Shape::new()),
        [r, d] => (*r, *d, Shape::from_slice(&[*r])),
        _ => unreachable!("triplet_fused: callers pass 1-D or 2-D embeddings"),
    };
    let want = is_grad_enabled() && (a.tracks_grad() || p.tracks_grad() || n.tracks_grad());
    let (values, grads) = float_op!(OP, "anchor", a, |av| {
        let pv = p.data::<T>(OP, "positive")?;
        let nv = n.data::<T>(OP, "negative")?;
        let (pv, nv): (&[T], &[T]) = (&pv, &nv);
        let len = if want { av.len() } else { 0 };
        let (mut ga, mut gp, mut gn) = (scratch::<T>(len), scratch::<T>(len), scratch::<T>(len));
        let prm = Params {
            deg: T::from_f64(opts.p),
            eps: T::from_f64(opts.eps),
            margin: T::from_f64(opts.margin),
            swap: opts.swap,
            scale: T::from_f64(reduction_scale(opts.reduction, rows)),
        };
        let d1 = d.max(1);
        let chunk = (CHUNK / d1).max(1) * d1;
        let parts = chunks3(av.len(), chunk, &mut ga, &mut gp, &mut gn, |r, ga, gp, gn| {
            let (r0, r1) = (r.start / d1, r.end / d1);
            let el = r0 * d..r1 * d;
            let mut losses = vec![T::zero(); r1 - r0];
            rows_kernel((&av[el.clone()], &pv[el.clone()], &nv[el]), d, prm, (ga, gp, gn), &mut losses);
            losses
        });
        let mut losses: Vec<T> = parts.concat();
        if d == 0 {
            // empty embeddings: every distance is 0 (no chunk ran)
            let m = prm.margin;
            losses = vec![if m > T::zero() { m } else { T::zero() }; rows];
        }
        let keep =
            |g: Vec<T>, t: &Tensor| (want && t.tracks_grad()).then(|| Tensor::from_storage(T::wrap(g), t.shape()));
        let grads = vec![keep(ga, a), keep(gp, p), keep(gn, n)];
        (T::wrap(reduce_values(&losses, opts.reduction)), grads)
    });
    let shape: &[usize] = if opts.reduction == Reduction::None { &out } else { &[] };
    Ok(if want {
        let composite_opts = opts.clone();
        let node = RowGradBackward {
            name: "TripletMarginLossBackward0",
            op: OP,
            d: grads,
            rows,
            reduction: opts.reduction,
            composite: Box::new(move |xs| triplet_margin_composite(&xs[0], &xs[1], &xs[2], &composite_opts)),
        };
        Tensor::from_op(values, shape, node, &[a, p, n])
    } else {
        Tensor::from_storage(values, shape)
    })
}
