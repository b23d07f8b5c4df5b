//! Optimizers, PyTorch's `torch.optim`: [`Sgd`] and [`Adam`] (AdamW with
//! `.decoupled(true)`). Each updates its parameters in place
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
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

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
