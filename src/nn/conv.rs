//! The 2-D convolution layer `nn.Conv2d`.

use super::Module;
use super::linear::uniform;
use crate::functional::{self as F, Conv2dOptions};
use crate::{Error, Result, Tensor};
use rand::Rng;

/// 2-D convolution (`nn.Conv2d`): weight `(out, in / groups, kH, kW)`, bias `(out,)`.
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let mut rng = rand::rng();
/// let conv = nn::Conv2d::new(16, 4, (3, 3), &mut rng);
/// let y = conv.forward(&Tensor::randn(&[5, 16, 10, 10], DType::F32, &mut rng))?;
/// assert_eq!(y.shape(), &[5, 4, 8, 8]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    opts: Conv2dOptions,
}

impl Conv2d {
    /// A layer with default options (stride 1, no padding) and PyTorch's
    /// initialisation: weight and bias uniform in `±1/√(in·kH·kW)`, f32, trainable.
    pub fn new(in_channels: usize, out_channels: usize, kernel: (usize, usize), rng: &mut impl Rng) -> Conv2d {
        let fan_in = (in_channels * kernel.0 * kernel.1).max(1);
        let bound = 1.0 / (fan_in as f64).sqrt();
        Conv2d {
            weight: uniform(&[out_channels, in_channels, kernel.0, kernel.1], bound, rng).requires_grad(),
            bias: Some(uniform(&[out_channels], bound, rng).requires_grad()),
            opts: Conv2dOptions::default(),
        }
    }

    /// A layer from given tensors (made trainable leaves) and options.
    pub fn from_parts(weight: Tensor, bias: Option<Tensor>, opts: Conv2dOptions) -> Result<Conv2d> {
        weight.require_float("Conv2d::from_parts", "weight")?;
        if weight.ndim() != 4 {
            return Err(Error::shape(
                "Conv2d::from_parts",
                format!("weight has shape {:?}; expected (out, in / groups, kH, kW)", weight.shape()),
            ));
        }
        if let Some(b) = &bias
            && b.shape() != [weight.shape()[0]]
        {
            return Err(Error::shape(
                "Conv2d::from_parts",
                format!("bias has shape {:?}; expected ({},)", b.shape(), weight.shape()[0]),
            ));
        }
        Ok(Conv2d { weight: weight.requires_grad(), bias: bias.map(Tensor::requires_grad), opts })
    }

    /// Sets stride, padding, dilation and groups (builder style).
    pub fn options(mut self, opts: Conv2dOptions) -> Self {
        self.opts = opts;
        self
    }
    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::conv2d(input, &self.weight, self.bias.as_ref(), &self.opts)
    }

    /// The trainable tensors, weight then bias (as [`Module::parameters`],
    /// callable without importing the trait).
    pub fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone()).chain(self.bias.clone()).collect()
    }

    /// The weight, `(out, in / groups, kH, kW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    /// The bias, `(out,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Conv2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Conv2d::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Conv2d::parameters(self)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        std::iter::once(("weight".to_string(), self.weight.clone()))
            .chain(self.bias.clone().map(|b| ("bias".to_string(), b)))
            .collect()
    }
}
