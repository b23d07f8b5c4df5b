//! # tapegrad
//!
//! A small, fast reverse-mode autograd tensor engine whose loss functions
//! match PyTorch's `torch.nn` / `torch.nn.functional` exactly, in value and in
//! gradient.
//!
//! The layers mirror PyTorch's:
//! - [`Tensor`]: f32 / f64 / i64 / bool data with a recorded graph of operations,
//!   replayed in reverse by [`Tensor::backward`];
//! - [`autograd`]: the graph, [`no_grad`], and [`autograd::gradcheck`];
//! - [`functional`]: free functions holding all the maths (`F` in PyTorch);
//! - [`nn`]: modules holding configuration and calling [`functional`];
//! - [`optim`]: optimizers to train small models;
//! - [`io`]: saving and loading state dicts as safetensors files, PyTorch's format;
//! - [`data`]: mini-batches of sample indices for training loops.
//!
//! ```
//! use tapegrad::{DType, Tensor};
//! let a = Tensor::from_vec(vec![0.5f32], &[])?.requires_grad();
//! let b = Tensor::from_vec(vec![-1.5f32], &[])?.requires_grad();
//! let y = (&a * &b)?.tanh();          // y = tanh(a·b)
//! y.backward()?;
//! let dy_da = a.grad().unwrap().item::<f32>()?;
//! assert!((dy_da - (-1.5) * (1.0 - (0.5f32 * -1.5).tanh().powi(2))).abs() < 1e-6);
//! # Ok::<(), tapegrad::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod autograd;
mod cpu;
pub mod data;
mod error;
pub mod functional;
pub mod io;
mod kernels;
pub mod nn;
pub mod optim;
pub mod tensor;

pub use autograd::no_grad;
pub use error::{Error, Result};
pub use functional::Reduction;
pub use tensor::{DType, Element, Tensor};

// `Tensor` crosses threads: checked at compile time.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Tensor>();
    send_sync::<Error>();
};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
