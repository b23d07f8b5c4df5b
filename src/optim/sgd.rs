//! Stochastic gradient descent, `torch.optim.SGD`.

use super::{Rule, check, check_params, update_param};
use crate::tensor::Storage;
use crate::{Error, Result, Tensor};

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum
/// and weight decay (`torch.optim.SGD`). For each parameter `p` with gradient `g`:
///
/// ```text
/// g ← g + weight_decay · p
/// b ← g                                  (first step)
/// b ← momentum · b + (1 − dampening) · g (later steps)
/// g ← g + momentum · b  if nesterov, else  g ← b     (when momentum ≠ 0)
/// p ← p − lr · g
/// ```
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    buffers: Vec<Vec<Storage>>,
}

impl Sgd {
    /// SGD over `params` with learning rate `lr` (no momentum, no weight decay).
    pub fn new(params: Vec<Tensor>, lr: f64) -> Sgd {
        let buffers = vec![Vec::new(); params.len()];
        Sgd { params, lr, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0, buffers }
    }
    /// Momentum factor (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Dampening of the momentum (default 0).
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }
    /// Nesterov momentum (default false; needs momentum > 0 and dampening 0).
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// L2 penalty added to the gradient (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Updates every parameter that has a gradient. Errors, changing nothing,
    /// on invalid options, an empty parameter list, or a parameter that is
    /// not a trainable leaf (made without `requires_grad()`, or computed):
    /// the message names its index in `params`.
    pub fn step(&mut self) -> Result<()> {
        const OP: &str = "Sgd::step";
        check(OP, "lr", self.lr, 0.0, None)?;
        check(OP, "momentum", self.momentum, 0.0, None)?;
        check(OP, "dampening", self.dampening, f64::MIN, None)?;
        check(OP, "weight_decay", self.weight_decay, 0.0, None)?;
        check_params(OP, &self.params)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::value(
                OP,
                format!(
                    "nesterov needs momentum > 0 and dampening = 0, got momentum = {}, dampening = {}",
                    self.momentum, self.dampening
                ),
            ));
        }
        let rule = Rule::Sgd {
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
        };
        for (p, buf) in self.params.iter().zip(&mut self.buffers) {
            update_param(OP, p, buf, rule)?;
        }
        Ok(())
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }
}

impl super::Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        Sgd::step(self)
    }
    fn zero_grad(&self) {
        Sgd::zero_grad(self)
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
        super::state_dict_of(self.lr, &["momentum_buffer"], &self.buffers, &self.params)
    }
    fn load_state_dict(&mut self, state: &crate::nn::StateDict) -> Result<()> {
        let (lr, buffers, _) =
            super::load_state_of("Sgd::load_state_dict", state, &["momentum_buffer"], &[], &self.params)?;
        if let Some(lr) = lr {
            self.lr = lr;
        }
        self.buffers = buffers;
        Ok(())
    }
}
