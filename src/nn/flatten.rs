//! `nn.Flatten`: merges a range of dims into one.

use super::Module;
use crate::{Error, Result, Tensor};

/// Flattens dims `start_dim..=end_dim` into one (`nn.Flatten(start_dim,
/// end_dim)`; PyTorch's defaults are `1` and `-1`, which keep the batch dim).
/// Negative dims count from the end. An input of shape `(N, C, H, W)` gives
/// `(N, C·H·W)` with the defaults; the gradient is reshaped back.
///
/// Errors (naming `flatten` and the value): a dim out of range for the
/// input, or `start_dim` after `end_dim`.
///
/// ```
/// use tapegrad::{nn, DType, Tensor};
/// let x = Tensor::zeros(&[2, 3, 4, 5], DType::F32);
/// assert_eq!(nn::Flatten::new(1, -1).forward(&x)?.shape(), &[2, 60]);
/// assert_eq!(nn::Flatten::new(0, 1).forward(&x)?.shape(), &[6, 4, 5]);
/// assert!(nn::Flatten::new(1, -1).forward(&Tensor::zeros(&[3], DType::F32)).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    start_dim: isize,
    end_dim: isize,
}

impl Flatten {
    /// The module flattening `start_dim..=end_dim`.
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }

    /// Applies the module (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        // PyTorch wraps dims of a 0-d tensor as if it had one dim
        let nd = input.ndim().max(1) as isize;
        for (name, d) in [("start_dim", self.start_dim), ("end_dim", self.end_dim)] {
            if d < -nd || d >= nd {
                return Err(Error::index(
                    "flatten",
                    format!(
                        "{name} = {d} is out of range for an input with {} dims (shape {:?})",
                        input.ndim(),
                        input.shape()
                    ),
                ));
            }
        }
        input.flatten(self.start_dim, self.end_dim)
    }
}

impl Default for Flatten {
    /// PyTorch's defaults, `start_dim = 1`, `end_dim = -1`.
    fn default() -> Self {
        Flatten::new(1, -1)
    }
}

impl Module for Flatten {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Flatten::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
