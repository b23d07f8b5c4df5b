//! Learning-rate schedules, PyTorch's `torch.optim.lr_scheduler`: each call
//! to `step(&mut opt)` (once per epoch, after the optimizer's steps) sets the
//! optimizer's learning rate for the next epoch, by PyTorch's own recursive
//! formulas, so the rates are PyTorch's to the last bit.
//!
//! A schedule takes the optimizer's learning rate at its first `step` as the
//! base rate (PyTorch's `base_lrs`, read when the scheduler is made).
//!
//! ```
//! use tapegrad::{nn::{self, Module}, optim::{self, lr_scheduler::StepLr, Optimizer}};
//! let model = nn::Linear::new(2, 1, &mut rand::rng());
//! let mut opt = optim::Sgd::new(model.parameters(), 0.1);
//! let mut sched = StepLr::new(2, 0.5);
//! let mut lrs = Vec::new();
//! for _epoch in 0..5 {
//!     // ... the epoch's steps ...
//!     sched.step(&mut opt)?;
//!     lrs.push(opt.lr());
//! }
//! assert_eq!(lrs, vec![0.1, 0.05, 0.05, 0.025, 0.025]);
//! # Ok::<(), tapegrad::Error>(())
//! ```

use super::Optimizer;
use crate::{Error, Result};

/// The epoch count and base rate shared by the schedules.
#[derive(Clone, Debug, Default)]
struct Epochs {
    /// PyTorch's `last_epoch`, after the latest `step`.
    last: u64,
    /// The optimizer's rate at the first `step`.
    base: Option<f64>,
}

impl Epochs {
    /// Advances one epoch; returns `(last_epoch, base_lr, current lr)`.
    fn advance(&mut self, opt: &dyn Optimizer) -> (u64, f64, f64) {
        let lr = opt.lr();
        let base = *self.base.get_or_insert(lr);
        self.last += 1;
        (self.last, base, lr)
    }
}

/// Errors if `opt` says it has no parameters: a schedule over nothing is a
/// mistake in the training loop (an optimizer built from an empty list).
fn has_params(op: &'static str, opt: &dyn Optimizer) -> Result<()> {
    if opt.num_params() == Some(0) {
        return Err(Error::value(op, "the optimizer has no parameters: there is nothing to schedule"));
    }
    Ok(())
}

/// Checks that `value` is a finite number `>= 0`.
fn check(op: &'static str, name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::value(op, format!("{name} = {value} must be finite and >= 0")))
    }
}

/// Multiplies the rate by `gamma` every `step_size` epochs (`StepLR`):
/// `lr_e = base · gamma^⌊e / step_size⌋`.
#[derive(Clone, Debug)]
pub struct StepLr {
    step_size: u64,
    gamma: f64,
    epochs: Epochs,
}

impl StepLr {
    /// Decays by `gamma` (PyTorch's default 0.1) every `step_size` epochs.
    pub fn new(step_size: u64, gamma: f64) -> StepLr {
        StepLr { step_size, gamma, epochs: Epochs::default() }
    }

    /// Ends an epoch: sets `opt`'s rate for the next one. Errors, changing
    /// nothing, if `step_size` is 0, `gamma` is negative or not finite, or
    /// `opt` has no parameters.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        const OP: &str = "StepLr::step";
        has_params(OP, opt)?;
        if self.step_size == 0 {
            return Err(Error::value(OP, "step_size = 0 must be at least 1"));
        }
        check(OP, "gamma", self.gamma)?;
        let (e, _, lr) = self.epochs.advance(opt);
        if e % self.step_size == 0 {
            opt.set_lr(lr * self.gamma);
        }
        Ok(())
    }
}

/// Multiplies the rate by `gamma` every epoch (`ExponentialLR`):
/// `lr_e = base · gamma^e`.
#[derive(Clone, Debug)]
pub struct ExponentialLr {
    gamma: f64,
    epochs: Epochs,
}

impl ExponentialLr {
    /// Decays by `gamma` every epoch.
    pub fn new(gamma: f64) -> ExponentialLr {
        ExponentialLr { gamma, epochs: Epochs::default() }
    }

    /// Ends an epoch: sets `opt`'s rate for the next one. Errors, changing
    /// nothing, if `gamma` is negative or not finite, or `opt` has no parameters.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        has_params("ExponentialLr::step", opt)?;
        check("ExponentialLr::step", "gamma", self.gamma)?;
        let (_, _, lr) = self.epochs.advance(opt);
        opt.set_lr(lr * self.gamma);
        Ok(())
    }
}

/// Cosine annealing from the base rate to `eta_min` over `t_max` epochs
/// (`CosineAnnealingLR`, without restarts): `lr_e = eta_min + (base −
/// eta_min)·(1 + cos(π·e / t_max)) / 2` for `e ≤ t_max`, then back up and down
/// with period `2·t_max`, computed by PyTorch's recursive form.
#[derive(Clone, Debug)]
pub struct CosineAnnealingLr {
    t_max: u64,
    eta_min: f64,
    epochs: Epochs,
}

impl CosineAnnealingLr {
    /// Anneals over `t_max` epochs down to `eta_min` (PyTorch's default 0).
    pub fn new(t_max: u64, eta_min: f64) -> CosineAnnealingLr {
        CosineAnnealingLr { t_max, eta_min, epochs: Epochs::default() }
    }

    /// Ends an epoch: sets `opt`'s rate for the next one. Errors, changing
    /// nothing, if `t_max` is 0, `eta_min` is negative or not finite, or `opt`
    /// has no parameters.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        const OP: &str = "CosineAnnealingLr::step";
        has_params(OP, opt)?;
        if self.t_max == 0 {
            return Err(Error::value(OP, "t_max = 0 must be at least 1"));
        }
        check(OP, "eta_min", self.eta_min)?;
        let (e, base, lr) = self.epochs.advance(opt);
        let (t_max, eta_min, pi) = (self.t_max as f64, self.eta_min, std::f64::consts::PI);
        let next = if (e as i128 - 1 - self.t_max as i128).rem_euclid(2 * self.t_max as i128) == 0 {
            lr + (base - eta_min) * (1.0 - (pi / t_max).cos()) / 2.0
        } else {
            let e = e as f64;
            (1.0 + (pi * e / t_max).cos()) / (1.0 + (pi * (e - 1.0) / t_max).cos()) * (lr - eta_min) + eta_min
        };
        opt.set_lr(next);
        Ok(())
    }
}
