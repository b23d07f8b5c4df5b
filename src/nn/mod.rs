//! Stateful modules, PyTorch's `torch.nn`: each is configuration (and
//! parameters) plus a call into [`functional`](crate::functional), which holds
//! all the maths. Every module's `forward` is an inherent method (no import
//! needed) and also the [`Module`] trait's, for `Sequential` and generic code.
//!
//! The article's first example, exactly as the API contract writes it:
//!
//! ```
//! use tapegrad::{nn, DType, Tensor};
//! # fn main() -> tapegrad::Result<()> {
//! let mut rng = rand::rng();
//! let (n, c) = (3, 5);
//! let m = nn::LogSoftmax::new(1);
//! let loss = nn::NllLoss::new();
//! let input = Tensor::randn(&[n, c], DType::F32, &mut rng).requires_grad();
//! let target = Tensor::randint(0, c as i64, &[n], &mut rng);
//! let output = loss.forward(&m.forward(&input)?, &target)?;   // scalar
//! output.backward()?;
//! let grad = input.grad().unwrap();
//! # assert_eq!(grad.shape(), &[3, 5]);
//! # Ok(())
//! # }
//! ```
//!
//! ```
//! use tapegrad::{nn, DType, Tensor};
//! let mut rng = rand::rng();
//! let (n, c) = (3, 5);
//! let m = nn::LogSoftmax::new(1);
//! let loss = nn::NllLoss::new();
//! let input = Tensor::randn(&[n, c], DType::F32, &mut rng).requires_grad();
//! let target = Tensor::randint(0, c as i64, &[n], &mut rng);
//! use nn::Module;
//! let output = loss.forward(&m.forward(&input)?, &target)?;
//! output.backward()?;
//! assert_eq!(input.grad().unwrap().shape(), &[3, 5]);
//! # Ok::<(), tapegrad::Error>(())
//! ```

mod activation;
mod conv;
mod linear;
mod loss;
mod sequential;
pub mod utils;

pub use activation::{LogSoftmax, ReLU, Sigmoid, Softmax};
pub use conv::Conv2d;
pub use linear::Linear;
pub use loss::{BceLoss, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MseLoss, NllLoss, SmoothL1Loss};
pub use sequential::Sequential;

use crate::{Result, Tensor};

/// Named tensors, PyTorch's `state_dict()`: parameter and buffer names
/// (`"0.weight"`, `"running_mean"`, ...) to their values.
pub type StateDict = std::collections::BTreeMap<String, Tensor>;

/// A layer: a function of one tensor, with trainable parameters (PyTorch's `nn.Module`).
pub trait Module {
    /// Applies the layer.
    fn forward(&self, input: &Tensor) -> Result<Tensor>;
    /// The trainable tensors, for an optimizer (empty for parameter-free layers).
    fn parameters(&self) -> Vec<Tensor>;
}
