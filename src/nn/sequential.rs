//! A chain of modules, `nn.Sequential`.

use super::{LoadReport, Module, StateDict, check};
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
    training: bool,
}

impl Sequential {
    /// The chain of `layers`, applied first to last.
    pub fn new(layers: Vec<Box<dyn Module>>) -> Sequential {
        Sequential { layers, training: true }
    }
}

impl Sequential {
    /// Applies the layers in order (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        self.layers.iter().try_fold(input.clone(), |x, layer| layer.forward(&x))
    }

    /// Every child's trainable tensors, in order (as [`Module::parameters`],
    /// callable without importing the trait): `opt = Adam::new(model.parameters(), lr)`.
    pub fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }

    /// Sets training (`true`) or evaluation (`false`) mode on every child
    /// (as [`Module::train`], callable without importing the trait).
    pub fn train(&mut self, mode: bool) {
        self.training = mode;
        for l in &mut self.layers {
            l.train(mode);
        }
    }

    /// Evaluation mode: `train(false)` (PyTorch's `model.eval()`).
    pub fn eval(&mut self) {
        self.train(false);
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Sequential::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Sequential::parameters(self)
    }
    /// Each child's names prefixed with its index, as PyTorch's: a child
    /// without parameters still takes its index (`[Linear, ReLU, Linear]`
    /// gives `"0.weight"`, `"0.bias"`, `"2.weight"`, `"2.bias"`).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        prefixed(&self.layers, |l| l.named_parameters())
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        prefixed(&self.layers, |l| l.named_buffers())
    }
    /// Sets the mode of every child.
    fn train(&mut self, mode: bool) {
        Sequential::train(self, mode)
    }
    fn is_training(&self) -> bool {
        self.training
    }
    /// Checks every key's shape and dtype, and with `strict` the key sets,
    /// against the whole chain first (so such a failure changes nothing), then
    /// has each child load the keys under its index, with its own loading
    /// (a child may override it, e.g. for buffers kept another way).
    fn load_state_dict(&mut self, state: &StateDict, strict: bool) -> Result<LoadReport> {
        // validate on the flat names: shapes, dtypes, and strictness over the whole chain
        let own: Vec<(String, Tensor)> = self.named_parameters().into_iter().chain(self.named_buffers()).collect();
        let report = check(&own, state, strict, false)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let prefix = format!("{i}.");
            let sub: StateDict =
                state.iter().filter_map(|(k, t)| k.strip_prefix(&prefix).map(|r| (r.to_string(), t.clone()))).collect();
            layer.load_state_dict(&sub, false)?;
        }
        Ok(report)
    }
}

/// The children's named tensors, each name prefixed with the child's index.
fn prefixed(layers: &[Box<dyn Module>], f: impl Fn(&dyn Module) -> Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| f(l.as_ref()).into_iter().map(move |(k, t)| (format!("{i}.{k}"), t)))
        .collect()
}
