//! The fused triplet margin loss: for equal `(N, D)` (or `(D,)`) embeddings
//! and a finite norm degree, one pass per row makes the three distances, the
//! hinge and the gradients of anchor, positive and negative (for an upstream
//! gradient of 1, carrying the reduction); the backward only scales them
//! (see `rows`). Rows run in parallel chunks. The same formula from tensor
//! ops is `triplet::triplet_margin_composite`.

use super::rows::{RowGradBackward, reduce_values, reduction_scale};
use super::triplet::TripletMarginOptions;
use crate::autograd::is_grad_enabled;
use crate::cpu::par::chunks3;
use crate::tensor::ops::float_op;
use crate::tensor::{Float, Shape};
use crate::{Reduction, Result, Tensor};

const OP: &str = "triplet_margin_loss";
/// Elements per parallel chunk (whole rows).
const CHUNK: usize = 1 << 14;

/// The norm of degree `p` (finite, > 0) of `x − y + eps`.
#[inline]
fn norm<T: Float>(x: &[T], y: &[T], p: T, eps: T) -> T {
    let two = T::from_f64(2.0);
    if p == two {
        x.iter()
            .zip(y)
            .fold(T::zero(), |a, (&u, &v)| {
                let d = u - v + eps;
                a + d * d
            })
            .sqrt()
    } else if p == T::one() {
        x.iter().zip(y).fold(T::zero(), |a, (&u, &v)| a + (u - v + eps).abs())
    } else {
        x.iter().zip(y).fold(T::zero(), |a, (&u, &v)| a + (u - v + eps).abs().powf(p)).powf(T::one() / p)
    }
}

/// `s·∂‖v‖_p/∂v` at `v = x − y + eps` with `‖v‖ = nv` (0 where `nv` is 0,
/// as PyTorch's norm backward), added times `sign` into each of `outs`.
#[inline]
fn norm_grad<T: Float>(x: &[T], y: &[T], p: T, eps: T, nv: T, s: T, outs: &mut [(&mut [T], T)]) {
    if nv == T::zero() {
        return;
    }
    let two = T::from_f64(2.0);
    let k = if p == two {
        s / nv
    } else if p == T::one() {
        s
    } else {
        s / nv.powf(p - T::one())
    };
    for i in 0..x.len() {
        let d = x[i] - y[i] + eps;
        let g = if p == two {
            k * d
        } else if p == T::one() {
            k * crate::tensor::ops::unary::sign0(d)
        } else {
            k * d * d.abs().powf(p - two)
        };
        for (o, sign) in outs.iter_mut() {
            o[i] += *sign * g;
        }
    }
}

/// The loss of one triplet of rows, and (if the outputs are not empty) the
/// gradients added into them, times `scale`.
#[allow(clippy::too_many_arguments)] // the three rows, their three gradients and the options
fn row<T: Float>(
    (a, p, n): (&[T], &[T], &[T]),
    (ga, gp, gn): (&mut [T], &mut [T], &mut [T]),
    deg: T,
    eps: T,
    margin: T,
    swap: bool,
    scale: T,
) -> T {
    let dp = norm(a, p, deg, eps);
    let dn = norm(a, n, deg, eps);
    let ds = if swap { norm(p, n, deg, eps) } else { T::infinity() };
    // PyTorch's minimum: the swap distance where it is smaller
    let use_swap = swap && ds < dn;
    let dneg = if use_swap { ds } else { dn };
    let x = margin + dp - dneg;
    let loss = if x > T::zero() { x } else { T::zero() };
    if ga.is_empty() || x < T::zero() || x.is_nan() {
        return loss;
    }
    let one = T::one();
    // d/da, d/dp of ‖a − p‖ is (u, −u)
    norm_grad(a, p, deg, eps, dp, scale, &mut [(&mut *ga, one), (&mut *gp, -one)]);
    if use_swap {
        // −‖p − n‖: d/dp is −w, d/dn is +w
        norm_grad(p, n, deg, eps, ds, scale, &mut [(&mut *gp, -one), (&mut *gn, one)]);
    } else {
        // −‖a − n‖: d/da is −w, d/dn is +w
        norm_grad(a, n, deg, eps, dn, scale, &mut [(&mut *ga, -one), (&mut *gn, one)]);
    }
    loss
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
        let (mut ga, mut gp, mut gn) = (
            crate::cpu::alloc::zeros::<T>(len),
            crate::cpu::alloc::zeros::<T>(len),
            crate::cpu::alloc::zeros::<T>(len),
        );
        let (deg, eps, margin) = (T::from_f64(opts.p), T::from_f64(opts.eps), T::from_f64(opts.margin));
        let scale = T::from_f64(reduction_scale(opts.reduction, rows));
        let d1 = d.max(1);
        let chunk = (CHUNK / d1).max(1) * d1;
        let parts = chunks3(av.len(), chunk, &mut ga, &mut gp, &mut gn, |r, ga, gp, gn| {
            let (r0, r1) = (r.start / d1, r.end / d1);
            (r0..r1)
                .map(|j| {
                    let el = j * d..(j + 1) * d;
                    let local = (j - r0) * d..(j - r0 + 1) * d;
                    let sub = |g: &mut [T]| if g.is_empty() { 0..0 } else { local.clone() };
                    let (sa, sp, sn) = (sub(ga), sub(gp), sub(gn));
                    row(
                        (&av[el.clone()], &pv[el.clone()], &nv[el]),
                        (&mut ga[sa], &mut gp[sp], &mut gn[sn]),
                        deg,
                        eps,
                        margin,
                        opts.swap,
                        scale,
                    )
                })
                .collect::<Vec<T>>()
        });
        let mut losses: Vec<T> = parts.concat();
        if d == 0 {
            // empty embeddings: every distance is 0 (no chunk ran)
            losses = vec![if margin > T::zero() { margin } else { T::zero() }; rows];
        }
        let keep =
            |g: Vec<T>, t: &Tensor| (want && t.tracks_grad()).then(|| Tensor::from_storage(T::wrap(g), t.shape()));
        let grads = vec![keep(ga, a), keep(gp, p), keep(gn, n)];
        (T::wrap(reduce_values(&losses, opts.reduction)), grads)
    });
    let shape: &[usize] = if opts.reduction == Reduction::None { &out } else { &[] };
    Ok(if want {
        let node =
            RowGradBackward { name: "TripletMarginLossBackward0", op: OP, d: grads, rows, reduction: opts.reduction };
        Tensor::from_op(values, shape, node, &[a, p, n])
    } else {
        Tensor::from_storage(values, shape)
    })
}
