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
mod batch_norm;
mod conv;
mod dropout;
mod embedding;
mod flatten;
mod lambda;
mod linear;
mod linear_cross_entropy;
mod loss;
mod norm;
mod pool;
mod sequential;
mod triplet_ctc_loss;
pub mod utils;

pub use activation::{Gelu, LeakyRelu, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh};
pub use batch_norm::{BatchNorm1d, BatchNorm2d};
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use lambda::Lambda;
pub use linear::Linear;
pub use linear_cross_entropy::LinearCrossEntropyLoss;
pub use loss::{BceLoss, BceWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MseLoss, NllLoss, SmoothL1Loss};
pub use loss::{
    CosineEmbeddingLoss, GaussianNllLoss, HingeEmbeddingLoss, KlDivLoss, MarginRankingLoss, MultiLabelSoftMarginLoss,
    PoissonNllLoss, SoftMarginLoss,
};
pub use loss::{MultiLabelMarginLoss, MultiMarginLoss};
pub use norm::LayerNorm;
pub use pool::{AvgPool2d, MaxPool2d};
pub use sequential::Sequential;
pub use triplet_ctc_loss::{CtcLoss, TripletMarginLoss, TripletMarginWithDistanceLoss};

use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;

/// A module's state by name: its parameters and buffers, under PyTorch's
/// names (`"weight"`, `"0.bias"`, ...), as [`Module::state_dict`] returns and
/// [`Module::load_state_dict`] takes (PyTorch's `state_dict()`, an ordered
/// mapping from names to tensors). [`crate::io`] saves and loads it.
pub type StateDict = BTreeMap<String, Tensor>;

/// What [`Module::load_state_dict`] did not match (PyTorch's
/// `_IncompatibleKeys`): keys the module has that the state lacks
/// (`missing`), and keys of the state the module does not have
/// (`unexpected`), each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The module's keys absent from the state (left unchanged).
    pub missing: Vec<String>,
    /// The state's keys the module does not have (ignored).
    pub unexpected: Vec<String>,
}

/// A layer: a function of one tensor, with trainable parameters (PyTorch's `nn.Module`).
///
/// ```
/// use tapegrad::nn::{self, Module};
/// let mut rng = rand::rng();
/// let mut mlp = nn::Sequential::new(vec![
///     Box::new(nn::Linear::new(4, 8, &mut rng)),
///     Box::new(nn::ReLU::new()),
///     Box::new(nn::Linear::new(8, 2, &mut rng)),
/// ]);
/// let names: Vec<String> = mlp.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
///
/// // the values of another model of the same architecture, copied in place
/// let other = nn::Sequential::new(vec![
///     Box::new(nn::Linear::new(4, 8, &mut rng)),
///     Box::new(nn::ReLU::new()),
///     Box::new(nn::Linear::new(8, 2, &mut rng)),
/// ]);
/// let report = mlp.load_state_dict(&other.state_dict(), true)?;
/// assert!(report.missing.is_empty() && report.unexpected.is_empty());
/// assert_eq!(mlp.parameters()[0].to_vec::<f32>()?, other.parameters()[0].to_vec::<f32>()?);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub trait Module {
    /// Applies the layer.
    fn forward(&self, input: &Tensor) -> Result<Tensor>;
    /// The trainable tensors, for an optimizer (empty for parameter-free layers).
    fn parameters(&self) -> Vec<Tensor>;
    /// The trainable tensors with PyTorch's names (`"weight"`, `"bias"`; a
    /// [`Sequential`] prefixes its children's with their index, `"0.weight"`),
    /// in the order of [`parameters`](Module::parameters).
    fn named_parameters(&self) -> Vec<(String, Tensor)>;
    /// The non-trainable state with PyTorch's names (e.g. `"running_mean"`);
    /// empty by default.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    /// Sets training mode (`true`, PyTorch's `train()`) or evaluation mode
    /// (`false`, PyTorch's `eval()`). A no-op for layers whose forward does
    /// not depend on the mode; containers pass it to their children.
    fn train(&mut self, mode: bool) {
        let _ = mode;
    }
    /// True in training mode (the default), false after `train(false)`.
    /// Layers whose forward does not depend on the mode always report `true`.
    fn is_training(&self) -> bool {
        true
    }
    /// The parameters and buffers by name, detached (PyTorch's `state_dict()`).
    /// The tensors share the module's current data; later updates of the
    /// module replace its data and leave these values unchanged.
    fn state_dict(&self) -> StateDict {
        self.named_parameters().into_iter().chain(self.named_buffers()).map(|(k, t)| (k, t.detach())).collect()
    }
    /// Copies the values of `state` into the module's existing parameters and
    /// buffers (PyTorch's `load_state_dict(state, strict)`): the tensors an
    /// optimizer holds stay the same tensors and see the new values.
    ///
    /// Every matching key is checked first (shape and dtype must be the
    /// module's; the error names the key, the expected and the given shape or
    /// dtype); with `strict`, a key of the module missing from `state` or a key
    /// of `state` the module does not have is an error too. On any error
    /// nothing is copied. Otherwise returns the keys that did not match.
    /// Buffers must be replaceable in place (made with
    /// [`Tensor::requires_grad`]) or the layer overrides this method.
    fn load_state_dict(&mut self, state: &StateDict, strict: bool) -> Result<LoadReport> {
        load_into(self.named_parameters().into_iter().chain(self.named_buffers()).collect(), state, strict)
    }
}

/// [`Module::load_state_dict`] for the named tensors `own`: [`check`], then the copies.
pub(crate) fn load_into(own: Vec<(String, Tensor)>, state: &StateDict, strict: bool) -> Result<LoadReport> {
    let report = check(&own, state, strict, true)?;
    for (key, target) in &own {
        if let Some(value) = state.get(key) {
            // a copy, so that the module never shares a buffer with the caller's tensor
            let copy = match value.dtype() {
                crate::DType::F32 => Tensor::from_vec(value.to_vec::<f32>()?, value.shape()),
                crate::DType::F64 => Tensor::from_vec(value.to_vec::<f64>()?, value.shape()),
                crate::DType::I64 => Tensor::from_vec(value.to_vec::<i64>()?, value.shape()),
                crate::DType::Bool => Tensor::from_vec(value.to_vec::<bool>()?, value.shape()),
            }?;
            target
                .set_data(&copy)
                .map_err(|e| Error::autograd("load_state_dict", format!("state[{key:?}]: {}", e.message())))?;
        }
    }
    Ok(report)
}

/// Checks `state` against the named tensors `own` without changing anything:
/// dtype and shape of every matching key (and, with `in_place`, that the
/// module's tensor can be replaced in place), and with `strict` no missing or
/// unexpected key. Returns the keys that did not match.
pub(crate) fn check(own: &[(String, Tensor)], state: &StateDict, strict: bool, in_place: bool) -> Result<LoadReport> {
    const OP: &str = "load_state_dict";
    let mut report = LoadReport::default();
    for (key, target) in own {
        let Some(value) = state.get(key) else {
            report.missing.push(key.clone());
            continue;
        };
        if value.dtype() != target.dtype() {
            return Err(Error::dtype(
                OP,
                format!("state[{key:?}] has dtype {}, expected {}", value.dtype(), target.dtype()),
            ));
        }
        if value.shape() != target.shape() {
            return Err(Error::shape(
                OP,
                format!("state[{key:?}] has shape {:?}, expected {:?}", value.shape(), target.shape()),
            ));
        }
        if in_place && !(target.is_leaf() && target.tracks_grad()) {
            return Err(Error::autograd(
                OP,
                format!("the module's tensor {key:?} cannot be replaced in place (not made with requires_grad())"),
            ));
        }
    }
    let known: std::collections::BTreeSet<&str> = own.iter().map(|(k, _)| k.as_str()).collect();
    report.unexpected = state.keys().filter(|k| !known.contains(k.as_str())).cloned().collect();
    report.missing.sort();
    if strict && (!report.missing.is_empty() || !report.unexpected.is_empty()) {
        return Err(Error::value(
            OP,
            format!("strict load: missing keys {:?}, unexpected keys {:?}", report.missing, report.unexpected),
        ));
    }
    Ok(report)
}
