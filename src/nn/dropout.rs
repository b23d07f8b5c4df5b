//! The dropout layer `nn.Dropout`.

use super::Module;
use crate::functional as F;
use crate::{Result, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Mutex;

/// Dropout (`nn.Dropout(p)`): in training mode zeroes each element with
/// probability `p` and scales the kept ones by `1/(1 − p)`; in evaluation
/// mode (`train(false)`, PyTorch's `eval()`) the identity. See
/// [`F::dropout`](crate::functional::dropout). No parameters.
///
/// The layer draws its masks from a generator of its own. By default it is
/// seeded from the thread's random generator (so two layers, or two runs,
/// draw different masks); [`seed`](Dropout::seed) makes the masks
/// reproducible, the counterpart of `torch.manual_seed` before training.
/// An invalid `p` (outside `[0, 1]`) is reported by `forward`.
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let mut drop = nn::Dropout::new(0.5).seed(7);
/// let x = Tensor::ones(&[4, 8], DType::F32);
/// let y = drop.forward(&x)?;                      // training mode: zeros and 2.0s
/// assert!(y.to_vec::<f32>()?.iter().all(|&v| v == 0.0 || v == 2.0));
/// drop.train(false);                              // eval(): the identity
/// assert_eq!(drop.forward(&x)?.to_vec::<f32>()?, x.to_vec::<f32>()?);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Mutex<StdRng>,
}

impl Dropout {
    /// A dropout layer zeroing with probability `p` (PyTorch's default is 0.5),
    /// in training mode.
    pub fn new(p: f64) -> Dropout {
        Dropout { p, training: true, rng: Mutex::new(StdRng::from_rng(&mut rand::rng())) }
    }

    /// Seeds the layer's generator, for reproducible masks.
    pub fn seed(self, seed: u64) -> Self {
        Dropout { rng: Mutex::new(StdRng::seed_from_u64(seed)), ..self }
    }

    /// The probability of zeroing an element.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Applies the layer (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        F::dropout(input, self.p, self.training, &mut *rng)
    }
}

impl Default for Dropout {
    /// `Dropout::new(0.5)`, PyTorch's default.
    fn default() -> Self {
        Dropout::new(0.5)
    }
}

impl Module for Dropout {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Dropout::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn train(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training(&self) -> bool {
        self.training
    }
}
