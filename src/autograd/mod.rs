//! Reverse-mode automatic differentiation: the recorded graph, the backward
//! pass, gradient mode (`no_grad`), higher-order gradients ([`grad`],
//! [`Tensor::backward_with_graph`]) and numerical gradient checking
//! ([`gradcheck`], [`gradgradcheck`]).
//!
//! # First order and `create_graph`
//!
//! Every recorded op has a `Backward` with two methods. `backward` is the fast
//! first-order path: fused kernels over raw buffers, run under `no_grad`, its
//! gradients constants. `backward_graph` computes the same gradients with
//! recorded tensor ops, and runs only in a `create_graph` pass ([`grad`] with
//! `create_graph: true`, or [`Tensor::backward_with_graph`]), with recording
//! on: the gradients it returns are part of a new graph, which can be
//! differentiated again, to any order.
//!
//! # How an op opts into double backward
//!
//! - By hand, when its gradient is a short formula in other recorded ops:
//!   `mul` returns `g·b` and `g·a`, `tanh` returns `g·(1 − tanh(x)²)`,
//!   `matmul` returns `g·Bᵀ` and `Aᵀ·g`. Each of those ops is itself
//!   differentiable, so any order follows.
//! - By recomputation (the composite route), for fused ops and losses whose
//!   gradient kernels have no recorded twin: `backward_graph` calls the
//!   crate's `composite_backward(inputs, grad, needs, |x| ...)` with a closure
//!   that recomputes the op's forward from differentiable primitives
//!   (`log_softmax`, `gather`, `sum`, `where_cond`, ...). The helper records that
//!   recomputation on the node's own inputs and differentiates it with
//!   `create_graph`, which is the vector-Jacobian product of the composite,
//!   itself recorded. A new loss written as such a composite gets double
//!   backward with one line; one written from recorded ops needs nothing.
//!
//! An op that keeps the default `backward_graph` answers a `create_graph` pass
//! with an `Err` naming it ("... does not support double backward"), never a
//! wrong number.

mod gradcheck;
mod higher;
pub use gradcheck::{GradcheckReport, gradcheck, gradgradcheck};
pub use higher::{GradOptions, grad};
pub(crate) use higher::{backward_with_graph, composite_backward, no_double_backward, with_grad};

use crate::{Result, Tensor};
use smallvec::SmallVec;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Tensor ids are unique integers: they are their own hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_usize(&mut self, v: usize) {
        // spread the bits a little: ids are consecutive
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;

/// The inputs of a node: up to three inline, without a heap allocation.
pub(crate) type Inputs = SmallVec<[Tensor; 3]>;

/// The backward half of an operation: given the gradient of the output,
/// returns the gradient of each input (`None` where there is none).
pub(crate) trait Backward: Send + Sync {
    /// PyTorch-like name shown in `grad_fn=<...>`.
    fn name(&self) -> &'static str;
    /// `inputs` are the tensors the op was applied to, in order.
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>>;
    /// The same gradients computed with recorded (differentiable) ops, for a
    /// `create_graph` pass, which runs it with recording on; `needs[i]` says
    /// whether input `i`'s gradient is wanted (others may be `None`). An op
    /// whose gradient cannot be differentiated keeps this default, an error.
    /// See the module docs for the two ways to implement it.
    fn backward_graph(&self, _inputs: &[Tensor], _grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Err(no_double_backward(self.name()))
    }
    /// A fused op recorded on `inputs[0]` in place of an intermediate computed
    /// from it that the op never read (`nll_loss(log_softmax(x))` and
    /// `binary_cross_entropy(sigmoid(x))` are recorded on `x`) lists that
    /// intermediate among its inputs, at the position returned here, so that
    /// [`grad`] can be asked for its gradient. A pass gives the intermediate a
    /// gradient only when it is one of the tensors asked for: then `needs` has
    /// it set and `inputs[0]` cleared, and `backward_graph` (run in either
    /// mode) differentiates the unfused op at the intermediate, whose own node
    /// carries the gradient on to `inputs[0]`. Otherwise the fused gradient
    /// goes to `inputs[0]` directly and the intermediate is passed over.
    fn skipped(&self) -> Option<usize> {
        None
    }
}

static LIVE_NODES: AtomicIsize = AtomicIsize::new(0);

/// Number of graph nodes currently alive in the process: a test's way to
/// show that graphs are freed with their tensors.
pub fn live_nodes() -> isize {
    LIVE_NODES.load(Ordering::Relaxed)
}

/// A recorded operation: its backward and its inputs.
pub(crate) struct Node {
    pub(crate) op: Box<dyn Backward>,
    inputs: Inputs,
}

impl Node {
    pub(crate) fn new(op: Box<dyn Backward>, inputs: Inputs) -> Node {
        LIVE_NODES.fetch_add(1, Ordering::Relaxed);
        Node { op, inputs }
    }
    pub(crate) fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }
    pub(crate) fn into_inputs(mut self) -> Inputs {
        std::mem::take(&mut self.inputs)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless the current thread is inside [`no_grad`].
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` with gradient recording switched off on this thread (like
/// `with torch.no_grad():`). Nothing computed inside tracks gradients.
///
/// ```
/// use tapegrad::{no_grad, Tensor};
/// let w = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?.requires_grad();
/// let y = no_grad(|| w.mul(&w))?;
/// assert!(!y.tracks_grad());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(false)));
    f()
}

/// Runs `f` with gradient recording switched on on this thread (inside a
/// backward, say: an op that differentiates a small graph of its own there).
pub(crate) fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(true)));
    f()
}

/// The backward pass from `root`, seeded with `seed`.
pub(crate) fn run_backward(root: &Tensor, seed: Tensor) -> Result<()> {
    // Reverse topological order by an iterative depth-first search (no recursion:
    // a 100,000-op chain must not overflow the stack).
    let mut order: Vec<Tensor> = Vec::new();
    let mut visited: HashSet<usize, IdBuild> = HashSet::default();
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((t, done)) = stack.pop() {
        if done {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.node() {
            // a fused op's skipped intermediate gets no gradient here (nothing asks for it)
            let skipped = node.op.skipped();
            for (k, input) in node.inputs().iter().enumerate() {
                if Some(k) != skipped && input.tracks_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }

    let mut grads: HashMap<usize, Tensor, IdBuild> = HashMap::with_capacity_and_hasher(order.len(), IdBuild::default());
    grads.insert(root.id(), seed);
    no_grad(|| {
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.id()) else {
                continue;
            };
            match t.node() {
                None => {
                    if t.0.requires_grad {
                        t.accumulate_grad(g)?;
                    }
                }
                Some(node) => {
                    let input_grads = node.op.backward(node.inputs(), &g)?;
                    for (input, ig) in node.inputs().iter().zip(input_grads) {
                        let Some(ig) = ig else { continue };
                        if !input.tracks_grad() {
                            continue;
                        }
                        debug_assert_eq!(ig.shape(), input.shape(), "{} backward: gradient shape", node.op.name());
                        let merged = match grads.remove(&input.id()) {
                            Some(prev) => prev.add_owned(&ig)?,
                            None => ig,
                        };
                        grads.insert(input.id(), merged);
                    }
                }
            }
        }
        Ok(())
    })
}
