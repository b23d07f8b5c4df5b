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

/// Hyperbolic tangent, elementwise (`nn.Tanh()`); the gradient is `1 − y²`.
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let y = nn::Tanh::new().forward(&Tensor::from_vec(vec![0.0f32], &[1])?)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl Tanh {
    /// The module.
    pub fn new() -> Self {
        Tanh
    }

    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.require_float("tanh", "input")?;
        Ok(input.tanh())
    }
}

impl Module for Tanh {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Tanh::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// The Gaussian error linear unit `x·Φ(x) = 0.5·x·(1 + erf(x/√2))`, exact
/// form (`nn.GELU()`, PyTorch's default `approximate='none'`); see [`F::gelu`].
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let y = nn::Gelu::new().forward(&Tensor::from_vec(vec![0.0f64, 1.0], &[2])?)?;
/// assert!((y.to_vec::<f64>()?[1] - 0.8413447460685429).abs() < 1e-15);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu;

impl Gelu {
    /// The module.
    pub fn new() -> Self {
        Gelu
    }

    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::gelu(input)
    }
}

impl Module for Gelu {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Gelu::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// `x` for `x > 0`, `negative_slope·x` otherwise (`nn.LeakyReLU(negative_slope)`,
/// whose default slope is 0.01); see [`F::leaky_relu`].
///
/// ```
/// use tapegrad::{nn, Tensor};
/// let y = nn::LeakyRelu::new(0.01).forward(&Tensor::from_vec(vec![-1.0f64, 2.0], &[2])?)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-0.01, 2.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu {
    negative_slope: f64,
}

impl LeakyRelu {
    /// The module with slope `negative_slope` for `x ≤ 0` (a non-finite
    /// slope makes `forward` return an error).
    pub fn new(negative_slope: f64) -> Self {
        LeakyRelu { negative_slope }
    }

    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::leaky_relu(input, self.negative_slope)
    }
}

impl Default for LeakyRelu {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        LeakyRelu::new(0.01)
    }
}

impl Module for LeakyRelu {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        LeakyRelu::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
