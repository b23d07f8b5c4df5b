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
    /// Multi-label margin loss (`nn.MultiLabelMarginLoss`); see [`F::multilabel_margin_loss`].
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let x = Tensor::from_vec(vec![0.1f32, 0.2, 0.4, 0.8], &[1, 4])?;
    /// let y = Tensor::from_vec(vec![3i64, 0, -1, 1], &[1, 4])?;
    /// let loss = nn::MultiLabelMarginLoss::new().forward(&x, &y)?;
    /// assert!((loss.item::<f32>()? - 0.85).abs() < 1e-6);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    MultiLabelMarginLoss, F::MultilabelMarginOptions, F::multilabel_margin_loss
);

loss_module!(
    /// Multi-class margin (hinge) loss (`nn.MultiMarginLoss`); see [`F::multi_margin_loss`].
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let x = Tensor::from_vec(vec![0.1f32, 0.2, 0.4, 0.8], &[1, 4])?;
    /// let y = Tensor::from_vec(vec![3i64], &[1])?;
    /// let loss = nn::MultiMarginLoss::new().p(2).margin(0.5).forward(&x, &y)?;
    /// assert!((loss.item::<f32>()? - 0.01 / 4.0).abs() < 1e-7);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    MultiMarginLoss, F::MultiMarginOptions, F::multi_margin_loss
);
builder!(MultiMarginLoss {
    /// The exponent of the hinge, 1 or 2.
    p: i64 => p,
    /// The margin.
    margin: f64 => margin,
    /// Per-class weights, a 1-D tensor of C elements.
    weight: Tensor => Some(weight),
});
