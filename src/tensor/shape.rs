//! Shapes, strides, dim normalisation and broadcasting rules (NumPy / PyTorch).

use crate::{Error, Result};
use smallvec::SmallVec;

/// A tensor's shape: up to six dims live inline, without a heap allocation.
pub type Shape = SmallVec<[usize; 6]>;

/// An integer type a shape can be written in: `usize`, `isize`, `i64` or `i32`.
pub trait DimValue: Copy {
    /// The value, widened without loss.
    fn widen(self) -> i128;
}

macro_rules! dim_value {
    ($($t:ty),*) => {$(
        impl DimValue for $t {
            fn widen(self) -> i128 {
                self as i128
            }
        }
    )*};
}
dim_value!(usize, isize, i64, i32);

/// A shape as [`reshape`](crate::Tensor::reshape) and [`view`](crate::Tensor::view)
/// take it, by reference: a slice, array or `Vec` of `usize`, `isize`, `i64`
/// or `i32` (`&[2, -1]`, `x.shape()`, `&vec![6, 4]`). With a signed type, one
/// entry may be `-1`, inferred from the element count.
///
/// ```
/// # use tapegrad::{DType, Tensor};
/// let x = Tensor::zeros(&[2, 3, 4], DType::F32);
/// let y = Tensor::zeros(&[6, 4], DType::F32);
/// assert_eq!(x.reshape(y.shape())?.shape(), &[6, 4]);      // &[usize]
/// assert_eq!(x.reshape(&[-1, 4])?.shape(), &[6, 4]);       // a literal, -1 inferred
/// assert_eq!(x.view(&vec![4usize, 6])?.shape(), &[4, 6]);  // a Vec
/// let dims: Vec<isize> = vec![3, -1];
/// assert_eq!(x.reshape(&dims)?.shape(), &[3, 8]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub trait ShapeArg {
    /// The requested sizes, `-1` for one to infer.
    fn dims(&self) -> SmallVec<[i128; 6]>;
}

impl<T: DimValue> ShapeArg for [T] {
    fn dims(&self) -> SmallVec<[i128; 6]> {
        self.iter().map(|&d| d.widen()).collect()
    }
}

impl<T: DimValue, const N: usize> ShapeArg for [T; N] {
    fn dims(&self) -> SmallVec<[i128; 6]> {
        self.as_slice().dims()
    }
}

impl<T: DimValue> ShapeArg for Vec<T> {
    fn dims(&self) -> SmallVec<[i128; 6]> {
        self.as_slice().dims()
    }
}

impl ShapeArg for Shape {
    fn dims(&self) -> SmallVec<[i128; 6]> {
        self.as_slice().dims()
    }
}

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
