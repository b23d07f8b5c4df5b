//! Parameter-free activation modules.

use super::Module;
use crate::functional as F;
use crate::{Result, Tensor};

/// `log_softmax` along a dim (`nn.LogSoftmax(dim)`); see [`F::log_softmax`].
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    dim: isize,
}

impl LogSoftmax {
    /// The module applying `log_softmax` along `dim`.
    pub fn new(dim: isize) -> Self {
        LogSoftmax { dim }
    }
}

impl LogSoftmax {
    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::log_softmax(input, self.dim)
    }
}

impl Module for LogSoftmax {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        LogSoftmax::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// `softmax` along a dim (`nn.Softmax(dim)`); see [`F::softmax`].
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    dim: isize,
}

impl Softmax {
    /// The module applying `softmax` along `dim`.
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl Softmax {
    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::softmax(input, self.dim)
    }
}

impl Module for Softmax {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Softmax::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// The logistic function (`nn.Sigmoid()`); see [`F::sigmoid`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl Sigmoid {
    /// The module.
    pub fn new() -> Self {
        Sigmoid
    }
}

impl Sigmoid {
    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::sigmoid(input)
    }
}

impl Module for Sigmoid {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Sigmoid::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// `max(x, 0)` (`nn.ReLU()`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl ReLU {
    /// The module.
    pub fn new() -> Self {
        ReLU
    }
}

impl ReLU {
    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.require_float("relu", "input")?;
        Ok(input.relu())
    }
}

impl Module for ReLU {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        ReLU::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
