//! Loss modules over more than an input and a target: the triplet losses
//! (anchor, positive, negative) and CTC (log-probabilities, targets and
//! both lengths).

use crate::functional::{self as F};
use crate::{Reduction, Result, Tensor};

macro_rules! options_module {
    ($(#[$doc:meta])* $name:ident, $opts:ty) => {
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
        }
    };
}

options_module!(
    /// Triplet margin loss (`nn.TripletMarginLoss`); see [`F::triplet_margin_loss`].
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f64, 0.0], &[1, 2])?;
    /// let p = Tensor::from_vec(vec![0.0f64, 1.0], &[1, 2])?;
    /// let n = Tensor::from_vec(vec![3.0f64, 0.0], &[1, 2])?;
    /// let loss = nn::TripletMarginLoss::new().margin(2.5).eps(0.0).forward(&a, &p, &n)?;
    /// assert!((loss.item::<f64>()? - 0.5).abs() < 1e-12);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    TripletMarginLoss, F::TripletMarginOptions
);

impl TripletMarginLoss {
    /// The margin.
    pub fn margin(mut self, margin: f64) -> Self {
        self.opts.margin = margin;
        self
    }
    /// The norm's degree `p > 0`.
    pub fn p(mut self, p: f64) -> Self {
        self.opts.p = p;
        self
    }
    /// Added to each difference before the norm.
    pub fn eps(mut self, eps: f64) -> Self {
        self.opts.eps = eps;
        self
    }
    /// Use `min(d(a, n), d(p, n))` as the negative distance.
    pub fn swap(mut self, swap: bool) -> Self {
        self.opts.swap = swap;
        self
    }
    /// Computes the loss of the triplets (see [`F::triplet_margin_loss`]).
    pub fn forward(&self, anchor: &Tensor, positive: &Tensor, negative: &Tensor) -> Result<Tensor> {
        F::triplet_margin_loss(anchor, positive, negative, &self.opts)
    }
}

options_module!(
    /// Triplet margin loss with any distance (`nn.TripletMarginWithDistanceLoss`);
    /// see [`F::triplet_margin_with_distance_loss`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tapegrad::{nn, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f64, 0.0], &[1, 2])?;
    /// let p = Tensor::from_vec(vec![0.0f64, 1.0], &[1, 2])?;
    /// let n = Tensor::from_vec(vec![3.0f64, 0.0], &[1, 2])?;
    /// let l1 = Arc::new(|x: &Tensor, y: &Tensor| x.sub(y)?.abs().sum(-1, false));
    /// let loss = nn::TripletMarginWithDistanceLoss::new().distance_function(l1).margin(2.5).forward(&a, &p, &n)?;
    /// assert_eq!(loss.item::<f64>()?, 0.5);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    TripletMarginWithDistanceLoss, F::TripletMarginWithDistanceOptions
);

impl TripletMarginWithDistanceLoss {
    /// The distance between two batches of embeddings (default: Euclidean).
    pub fn distance_function(mut self, distance: F::Distance) -> Self {
        self.opts.distance_function = Some(distance);
        self
    }
    /// The margin, > 0.
    pub fn margin(mut self, margin: f64) -> Self {
        self.opts.margin = margin;
        self
    }
    /// Use `min(d(a, n), d(p, n))` as the negative distance.
    pub fn swap(mut self, swap: bool) -> Self {
        self.opts.swap = swap;
        self
    }
    /// Computes the loss of the triplets (see [`F::triplet_margin_with_distance_loss`]).
    pub fn forward(&self, anchor: &Tensor, positive: &Tensor, negative: &Tensor) -> Result<Tensor> {
        F::triplet_margin_with_distance_loss(anchor, positive, negative, &self.opts)
    }
}

options_module!(
    /// Connectionist temporal classification loss (`nn.CTCLoss`); see [`F::ctc_loss`].
    ///
    /// ```
    /// use tapegrad::{nn, Tensor};
    /// let lp = Tensor::from_vec(vec![0.5f64.ln(); 4], &[2, 1, 2])?;
    /// let y = Tensor::from_vec(vec![1i64], &[1, 1])?;
    /// let len = |v: i64| Tensor::from_vec(vec![v], &[1]);
    /// let loss = nn::CtcLoss::new().forward(&lp, &y, &len(2)?, &len(1)?)?;
    /// assert!((loss.item::<f64>()? + 0.75f64.ln()).abs() < 1e-12);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    CtcLoss, F::CtcLossOptions
);

impl CtcLoss {
    /// The blank label's class index.
    pub fn blank(mut self, blank: i64) -> Self {
        self.opts.blank = blank;
        self
    }
    /// Replace infinite losses and their gradients by zero.
    pub fn zero_infinity(mut self, zero_infinity: bool) -> Self {
        self.opts.zero_infinity = zero_infinity;
        self
    }
    /// Computes the loss (see [`F::ctc_loss`]).
    pub fn forward(
        &self,
        log_probs: &Tensor,
        targets: &Tensor,
        input_lengths: &Tensor,
        target_lengths: &Tensor,
    ) -> Result<Tensor> {
        F::ctc_loss(log_probs, targets, input_lengths, target_lengths, &self.opts)
    }
}
