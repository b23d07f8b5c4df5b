//! A layer made of a closure, for the steps of a model that need no
//! parameters and have no module of their own (a reshape, a scaling, a
//! residual sum inside one layer).

use super::Module;
use crate::{Result, Tensor};
use std::fmt;
use std::sync::Arc;

/// A parameter-free layer whose forward is a closure (candle's `Func`;
/// PyTorch code writes a small `nn.Module` subclass for it). It records
/// whatever ops the closure runs, so gradients flow through it, and it
/// holds no parameters or buffers, so a `Sequential` numbers the layers
/// around it as PyTorch numbers the same model.
///
/// ```
/// use tapegrad::{nn, DType, Tensor};
/// let mut rng = rand::rng();
/// let model = nn::Sequential::new(vec![
///     Box::new(nn::Linear::new(4, 8, &mut rng)),
///     Box::new(nn::Lambda::new(|x: &Tensor| x.relu().mul_scalar(0.5))),
///     Box::new(nn::Linear::new(8, 2, &mut rng)),
/// ]);
/// assert_eq!(model.forward(&Tensor::zeros(&[3, 4], DType::F32))?.shape(), &[3, 2]);
/// assert_eq!(model.parameters().len(), 4);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone)]
pub struct Lambda {
    f: Arc<LambdaFn>,
}

/// The closure a [`Lambda`] applies.
type LambdaFn = dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync;

impl Lambda {
    /// The layer computing `f(input)`.
    pub fn new(f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Lambda {
        Lambda { f: Arc::new(f) }
    }

    /// Applies the closure (also available through [`Module`], no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        (self.f)(input)
    }
}

impl fmt::Debug for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lambda(<closure>)")
    }
}

impl Module for Lambda {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Lambda::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
