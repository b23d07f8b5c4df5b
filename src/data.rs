//! Mini-batches for training loops, PyTorch's `DataLoader(..., batch_size,
//! shuffle, drop_last)` reduced to its indices: [`Batches`] yields the row
//! indices of each batch, and [`Batch::select`] takes those rows from any
//! tensor whose first dim is the sample dim (`index_select` along dim 0).
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad::{data::Batches, Tensor};
//! let x = Tensor::from_vec((0..20).map(|v| v as f32).collect(), &[10, 2])?;
//! let y = Tensor::from_vec((0..10).collect::<Vec<i64>>(), &[10])?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut seen = 0;
//! for batch in Batches::new(10, 4)?.shuffle(&mut rng) {
//!     let (xb, yb) = (batch.select(&x)?, batch.select(&y)?);
//!     assert_eq!(xb.shape(), &[batch.len(), 2]);
//!     assert_eq!(yb.shape(), &[batch.len()]);
//!     seen += batch.len();
//! }
//! assert_eq!(seen, 10);   // batches of 4, 4 and 2
//! # Ok::<(), tapegrad::Error>(())
//! ```

use crate::{Error, Result, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;

/// The mini-batches of one pass over a set of sample indices (one epoch):
/// consecutive chunks of `batch_size` indices, in order or shuffled, the last
/// one shorter unless dropped. An iterator of [`Batch`]; make a new one each
/// epoch (with the same `rng`, each epoch gets a new order, as PyTorch's
/// `shuffle=True`).
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    next: usize,
}

impl Batches {
    /// Batches over the samples `0..n`, in order, keeping a shorter last batch.
    /// Errors if `batch_size` is 0.
    pub fn new(n: usize, batch_size: usize) -> Result<Batches> {
        Batches::over((0..n).collect(), batch_size)
    }

    /// Batches over the given sample indices (a training split, say), in
    /// their order. Errors if `batch_size` is 0.
    pub fn over(indices: Vec<usize>, batch_size: usize) -> Result<Batches> {
        if batch_size == 0 {
            return Err(Error::value("Batches::new", "batch_size = 0 must be at least 1"));
        }
        Ok(Batches { order: indices, batch_size, drop_last: false, next: 0 })
    }

    /// Shuffles the indices with `rng` (a uniform permutation), PyTorch's `shuffle=True`.
    pub fn shuffle<R: Rng + ?Sized>(mut self, rng: &mut R) -> Batches {
        self.order[self.next..].shuffle(rng);
        self
    }

    /// With `true`, leaves out a last batch shorter than `batch_size`
    /// (PyTorch's `drop_last=True`).
    pub fn drop_last(mut self, drop_last: bool) -> Batches {
        self.drop_last = drop_last;
        self
    }

    /// The number of batches still to come.
    pub fn num_batches(&self) -> usize {
        let left = self.order.len() - self.next;
        if self.drop_last { left / self.batch_size } else { left.div_ceil(self.batch_size) }
    }
}

impl Iterator for Batches {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        let left = self.order.len() - self.next;
        if left == 0 || (self.drop_last && left < self.batch_size) {
            return None;
        }
        let end = self.next + left.min(self.batch_size);
        let indices = self.order[self.next..end].to_vec();
        self.next = end;
        Some(Batch { indices })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.num_batches();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches {}

/// The sample indices of one mini-batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    indices: Vec<usize>,
}

impl Batch {
    /// The sample indices, in batch order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True for a batch without samples (never yielded by [`Batches`]).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The indices as a 1-D I64 tensor, for [`Tensor::index_select`] or
    /// [`Tensor::gather`].
    pub fn index(&self) -> Tensor {
        let n = self.indices.len();
        Tensor::from_vec(self.indices.iter().map(|&i| i as i64).collect(), &[n])
            .unwrap_or_else(|_| Tensor::zeros(&[0], crate::DType::I64))
    }

    /// The batch's rows of `data` (`data[indices]` in PyTorch: its first dim
    /// indexed, any other dims kept), of any dtype; differentiable. Errors if
    /// `data` is 0-d or an index is past its first dim.
    pub fn select(&self, data: &Tensor) -> Result<Tensor> {
        if data.ndim() == 0 {
            return Err(Error::shape("Batch::select", "data is 0-d: it has no rows to select"));
        }
        data.index_select(0, &self.index())
    }
}
