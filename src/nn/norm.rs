//! `nn.LayerNorm`.

use super::Module;
use crate::functional as F;
use crate::tensor::DType;
use crate::{Result, Tensor};

/// Layer normalisation over the trailing dims `normalized_shape`
/// (`nn.LayerNorm(normalized_shape)` with PyTorch's defaults: `eps = 1e-5`,
/// `elementwise_affine = True`, weight ones, bias zeros, f32):
///
/// `y = (x − E[x]) / √(Var[x] + eps) · weight + bias`
///
/// Parameters `"weight"` and `"bias"`, each of shape `normalized_shape`. See
/// [`F::layer_norm`] for the shapes and errors.
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let ln = nn::LayerNorm::new(&[4]);
/// let x = Tensor::randn(&[2, 3, 4], DType::F32, &mut rand::rng()).requires_grad();
/// let y = ln.forward(&x)?;
/// assert_eq!(y.shape(), &[2, 3, 4]);
/// y.sum_all().backward()?;
/// let names: Vec<String> = ln.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// assert!(ln.forward(&Tensor::zeros(&[2, 5], DType::F32)).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    normalized_shape: Vec<usize>,
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// The layer normalising the last `normalized_shape.len()` dims, with
    /// weight ones and bias zeros (f32, trainable) and `eps = 1e-5`.
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: Tensor::ones(normalized_shape, DType::F32).requires_grad(),
            bias: Tensor::zeros(normalized_shape, DType::F32).requires_grad(),
            eps: 1e-5,
        }
    }

    /// Sets `eps`, added to the variance before the square root (PyTorch's `eps=`).
    pub fn eps(mut self, eps: f64) -> LayerNorm {
        self.eps = eps;
        self
    }

    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::layer_norm(input, &self.normalized_shape, Some(&self.weight), Some(&self.bias), self.eps)
    }

    /// The weight, of shape `normalized_shape`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    /// The bias, of shape `normalized_shape`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }
}

impl Module for LayerNorm {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        LayerNorm::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        vec![self.weight.clone(), self.bias.clone()]
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone()), ("bias".to_string(), self.bias.clone())]
    }
}
