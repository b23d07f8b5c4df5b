//! Loss modules: builders over the options of each functional loss.

use crate::functional::{self as F};
use crate::{Reduction, Result, Tensor};

macro_rules! loss_module {
    ($(#[$doc:meta])* $name:ident, $opts:ty, $f:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            opts: $opts,
        }

        impl $name {
            /// The loss with PyTorch's default options.
            pub fn new() -> Self {
                Self::default()
            }
            /// How to reduce: `Mean` (default), `Sum` or `None`.
            pub fn reduction(mut self, reduction: Reduction) -> Self {
                self.opts.reduction = reduction;
                self
            }
            /// The options this module passes to the functional loss.
            pub fn options(&self) -> &$opts {
                &self.opts
            }
            /// Computes the loss of `input` against `target` (see the functional loss).
            pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
                $f(input, target, &self.opts)
            }
        }
    };
}

/// A loss module whose `forward` takes three tensors (named `$a`, `$b`, `$c`).
macro_rules! loss_module3 {
    ($(#[$doc:meta])* $name:ident, $opts:ty, $f:path, ($a:ident, $b:ident, $c:ident)) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            opts: $opts,
        }

        impl $name {
            /// The loss with PyTorch's default options.
            pub fn new() -> Self {
                Self::default()
            }
            /// How to reduce: `Mean` (default), `Sum` or `None`.
            pub fn reduction(mut self, reduction: Reduction) -> Self {
                self.opts.reduction = reduction;
                self
            }
            /// The options this module passes to the functional loss.
            pub fn options(&self) -> &$opts {
                &self.opts
            }
            /// Computes the loss of the three tensors (see the functional loss).
            pub fn forward(&self, $a: &Tensor, $b: &Tensor, $c: &Tensor) -> Result<Tensor> {
                $f($a, $b, $c, &self.opts)
            }
        }
    };
}

macro_rules! builder {
    ($name:ident { $($(#[$doc:meta])* $field:ident : $ty:ty => $value:expr),* $(,)? }) => {
        impl $name {
            $(
                $(#[$doc])*
                pub fn $field(mut self, $field: $ty) -> Self {
                    self.opts.$field = $value;
                    self
                }
            )*
        }
    };
}

loss_module!(
    /// Negative log-likelihood of class indices (`nn.NLLLoss`); see [`F::nll_loss`].
    NllLoss, F::NllLossOptions, F::nll_loss
);
builder!(NllLoss {
    /// Per-class weights, a 1-D tensor of C elements.
    weight: Tensor => Some(weight),
    /// A target value that contributes nothing.
    ignore_index: i64 => ignore_index,
});

loss_module!(
    /// Cross-entropy on logits (`nn.CrossEntropyLoss`); see [`F::cross_entropy`].
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 0.5, 0.1], &[2, 2])?;
    /// let y = Tensor::from_vec(vec![1i64, 0], &[2])?;
    /// let loss = nn::CrossEntropyLoss::new().label_smoothing(0.1).forward(&x, &y)?;
    /// assert!(loss.item::<f32>()? > 0.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    CrossEntropyLoss, F::CrossEntropyOptions, F::cross_entropy
);
builder!(CrossEntropyLoss {
    /// Per-class weights, a 1-D tensor of C elements.
    weight: Tensor => Some(weight),
    /// A class-index target value that contributes nothing.
    ignore_index: i64 => ignore_index,
    /// Label smoothing ε in [0, 1].
    label_smoothing: f64 => label_smoothing,
});

loss_module!(
    /// Binary cross-entropy on probabilities (`nn.BCELoss`); see [`F::binary_cross_entropy`].
    BceLoss, F::BceOptions, F::binary_cross_entropy
);
builder!(BceLoss {
    /// Per-element weights, broadcast to the input.
    weight: Tensor => Some(weight),
});

loss_module!(
    /// Binary cross-entropy on logits (`nn.BCEWithLogitsLoss`); see
    /// [`F::binary_cross_entropy_with_logits`].
    BceWithLogitsLoss, F::BceWithLogitsOptions, F::binary_cross_entropy_with_logits
);
builder!(BceWithLogitsLoss {
    /// Per-element weights, broadcast to the input.
    weight: Tensor => Some(weight),
    /// Positive-class weights, broadcast along the last dim.
    pos_weight: Tensor => Some(pos_weight),
});

loss_module!(
    /// Smooth L1 loss (`nn.SmoothL1Loss`); see [`F::smooth_l1_loss`].
    SmoothL1Loss, F::SmoothL1Options, F::smooth_l1_loss
);
builder!(SmoothL1Loss {
    /// Where the loss turns from quadratic to linear (>= 0; 0 is L1).
    beta: f64 => beta,
});

loss_module!(
    /// Huber loss (`nn.HuberLoss`); see [`F::huber_loss`].
    HuberLoss, F::HuberOptions, F::huber_loss
);
builder!(HuberLoss {
    /// Where the loss turns from quadratic to linear (> 0).
    delta: f64 => delta,
    /// Per-element weights, broadcast to the loss's shape.
    weight: Tensor => Some(weight),
});

loss_module!(
    /// Mean squared error, L2 (`nn.MSELoss`); see [`F::mse_loss`].
    MseLoss, F::MseOptions, F::mse_loss
);
builder!(MseLoss {
    /// Per-element weights, broadcast to the loss's shape.
    weight: Tensor => Some(weight),
});

loss_module!(
    /// Mean absolute error, L1 / MAE (`nn.L1Loss`); see [`F::l1_loss`].
    L1Loss, F::L1Options, F::l1_loss
);
builder!(L1Loss {
    /// Per-element weights, broadcast to the loss's shape.
    weight: Tensor => Some(weight),
});

loss_module!(
    /// Kullback-Leibler divergence (`nn.KLDivLoss`); see [`F::kl_div`].
    ///
    /// ```
    /// use tapegrad::{nn, Reduction, Tensor};
    /// let logq = Tensor::from_vec(vec![0.5f64.ln(), 0.5f64.ln()], &[1, 2])?;
    /// let p = Tensor::from_vec(vec![0.5f64, 0.5], &[1, 2])?;
    /// let kl = nn::KlDivLoss::new().reduction(Reduction::BatchMean).forward(&logq, &p)?;
    /// assert!(kl.item::<f64>()?.abs() < 1e-12);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    KlDivLoss, F::KlDivOptions, F::kl_div
);
builder!(KlDivLoss {
    /// Whether the target holds log-probabilities.
    log_target: bool => log_target,
});

loss_module!(
    /// Poisson negative log-likelihood (`nn.PoissonNLLLoss`); see [`F::poisson_nll_loss`].
    PoissonNllLoss, F::PoissonNllOptions, F::poisson_nll_loss
);
builder!(PoissonNllLoss {
    /// Whether the input is the log of the rate (default `true`).
    log_input: bool => log_input,
    /// Whether to add the Stirling term (default `false`).
    full: bool => full,
    /// Added to the rate before its log when `log_input` is false (default 1e-8).
    eps: f64 => eps,
});

loss_module3!(
    /// Gaussian negative log-likelihood (`nn.GaussianNLLLoss`); see
    /// [`F::gaussian_nll_loss`]. `forward(input, target, var)`.
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let mu = Tensor::from_vec(vec![0.0f32, 1.0], &[2])?;
    /// let y = Tensor::from_vec(vec![0.0f32, 1.0], &[2])?;
    /// let var = Tensor::from_vec(vec![1.0f32, 1.0], &[2])?;
    /// assert_eq!(nn::GaussianNllLoss::new().forward(&mu, &y, &var)?.item::<f32>()?, 0.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    GaussianNllLoss, F::GaussianNllOptions, F::gaussian_nll_loss, (input, target, var)
);
builder!(GaussianNllLoss {
    /// Whether to add the constant `½·ln(2π)` (default `false`).
    full: bool => full,
    /// The floor of the variance (default 1e-6).
    eps: f64 => eps,
});

loss_module3!(
    /// Margin ranking loss (`nn.MarginRankingLoss`); see [`F::margin_ranking_loss`].
    /// `forward(input1, input2, target)`.
    MarginRankingLoss, F::MarginRankingOptions, F::margin_ranking_loss, (input1, input2, target)
);
builder!(MarginRankingLoss {
    /// The margin (default 0.0).
    margin: f64 => margin,
});

loss_module!(
    /// Hinge embedding loss (`nn.HingeEmbeddingLoss`); see [`F::hinge_embedding_loss`].
    HingeEmbeddingLoss, F::HingeEmbeddingOptions, F::hinge_embedding_loss
);
builder!(HingeEmbeddingLoss {
    /// The margin (default 1.0).
    margin: f64 => margin,
});

loss_module!(
    /// Two-class logistic loss (`nn.SoftMarginLoss`); see [`F::soft_margin_loss`].
    SoftMarginLoss, F::SoftMarginOptions, F::soft_margin_loss
);

loss_module!(
    /// Multi-label one-versus-all logistic loss (`nn.MultiLabelSoftMarginLoss`);
    /// see [`F::multilabel_soft_margin_loss`].
    MultiLabelSoftMarginLoss, F::MultilabelSoftMarginOptions, F::multilabel_soft_margin_loss
);
builder!(MultiLabelSoftMarginLoss {
    /// Per-class weights, broadcast along the last dim.
    weight: Tensor => Some(weight),
});

loss_module3!(
    /// Cosine embedding loss (`nn.CosineEmbeddingLoss`); see [`F::cosine_embedding_loss`].
    /// `forward(input1, input2, target)`.
    CosineEmbeddingLoss, F::CosineEmbeddingOptions, F::cosine_embedding_loss, (input1, input2, target)
);
builder!(CosineEmbeddingLoss {
    /// The margin (default 0.0).
    margin: f64 => margin,
});
