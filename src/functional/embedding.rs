//! Embedding lookup `F.embedding`: rows of a table picked by integer indices,
//! with a scatter-add backward into the table.

use crate::autograd::Backward;
use crate::tensor::ops::float_op;
use crate::tensor::ops::index::unravel;
use crate::tensor::{Float, Shape, Tensor};
use crate::{Error, Result};

struct EmbeddingBackward {
    /// the table row of each looked-up position, in order
    rows: Vec<usize>,
    /// a row that never receives gradient (`padding_idx`)
    padding: Option<usize>,
}

/// Adds row `g[j]` into `out[rows[j]]` for every position `j` (rows of `dim`).
fn scatter_rows<T: Float>(g: &[T], rows: &[usize], padding: Option<usize>, num: usize, dim: usize) -> Vec<T> {
    let mut out = crate::cpu::alloc::zeros::<T>(num * dim);
    for (&r, src) in rows.iter().zip(g.chunks_exact(dim.max(1))) {
        if Some(r) == padding {
            continue;
        }
        out[r * dim..(r + 1) * dim].iter_mut().zip(src).for_each(|(o, &v)| *o += v);
    }
    out
}

impl Backward for EmbeddingBackward {
    fn name(&self) -> &'static str {
        "EmbeddingBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let w = &inputs[1];
        let (num, dim) = (w.shape()[0], w.shape()[1]);
        let g = float_op!("embedding", "grad", grad, |g| T::wrap(scatter_rows(g, &self.rows, self.padding, num, dim)));
        Ok(vec![None, Some(Tensor::from_storage(g, w.shape()))])
    }
    /// The gradient rows added into the table by a recorded scatter (whose own
    /// gradient reads them back); the padding row's are dropped first.
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let w = &inputs[1];
        if !needs.get(1).copied().unwrap_or(false) {
            return Ok(vec![None, None]);
        }
        let dim = w.shape()[1];
        let grad = match self.padding {
            Some(p) => {
                let keep: Vec<f64> = self.rows.iter().map(|&r| if r == p { 0.0 } else { 1.0 }).collect();
                let keep = Tensor::from_vec(keep, &[self.rows.len(), 1])?.to_dtype(grad.dtype())?;
                grad.reshape_internal(&[self.rows.len(), dim])?.mul(&keep)?
            }
            None => grad.clone(),
        };
        let offsets: Vec<usize> = self.rows.iter().flat_map(|&r| r * dim..(r + 1) * dim).collect();
        let gw = grad.scatter_offsets(std::sync::Arc::new(offsets), w.shape(), "embedding")?;
        Ok(vec![None, Some(gw)])
    }
}

/// The checked table rows of `indices` for a table of `num` rows; `op` and
/// `what` name the caller in errors.
fn rows_of(op: &'static str, indices: &Tensor, num: usize) -> Result<Vec<usize>> {
    let idx = indices.data::<i64>(op, "input")?;
    let mut rows = Vec::with_capacity(idx.len());
    for (j, &k) in idx.iter().enumerate() {
        if k < 0 || k as u64 >= num as u64 {
            let at = unravel(j, indices.shape());
            return Err(Error::index(
                op,
                format!("input{at:?} = {k} is out of range for num_embeddings = {num} (valid indices 0..{num})"),
            ));
        }
        rows.push(k as usize);
    }
    Ok(rows)
}

/// `padding_idx` as a row of a table of `num` rows (negative counts from the end, as PyTorch).
pub(crate) fn padding_row(op: &'static str, padding_idx: Option<i64>, num: usize) -> Result<Option<usize>> {
    let Some(p) = padding_idx else { return Ok(None) };
    let n = num as i64;
    if p >= n || p < -n {
        return Err(Error::value(
            op,
            format!("padding_idx = {p} must be within num_embeddings = {num} (-{num}..{num})"),
        ));
    }
    Ok(Some(if p < 0 { (p + n) as usize } else { p as usize }))
}

pub(crate) fn embedding_impl(
    op: &'static str,
    indices: &Tensor,
    weight: &Tensor,
    padding_idx: Option<i64>,
) -> Result<Tensor> {
    weight.require_float(op, "weight")?;
    if weight.ndim() != 2 {
        return Err(Error::shape(
            op,
            format!("weight has shape {:?}; expected (num_embeddings, embedding_dim)", weight.shape()),
        ));
    }
    let (num, dim) = (weight.shape()[0], weight.shape()[1]);
    let padding = padding_row(op, padding_idx, num)?;
    let rows = rows_of(op, indices, num)?;
    let mut shape: Shape = indices.shape().into();
    shape.push(dim);
    let storage = float_op!(op, "weight", weight, |w| {
        let mut out = Vec::with_capacity(rows.len() * dim);
        for &r in &rows {
            out.extend_from_slice(&w[r * dim..(r + 1) * dim]);
        }
        T::wrap(out)
    });
    Ok(Tensor::from_op(storage, &shape, EmbeddingBackward { rows, padding }, &[indices, weight]))
}

/// Looks up rows of `weight` (`F.embedding(input, weight)`): `out[i…] = weight[input[i…]]`.
///
/// Shapes: `input` I64 of any shape, `weight (num_embeddings, embedding_dim)`
/// float; the output is `input.shape + (embedding_dim,)`. The gradient of
/// `weight` adds each output row's gradient into the row it came from (rows
/// looked up several times accumulate). Errors: `input` not I64, an index
/// outside `[0, num_embeddings)`, `weight` not 2-D or not float.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let w = Tensor::from_vec(vec![0.0f32, 0.1, 1.0, 1.1, 2.0, 2.1], &[3, 2])?.requires_grad();
/// let i = Tensor::from_vec(vec![2i64, 0, 2], &[3])?;
/// let y = F::embedding(&i, &w)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![2.0, 2.1, 0.0, 0.1, 2.0, 2.1]);
/// y.sum_all().backward()?;
/// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
/// assert!(F::embedding(&Tensor::from_vec(vec![3i64], &[1])?, &w).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn embedding(input: &Tensor, weight: &Tensor) -> Result<Tensor> {
    embedding_impl("embedding", input, weight, None)
}

/// [`embedding`] whose row `padding_idx` receives no gradient
/// (`F.embedding(input, weight, padding_idx=p)`); a negative `padding_idx`
/// counts from the end. Its value is looked up as any other row. Errors as
/// [`embedding`], and a `padding_idx` outside `[-num_embeddings, num_embeddings)`.
pub fn embedding_with_padding(input: &Tensor, weight: &Tensor, padding_idx: i64) -> Result<Tensor> {
    embedding_impl("embedding", input, weight, Some(padding_idx))
}
