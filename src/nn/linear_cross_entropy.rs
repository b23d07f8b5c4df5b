//! A linear classifier head with its cross-entropy computed in chunks:
//! `LinearCrossEntropyLoss`.

use super::Module;
use super::linear::uniform;
use crate::functional as F;
use crate::{Reduction, Result, Tensor};
use rand::Rng;

/// A linear layer `(C, in)` (and optional bias `(C,)`) whose loss is
/// [`F::linear_cross_entropy`]: the cross-entropy of `x·Wᵀ + b` against
/// the targets, without the `(N, C)` logits ever held (PyTorch's
/// `nn.LinearCrossEntropyLoss`). As a [`Module`], `forward(x)` gives the
/// logits (for prediction); `forward(&x, &target)` gives the loss.
///
/// ```
/// use tapegrad::{nn::{self, Module}, DType, Tensor};
/// let mut rng = rand::rng();
/// let head = nn::LinearCrossEntropyLoss::new(8, 100, &mut rng).label_smoothing(0.1);
/// let x = Tensor::randn(&[4, 8], DType::F32, &mut rng);
/// let y = Tensor::from_vec(vec![3i64, 14, 15, 92], &[4])?;
/// let loss = head.forward(&x, &y)?;
/// loss.backward()?;
/// assert_eq!(head.named_parameters()[0].1.grad().unwrap().shape(), &[100, 8]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LinearCrossEntropyLoss {
    weight: Tensor,
    bias: Option<Tensor>,
    opts: F::LinearCrossEntropyOptions,
}

impl LinearCrossEntropyLoss {
    /// A head with `nn.Linear`'s initialisation (uniform in `±1/√in_features`),
    /// f32, trainable, without a bias (add one with [`bias`](Self::bias)), and
    /// the loss's default options.
    pub fn new(in_features: usize, num_classes: usize, rng: &mut impl Rng) -> LinearCrossEntropyLoss {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        LinearCrossEntropyLoss {
            weight: uniform(&[num_classes, in_features], bound, rng).requires_grad(),
            bias: None,
            opts: F::LinearCrossEntropyOptions::default(),
        }
    }
    /// With (`true`) or without a bias `(C,)` (zeros when added).
    pub fn bias(mut self, bias: bool) -> Self {
        let c = self.weight.shape()[0];
        self.bias = bias.then(|| Tensor::zeros(&[c], self.weight.dtype()).requires_grad());
        self
    }
    /// How to reduce: `Mean` (default), `Sum` or `None`.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.opts.reduction = reduction;
        self
    }
    /// Per-class weights, a 1-D tensor of C elements.
    pub fn weight(mut self, weight: Tensor) -> Self {
        self.opts.weight = Some(weight);
        self
    }
    /// A class-index target value that contributes nothing.
    pub fn ignore_index(mut self, ignore_index: i64) -> Self {
        self.opts.ignore_index = ignore_index;
        self
    }
    /// Label smoothing ε in [0, 1].
    pub fn label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.opts.label_smoothing = label_smoothing;
        self
    }
    /// Rows per chunk.
    pub fn chunk_rows(mut self, rows: usize) -> Self {
        self.opts.chunk_rows = Some(rows);
        self
    }
    /// The options passed to [`F::linear_cross_entropy`].
    pub fn options(&self) -> &F::LinearCrossEntropyOptions {
        &self.opts
    }
    /// The linear weight, `(C, in_features)`.
    pub fn linear_weight(&self) -> &Tensor {
        &self.weight
    }
    /// The linear bias, `(C,)`, if any.
    pub fn linear_bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
    /// The loss of `input (N, in)` against `target` (see [`F::linear_cross_entropy`]).
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::linear_cross_entropy(input, &self.weight, target, self.bias.as_ref(), &self.opts)
    }
}

impl Module for LinearCrossEntropyLoss {
    /// The logits `x·Wᵀ + b` (all of them: for prediction).
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        F::linear(input, &self.weight, self.bias.as_ref())
    }
    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone()).chain(self.bias.clone()).collect()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        std::iter::once(("weight".to_string(), self.weight.clone()))
            .chain(self.bias.clone().map(|b| ("bias".to_string(), b)))
            .collect()
    }
}
