//! Shape ops: reshape / view (no copy), squeeze / unsqueeze, transpose / permute
//! and expand (copies into a new contiguous tensor).

use crate::autograd::Backward;
use crate::tensor::shape::{
    broadcast_shapes, broadcast_strides, contiguous_strides, for_each_offset2, normalize_dim, numel, reduce_to,
};
use crate::tensor::{Element, Shape, ShapeArg, Storage, Tensor};
use crate::{Error, Result};

struct ReshapeBackward;

impl Backward for ReshapeBackward {
    fn name(&self) -> &'static str {
        "ViewBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::from_shared(grad.storage_arc(), inputs[0].0.shape.clone()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.reshape_internal(inputs[0].shape())?)])
    }
}

struct PermuteBackward {
    perm: Shape,
}

impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "PermuteBackward0"
    }
    fn backward(&self, _inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut inv: Shape = smallvec::smallvec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inv[p] = i;
        }
        Ok(vec![Some(permute_copy(grad, &inv))])
    }
    fn backward_graph(&self, _inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut inv = vec![0isize; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inv[p] = i as isize;
        }
        Ok(vec![Some(grad.permute(&inv)?)])
    }
}

struct ExpandBackward;

impl Backward for ExpandBackward {
    fn name(&self) -> &'static str {
        "ExpandBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let g = float_op!("expand", "grad", grad, |g| T::wrap(reduce_to(g, grad.shape(), x.shape())));
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.sum_to(inputs[0].shape())?)])
    }
}

/// Reads `x` into a new contiguous storage of shape `out`, element `i` of the
/// result coming from the offset given by the strides `src` (0 = broadcast).
fn strided_copy(x: &Tensor, out: &[usize], src: &[usize]) -> Storage {
    fn copy<T: Element>(v: &[T], out: &[usize], src: &[usize]) -> Storage {
        let zeros: Shape = smallvec::smallvec![0; out.len()];
        let mut r = Vec::with_capacity(numel(out));
        for_each_offset2(out, src, &zeros, |i, _| r.push(v[i]));
        T::wrap(r)
    }
    match &*x.storage() {
        Storage::F32(v) => copy(v, out, src),
        Storage::F64(v) => copy(v, out, src),
        Storage::I64(v) => copy(v, out, src),
        Storage::Bool(v) => copy(v, out, src),
    }
}

/// Copies `x` with its dims reordered by `perm` (untracked).
fn permute_copy(x: &Tensor, perm: &[usize]) -> Tensor {
    let xs = contiguous_strides(x.shape());
    let out: Shape = perm.iter().map(|&p| x.shape()[p]).collect();
    let src: Shape = perm.iter().map(|&p| xs[p]).collect();
    Tensor::from_storage(strided_copy(x, &out, &src), &out)
}

impl Tensor {
    /// Reshape without copying, like `torch.reshape` / `Tensor.view`: one entry
    /// may be `-1` and is inferred. `shape` is any [`ShapeArg`]:
    /// `&[isize]` as before, `&[usize]` (another tensor's `shape()`), an array
    /// literal, a `&Vec`.
    ///
    /// Errors: the sizes' product differs from the element count, more than one
    /// `-1`, another negative size, or a `-1` that cannot be inferred.
    ///
    /// ```
    /// # use tapegrad::{DType, Tensor};
    /// let x = Tensor::zeros(&[2, 3, 4], DType::F32);
    /// assert_eq!(x.reshape(&[-1, 4])?.shape(), &[6, 4]);
    /// assert_eq!(x.reshape(&[4usize, 6])?.shape(), &[4, 6]);
    /// assert!(x.reshape(&[5, -1]).is_err());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn reshape<S: ShapeArg + ?Sized>(&self, shape: &S) -> Result<Tensor> {
        self.reshape_dims("reshape", &shape.dims())
    }

    /// [`reshape`](Tensor::reshape) under PyTorch's other name (`Tensor.view`);
    /// data is never copied by either.
    pub fn view<S: ShapeArg + ?Sized>(&self, shape: &S) -> Result<Tensor> {
        self.reshape_dims("view", &shape.dims())
    }

    fn reshape_dims(&self, op: &'static str, shape: &[i128]) -> Result<Tensor> {
        let mut infer = None;
        let mut known = 1usize;
        for (i, &d) in shape.iter().enumerate() {
            if d == -1 {
                if infer.replace(i).is_some() {
                    return Err(Error::shape(op, format!("shape {shape:?}: only one dim can be -1")));
                }
            } else if d < 0 {
                return Err(Error::shape(op, format!("shape {shape:?}: dim {i} = {d} is negative")));
            } else {
                known = known.saturating_mul(usize::try_from(d).unwrap_or(usize::MAX));
            }
        }
        let n = self.numel();
        let mut out: Shape = shape.iter().map(|&d| usize::try_from(d.max(0)).unwrap_or(usize::MAX)).collect();
        if let Some(i) = infer {
            if known == 0 || !n.is_multiple_of(known) {
                return Err(Error::shape(
                    op,
                    format!("shape {shape:?} is invalid for input of size {n} (shape {:?})", self.shape()),
                ));
            }
            out[i] = n / known;
        }
        if shape.iter().any(|&d| d > usize::MAX as i128)
            || out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none()
        {
            return Err(Error::shape(
                op,
                format!("shape {shape:?} is invalid for input of size {n} (shape {:?})", self.shape()),
            ));
        }
        self.reshape_internal(&out)
    }

    pub(crate) fn reshape_internal(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!("shape {shape:?} is invalid for input of size {} (shape {:?})", self.numel(), self.shape()),
            ));
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        Ok(Tensor::from_op_shared(self.storage_arc(), shape.into(), ReshapeBackward, &[self]))
    }

    /// Flattens dims `start..=end` into one (`torch.flatten`).
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            return self.reshape_internal(&[1]);
        }
        let s = normalize_dim("flatten", start, self.ndim())?;
        let e = normalize_dim("flatten", end, self.ndim())?;
        if s > e {
            return Err(Error::index("flatten", format!("start = {start} comes after end = {end}")));
        }
        let mut shape: Shape = self.shape()[..s].into();
        shape.push(numel(&self.shape()[s..=e]));
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape_internal(&shape)
    }

    /// Removes `dim` if its size is 1 (otherwise returns `self` unchanged, like PyTorch).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("squeeze", dim, self.ndim())?;
        if self.ndim() == 0 || self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut s: Shape = self.shape().into();
        s.remove(d);
        self.reshape_internal(&s)
    }

    /// Inserts a dim of size 1 at `dim` (which may be `ndim`, or negative).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("unsqueeze", dim, self.ndim() + 1)?;
        let mut s: Shape = self.shape().into();
        s.insert(d, 1);
        self.reshape_internal(&s)
    }

    /// Swaps two dims (a contiguous copy; `torch.transpose`).
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let a = normalize_dim("transpose", d0, self.ndim())?;
        let b = normalize_dim("transpose", d1, self.ndim())?;
        let mut perm: Vec<isize> = (0..self.ndim() as isize).collect();
        if self.ndim() > 0 {
            perm.swap(a, b);
        }
        self.permute(&perm)
    }

    /// The transpose of a 2-D tensor (`Tensor.t()`).
    pub fn t(&self) -> Result<Tensor> {
        if self.ndim() > 2 {
            return Err(Error::shape(
                "t",
                format!("input has {} dims (shape {:?}); t() expects at most 2", self.ndim(), self.shape()),
            ));
        }
        if self.ndim() < 2 { Ok(self.clone()) } else { self.transpose(0, 1) }
    }

    /// Reorders dims (a contiguous copy; `torch.permute`).
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.ndim() {
            return Err(Error::shape(
                "permute",
                format!("dims {dims:?} has {} entries but input has {} dims", dims.len(), self.ndim()),
            ));
        }
        let mut perm: Shape = Shape::new();
        let mut seen = vec![false; dims.len()];
        for &d in dims {
            let d = normalize_dim("permute", d, self.ndim())?;
            if self.ndim() > 0 && std::mem::replace(&mut seen[d], true) {
                return Err(Error::index("permute", format!("dims {dims:?} repeats dim {d}")));
            }
            perm.push(d);
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let out = permute_copy(self, &perm);
        let shape = out.0.shape.clone();
        Ok(Tensor::from_op_shared(out.storage_arc(), shape, PermuteBackward { perm }, &[self]))
    }

    /// A contiguous tensor with the same data. Every tensor here is contiguous,
    /// so this is a cheap clone; it exists for code ported from PyTorch.
    pub fn contiguous(&self) -> Tensor {
        self.clone()
    }

    /// Sums a broadcast result back to `shape` (the gradient of broadcasting
    /// to this tensor's shape), with recorded sums: leading dims summed away,
    /// dims of size 1 in `shape` summed with keepdim.
    pub(crate) fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let mut t = self.clone();
        for _ in shape.len()..self.ndim() {
            t = t.sum(0, false)?;
        }
        for (d, &n) in shape.iter().enumerate() {
            if n == 1 && t.shape()[d] != 1 {
                t = t.sum(d as isize, true)?;
            }
        }
        Ok(t)
    }

    /// Broadcasts to `shape` (a contiguous copy; `torch.broadcast_to` / `expand`).
    /// The gradient sums over the broadcast dims.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        let out = broadcast_shapes("broadcast_to", self.shape(), shape)?;
        if out.as_slice() != shape {
            return Err(Error::shape(
                "broadcast_to",
                format!("input of shape {:?} cannot be broadcast to {shape:?}", self.shape()),
            ));
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let storage = strided_copy(self, shape, &broadcast_strides(self.shape(), shape));
        Ok(Tensor::from_op(storage, shape, ExpandBackward, &[self]))
    }
}
