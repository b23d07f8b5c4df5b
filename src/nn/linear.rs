//! The affine layer `nn.Linear`.

use super::Module;
use crate::functional as F;
use crate::tensor::DType;
use crate::{Error, Result, Tensor};
use rand::{Rng, RngExt};

/// `k`-sized tensor of samples of U(-bound, bound), f32.
pub(crate) fn uniform(shape: &[usize], bound: f64, rng: &mut impl Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..=bound) as f32).collect();
    Tensor::from_vec(v, shape).unwrap_or_else(|_| Tensor::zeros(shape, DType::F32))
}

/// `y = x·Wᵀ + b` (`nn.Linear`), with weight `(out, in)` and bias `(out,)`.
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let mut rng = rand::rng();
/// let fc = nn::Linear::new(3, 64, &mut rng);
/// let y = fc.forward(&Tensor::randn(&[4, 10, 3], DType::F32, &mut rng))?;
/// assert_eq!(y.shape(), &[4, 10, 64]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer with PyTorch's initialisation: weight and bias uniform in
    /// `±1/√in_features` (kaiming-uniform with `a = √5`), f32, trainable.
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Linear {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        Linear {
            weight: uniform(&[out_features, in_features], bound, rng).requires_grad(),
            bias: Some(uniform(&[out_features], bound, rng).requires_grad()),
        }
    }

    /// A layer from given tensors (made trainable leaves): weight `(out, in)`, bias `(out,)`.
    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        weight.require_float("Linear::from_parts", "weight")?;
        if weight.ndim() != 2 {
            return Err(Error::shape(
                "Linear::from_parts",
                format!("weight has shape {:?}; expected (out_features, in_features)", weight.shape()),
            ));
        }
        if let Some(b) = &bias {
            weight.require_same_dtype(b, "Linear::from_parts", "bias")?;
            if b.shape() != [weight.shape()[0]] {
                return Err(Error::shape(
                    "Linear::from_parts",
                    format!("bias has shape {:?}; expected ({},)", b.shape(), weight.shape()[0]),
                ));
            }
        }
        Ok(Linear { weight: weight.requires_grad(), bias: bias.map(Tensor::requires_grad) })
    }

    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::linear(input, &self.weight, self.bias.as_ref())
    }

    /// The trainable tensors, weight then bias (as [`Module::parameters`],
    /// callable without importing the trait).
    pub fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone()).chain(self.bias.clone()).collect()
    }

    /// The weight, `(out_features, in_features)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    /// The bias, `(out_features,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Linear::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Linear::parameters(self)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        std::iter::once(("weight".to_string(), self.weight.clone()))
            .chain(self.bias.clone().map(|b| ("bias".to_string(), b)))
            .collect()
    }
}
