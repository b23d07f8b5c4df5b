//! `functional` (PyTorch's `torch.nn.functional`, usually imported as `F`):
//! free functions holding all the maths: activations, layers and losses.
//!
//! ```
//! use tapegrad::{functional as F, Tensor};
//! let x = Tensor::from_vec(vec![0.2f32, 0.8, -1.0, 0.3], &[2, 2])?;
//! let y = Tensor::from_vec(vec![1i64, 0], &[2])?;
//! let a = F::nll_loss(&F::log_softmax(&x, 1)?, &y, &F::NllLossOptions::default())?;
//! let b = F::cross_entropy(&x, &y, &F::CrossEntropyOptions::default())?;
//! assert!((a.item::<f32>()? - b.item::<f32>()?).abs() < 1e-6);
//! # Ok::<(), tapegrad::Error>(())
//! ```

mod activation;
mod conv;
mod distance;
mod dropout;
pub(crate) mod embedding;
mod linear;
mod loss;
mod norm;
mod pool;
mod reduction;

pub use activation::{gelu, leaky_relu, log_softmax, sigmoid, softmax};
pub use conv::{Conv2dOptions, conv2d};
pub use distance::{cosine_similarity, pairwise_distance};
pub use dropout::dropout;
pub use embedding::{embedding, embedding_with_padding};
pub use linear::linear;
pub use loss::*;
pub use norm::{batch_norm, layer_norm};
pub use pool::{avg_pool2d, max_pool2d};
pub use reduction::Reduction;
