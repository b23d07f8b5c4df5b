//! Optimizers, PyTorch's `torch.optim`: [`Sgd`] and [`Adam`] (AdamW with
//! `.decoupled(true)`), both behind the [`Optimizer`] trait, and learning-rate
//! schedules ([`lr_scheduler`]). Each updates its parameters in place
//! ([`Tensor::set_data`]) from their accumulated gradients.
//!
//! ```
//! use tapegrad::{nn::{self, Module}, optim, DType, Tensor};
//! let mut rng = rand::rng();
//! let model = nn::Linear::new(3, 1, &mut rng);
//! let mut opt = optim::Adam::new(model.parameters(), 1e-2);
//! let x = Tensor::randn(&[8, 3], DType::F32, &mut rng);
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     let loss = model.forward(&x)?.pow(2.0)?.mean_all();
//!     loss.backward()?;
//!     opt.step()?;
//! }
//! # Ok::<(), tapegrad::Error>(())
//! ```

mod adam;
pub mod lr_scheduler;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use crate::nn::StateDict;

/// What every optimizer does (`torch.optim.Optimizer`): a step from the
/// accumulated gradients, clearing them, its learning rate, and its state
/// for checkpoints.
///
/// The state dict flattens PyTorch's: `"param_groups.0.lr"` (a 0-d F64
/// tensor) and, per parameter `i` that has state, `"state.{i}.momentum_buffer"`
/// (SGD with momentum) or `"state.{i}.exp_avg"`, `"state.{i}.exp_avg_sq"` and
/// `"state.{i}.step"` (Adam; the step a 0-d F64 tensor). Loading it into an
/// optimizer over the same parameters resumes training exactly: N steps, a
/// save and load, then M steps give the bits of N + M steps.
///
/// ```
/// use tapegrad::{nn::{self, Module}, optim::{self, Optimizer}, DType, Tensor};
/// let mut rng = rand::rng();
/// let model = nn::Linear::new(3, 1, &mut rng);
/// let mut opt = optim::Adam::new(model.parameters(), 1e-2);
/// opt.set_lr(5e-3);
/// assert_eq!(Optimizer::lr(&opt), 5e-3);
/// let x = Tensor::randn(&[8, 3], DType::F32, &mut rng);
/// model.forward(&x)?.pow(2.0)?.mean_all().backward()?;
/// Optimizer::step(&mut opt)?;
/// let state = opt.state_dict();
/// assert!(state.contains_key("state.0.exp_avg"));
/// let mut resumed = optim::Adam::new(model.parameters(), 1e-2);
/// resumed.load_state_dict(&state)?;
/// assert_eq!(Optimizer::lr(&resumed), 5e-3);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub trait Optimizer {
    /// Updates every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;
    /// Clears the gradients of every parameter.
    fn zero_grad(&self);
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate used from the next step on (what a schedule does).
    fn set_lr(&mut self, lr: f64);
    /// The learning rate and the per-parameter state (moments, step counts).
    fn state_dict(&self) -> StateDict;
    /// Restores what [`state_dict`](Optimizer::state_dict) saved. Errors, changing
    /// nothing, on a key this optimizer does not have, a parameter index out
    /// of range, or a tensor whose shape or dtype is not its parameter's.
    fn load_state_dict(&mut self, state: &StateDict) -> Result<()>;
    /// How many parameters the optimizer updates, when it can tell (`None`
    /// by default; [`Sgd`] and [`Adam`] tell). A schedule refuses to step an
    /// optimizer that has none.
    fn num_params(&self) -> Option<usize> {
        None
    }
}

/// Errors unless every parameter is a trainable leaf (made with
/// [`Tensor::requires_grad`]): a tensor that does not track gradients never
/// gets one and would be skipped silently, and a computed tensor cannot be
/// updated in place. An empty list is an error too (PyTorch: "optimizer got an
/// empty parameter list").
fn check_params(op: &'static str, params: &[Tensor]) -> Result<()> {
    if params.is_empty() {
        return Err(Error::value(op, "params is empty: the optimizer has nothing to update"));
    }
    for (i, p) in params.iter().enumerate() {
        if !p.tracks_grad() {
            return Err(Error::autograd(
                op,
                format!(
                    "params[{i}] (shape {:?}, dtype {}) does not require grad: it would never be updated; \
                     mark it with requires_grad() or leave it out",
                    p.shape(),
                    p.dtype()
                ),
            ));
        }
        if !p.is_leaf() {
            return Err(Error::autograd(
                op,
                format!(
                    "params[{i}] (shape {:?}) is computed from other tensors, not a leaf: it cannot be optimized",
                    p.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// The state dict of an optimizer: its `lr` and each parameter's named buffers.
fn state_dict_of(lr: f64, names: &[&str], state: &[Vec<Storage>], params: &[Tensor]) -> StateDict {
    let mut out = StateDict::new();
    out.insert("param_groups.0.lr".to_string(), Tensor::scalar(lr));
    for (i, (bufs, p)) in state.iter().zip(params).enumerate() {
        for (name, buf) in names.iter().zip(bufs) {
            out.insert(format!("state.{i}.{name}"), Tensor::from_storage(buf.clone(), p.shape()));
        }
    }
    out
}

/// What [`state_dict_of`] saved, checked against `params` and the buffer
/// `names`: the lr (if saved), each parameter's buffers in `names` order
/// (all of them or none), and the scalars named in `scalars` by parameter.
type Loaded = (Option<f64>, Vec<Vec<Storage>>, Vec<Vec<(String, f64)>>);

fn load_state_of(
    op: &'static str,
    state: &StateDict,
    names: &[&str],
    scalars: &[&str],
    params: &[Tensor],
) -> Result<Loaded> {
    let mut lr = None;
    let mut bufs: Vec<Vec<Option<Storage>>> = vec![vec![None; names.len()]; params.len()];
    let mut found: Vec<Vec<(String, f64)>> = vec![Vec::new(); params.len()];
    let scalar_of = |key: &str, t: &Tensor| -> Result<f64> {
        if t.numel() != 1 {
            return Err(Error::shape(op, format!("state key {key:?} holds shape {:?}, expected one value", t.shape())));
        }
        t.to_dtype(crate::DType::F64)?.item::<f64>()
    };
    for (key, t) in state {
        if key == "param_groups.0.lr" {
            lr = Some(scalar_of(key, t)?);
            continue;
        }
        let parts: Vec<&str> = key.splitn(3, '.').collect();
        let (i, name) = match parts.as_slice() {
            ["state", i, name] => match i.parse::<usize>() {
                Ok(i) => (i, *name),
                Err(_) => return Err(Error::value(op, format!("unexpected state key {key:?}"))),
            },
            _ => return Err(Error::value(op, format!("unexpected state key {key:?}"))),
        };
        let Some(p) = params.get(i) else {
            return Err(Error::index(op, format!("state key {key:?}: parameter {i} of {}", params.len())));
        };
        if let Some(k) = names.iter().position(|n| *n == name) {
            if t.shape() != p.shape() || t.dtype() != p.dtype() {
                return Err(Error::shape(
                    op,
                    format!(
                        "state key {key:?} holds {:?} {:?}, expected the parameter's {:?} {:?}",
                        t.dtype(),
                        t.shape(),
                        p.dtype(),
                        p.shape()
                    ),
                ));
            }
            bufs[i][k] = Some(t.storage().clone());
        } else if scalars.contains(&name) {
            found[i].push((name.to_string(), scalar_of(key, t)?));
        } else {
            return Err(Error::value(op, format!("unexpected state key {key:?}")));
        }
    }
    let mut out = Vec::with_capacity(params.len());
    for (i, b) in bufs.into_iter().enumerate() {
        let have = b.iter().filter(|x| x.is_some()).count();
        if have != 0 && have != names.len() {
            return Err(Error::value(op, format!("state of parameter {i}: expected all of {names:?} or none")));
        }
        out.push(b.into_iter().flatten().collect());
    }
    Ok((lr, out, found))
}

use crate::cpu::alloc::{scratch, zeros};
use crate::tensor::ops::float_op2;
use crate::tensor::{Float, Storage, Tensor};
use crate::{Error, Result};

/// Errors unless `value` is finite and at least `min` (or within `[min, max)`).
fn check(op: &'static str, name: &str, value: f64, min: f64, max: Option<f64>) -> Result<()> {
    let ok = value.is_finite() && value >= min && max.is_none_or(|m| value < m);
    if ok {
        Ok(())
    } else {
        let range = match max {
            Some(m) => format!("in [{min}, {m})"),
            None => format!(">= {min}"),
        };
        Err(Error::value(op, format!("{name} = {value} must be finite and {range}")))
    }
}

/// One update rule, with its hyper-parameters for this step.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Sgd { lr: f64, momentum: f64, dampening: f64, nesterov: bool, weight_decay: f64 },
    Adam { lr: f64, b1: f64, b2: f64, eps: f64, weight_decay: f64, decoupled: bool, bc1: f64, bc2: f64 },
}

impl Rule {
    fn n_state(self) -> usize {
        match self {
            Rule::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Rule::Adam { .. } => 2,
        }
    }
}

/// Updates one parameter that has a gradient, in its own dtype (as PyTorch),
/// keeping the rule's state buffers (momentum, or Adam's moments) in `state`.
fn update_param(op: &'static str, p: &Tensor, state: &mut Vec<Storage>, rule: Rule) -> Result<()> {
    let Some(g) = p.grad() else { return Ok(()) };
    let first = state.is_empty();
    let new = float_op2!(op, p, &g, "grad", |ps, gs| {
        let mut bufs: Vec<Vec<T>> = if first {
            (0..rule.n_state()).map(|_| zeros::<T>(ps.len())).collect()
        } else {
            state.iter_mut().map(|s| T::take_vec(s).unwrap_or_else(|| zeros::<T>(ps.len()))).collect()
        };
        let mut out = scratch::<T>(ps.len());
        step::<T>(rule, first, ps, gs, &mut bufs, &mut out);
        *state = bufs.into_iter().map(T::wrap).collect();
        Tensor::from_storage(T::wrap(out), p.shape())
    });
    p.set_data(&new)
}

/// `out = p` after one step of `rule` from gradient `g`, updating `bufs` in place.
fn step<T: Float>(rule: Rule, first: bool, p: &[T], g: &[T], bufs: &mut [Vec<T>], out: &mut [T]) {
    let c = T::from_f64;
    match rule {
        Rule::Sgd { lr, momentum, dampening, nesterov, weight_decay } => {
            let (lr, mu, damp, wd) = (c(lr), c(momentum), c(dampening), c(weight_decay));
            match bufs.first_mut() {
                None => {
                    for ((o, &pv), &gv) in out.iter_mut().zip(p).zip(g) {
                        *o = pv - lr * (gv + wd * pv);
                    }
                }
                Some(b) => {
                    for (((o, &pv), &gv), bv) in out.iter_mut().zip(p).zip(g).zip(b.iter_mut()) {
                        let d = gv + wd * pv;
                        *bv = if first { d } else { mu * *bv + (T::one() - damp) * d };
                        let d = if nesterov { d + mu * *bv } else { *bv };
                        *o = pv - lr * d;
                    }
                }
            }
        }
        Rule::Adam { lr, b1, b2, eps, weight_decay, decoupled, bc1, bc2 } => {
            let (step_size, b1, b2, eps, wd) = (c(lr / bc1), c(b1), c(b2), c(eps), c(weight_decay));
            let (sqrt_bc2, decay) = (c(bc2.sqrt()), c(1.0 - lr * weight_decay));
            let [m, v] = bufs else { return };
            for ((((o, &pv), &gv), mv), vv) in out.iter_mut().zip(p).zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let (pv, gv) = if decoupled { (pv * decay, gv) } else { (pv, gv + wd * pv) };
                *mv = b1 * *mv + (T::one() - b1) * gv;
                *vv = b2 * *vv + (T::one() - b2) * gv * gv;
                *o = pv - step_size * *mv / (vv.sqrt() / sqrt_bc2 + eps);
            }
        }
    }
}
