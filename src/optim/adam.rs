//! Adam and AdamW, `torch.optim.Adam` / `torch.optim.AdamW`.

use super::{Rule, check, check_params, update_param};
use crate::tensor::Storage;
use crate::{Result, Tensor};

/// Adam (`torch.optim.Adam`), or AdamW with `.decoupled(true)`
/// (`torch.optim.AdamW`). At step `t`, for each parameter `p` with gradient `g`:
///
/// ```text
/// g ← g + weight_decay · p                (Adam)
/// p ← p · (1 − lr · weight_decay)         (AdamW)
/// m ← β₁ · m + (1 − β₁) · g
/// v ← β₂ · v + (1 − β₂) · g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
/// ```
#[derive(Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    t: u64,
    state: Vec<Vec<Storage>>,
}

impl Adam {
    /// Adam over `params` with learning rate `lr`, betas (0.9, 0.999), eps 1e-8.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adam {
        let state = vec![Vec::new(); params.len()];
        Adam { params, lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decoupled: false, t: 0, state }
    }
    /// Decay rates of the moment estimates (default (0.9, 0.999); each in [0, 1)).
    pub fn betas(mut self, betas: (f64, f64)) -> Self {
        self.betas = betas;
        self
    }
    /// Added to the denominator for stability (default 1e-8).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Weight decay (default 0): an L2 term in the gradient, or decoupled (AdamW).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Decoupled weight decay, i.e. AdamW (default false).
    pub fn decoupled(mut self, decoupled: bool) -> Self {
        self.decoupled = decoupled;
        self
    }

    /// Updates every parameter that has a gradient. Errors, changing nothing,
    /// on invalid options, an empty parameter list, or a parameter that is
    /// not a trainable leaf (made without `requires_grad()`, or computed):
    /// the message names its index in `params`.
    pub fn step(&mut self) -> Result<()> {
        const OP: &str = "Adam::step";
        check(OP, "lr", self.lr, 0.0, None)?;
        check(OP, "betas.0", self.betas.0, 0.0, Some(1.0))?;
        check(OP, "betas.1", self.betas.1, 0.0, Some(1.0))?;
        check(OP, "eps", self.eps, 0.0, None)?;
        check(OP, "weight_decay", self.weight_decay, 0.0, None)?;
        check_params(OP, &self.params)?;
        self.t += 1;
        let t = self.t as i32;
        let rule = Rule::Adam {
            lr: self.lr,
            b1: self.betas.0,
            b2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.decoupled,
            bc1: 1.0 - self.betas.0.powi(t),
            bc2: 1.0 - self.betas.1.powi(t),
        };
        for (p, st) in self.params.iter().zip(&mut self.state) {
            update_param(OP, p, st, rule)?;
        }
        Ok(())
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }
}

impl super::Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        Adam::step(self)
    }
    fn zero_grad(&self) {
        Adam::zero_grad(self)
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn num_params(&self) -> Option<usize> {
        Some(self.params.len())
    }
    fn state_dict(&self) -> crate::nn::StateDict {
        let mut out = super::state_dict_of(self.lr, &["exp_avg", "exp_avg_sq"], &self.state, &self.params);
        for (i, st) in self.state.iter().enumerate() {
            if !st.is_empty() {
                out.insert(format!("state.{i}.step"), Tensor::scalar(self.t as f64));
            }
        }
        out
    }
    fn load_state_dict(&mut self, state: &crate::nn::StateDict) -> Result<()> {
        const OP: &str = "Adam::load_state_dict";
        let (lr, moments, steps) =
            super::load_state_of(OP, state, &["exp_avg", "exp_avg_sq"], &["step"], &self.params)?;
        // one step count for all parameters, as this optimizer keeps it
        let mut t = None;
        for (_, v) in steps.iter().flatten() {
            if v.fract() != 0.0 || *v < 0.0 || t.is_some_and(|t| t != *v) {
                return Err(crate::Error::value(OP, format!("state steps must be one whole number >= 0, got {v}")));
            }
            t = Some(*v);
        }
        if let Some(lr) = lr {
            self.lr = lr;
        }
        self.state = moments;
        self.t = t.unwrap_or(0.0) as u64;
        Ok(())
    }
}
