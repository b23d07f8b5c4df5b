//! Dropout, `F.dropout`.

use crate::{DType, Error, Result, Tensor};
use rand::{Rng, RngExt};

/// Dropout (`torch.nn.functional.dropout(input, p, training)`): in training
/// mode each element is zeroed with probability `p` and the kept ones are
/// scaled by `1/(1 − p)`, so the expectation is unchanged:
/// `out = input · mask / (1 − p)`, `mask ~ Bernoulli(1 − p)` elementwise;
/// the gradient flows through the same mask. With `training == false` (or
/// `p == 0`) it returns `input` itself; with `p == 1` every element is zeroed.
/// Any shape; float dtypes. The mask is drawn from `rng` (the values differ
/// from PyTorch's, whose generator is another).
///
/// Errors: `p` outside `[0, 1]` (or NaN); an integer `input`.
///
/// ```
/// use tapegrad::{functional as F, DType, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let x = Tensor::ones(&[1000], DType::F32);
/// let y = F::dropout(&x, 0.25, true, &mut rng)?;
/// let v = y.to_vec::<f32>()?;
/// assert!(v.iter().all(|&e| e == 0.0 || (e - 1.0 / 0.75).abs() < 1e-6));
/// let kept = v.iter().filter(|&&e| e != 0.0).count();
/// assert!((650..850).contains(&kept));
/// // evaluation mode: the identity
/// assert_eq!(F::dropout(&x, 0.25, false, &mut rng)?.to_vec::<f32>()?, x.to_vec::<f32>()?);
/// assert!(F::dropout(&x, 1.5, true, &mut rng).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn dropout(input: &Tensor, p: f64, training: bool, rng: &mut impl Rng) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::value("dropout", format!("p = {p} must be in [0, 1]")));
    }
    input.require_float("dropout", "input")?;
    if !training || p == 0.0 {
        return Ok(input.clone());
    }
    let n = input.numel();
    let keep = 1.0 - p;
    // PyTorch: noise.bernoulli_(1 - p).div_(1 - p), in the input's dtype
    let mask = match input.dtype() {
        DType::F32 => {
            let scale = if p == 1.0 { 0.0 } else { 1.0 / keep as f32 };
            let v: Vec<f32> = (0..n).map(|_| if rng.random::<f64>() < keep { scale } else { 0.0 }).collect();
            Tensor::from_vec(v, input.shape())?
        }
        _ => {
            let scale = if p == 1.0 { 0.0 } else { 1.0 / keep };
            let v: Vec<f64> = (0..n).map(|_| if rng.random::<f64>() < keep { scale } else { 0.0 }).collect();
            Tensor::from_vec(v, input.shape())?
        }
    };
    input.mul(&mask)
}
