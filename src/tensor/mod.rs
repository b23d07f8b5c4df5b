//! The [`Tensor`] type: a cheap-to-clone handle on shared, contiguous,
//! row-major storage, with the autograd node that produced it.

mod create;
mod display;
pub(crate) mod dtype;
pub(crate) mod ops;
pub(crate) mod shape;
#[cfg(test)]
pub(crate) mod test_values;
pub use crate::cpu::simd::set_simd;

pub use crate::cpu::alloc::{cached_bytes, empty_cache};
#[doc(hidden)]
pub use dtype::Storage;
pub use dtype::{DType, Element, Float};
pub use shape::{DimValue, Shape, ShapeArg};

use crate::autograd::{self, Backward, Node};
use crate::{Error, Result};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static LIVE_TENSORS: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// Number of tensors (handles' shared cores) alive in the process: a test's
/// way to show that training frees what each step made.
pub fn live_tensors() -> isize {
    LIVE_TENSORS.load(Ordering::Relaxed)
}

/// An n-dimensional array of `f32`, `f64`, `i64` or `bool` that records the
/// operations applied to it, so that [`Tensor::backward`] can compute
/// gradients (reverse-mode automatic differentiation).
///
/// Cloning is cheap (an `Arc`); the data is shared and immutable.
///
/// ```
/// use tapegrad::{DType, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?.requires_grad();
/// let y = x.mul(&x)?.sum_all();          // y = Σ x²
/// y.backward()?;
/// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
///
/// # Which operations can fail
///
/// An operation returns [`Result`] when some input can be wrong for it, and
/// the `Err` names the operation, the argument and the offending value:
/// - binary ops and operators (`add`, `+`, `matmul`, comparisons, `where_cond`):
///   shapes that do not broadcast or multiply, or float dtypes that differ
///   (no silent promotion, except comparisons, which promote as PyTorch);
/// - anything taking a dim (`sum`, `softmax`, `argmax`, `transpose`, …): a
///   dim out of range; `reshape` / `view`: sizes that do not fit;
/// - arithmetic and differentiable maths on I64 or Bool tensors: a dtype
///   error (convert with [`to_dtype`](Tensor::to_dtype));
/// - indices (`gather`, `index_select`, losses' class targets, embeddings):
///   an index out of range;
/// - `backward`: a tensor with more than one element or that tracks no gradient.
///
/// A few never fail and return the tensor itself: the elementwise functions
/// `exp log tanh relu sigmoid abs neg sqrt` (defined on every dtype: integers
/// are computed through f64, Bool as F32 0/1), `sum_all` / `mean_all`,
/// `detach`, `contiguous`, and the creators taking a shape. The scalar
/// comparisons (`gt_scalar`, …) cannot fail either but return `Result` so
/// that they chain with `?` like their tensor forms.
///
/// Operators `+ - * /` accept `Tensor`, `&Tensor` and the `Result<Tensor>`
/// of an earlier op on either side (not two `Result`s together, nor a
/// `Result` with a number), and `f64` / `i32` numbers:
///
/// ```
/// use tapegrad::Tensor;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
/// let b = Tensor::from_vec(vec![3.0f32, 4.0], &[2])?;
/// let y = (&a * &b + &a)?;            // Result<Tensor> + &Tensor
/// assert_eq!(y.to_vec::<f32>()?, vec![4.0, 10.0]);
/// let z = ((2 * &y)? - 1.0)?.relu();  // numbers on either side
/// assert_eq!(z.to_vec::<f32>()?, vec![7.0, 19.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Inner>);

/// A tensor's data: fixed for computed tensors (read without any lock),
/// replaceable for trainable leaves, which optimizers update in place, or
/// deferred: computed on first read (a `log_softmax` that a fused loss consumes
/// from its input may never be computed at all).
pub(crate) enum Data {
    Fixed(Arc<Storage>),
    Param(RwLock<Arc<Storage>>),
    Deferred(Arc<Deferred>),
}

/// How the data of a deferred tensor is computed; it holds a snapshot of its
/// inputs' data, so the result does not depend on when it is first read.
pub(crate) trait Recipe: std::any::Any + Send + Sync {
    /// Computes the data (the inputs were validated when the recipe was made).
    fn make(&self) -> Storage;
}

/// Data computed on first read, then kept.
pub(crate) struct Deferred {
    cell: std::sync::OnceLock<Arc<Storage>>,
    /// what computes the data (read by fused consumers, [`Tensor::deferred`])
    pub(crate) recipe: Box<dyn Recipe>,
}

impl Deferred {
    /// Data that `recipe` computes when it is first read.
    pub(crate) fn new(recipe: impl Recipe) -> Arc<Deferred> {
        Arc::new(Deferred { cell: std::sync::OnceLock::new(), recipe: Box::new(recipe) })
    }
    /// The data, computed now if it has not been yet. It is computed outside
    /// the cell's initialisation, so that a thread-pool task which reads this
    /// tensor while the computation waits on the pool cannot re-enter it (that
    /// would deadlock); threads asking at the same time may each compute it, and
    /// all get the first result stored (the results are identical anyway).
    pub(crate) fn get(&self) -> &Arc<Storage> {
        if let Some(s) = self.cell.get() {
            return s;
        }
        let made = Arc::new(self.recipe.make());
        self.cell.get_or_init(|| made)
    }
}

/// A read handle on a tensor's storage: a plain borrow for computed tensors,
/// a counted reference for trainable leaves (whose data an optimizer may swap).
pub(crate) enum StorageRef<'a> {
    Borrowed(&'a Arc<Storage>),
    Owned(Arc<Storage>),
}

impl Deref for StorageRef<'_> {
    type Target = Storage;
    fn deref(&self) -> &Storage {
        match self {
            StorageRef::Borrowed(s) => s,
            StorageRef::Owned(s) => s,
        }
    }
}

impl StorageRef<'_> {
    pub(crate) fn arc(&self) -> Arc<Storage> {
        match self {
            StorageRef::Borrowed(s) => Arc::clone(s),
            StorageRef::Owned(s) => s.clone(),
        }
    }
}

/// The typed data of a tensor, borrowed for as long as the handle lives.
pub(crate) struct Slice<'a, T: Element> {
    storage: StorageRef<'a>,
    _t: PhantomData<T>,
}

impl<T: Element> Deref for Slice<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // the dtype was checked when the Slice was made
        T::slice(&self.storage).unwrap_or(&[])
    }
}

pub(crate) struct Inner {
    pub(crate) id: usize,
    data: Data,
    dtype: DType,
    pub(crate) shape: Shape,
    /// A leaf that accumulates gradients.
    pub(crate) requires_grad: bool,
    /// How this tensor was computed (None for leaves and untracked results).
    pub(crate) node: Option<Node>,
    /// The accumulated gradient (leaves only).
    pub(crate) grad: Mutex<Option<Tensor>>,
}

impl Inner {
    fn new(storage: Arc<Storage>, shape: Shape, node: Option<Node>) -> Inner {
        let dtype = storage.dtype();
        Inner::with_data(Data::Fixed(storage), dtype, shape, node)
    }

    /// A new tensor's inner part over `data` of `dtype` (counted as live).
    fn with_data(data: Data, dtype: DType, shape: Shape, node: Option<Node>) -> Inner {
        LIVE_TENSORS.fetch_add(1, Ordering::Relaxed);
        Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dtype,
            data,
            shape,
            requires_grad: false,
            node,
            grad: Mutex::new(None),
        }
    }
}

impl Drop for Inner {
    /// Frees a long chain of nodes iteratively, so that dropping the output of
    /// a 100,000-op graph cannot overflow the stack.
    fn drop(&mut self) {
        LIVE_TENSORS.fetch_sub(1, Ordering::Relaxed);
        let Some(node) = self.node.take() else { return };
        let mut stack = node.into_inputs();
        while let Some(mut t) = stack.pop() {
            // the last reference: take its node in place (moving the whole
            // `Inner` out of the `Arc` cost a copy per node), then let it go
            if let Some(inner) = Arc::get_mut(&mut t.0)
                && let Some(n) = inner.node.take()
            {
                stack.extend(n.into_inputs());
            }
        }
    }
}

/// `a += b` elementwise (slices of one length).
fn add_assign<T: Float>(a: &mut [T], b: &[T]) {
    debug_assert_eq!(a.len(), b.len());
    a.iter_mut().zip(b).for_each(|(x, &y)| *x += y);
}

fn lock(m: &Mutex<Option<Tensor>>) -> MutexGuard<'_, Option<Tensor>> {
    // a poisoned lock only means another thread panicked while holding it;
    // the Option inside is still valid
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tensor {
    /// A new untracked tensor over `storage`; `storage.len()` must equal the shape's numel.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        debug_assert_eq!(storage.len(), shape::numel(shape));
        Tensor::from_shared(Arc::new(storage), shape.into())
    }

    pub(crate) fn from_shared(storage: Arc<Storage>, shape: Shape) -> Tensor {
        Tensor(Arc::new(Inner::new(storage, shape, None)))
    }

    /// The result of an operation: records `op` with its `inputs` when gradients
    /// are enabled and some input tracks gradients.
    pub(crate) fn from_op(
        storage: Storage,
        shape: &[usize],
        op: impl Backward + 'static,
        inputs: &[&Tensor],
    ) -> Tensor {
        Tensor::from_op_shared(Arc::new(storage), shape.into(), op, inputs)
    }

    pub(crate) fn from_op_shared(
        storage: Arc<Storage>,
        shape: Shape,
        op: impl Backward + 'static,
        inputs: &[&Tensor],
    ) -> Tensor {
        debug_assert_eq!(storage.len(), shape::numel(&shape));
        Tensor(Arc::new(Inner::new(storage, shape, Tensor::record(op, inputs))))
    }

    /// An untracked leaf whose data `data` computes on first read (a tensor
    /// loaded from a file and read when first used); `dtype` is the dtype the
    /// recipe makes.
    pub(crate) fn from_deferred(data: Arc<Deferred>, dtype: DType, shape: &[usize]) -> Tensor {
        Tensor(Arc::new(Inner::with_data(Data::Deferred(data), dtype, shape.into(), None)))
    }

    /// The result of an operation whose data is computed on first read; `dtype`
    /// is the dtype the recipe makes. Records `op` as [`from_op`](Tensor::from_op).
    pub(crate) fn from_op_deferred(
        data: Arc<Deferred>,
        dtype: DType,
        shape: Shape,
        op: impl Backward + 'static,
        inputs: &[&Tensor],
    ) -> Tensor {
        Tensor(Arc::new(Inner::with_data(Data::Deferred(data), dtype, shape, Tensor::record(op, inputs))))
    }

    /// The node of `op` over `inputs`, when gradients are enabled and some input tracks them.
    fn record(op: impl Backward + 'static, inputs: &[&Tensor]) -> Option<Node> {
        let record = autograd::is_grad_enabled() && inputs.iter().any(|t| t.tracks_grad());
        record.then(|| Node::new(Box::new(op), inputs.iter().map(|&t| t.clone()).collect()))
    }

    /// True while this tensor's data is deferred and not computed yet.
    #[cfg(test)]
    pub(crate) fn data_pending(&self) -> bool {
        matches!(&self.0.data, Data::Deferred(d) if d.cell.get().is_none())
    }

    /// The recipe of this tensor's data when it is deferred (computed or not
    /// yet) and of type `R`: how an op recognises another op's output.
    pub(crate) fn deferred<R: Recipe>(&self) -> Option<&R> {
        match &self.0.data {
            Data::Deferred(d) => (&*d.recipe as &dyn std::any::Any).downcast_ref::<R>(),
            _ => None,
        }
    }

    pub(crate) fn id(&self) -> usize {
        self.0.id
    }
    pub(crate) fn storage(&self) -> StorageRef<'_> {
        match &self.0.data {
            Data::Fixed(s) => StorageRef::Borrowed(s),
            Data::Param(lock) => StorageRef::Owned(lock.read().unwrap_or_else(|e| e.into_inner()).clone()),
            Data::Deferred(d) => StorageRef::Borrowed(d.get()),
        }
    }

    /// A counted reference to the current storage (shared, not copied).
    pub(crate) fn storage_arc(&self) -> Arc<Storage> {
        self.storage().arc()
    }
    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }

    /// The typed data as a slice, or a dtype error naming `op` and `arg`.
    pub(crate) fn data<T: Element>(&self, op: &'static str, arg: &str) -> Result<Slice<'_, T>> {
        if self.dtype() != T::DTYPE {
            return Err(Error::dtype(op, format!("{arg} has dtype {}, expected {}", self.dtype(), T::DTYPE)));
        }
        Ok(Slice { storage: self.storage(), _t: PhantomData })
    }

    /// Errors unless this tensor holds floats.
    pub(crate) fn require_float(&self, op: &'static str, arg: &str) -> Result<()> {
        if self.dtype().is_float() {
            Ok(())
        } else {
            Err(Error::dtype(
                op,
                format!(
                    "{arg} has dtype {}, expected a float tensor (F32 or F64); convert with to_dtype",
                    self.dtype()
                ),
            ))
        }
    }

    /// Errors unless `self` and `other` have the same dtype.
    pub(crate) fn require_same_dtype(&self, other: &Tensor, op: &'static str, arg: &str) -> Result<()> {
        if self.dtype() == other.dtype() {
            Ok(())
        } else {
            Err(Error::dtype(
                op,
                format!(
                    "{arg} has dtype {} but the input has dtype {} (no silent promotion; convert with to_dtype)",
                    other.dtype(),
                    self.dtype()
                ),
            ))
        }
    }

    // ---- inspection -------------------------------------------------------

    /// The size of each dim.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The number of elements (1 for a 0-d tensor).
    pub fn numel(&self) -> usize {
        shape::numel(&self.0.shape)
    }
    /// The number of dims (0 for a scalar).
    pub fn ndim(&self) -> usize {
        self.0.shape.len()
    }

    /// The data, flat in row-major order. Errors if `T` is not the tensor's dtype.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.0, 2.0]);
    /// assert!(t.to_vec::<f32>().is_err());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.data::<T>("to_vec", "self")?.to_vec())
    }

    /// The single element of a one-element tensor.
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!("self has {} elements (shape {:?}); item() needs exactly one", self.numel(), self.shape()),
            ));
        }
        Ok(self.data::<T>("item", "self")?[0])
    }

    /// The data converted to `dtype` (`x.to(dtype)`). Differentiable between
    /// float dtypes. Floats go to I64 rounding toward zero; any non-zero value
    /// (NaN included) becomes `true` in Bool, and `true`/`false` become 1/0.
    ///
    /// ```
    /// use tapegrad::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f32, -2.5, f32::NAN], &[3])?;
    /// assert_eq!(x.to_dtype(DType::Bool)?.to_vec::<bool>()?, vec![false, true, true]);
    /// let m = Tensor::from_vec(vec![true, false], &[2])?;
    /// assert_eq!(m.to_dtype(DType::F64)?.to_vec::<f64>()?, vec![1.0, 0.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        ops::unary::to_dtype(self, dtype)
    }

    // ---- autograd ---------------------------------------------------------

    /// Marks this tensor as a trainable leaf whose gradient [`backward`](Tensor::backward)
    /// accumulates into [`grad`](Tensor::grad). Returns the (new) leaf, builder style.
    /// On a non-float tensor, or on a tensor computed from others, it returns a detached leaf
    /// of the same data (PyTorch would raise; only float leaves get gradients).
    pub fn requires_grad(self) -> Tensor {
        let storage = self.storage_arc();
        let float = storage.dtype().is_float();
        let mut inner = Inner::new(storage.clone(), self.0.shape.clone(), None);
        if float {
            inner.requires_grad = true;
            inner.data = Data::Param(RwLock::new(storage));
        }
        Tensor(Arc::new(inner))
    }

    /// Replaces the data of a trainable leaf in place, keeping its identity (what
    /// an optimizer's step does; PyTorch's `p.data.copy_(value)`). `value` must have
    /// this tensor's shape and dtype; the leaf must have been made with
    /// [`requires_grad`](Tensor::requires_grad). Nothing is recorded.
    pub fn set_data(&self, value: &Tensor) -> Result<()> {
        if value.shape() != self.shape() || value.dtype() != self.dtype() {
            return Err(Error::shape(
                "set_data",
                format!(
                    "value has shape {:?} and dtype {}, expected shape {:?} and dtype {}",
                    value.shape(),
                    value.dtype(),
                    self.shape(),
                    self.dtype()
                ),
            ));
        }
        match &self.0.data {
            Data::Param(lock) => {
                *lock.write().unwrap_or_else(|e| e.into_inner()) = value.storage_arc();
                Ok(())
            }
            Data::Fixed(_) | Data::Deferred(_) => Err(Error::autograd(
                "set_data",
                "self is not a trainable leaf: only tensors made with requires_grad() can be updated in place",
            )),
        }
    }

    /// True for leaves marked with [`requires_grad`](Tensor::requires_grad) and for
    /// results recorded from them.
    pub fn tracks_grad(&self) -> bool {
        self.0.requires_grad || self.0.node.is_some()
    }

    /// True if this tensor was not produced by a recorded operation.
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// The gradient accumulated on this leaf by [`backward`](Tensor::backward), if any.
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.0.grad).clone()
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        *lock(&self.0.grad) = None;
    }

    /// Replaces this tensor's gradient (`p.grad = g` in PyTorch); `None`
    /// clears it. The gradient must have this tensor's shape and dtype.
    ///
    /// ```
    /// use tapegrad::Tensor;
    /// let w = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?.requires_grad();
    /// w.set_grad(Some(Tensor::from_vec(vec![0.5f32, -0.5], &[2])?))?;
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![0.5, -0.5]);
    /// assert!(w.set_grad(Some(Tensor::from_vec(vec![0.5f32], &[1])?)).is_err());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                return Err(Error::shape(
                    "set_grad",
                    format!("grad has shape {:?}, expected the tensor's shape {:?}", g.shape(), self.shape()),
                ));
            }
            if g.dtype() != self.dtype() {
                return Err(Error::dtype(
                    "set_grad",
                    format!("grad has dtype {:?}, expected the tensor's dtype {:?}", g.dtype(), self.dtype()),
                ));
            }
        }
        *lock(&self.0.grad) = grad.map(|g| g.detach());
        Ok(())
    }

    pub(crate) fn accumulate_grad(&self, g: Tensor) -> Result<()> {
        let mut slot = lock(&self.0.grad);
        *slot = Some(match slot.take() {
            Some(old) => old.add_owned(&g)?,
            None => g,
        });
        Ok(())
    }

    /// `self + other` for tensors of one shape, written into `self`'s own
    /// buffer when nothing else holds the tensor or its data (a gradient being
    /// summed in the backward pass: no new buffer and tensor per addition);
    /// otherwise a new tensor, as [`add`](Tensor::add). The same values either way.
    pub(crate) fn add_owned(mut self, other: &Tensor) -> Result<Tensor> {
        // (a recorded `other` must be added by a recorded op, as in a create_graph pass)
        if self.0.node.is_none()
            && !self.0.requires_grad
            && !(other.tracks_grad() && autograd::is_grad_enabled())
            && self.shape() == other.shape()
            && let Some(inner) = Arc::get_mut(&mut self.0)
            && let Data::Fixed(storage) = &mut inner.data
            && let Some(mine) = Arc::get_mut(storage)
        {
            let theirs = other.storage();
            // one shape, so one length; another dtype goes to `add` (its error)
            match (mine, &*theirs) {
                (Storage::F32(a), Storage::F32(b)) => add_assign(a, b),
                (Storage::F64(a), Storage::F64(b)) => add_assign(a, b),
                _ => return self.add(other),
            }
            return Ok(self);
        }
        self.add(other)
    }

    /// A tensor sharing this one's data, cut from the graph (tracks no gradient).
    pub fn detach(&self) -> Tensor {
        Tensor::from_shared(self.storage_arc(), self.0.shape.clone())
    }

    /// Computes the gradient of this one-element tensor with respect to every
    /// leaf it was computed from, and adds it to their [`grad`](Tensor::grad).
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::autograd(
                "backward",
                format!(
                    "self has shape {:?} ({} elements); backward() needs a one-element tensor, use backward_with(grad) for others",
                    self.shape(),
                    self.numel()
                ),
            ));
        }
        let seed = Tensor::from_storage(Storage::filled(1, 1.0, self.dtype()), self.shape());
        self.backward_with(&seed)
    }

    /// `loss.backward(create_graph=True)`: like [`backward`](Tensor::backward),
    /// but the backward pass is itself recorded, so the gradients accumulated
    /// into the leaves' [`grad`](Tensor::grad) track gradients and can be
    /// differentiated again (clear them with [`zero_grad`](Tensor::zero_grad)
    /// to free that graph). Needs a one-element tensor.
    ///
    /// ```
    /// use tapegrad::Tensor;
    /// let x = Tensor::from_vec(vec![2.0f64], &[1])?.requires_grad();
    /// x.pow(3.0)?.sum_all().backward_with_graph()?; // x.grad = 3x² = 12
    /// let g = x.grad().unwrap();
    /// x.zero_grad();
    /// g.sum_all().backward()?;                      // d(3x²)/dx = 6x = 12
    /// assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![12.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn backward_with_graph(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::autograd(
                "backward_with_graph",
                format!("self has shape {:?} ({} elements); it needs a one-element tensor", self.shape(), self.numel()),
            ));
        }
        autograd::backward_with_graph(self)
    }

    /// Back-propagates `grad` (the vector of the vector-Jacobian product), which
    /// must have this tensor's shape and dtype.
    pub fn backward_with(&self, grad: &Tensor) -> Result<()> {
        if grad.shape() != self.shape() {
            return Err(Error::shape(
                "backward_with",
                format!("grad has shape {:?}, expected self's shape {:?}", grad.shape(), self.shape()),
            ));
        }
        self.require_same_dtype(grad, "backward_with", "grad")?;
        if !self.tracks_grad() {
            return Err(Error::autograd(
                "backward",
                "self does not track gradients: no input was marked with requires_grad(), or it was computed under no_grad",
            ));
        }
        autograd::run_backward(self, grad.detach())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(t: &Tensor) -> *const Storage {
        Arc::as_ptr(&t.storage_arc())
    }

    #[test]
    fn add_owned_reuses_only_a_buffer_nobody_else_holds() {
        let b = Tensor::from_vec(vec![0.5f32, -1.0, 2.0], &[3]).unwrap();
        // alone: summed in place, into the same buffer
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
        let at = buffer(&a);
        let s = a.add_owned(&b).unwrap();
        assert_eq!(buffer(&s), at);
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![1.5, 1.0, 5.0]);
        // the tensor held elsewhere: a new one, the held one unchanged
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
        let (held, at) = (a.clone(), buffer(&a));
        let s = a.add_owned(&b).unwrap();
        assert_ne!(buffer(&s), at);
        assert_eq!(held.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![1.5, 1.0, 5.0]);
        // its data shared with another tensor (a detached view): not written either
        let a = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
        let view = a.detach();
        let s = a.add_owned(&Tensor::from_vec(vec![1.0f64, 1.0], &[2]).unwrap()).unwrap();
        assert_eq!(view.to_vec::<f64>().unwrap(), vec![1.0, 2.0]);
        assert_eq!(s.to_vec::<f64>().unwrap(), vec![2.0, 3.0]);
        // a shape or dtype that differs goes through `add` (broadcast, or its error)
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
        let s = a.add_owned(&Tensor::scalar(1.0f32)).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![2.0, 3.0, 4.0]);
        let a = Tensor::from_vec(vec![1.0f32], &[1]).unwrap();
        assert!(a.add_owned(&Tensor::from_vec(vec![1.0f64], &[1]).unwrap()).is_err());
    }

    #[test]
    fn a_held_gradient_keeps_its_values_when_the_next_backward_accumulates() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap().requires_grad();
        // x used twice: its two gradients are summed in the backward pass
        let y = || x.mul(&x).unwrap().add(&x.mul_scalar(3.0).unwrap()).unwrap().sum_all();
        y().backward().unwrap();
        let held = x.grad().unwrap();
        assert_eq!(held.to_vec::<f32>().unwrap(), vec![5.0, 7.0]);
        y().backward().unwrap();
        assert_eq!(held.to_vec::<f32>().unwrap(), vec![5.0, 7.0]);
        assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![10.0, 14.0]);
    }
}
