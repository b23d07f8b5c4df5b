//! A chain of modules, `nn.Sequential`.

use super::Module;
use crate::{Result, Tensor};

/// Applies its modules in order (`nn.Sequential`).
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let mut rng = rand::rng();
/// let mlp = nn::Sequential::new(vec![
///     Box::new(nn::Linear::new(64, 128, &mut rng)),
///     Box::new(nn::ReLU::new()),
///     Box::new(nn::Linear::new(128, 10, &mut rng)),
/// ]);
/// assert_eq!(mlp.forward(&Tensor::zeros(&[2, 64], DType::F32))?.shape(), &[2, 10]);
/// assert_eq!(mlp.parameters().len(), 4);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// The chain of `layers`, applied first to last.
    pub fn new(layers: Vec<Box<dyn Module>>) -> Sequential {
        Sequential { layers }
    }
}

impl Sequential {
    /// Applies the layers in order (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        self.layers.iter().try_fold(input.clone(), |x, layer| layer.forward(&x))
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Sequential::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }
}
