//! Shapes, strides, dim normalisation and broadcasting rules (NumPy / PyTorch).

use crate::{Error, Result};
use smallvec::SmallVec;

/// A tensor's shape: up to six dims live inline, without a heap allocation.
pub type Shape = SmallVec<[usize; 6]>;

/// Number of elements of a shape (1 for a 0-d shape).
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (contiguous) strides, in elements.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Shape {
    let mut s: Shape = smallvec::smallvec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i];
    }
    s
}

/// Turns a possibly negative `dim` into an index into `ndim` dims, as PyTorch
/// does (a 0-d tensor accepts `0` and `-1`).
pub(crate) fn normalize_dim(op: &'static str, dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if dim < -n || dim >= n {
        return Err(Error::index(
            op,
            format!(
                "dim = {dim} is out of range for a tensor of {ndim} dims (expected a value in [{}, {}])",
                -n,
                n - 1
            ),
        ));
    }
    Ok(if dim < 0 { (dim + n) as usize } else { dim as usize })
}

/// The broadcast shape of `a` and `b`, or an error naming both shapes.
pub(crate) fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = smallvec::smallvec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {a:?} and {b:?} cannot be broadcast together: size {da} vs {db} at dim {i} of the broadcast shape"
                ),
            ));
        };
    }
    Ok(out)
}

/// Strides with which a contiguous tensor of shape `shape` is read when it is
/// broadcast to `out` (0 along broadcast dims). `shape` must broadcast to `out`.
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Shape {
    let cs = contiguous_strides(shape);
    let off = out.len() - shape.len();
    let mut s: Shape = smallvec::smallvec![0; out.len()];
    for i in 0..shape.len() {
        s[i + off] = if shape[i] == 1 && out[i + off] != 1 { 0 } else { cs[i] };
    }
    s
}

/// Splits `shape` around `dim` into `(outer, size, inner)`.
pub(crate) fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    (numel(&shape[..dim]), shape[dim], numel(&shape[dim + 1..]))
}

/// Calls `f(offset_a, offset_b)` for every position of `out` in row-major order,
/// with offsets computed from the strides `sa` and `sb` (one per dim of `out`).
#[inline]
pub(crate) fn for_each_offset2(out: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize)) {
    let nd = out.len();
    if nd == 0 {
        f(0, 0);
        return;
    }
    if numel(out) == 0 {
        return;
    }
    let last = nd - 1;
    let (len, la, lb) = (out[last], sa[last], sb[last]);
    let mut idx: Shape = smallvec::smallvec![0; nd];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        let (mut ia, mut ib) = (oa, ob);
        for _ in 0..len {
            f(ia, ib);
            ia += la;
            ib += lb;
        }
        // advance the outer odometer
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < out[d] {
                break;
            }
            oa -= sa[d] * out[d];
            ob -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// Sums `grad` (of shape `from`) down to `to`, which broadcasts to `from`:
/// the backward of broadcasting.
pub(crate) fn reduce_to<T: crate::tensor::Float>(grad: &[T], from: &[usize], to: &[usize]) -> Vec<T> {
    if from == to {
        return grad.to_vec();
    }
    let mut out = crate::cpu::alloc::zeros::<T>(numel(to));
    let st = broadcast_strides(to, from);
    let sg = contiguous_strides(from);
    for_each_offset2(from, &st, &sg, |it, ig| out[it] += grad[ig]);
    out
}
