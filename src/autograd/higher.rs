//! Gradients as tensors: [`grad`] (like `torch.autograd.grad`), the
//! `create_graph` backward (`loss.backward(create_graph=True)`), and the
//! composite route by which a fused op differentiates its gradient.
//!
//! The first-order [`Tensor::backward`] never comes here: it runs every node's
//! fused `Backward::backward` under `no_grad`. With `create_graph` each node's
//! `Backward::backward_graph` is called instead, with gradient recording on,
//! so the gradients it returns are themselves recorded tensors that can be
//! differentiated again.

use super::{Backward, IdBuild};
use crate::{Error, Result, Tensor};
use std::collections::{HashMap, HashSet};

/// Options of [`grad`]; `Default` is PyTorch's (`None`, `false`, `false`).
#[derive(Clone, Debug, Default)]
pub struct GradOptions {
    /// The vectors of the vector-Jacobian products, one per output, each of
    /// its output's shape and dtype. `None`: every output must hold one
    /// element, and is seeded with 1.
    pub grad_outputs: Option<Vec<Tensor>>,
    /// Record the backward pass itself, so that the returned gradients track
    /// gradients and can be differentiated again (any number of times).
    pub create_graph: bool,
    /// `false`: an input the outputs do not depend on is an `Err`; `true`: its
    /// gradient is `None`.
    pub allow_unused: bool,
}

/// Runs `f` with gradient recording switched on (`torch.enable_grad()`).
pub(crate) fn with_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            super::GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(super::GRAD_ENABLED.with(|g| g.replace(true)));
    f()
}

/// The gradients of `outputs` with respect to `inputs`, returned rather than
/// accumulated into any tensor's [`grad`](Tensor::grad) (`torch.autograd.grad`).
///
/// `inputs` may be leaves or computed (non-leaf) tensors; each must track
/// gradients. The result holds one entry per input: `None` only for an input
/// the outputs do not depend on, and only with `allow_unused`. With
/// `create_graph` the gradients are recorded tensors, differentiable again
/// (for a gradient that happens not to depend on anything, a recorded zero
/// derivative is attached, so `backward` on it works and gives zeros).
///
/// ```
/// use tapegrad::{autograd::{grad, GradOptions}, Tensor};
/// let x = Tensor::from_vec(vec![0.5f64, -1.0], &[2])?.requires_grad();
/// let y = x.pow(3.0)?.sum_all();                       // y = Σ x³
/// let opts = GradOptions { create_graph: true, ..Default::default() };
/// let g = grad(&[y], &[x.clone()], &opts)?[0].clone().unwrap(); // 3x²
/// assert_eq!(g.to_vec::<f64>()?, vec![0.75, 3.0]);
/// let h = grad(&[g.sum_all()], &[x], &GradOptions::default())?; // 6x
/// assert_eq!(h[0].as_ref().unwrap().to_vec::<f64>()?, vec![3.0, -6.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn grad(outputs: &[Tensor], inputs: &[Tensor], opts: &GradOptions) -> Result<Vec<Option<Tensor>>> {
    const OP: &str = "grad";
    let seeds = seeds(OP, outputs, opts.grad_outputs.as_deref(), opts.create_graph)?;
    for (i, x) in inputs.iter().enumerate() {
        if !x.tracks_grad() {
            return Err(Error::autograd(
                OP,
                format!(
                    "inputs[{i}] does not track gradients: mark it with requires_grad() or compute it from such a tensor"
                ),
            ));
        }
    }
    let found = engine(outputs, seeds, opts.create_graph, Mode::Targets { targets: inputs, stop: &[] })?;
    let mut out = Vec::with_capacity(inputs.len());
    for (i, (g, x)) in found.into_iter().zip(inputs).enumerate() {
        match g {
            Some(g) => out.push(Some(if opts.create_graph { attach_constant(g, x)? } else { g })),
            None if opts.allow_unused => out.push(None),
            None => {
                return Err(Error::autograd(
                    OP,
                    format!(
                        "inputs[{i}] (shape {:?}) was not used to compute the outputs; pass allow_unused: true to get None for it",
                        x.shape()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The seeds of a backward pass from `outputs`: `grad_outputs` checked, or ones.
fn seeds(op: &'static str, outputs: &[Tensor], given: Option<&[Tensor]>, create_graph: bool) -> Result<Vec<Tensor>> {
    if outputs.is_empty() {
        return Err(Error::value(op, "outputs is empty: nothing to differentiate"));
    }
    if let Some(g) = given
        && g.len() != outputs.len()
    {
        return Err(Error::value(
            op,
            format!("grad_outputs has {} tensors but there are {} outputs", g.len(), outputs.len()),
        ));
    }
    let mut seeds = Vec::with_capacity(outputs.len());
    for (i, y) in outputs.iter().enumerate() {
        if !y.tracks_grad() {
            return Err(Error::autograd(
                op,
                format!(
                    "outputs[{i}] does not track gradients: no input was marked with requires_grad(), or it was computed under no_grad"
                ),
            ));
        }
        let seed = match given {
            Some(g) => {
                let s = &g[i];
                if s.shape() != y.shape() {
                    return Err(Error::shape(
                        op,
                        format!(
                            "grad_outputs[{i}] has shape {:?}, expected outputs[{i}]'s shape {:?}",
                            s.shape(),
                            y.shape()
                        ),
                    ));
                }
                y.require_same_dtype(s, op, "grad_outputs")?;
                if create_graph { s.clone() } else { s.detach() }
            }
            None => {
                if y.numel() != 1 {
                    return Err(Error::autograd(
                        op,
                        format!(
                            "outputs[{i}] has shape {:?} ({} elements); without grad_outputs each output must hold one element",
                            y.shape(),
                            y.numel()
                        ),
                    ));
                }
                y.full_like(1.0)
            }
        };
        seeds.push(seed);
    }
    Ok(seeds)
}

/// `loss.backward(create_graph=True)`: see [`Tensor::backward_with_graph`].
pub(crate) fn backward_with_graph(root: &Tensor) -> Result<()> {
    let seeds = seeds("backward_with_graph", std::slice::from_ref(root), None, true)?;
    engine(std::slice::from_ref(root), seeds, true, Mode::Leaves)?;
    Ok(())
}

/// A gradient computed with `create_graph` that records no graph (it does not
/// depend on any tensor tracking gradients) is tied to `x` by a node whose
/// derivative is zero, so that it still tracks gradients, as a derivative should.
fn attach_constant(g: Tensor, x: &Tensor) -> Result<Tensor> {
    if g.tracks_grad() {
        return Ok(g);
    }
    let storage = g.storage_arc();
    Ok(Tensor::from_op_shared(storage, g.0.shape.clone(), ConstantBackward, &[x]))
}

/// A value that does not depend on its input: the derivative is zero.
struct ConstantBackward;

impl Backward for ConstantBackward {
    fn name(&self) -> &'static str {
        "ConstantGradBackward"
    }
    fn backward(&self, inputs: &[Tensor], _grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(inputs[0].detach().full_like(0.0))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.backward(inputs, grad)
    }
}

/// Where the gradients of a pass go.
enum Mode<'a> {
    /// accumulated into the leaves' `grad()` (`backward_with_graph`)
    Leaves,
    /// returned for `targets` (in their order); the pass does not look past
    /// the tensors of `stop`
    Targets { targets: &'a [Tensor], stop: &'a [Tensor] },
}

/// The backward pass from `roots` seeded with `seeds`. With `create_graph`
/// every node's `backward_graph` runs with recording on; otherwise its fused
/// `backward` runs under `no_grad`. Only nodes on a path to a wanted tensor run.
fn engine(roots: &[Tensor], seeds: Vec<Tensor>, create_graph: bool, mode: Mode<'_>) -> Result<Vec<Option<Tensor>>> {
    let (targets, stops): (&[Tensor], HashSet<usize, IdBuild>) = match &mode {
        Mode::Leaves => (&[], HashSet::default()),
        Mode::Targets { targets, stop } => (targets, stop.iter().map(Tensor::id).collect()),
    };
    let wanted: HashSet<usize, IdBuild> = targets.iter().map(Tensor::id).collect();
    // post-order (inputs before the tensors computed from them), iteratively
    let mut order: Vec<Tensor> = Vec::new();
    let mut visited: HashSet<usize, IdBuild> = HashSet::default();
    let mut stack: Vec<(Tensor, bool)> = roots.iter().rev().map(|r| (r.clone(), false)).collect();
    while let Some((t, done)) = stack.pop() {
        if done {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        // a stop tensor (a node's own input, in the composite route): nothing past it
        if stops.contains(&t.id()) {
            continue;
        }
        if let Some(node) = t.node() {
            for input in node.inputs() {
                if input.tracks_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    // which tensors lead to a wanted one (all of them when leaves accumulate)
    let needed: HashSet<usize, IdBuild> = match mode {
        Mode::Leaves => order.iter().map(Tensor::id).collect(),
        Mode::Targets { .. } => {
            let mut needed = HashSet::default();
            for t in &order {
                let through = !stops.contains(&t.id())
                    && t.node().is_some_and(|n| n.inputs().iter().any(|i| needed.contains(&i.id())));
                if wanted.contains(&t.id()) || through {
                    needed.insert(t.id());
                }
            }
            needed
        }
    };
    let mut grads: HashMap<usize, Tensor, IdBuild> = HashMap::with_capacity_and_hasher(order.len(), IdBuild::default());
    for (r, s) in roots.iter().zip(seeds) {
        if !needed.contains(&r.id()) {
            continue;
        }
        let merged = match grads.remove(&r.id()) {
            Some(prev) => prev.add(&s)?,
            None => s,
        };
        grads.insert(r.id(), merged);
    }
    let mut found: HashMap<usize, Tensor, IdBuild> = HashMap::default();
    let pass = || -> Result<()> {
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.id()) else {
                continue;
            };
            if wanted.contains(&t.id()) {
                found.insert(t.id(), g.clone());
            }
            if stops.contains(&t.id()) {
                continue;
            }
            match t.node() {
                None => {
                    if matches!(mode, Mode::Leaves) && t.0.requires_grad {
                        t.accumulate_grad(if create_graph { attach_constant(g, t)? } else { g })?;
                    }
                }
                Some(node) => {
                    let inputs = node.inputs();
                    let mut needs: Vec<bool> =
                        inputs.iter().map(|i| i.tracks_grad() && needed.contains(&i.id())).collect();
                    // a fused op's skipped intermediate (`Backward::skipped`): its gradient
                    // only when it is asked for, and then the gradient of inputs[0] flows
                    // through it rather than by the shortcut
                    let unfused = match node.op.skipped() {
                        Some(s) => {
                            needs[s] = wanted.contains(&inputs[s].id());
                            if needs[s] {
                                needs[0] = false;
                            }
                            needs[s]
                        }
                        None => false,
                    };
                    if !needs.iter().any(|&n| n) {
                        continue;
                    }
                    let input_grads = if create_graph {
                        node.op.backward_graph(inputs, &g, &needs)?
                    } else if unfused {
                        // the recorded route, its results taken as constants
                        let found = node.op.backward_graph(inputs, &g, &needs)?;
                        found.into_iter().map(|ig| ig.map(|ig| ig.detach())).collect()
                    } else {
                        node.op.backward(inputs, &g)?
                    };
                    for ((input, ig), &need) in inputs.iter().zip(input_grads).zip(&needs) {
                        let Some(ig) = ig else { continue };
                        if !need {
                            continue;
                        }
                        if ig.shape() != input.shape() {
                            return Err(Error::autograd(
                                node.op.name(),
                                format!(
                                    "backward gave a gradient of shape {:?} for an input of shape {:?}",
                                    ig.shape(),
                                    input.shape()
                                ),
                            ));
                        }
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
    };
    if create_graph {
        with_grad(pass)?;
    } else {
        super::no_grad(pass)?;
    }
    Ok(targets.iter().map(|t| found.get(&t.id()).cloned()).collect())
}

/// The differentiable vector-Jacobian product of a composite: recomputes
/// `y = f(inputs)` from recorded (differentiable) ops, with recording on, and
/// returns `∂⟨y, grad⟩/∂inputs[i]` for every `needs[i]`, as recorded tensors.
///
/// This is how a fused op opts into double backward without deriving its
/// second derivative by hand: its `backward_graph` calls
/// `composite_backward(inputs, grad, needs, |x| /* the forward, in primitives */)`.
/// `f` must not call the fused op itself (that would recurse): only ops whose
/// `backward_graph` does not come back here for the same op. The pass stops at
/// `inputs`: nothing recorded before them is visited.
pub(crate) fn composite_backward(
    inputs: &[Tensor],
    grad: &Tensor,
    needs: &[bool],
    f: impl FnOnce(&[Tensor]) -> Result<Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    with_grad(|| {
        let y = f(inputs)?;
        if y.shape() != grad.shape() {
            return Err(Error::autograd(
                "composite_backward",
                format!("the recomputed output has shape {:?}, the gradient {:?}", y.shape(), grad.shape()),
            ));
        }
        // a tensor passed twice gets its gradient once (the caller sums per position)
        let mut seen: HashSet<usize, IdBuild> = HashSet::default();
        let mut pos = Vec::new();
        let mut targets = Vec::new();
        for (i, x) in inputs.iter().enumerate() {
            if needs.get(i).copied().unwrap_or(false) && x.tracks_grad() && seen.insert(x.id()) {
                pos.push(i);
                targets.push(x.clone());
            }
        }
        let mut out = vec![None; inputs.len()];
        if targets.is_empty() || !y.tracks_grad() {
            return Ok(out);
        }
        let found = engine(
            std::slice::from_ref(&y),
            vec![grad.clone()],
            true,
            Mode::Targets { targets: &targets, stop: inputs },
        )?;
        for (i, g) in pos.into_iter().zip(found) {
            out[i] = g;
        }
        Ok(out)
    })
}

/// The error of an op whose gradient cannot be differentiated again.
pub(crate) fn no_double_backward(name: &'static str) -> Error {
    Error::autograd(name, format!("{name} does not support double backward (create_graph)"))
}
