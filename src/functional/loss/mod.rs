//! The losses of `torch.nn`, PyTorch-exact in value and gradient.

mod bce;
mod bce_with_logits;
mod classes;
mod cross_entropy;
mod huber;
mod kept;
mod l1;
mod log_softmax_nll;
mod mse;
mod nll;
mod pointwise;
mod smooth_l1;

pub use bce::{BceOptions, binary_cross_entropy};
pub use bce_with_logits::{BceWithLogitsOptions, binary_cross_entropy_with_logits};
pub use cross_entropy::{CrossEntropyOptions, cross_entropy};
pub use huber::{HuberOptions, huber_loss};
pub use l1::{L1Options, l1_loss};
pub use mse::{MseOptions, mse_loss};
pub use nll::{NllLossOptions, nll_loss};
pub use smooth_l1::{SmoothL1Options, smooth_l1_loss};
