//! The losses of `torch.nn`, PyTorch-exact in value and gradient.

mod bce;
mod bce_with_logits;
mod classes;
mod composite;
#[cfg(test)]
pub(crate) use composite::assert_same;
mod cosine_embedding;
mod cross_entropy;
mod gaussian_nll;
mod hinge_embedding;
mod huber;
mod kept;
mod kl_div;
mod l1;
mod log_softmax_nll;
mod margin_ranking;
mod mse;
mod nll;
mod pointwise;
mod poisson_nll;
mod smooth_l1;
mod soft_margin;
mod ternary;

pub use bce::{BceOptions, binary_cross_entropy};
pub use bce_with_logits::{BceWithLogitsOptions, binary_cross_entropy_with_logits};
pub use cosine_embedding::{CosineEmbeddingOptions, cosine_embedding_loss};
pub use cross_entropy::{CrossEntropyOptions, cross_entropy};
pub use gaussian_nll::{GaussianNllOptions, gaussian_nll_loss};
pub use hinge_embedding::{HingeEmbeddingOptions, hinge_embedding_loss};
pub use huber::{HuberOptions, huber_loss};
pub use kl_div::{KlDivOptions, kl_div};
pub use l1::{L1Options, l1_loss};
pub use margin_ranking::{MarginRankingOptions, margin_ranking_loss};
pub use mse::{MseOptions, mse_loss};
pub use nll::{NllLossOptions, nll_loss};
pub use poisson_nll::{PoissonNllOptions, poisson_nll_loss};
pub use smooth_l1::{SmoothL1Options, smooth_l1_loss};
pub use soft_margin::{MultilabelSoftMarginOptions, SoftMarginOptions, multilabel_soft_margin_loss, soft_margin_loss};
