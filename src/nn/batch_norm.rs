//! `nn.BatchNorm1d` and `nn.BatchNorm2d`.
//!
//! The float buffers `running_mean` and `running_var` are replaceable leaves
//! (made with [`Tensor::requires_grad`], so that [`F::batch_norm`] and
//! `load_state_dict` update them in place; no gradient ever flows into them).
//! The I64 counter `num_batches_tracked` cannot be such a leaf: the layer
//! keeps it behind a lock and replaces it, and overrides
//! [`Module::load_state_dict`] to restore it.

use super::{LoadReport, Module, StateDict, check, load_into};
use crate::functional as F;
use crate::tensor::DType;
use crate::{Error, Result, Tensor};
use std::sync::Mutex;

/// The state and maths shared by both layers.
#[derive(Debug)]
struct Core {
    num_features: usize,
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Mutex<Tensor>,
    momentum: f64,
    eps: f64,
    training: bool,
}

impl Core {
    fn new(n: usize) -> Core {
        Core {
            num_features: n,
            weight: Tensor::ones(&[n], DType::F32).requires_grad(),
            bias: Tensor::zeros(&[n], DType::F32).requires_grad(),
            running_mean: Tensor::zeros(&[n], DType::F32).requires_grad(),
            running_var: Tensor::ones(&[n], DType::F32).requires_grad(),
            num_batches_tracked: Mutex::new(Tensor::scalar(0i64)),
            momentum: 0.1,
            eps: 1e-5,
            training: true,
        }
    }

    fn counter(&self) -> Tensor {
        self.num_batches_tracked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn forward(&self, op: &'static str, input: &Tensor) -> Result<Tensor> {
        if input.shape()[1] != self.num_features {
            return Err(Error::shape(
                op,
                format!(
                    "input has {} channels (dim 1 of shape {:?}); expected num_features = {}",
                    input.shape()[1],
                    input.shape(),
                    self.num_features
                ),
            ));
        }
        let y = F::batch_norm(
            input,
            Some(&self.running_mean),
            Some(&self.running_var),
            Some(&self.weight),
            Some(&self.bias),
            self.training,
            self.momentum,
            self.eps,
        )?;
        if self.training {
            let mut count = self.num_batches_tracked.lock().unwrap_or_else(|e| e.into_inner());
            let next = count.item::<i64>()?.saturating_add(1);
            *count = Tensor::scalar(next);
        }
        Ok(y)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone()), ("bias".to_string(), self.bias.clone())]
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            ("num_batches_tracked".to_string(), self.counter()),
        ]
    }

    /// Checks everything first, then copies the float tensors in place and
    /// replaces the counter with a copy of the given one.
    fn load_state_dict(&mut self, state: &StateDict, strict: bool) -> Result<LoadReport> {
        let own: Vec<(String, Tensor)> = self.named_parameters().into_iter().chain(self.named_buffers()).collect();
        let report = check(&own, state, strict, false)?;
        let floats: Vec<(String, Tensor)> = own.into_iter().filter(|(k, _)| k != "num_batches_tracked").collect();
        load_into(floats, state, false)?;
        if let Some(value) = state.get("num_batches_tracked") {
            let copy = Tensor::scalar(value.item::<i64>()?);
            *self.num_batches_tracked.lock().unwrap_or_else(|e| e.into_inner()) = copy;
        }
        Ok(report)
    }
}

macro_rules! batch_norm_layer {
    ($name:ident, $op:literal, $torch:literal, $dims_ok:expr, $dims_text:literal, $doc_example:literal) => {
        #[doc = concat!("Batch normalisation per channel (`", $torch, "(num_features)` with PyTorch's")]
        /// defaults: `eps = 1e-5`, `momentum = 0.1`, `affine = True`,
        /// `track_running_stats = True`, f32):
        ///
        /// `y = (x − mean) / √(var + eps) · weight + bias`
        ///
        /// In training mode (the default) `mean` and `var` are the batch's, per
        /// channel (the biased variance), and the running statistics are updated
        /// with `momentum` (the unbiased variance for `running_var`) and
        /// `num_batches_tracked` counts the batch; in eval mode
        /// (`train(false)`) the running statistics are used.
        ///
        /// Parameters `"weight"` (ones) and `"bias"` (zeros), buffers
        /// `"running_mean"` (zeros), `"running_var"` (ones), each of shape
        /// `(num_features)`, and `"num_batches_tracked"` (I64, 0-d). See
        #[doc = concat!("[`F::batch_norm`] for the maths. Input ", $dims_text, ";")]
        /// another rank, another channel count, or (in training) one value per
        /// channel is an error.
        ///
        /// ```
        /// use tapegrad::{nn::{self, Module}, DType, Tensor};
        #[doc = concat!("let mut bn = nn::", stringify!($name), "::new(3).momentum(0.2).eps(1e-3);")]
        #[doc = concat!("let x = Tensor::randn(&", $doc_example, ", DType::F32, &mut rand::rng()).requires_grad();")]
        /// let y = bn.forward(&x)?;                       // batch statistics
        /// y.sum_all().backward()?;
        /// assert_eq!(bn.state_dict()["num_batches_tracked"].item::<i64>()?, 1);
        /// bn.train(false);                               // eval(): running statistics
        /// let z = bn.forward(&x)?;
        /// assert_eq!(z.shape(), x.shape());
        /// let names: Vec<String> = bn.state_dict().into_keys().collect();
        /// assert_eq!(names, ["bias", "num_batches_tracked", "running_mean", "running_var", "weight"]);
        /// # Ok::<(), tapegrad::Error>(())
        /// ```
        #[derive(Debug)]
        pub struct $name {
            core: Core,
        }

        impl $name {
            /// The layer for `num_features` channels, in training mode, with
            /// weight ones, bias zeros, running mean zeros, running variance
            /// ones (all f32), `momentum = 0.1` and `eps = 1e-5`.
            pub fn new(num_features: usize) -> $name {
                $name { core: Core::new(num_features) }
            }

            /// Sets `momentum`, the weight of each batch in the running
            /// statistics (PyTorch's `momentum=`).
            pub fn momentum(mut self, momentum: f64) -> $name {
                self.core.momentum = momentum;
                self
            }

            /// Sets `eps`, added to the variance before the square root (PyTorch's `eps=`).
            pub fn eps(mut self, eps: f64) -> $name {
                self.core.eps = eps;
                self
            }

            /// Applies the layer (also available through [`Module`], no import
            /// needed); in training mode updates the running statistics.
            pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
                let ok: fn(usize) -> bool = $dims_ok;
                if !ok(input.ndim()) {
                    return Err(Error::shape(
                        $op,
                        format!(
                            concat!("expected input ", $dims_text, ", got shape {:?} ({} dims)"),
                            input.shape(),
                            input.ndim()
                        ),
                    ));
                }
                self.core.forward($op, input)
            }

            /// The weight, of shape `(num_features)`.
            pub fn weight(&self) -> &Tensor {
                &self.core.weight
            }
            /// The bias, of shape `(num_features)`.
            pub fn bias(&self) -> &Tensor {
                &self.core.bias
            }
            /// The running mean, of shape `(num_features)`.
            pub fn running_mean(&self) -> &Tensor {
                &self.core.running_mean
            }
            /// The running (unbiased) variance, of shape `(num_features)`.
            pub fn running_var(&self) -> &Tensor {
                &self.core.running_var
            }
            /// The number of batches seen in training mode.
            pub fn num_batches_tracked(&self) -> i64 {
                self.core.counter().item::<i64>().unwrap_or(0)
            }
        }

        impl Module for $name {
            fn forward(&self, input: &Tensor) -> Result<Tensor> {
                $name::forward(self, input)
            }
            fn parameters(&self) -> Vec<Tensor> {
                vec![self.core.weight.clone(), self.core.bias.clone()]
            }
            fn named_parameters(&self) -> Vec<(String, Tensor)> {
                self.core.named_parameters()
            }
            fn named_buffers(&self) -> Vec<(String, Tensor)> {
                self.core.named_buffers()
            }
            fn train(&mut self, mode: bool) {
                self.core.training = mode;
            }
            fn is_training(&self) -> bool {
                self.core.training
            }
            /// As the trait's, and also restores `num_batches_tracked`, which
            /// is replaced rather than updated in place.
            fn load_state_dict(&mut self, state: &StateDict, strict: bool) -> Result<LoadReport> {
                self.core.load_state_dict(state, strict)
            }
        }
    };
}

batch_norm_layer!(
    BatchNorm1d,
    "BatchNorm1d",
    "nn.BatchNorm1d",
    |d| d == 2 || d == 3,
    "(N, C) or (N, C, L)",
    "[4, 3, 5]"
);
batch_norm_layer!(BatchNorm2d, "BatchNorm2d", "nn.BatchNorm2d", |d| d == 4, "(N, C, H, W)", "[4, 3, 2, 2]");
