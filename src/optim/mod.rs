//! Optimizers, PyTorch's `torch.optim`: [`Sgd`] and [`Adam`] (AdamW with
//! `.decoupled(true)`). Each updates its parameters in place
//! ([`Tensor::set_data`]) from their accumulated gradients.
//!
//! ```
//! use tapegrad::{nn::{self, Module}, optim, DType, Tensor};
//! let mut rng = rand::rng();
//! let model = nn::Linear::new(3, 1, &mut rng);
//! let mut opt = optim::Adam::new(model.parameters(), 1e-2);
//! let x = Tensor::randn(&[8, 3], DType::F32, &mut rng);
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     let loss = model.forward(&x)?.pow(2.0)?.mean_all();
//!     loss.backward()?;
//!     opt.step()?;
//! }
//! # Ok::<(), tapegrad::Error>(())
//! ```

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use crate::tensor::ops::float_op2;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result};

/// Errors unless `value` is finite and at least `min` (or within `[min, max)`).
fn check(op: &'static str, name: &str, value: f64, min: f64, max: Option<f64>) -> Result<()> {
    let ok = value.is_finite() && value >= min && max.is_none_or(|m| value < m);
    if ok {
        Ok(())
    } else {
        let range = match max {
            Some(m) => format!("in [{min}, {m})"),
            None => format!(">= {min}"),
        };
        Err(Error::value(op, format!("{name} = {value} must be finite and {range}")))
    }
}

/// Applies `update(param, grad, state...)` elementwise to one parameter, with
/// `n_state` state buffers kept in the parameter's dtype, and writes the result back.
fn update_param(
    op: &'static str,
    p: &Tensor,
    state: &mut Vec<Tensor>,
    n_state: usize,
    update: impl Fn(&mut [f64], f64, &mut [f64]),
) -> Result<()> {
    let Some(g) = p.grad() else { return Ok(()) };
    if state.is_empty() {
        state.extend((0..n_state).map(|_| p.full_like(0.0)));
    }
    let new = float_op2!(op, p, &g, "grad", |ps, gs| {
        let bufs: Vec<Vec<T>> = state.iter().map(|s| s.to_vec::<T>()).collect::<Result<_>>()?;
        let (out, bufs) = apply::<T>(ps, gs, bufs, &update);
        for (s, b) in state.iter_mut().zip(bufs) {
            *s = Tensor::from_vec(b, p.shape())?;
        }
        Tensor::from_vec(out, p.shape())?
    });
    p.set_data(&new)
}

/// Runs the update in f64 per element and rounds back to `T` (PyTorch's f32
/// optimizers compute in f32; the difference is within one rounding per op).
fn apply<T: Float>(
    ps: &[T],
    gs: &[T],
    mut bufs: Vec<Vec<T>>,
    update: &impl Fn(&mut [f64], f64, &mut [f64]),
) -> (Vec<T>, Vec<Vec<T>>) {
    let mut out = Vec::with_capacity(ps.len());
    let mut st = vec![0.0; bufs.len()];
    for i in 0..ps.len() {
        for (s, b) in st.iter_mut().zip(&bufs) {
            *s = b[i].to_f64();
        }
        let mut p = [ps[i].to_f64()];
        update(&mut p, gs[i].to_f64(), &mut st);
        for (s, b) in st.iter().zip(bufs.iter_mut()) {
            b[i] = T::from_f64(*s);
        }
        out.push(T::from_f64(p[0]));
    }
    (out, bufs)
}
