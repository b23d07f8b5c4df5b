//! Indexing ops: `gather` and `index_select` along a dim (with scatter-add
//! backwards), and `where_cond` (select by mask).

use crate::autograd::Backward;
use crate::tensor::shape::{
    broadcast_shapes, contiguous_strides, for_each_offset2, normalize_dim, reduce_to, split_at_dim,
};
use crate::tensor::{Element, Shape, Storage, Tensor};
use crate::{Error, Result};
use std::sync::Arc;

/// Offsets into the input read by `gather(dim, index)`, one per index element,
/// with every index checked against the size of `dim`.
fn gather_offsets(op: &'static str, x: &Tensor, dim: usize, index: &Tensor) -> Result<Vec<usize>> {
    let idx = index.data::<i64>(op, "index")?;
    let idx: &[i64] = &idx;
    if index.ndim() != x.ndim() {
        return Err(Error::shape(
            op,
            format!("index has {} dims but input has {} (they must match)", index.ndim(), x.ndim()),
        ));
    }
    for d in 0..x.ndim() {
        if d != dim && index.shape()[d] > x.shape()[d] {
            return Err(Error::shape(
                op,
                format!(
                    "index has size {} at dim {d} but input only {} (index shape {:?}, input shape {:?})",
                    index.shape()[d],
                    x.shape()[d],
                    index.shape(),
                    x.shape()
                ),
            ));
        }
    }
    let xs = contiguous_strides(x.shape());
    let size = x.shape().get(dim).copied().unwrap_or(1);
    let mut sa: Shape = xs.clone();
    if !sa.is_empty() {
        sa[dim] = 0;
    }
    let si = contiguous_strides(index.shape());
    let stride = xs.get(dim).copied().unwrap_or(1);
    let mut offsets = Vec::with_capacity(idx.len());
    let mut bad = None;
    for_each_offset2(index.shape(), &sa, &si, |base, ii| {
        let k = idx[ii];
        if k < 0 || k as usize >= size {
            bad.get_or_insert(ii);
            offsets.push(0);
        } else {
            offsets.push(base + k as usize * stride);
        }
    });
    if let Some(ii) = bad {
        let pos = unravel(ii, index.shape());
        return Err(Error::index(
            op,
            format!("index{pos:?} = {} is out of range for dim {dim} of size {size}", idx[ii]),
        ));
    }
    Ok(offsets)
}

/// The multi-index of flat position `i` in `shape`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        pos[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    pos
}

/// The backward of a read at fixed offsets (`gather`, `index_select`, and
/// [`Tensor::take_offsets`]): the gradient added back at those offsets.
struct ScatterBackward {
    offsets: Arc<Vec<usize>>,
    name: &'static str,
}

impl Backward for ScatterBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let g = float_op!(self.name, "grad", grad, |g| {
            let mut out = crate::cpu::alloc::zeros::<T>(x.numel());
            for (&o, &gv) in self.offsets.iter().zip(g) {
                out[o] += gv;
            }
            T::wrap(out)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape())), None])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.scatter_offsets(self.offsets.clone(), inputs[0].shape(), self.name)?), None])
    }
}

/// The backward of [`Tensor::scatter_offsets`]: a read of the gradient at the offsets.
struct TakeBackward {
    offsets: Arc<Vec<usize>>,
}

impl Backward for TakeBackward {
    fn name(&self) -> &'static str {
        "ScatterAddBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::from_storage(take(grad, &self.offsets), inputs[0].shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.take_offsets(self.offsets.clone(), inputs[0].shape())?)])
    }
}

impl Tensor {
    /// `out[offsets[i]] += self[i]` into zeros of `shape` (recorded; its
    /// gradient reads at the offsets): the differentiable backward of a read.
    /// `name` is the op it is the backward of, for errors.
    pub(crate) fn scatter_offsets(
        &self,
        offsets: Arc<Vec<usize>>,
        shape: &[usize],
        name: &'static str,
    ) -> Result<Tensor> {
        let out = float_op!(name, "grad", self, |g| {
            let mut out = crate::cpu::alloc::zeros::<T>(crate::tensor::shape::numel(shape));
            for (&o, &gv) in offsets.iter().zip(g) {
                out[o] += gv;
            }
            T::wrap(out)
        });
        Ok(Tensor::from_op(out, shape, TakeBackward { offsets }, &[self]))
    }

    /// `out[i] = self[offsets[i]]` with `out` of `shape` (recorded; its
    /// gradient adds back at the offsets).
    pub(crate) fn take_offsets(&self, offsets: Arc<Vec<usize>>, shape: &[usize]) -> Result<Tensor> {
        let storage = take(self, &offsets);
        Ok(Tensor::from_op(storage, shape, ScatterBackward { offsets, name: "TakeBackward0" }, &[self]))
    }
}

fn take(x: &Tensor, offsets: &[usize]) -> Storage {
    fn t<T: Element>(v: &[T], offsets: &[usize]) -> Storage {
        T::wrap(offsets.iter().map(|&o| v[o]).collect())
    }
    match &*x.storage() {
        Storage::F32(v) => t(v, offsets),
        Storage::F64(v) => t(v, offsets),
        Storage::I64(v) => t(v, offsets),
        Storage::Bool(v) => t(v, offsets),
    }
}

impl Tensor {
    /// Picks values along `dim` at the I64 positions in `index` (`torch.gather`):
    /// `out[i][j] = self[i][index[i][j]]` for `dim = 1`. The output has `index`'s shape.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let i = Tensor::from_vec(vec![1i64, 0], &[2, 1])?;
    /// assert_eq!(x.gather(1, &i)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("gather", dim, self.ndim())?;
        let offsets = gather_offsets("gather", self, d, index)?;
        let storage = take(self, &offsets);
        Ok(Tensor::from_op(
            storage,
            index.shape(),
            ScatterBackward { offsets: Arc::new(offsets), name: "GatherBackward0" },
            &[self, index],
        ))
    }

    /// Selects the entries `index` (1-D, I64) along `dim` (`torch.index_select`).
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("index_select", dim, self.ndim())?;
        let idx = index.data::<i64>("index_select", "index")?;
        let idx: &[i64] = &idx;
        if index.ndim() > 1 {
            return Err(Error::shape("index_select", format!("index must be 1-D, got shape {:?}", index.shape())));
        }
        let (outer, n, inner) = split_at_dim(self.shape(), d);
        if let Some((j, &k)) = idx.iter().enumerate().find(|&(_, &k)| k < 0 || k as usize >= n) {
            return Err(Error::index(
                "index_select",
                format!("index[{j}] = {k} is out of range for dim {d} of size {n}"),
            ));
        }
        let mut offsets = Vec::with_capacity(outer * idx.len() * inner);
        for o in 0..outer {
            for &k in idx {
                offsets.extend((0..inner).map(|i| (o * n + k as usize) * inner + i));
            }
        }
        let mut shape: Shape = self.shape().into();
        if !shape.is_empty() {
            shape[d] = idx.len();
        }
        let storage = take(self, &offsets);
        Ok(Tensor::from_op(
            storage,
            &shape,
            ScatterBackward { offsets: Arc::new(offsets), name: "IndexSelectBackward0" },
            &[self, index],
        ))
    }

    /// `a` where `cond` is true, `b` elsewhere, all three broadcast together
    /// (`torch.where(cond, a, b)`). `cond` is normally a Bool tensor (from a
    /// comparison); a tensor of another dtype is read as "non-zero is true".
    /// `a` and `b` must be float tensors of one dtype; the gradient flows to
    /// the side each element was taken from.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0, -3.0], &[3])?;
    /// let y = Tensor::where_cond(&x.gt_scalar(0.0)?, &x, &x.mul_scalar(0.1)?)?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![-0.1, 2.0, -0.3]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let s = broadcast_shapes("where", cond.shape(), a.shape())?;
        let out = broadcast_shapes("where", &s, b.shape())?;
        let mask = mask_of(&cond.detach().broadcast_to(&out)?);
        let (ea, eb) = (a.detach().broadcast_to(&out)?, b.detach().broadcast_to(&out)?);
        let storage = float_op2!("where", &ea, &eb, "other", |x, y| {
            T::wrap(mask.iter().zip(x.iter().zip(y)).map(|(&m, (&p, &q))| if m { p } else { q }).collect())
        });
        Ok(Tensor::from_op(storage, &out, WhereBackward { mask }, &[a, b]))
    }
}

fn mask_of(c: &Tensor) -> Vec<bool> {
    match &*c.storage() {
        Storage::Bool(v) => v.clone(),
        s => (0..s.len()).map(|i| s.get_f64(i) != 0.0).collect(),
    }
}

struct WhereBackward {
    mask: Vec<bool>,
}

impl Backward for WhereBackward {
    fn name(&self) -> &'static str {
        "WhereBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ga, gb) = float_op!("where", "grad", grad, |g| {
            let pick = |keep: bool| -> Vec<T> {
                g.iter().zip(&self.mask).map(|(&v, &m)| if m == keep { v } else { T::zero() }).collect()
            };
            (
                Tensor::from_storage(T::wrap(reduce_to(&pick(true), grad.shape(), a.shape())), a.shape()),
                Tensor::from_storage(T::wrap(reduce_to(&pick(false), grad.shape(), b.shape())), b.shape()),
            )
        });
        Ok(vec![Some(ga), Some(gb)])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let mask = Tensor::from_storage(
            crate::tensor::Storage::F64(self.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect()),
            grad.shape(),
        );
        let zero = Tensor::zeros(&[], grad.dtype());
        let ga = needs[0].then(|| Tensor::where_cond(&mask, grad, &zero)?.sum_to(a.shape())).transpose()?;
        let gb = needs[1].then(|| Tensor::where_cond(&mask, &zero, grad)?.sum_to(b.shape())).transpose()?;
        Ok(vec![ga, gb])
    }
}
