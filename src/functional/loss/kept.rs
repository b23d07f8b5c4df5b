//! What a class loss's forward leaves for its first backward: the
//! exponentials it summed, or the input's whole gradient.
//!
//! A reduced loss (`mean` or `sum`) is almost always differentiated by
//! `loss.backward()`, whose upstream gradient is exactly 1. When the input
//! tracks gradients, the forward then writes the input's gradient for that
//! upstream gradient while each row (or block of positions) is still in
//! cache, and the backward hands the buffer over: the logits are read once
//! instead of twice. This costs what PyTorch's `log_softmax` output costs (one
//! buffer of the input's size, kept until the backward). Any other upstream
//! gradient (a scaled loss, a second backward) recomputes the gradient from
//! the logits, exactly as if nothing had been kept.

use crate::tensor::{Float, Storage};
use std::sync::Mutex;

/// The buffer a class loss's forward keeps for its first backward (taken by it).
pub(crate) enum Kept {
    /// `exp(z − m)` of every element (an unreduced loss: the upstream gradient is
    /// not known in the forward).
    Exps(Storage),
    /// The input's gradient for an upstream gradient of exactly 1.
    GradForOne(Storage),
}

/// A [`Kept`] buffer in a graph node, taken by the first backward.
pub(crate) struct KeptSlot(Mutex<Option<Kept>>);

impl KeptSlot {
    pub(crate) fn new(kept: Option<Kept>) -> KeptSlot {
        KeptSlot(Mutex::new(kept))
    }

    /// Takes the kept buffer (`None` if there was none, or a backward took it).
    fn take(&self) -> Option<Kept> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// For the upstream gradient `g`: the gradient the forward computed, if
    /// `g` is the single value 1; otherwise the kept exponentials, if any.
    /// Either way the buffer leaves the node.
    pub(crate) fn take_for<T: Float>(&self, g: &[T]) -> Taken<T> {
        match self.take() {
            Some(Kept::GradForOne(mut s)) if g.len() == 1 && g[0] == T::one() => {
                T::take_vec(&mut s).map_or(Taken::Nothing, Taken::Grad)
            }
            Some(Kept::Exps(mut s)) => T::take_vec(&mut s).map_or(Taken::Nothing, Taken::Exps),
            _ => Taken::Nothing,
        }
    }
}

/// What [`KeptSlot::take_for`] found.
pub(crate) enum Taken<T> {
    /// The finished gradient of the input.
    Grad(Vec<T>),
    /// `exp(z − m)` of every element.
    Exps(Vec<T>),
    /// Nothing usable: the backward recomputes from the logits.
    Nothing,
}
