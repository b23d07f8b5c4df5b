//! Comparisons (`eq ne lt le gt ge`, against a tensor or a scalar) returning
//! Bool tensors, and `argmax` / `argmin` returning I64 positions. None of them
//! is differentiable: their results never track gradients.

use crate::tensor::shape::{broadcast_shapes, broadcast_strides, for_each_offset2, normalize_dim, split_at_dim};
use crate::tensor::{DType, Element, Shape, Storage, Tensor};
use crate::{Error, Result};
use std::cmp::Ordering;

/// Which comparison.
#[derive(Clone, Copy, Debug)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// IEEE semantics: any comparison with NaN is false, except `ne`.
    #[inline]
    fn f<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// PyTorch's ordering of dtype categories and sizes: Bool < I64 < F32 < F64.
fn rank(d: DType) -> u8 {
    match d {
        DType::Bool => 0,
        DType::I64 => 1,
        DType::F32 => 2,
        DType::F64 => 3,
    }
}

/// 0 for Bool, 1 for integers, 2 for floats.
fn category(d: DType) -> u8 {
    match d {
        DType::Bool => 0,
        DType::I64 => 1,
        DType::F32 | DType::F64 => 2,
    }
}

/// The dtype two tensors are compared in, as `torch.result_type`: the larger
/// of the two, except that a 0-d tensor only decides when it is of a higher
/// category (bool < integer < float) than a tensor with dims (so an F32
/// tensor compared with a 0-d F64 tensor is compared in F32).
pub(crate) fn promote(a: &Tensor, b: &Tensor) -> DType {
    let (da, db) = (a.dtype(), b.dtype());
    let larger = |x: DType, y: DType| if rank(x) >= rank(y) { x } else { y };
    match (a.ndim() == 0, b.ndim() == 0) {
        (true, false) if category(da) <= category(db) => db,
        (false, true) if category(db) <= category(da) => da,
        _ => larger(da, db),
    }
}

/// `f(a[i], b[i])` over the broadcast shape `out`.
fn compare_slices<T: Element>(x: &[T], xs: &[usize], y: &[T], ys: &[usize], out: &[usize], op: Cmp) -> Vec<bool> {
    if xs == ys {
        return x.iter().zip(y).map(|(&p, &q)| op.f(p, q)).collect();
    }
    let (sa, sb) = (broadcast_strides(xs, out), broadcast_strides(ys, out));
    let mut v = Vec::with_capacity(crate::tensor::shape::numel(out));
    for_each_offset2(out, &sa, &sb, |ia, ib| v.push(op.f(x[ia], y[ib])));
    v
}

fn compare(a: &Tensor, b: &Tensor, op: Cmp, name: &'static str) -> Result<Tensor> {
    let out = broadcast_shapes(name, a.shape(), b.shape())?;
    let dtype = promote(a, b);
    let (sa, sb) = (a.storage(), b.storage());
    // only an operand of another dtype is converted (a copy); the other is read in place
    let ca = (sa.dtype() != dtype).then(|| sa.convert(dtype));
    let cb = (sb.dtype() != dtype).then(|| sb.convert(dtype));
    let (x, y) = (ca.as_ref().unwrap_or(&sa), cb.as_ref().unwrap_or(&sb));
    let v = match (x, y) {
        (Storage::F32(x), Storage::F32(y)) => compare_slices(x, a.shape(), y, b.shape(), &out, op),
        (Storage::F64(x), Storage::F64(y)) => compare_slices(x, a.shape(), y, b.shape(), &out, op),
        (Storage::I64(x), Storage::I64(y)) => compare_slices(x, a.shape(), y, b.shape(), &out, op),
        (Storage::Bool(x), Storage::Bool(y)) => compare_slices(x, a.shape(), y, b.shape(), &out, op),
        _ => unreachable!("{name}: both operands were converted to {dtype}"),
    };
    Ok(Tensor::from_storage(Storage::Bool(v), &out))
}

/// Compares every element with the scalar `v`: in F32 for an F32 tensor (the
/// scalar rounded to f32 first, as PyTorch does), in f64 otherwise (exact for
/// I64 values up to 2⁵³ and for Bool's 0 and 1).
fn compare_scalar(a: &Tensor, v: f64, op: Cmp) -> Tensor {
    let s = a.storage();
    let out: Vec<bool> = match &*s {
        Storage::F32(x) => {
            let v = v as f32;
            x.iter().map(|&p| op.f(p, v)).collect()
        }
        Storage::F64(x) => x.iter().map(|&p| op.f(p, v)).collect(),
        Storage::I64(x) => x.iter().map(|&p| op.f(p as f64, v)).collect(),
        Storage::Bool(x) => x.iter().map(|&p| op.f(p.to_f64(), v)).collect(),
    };
    Tensor::from_storage(Storage::Bool(out), a.shape())
}

macro_rules! comparisons {
    ($($name:ident, $scalar:ident, $cmp:ident, $sym:literal, $torch:literal;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`self ", $sym, " other` elementwise, as a Bool tensor (`", $torch, "`).")]
                ///
                /// The operands broadcast (NumPy/PyTorch rules) and may have
                /// different dtypes: they are compared in the dtype PyTorch
                /// promotes them to (Bool < I64 < F32 < F64; a 0-d operand
                /// decides only when of a higher category, as
                /// `torch.result_type`). A comparison with NaN is false,
                /// except `ne`, which is true. The result never tracks
                /// gradients. Errors if the shapes do not broadcast.
                pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
                    compare(self, other, Cmp::$cmp, stringify!($name))
                }

                #[doc = concat!("`self ", $sym, " value` elementwise, as a Bool tensor (`", $torch, "` with a number).")]
                ///
                /// An F32 tensor is compared with `value` rounded to f32, as in
                /// PyTorch; other dtypes in f64 (Bool as 0 and 1). NaN compares
                /// false, except for `ne`. The result never tracks gradients.
                /// Never fails; returns `Result` to chain with `?` like the
                /// other elementwise ops.
                pub fn $scalar(&self, value: f64) -> Result<Tensor> {
                    Ok(compare_scalar(self, value, Cmp::$cmp))
                }
            )*
        }
    };
}

comparisons! {
    eq, eq_scalar, Eq, "==", "torch.eq";
    ne, ne_scalar, Ne, "!=", "torch.ne";
    lt, lt_scalar, Lt, "<", "torch.lt";
    le, le_scalar, Le, "<=", "torch.le";
    gt, gt_scalar, Gt, ">", "torch.gt";
    ge, ge_scalar, Ge, ">=", "torch.ge";
}

/// The shape of a reduction over `dim` (kept as size 1 with `keepdim`).
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

/// Per `(outer, inner)` position, the first `k` where `x` is extreme over the
/// middle axis: `better(v, best)` says `v` beats the current best; NaN beats
/// everything and the first NaN stays.
fn arg_extreme<T: Element>(
    x: &[T],
    (outer, n, inner): (usize, usize, usize),
    better: fn(Ordering) -> bool,
) -> Vec<i64> {
    #[allow(clippy::eq_op)]
    let is_nan = |v: T| v != v;
    let mut out = vec![0i64; outer * inner];
    let mut best: Vec<T> = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        best.clear();
        best.extend_from_slice(&x[o * n * inner..o * n * inner + inner]);
        let idx = &mut out[o * inner..(o + 1) * inner];
        for k in 1..n {
            let row = &x[(o * n + k) * inner..(o * n + k + 1) * inner];
            for ((b, i), &v) in best.iter_mut().zip(idx.iter_mut()).zip(row) {
                if is_nan(*b) {
                    continue;
                }
                if is_nan(v) || v.partial_cmp(b).is_some_and(better) {
                    *b = v;
                    *i = k as i64;
                }
            }
        }
    }
    out
}

impl Tensor {
    /// The position of the largest value over `dim`, as I64 (`torch.argmax(x, dim, keepdim)`):
    /// the first one at ties; NaN counts as the largest (the first NaN wins).
    /// Works on F32, F64 and I64; not differentiable (the result never tracks
    /// gradients). Errors: `dim` out of range, a dim of size 0, a Bool input.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![0.1f32, 0.7, 0.7, 0.9, 0.0, f32::NAN], &[2, 3])?;
    /// assert_eq!(x.argmax(1, false)?.to_vec::<i64>()?, vec![1, 2]);
    /// assert_eq!(x.argmax(-1, true)?.shape(), &[2, 1]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmax", dim, keepdim, |o| o == Ordering::Greater)
    }

    /// The position of the smallest value over `dim`, as I64 (`torch.argmin(x, dim, keepdim)`):
    /// the first one at ties; NaN counts as the smallest (the first NaN wins, as
    /// PyTorch). Errors as [`argmax`](Tensor::argmax).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![3i64, 1, 1, 2], &[4])?;
    /// assert_eq!(x.argmin(0, false)?.item::<i64>()?, 1);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmin", dim, keepdim, |o| o == Ordering::Less)
    }

    fn arg_extreme(&self, op: &'static str, dim: isize, keepdim: bool, better: fn(Ordering) -> bool) -> Result<Tensor> {
        let d = normalize_dim(op, dim, self.ndim())?;
        let split = split_at_dim(self.shape(), d);
        if split.1 == 0 {
            return Err(Error::shape(
                op,
                format!("dim {dim} of input (shape {:?}) has size 0: the {op} of nothing is undefined", self.shape()),
            ));
        }
        let idx = match &*self.storage() {
            Storage::F32(x) => arg_extreme(x, split, better),
            Storage::F64(x) => arg_extreme(x, split, better),
            Storage::I64(x) => arg_extreme(x, split, better),
            Storage::Bool(_) => {
                return Err(Error::dtype(
                    op,
                    "input has dtype Bool, which has no order to search (as in PyTorch); convert with to_dtype(DType::I64)",
                ));
            }
        };
        Ok(Tensor::from_storage(Storage::I64(idx), &reduced_shape(self.shape(), d, keepdim)))
    }
}
