//! The affine layer `y = x·Wᵀ + b`: `F.linear`, one fused op on the GEMM kernel.

use crate::autograd::Backward;
use crate::tensor::ops::float_op2;
use crate::tensor::ops::matmul::Gemm;
use crate::tensor::{Shape, Tensor};
use crate::{Error, Result};

struct LinearBackward {
    /// rows of the flattened input
    m: usize,
    fin: usize,
    fout: usize,
}

impl Backward for LinearBackward {
    fn name(&self) -> &'static str {
        "AddmmBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let (m, fin, fout) = (self.m, self.fin, self.fout);
        let (gx, gw, gb) = float_op2!("linear", x, w, "weight", |xs, ws| {
            let g = grad.data::<T>("linear", "grad")?;
            let g: &[T] = &g;
            // dx = G·W : (m×out)·(out×in)
            let gx = x.tracks_grad().then(|| {
                // beta = 0: the product writes every element
                let mut out = crate::cpu::alloc::scratch::<T>(m * fin);
                T::gemm(m, fout, fin, g, (fout, 1), ws, (fin, 1), &mut out, T::zero());
                Tensor::from_storage(T::wrap(out), x.shape())
            });
            // dW = Gᵀ·x : (out×m)·(m×in)
            let gw = w.tracks_grad().then(|| {
                let mut out = crate::cpu::alloc::scratch::<T>(fout * fin);
                T::gemm(fout, m, fin, g, (1, fout), xs, (fin, 1), &mut out, T::zero());
                Tensor::from_storage(T::wrap(out), w.shape())
            });
            // db = Σ_rows G
            let gb = inputs.get(2).filter(|b| b.tracks_grad()).map(|b| {
                let mut out = crate::cpu::alloc::zeros::<T>(fout);
                for row in g.chunks_exact(fout.max(1)).take(m) {
                    out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
                Tensor::from_storage(T::wrap(out), b.shape())
            });
            (gx, gw, gb)
        });
        Ok(vec![gx, gw, gb])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let g2 = grad.reshape_internal(&[self.m, self.fout])?;
        // dx = G·W, dW = Gᵀ·x, db = Σ_rows G
        let gx = needs[0].then(|| g2.matmul(w)?.reshape_internal(x.shape())).transpose()?;
        let gw = needs[1].then(|| g2.t()?.matmul(&x.reshape_internal(&[self.m, self.fin])?)).transpose()?;
        let gb = needs.get(2).copied().unwrap_or(false).then(|| g2.sum(0, false)).transpose()?;
        Ok(vec![gx, gw, gb])
    }
}

/// The affine map `y = x·Wᵀ + b` (`F.linear`, the maths of `nn.Linear`).
///
/// Shapes: `input (*, in)` with any number of leading dims (also none),
/// `weight (out, in)`, `bias (out,)`; the output is `(*, out)`. A 1-D
/// `weight (in,)` gives `y = x·w + b` without the feature dim: the output is
/// `(*)`, with a 0-d (or one-element) `bias`, as PyTorch does.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
/// let w = Tensor::from_vec(vec![1.0f32, 1.0, 0.0, -1.0, 2.0, 0.5], &[3, 2])?;
/// let b = Tensor::from_vec(vec![0.0f32, 0.0, 1.0], &[3])?;
/// assert_eq!(F::linear(&x, &w, Some(&b))?.to_vec::<f32>()?, vec![3.0, -2.0, 4.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn linear(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    const OP: &str = "linear";
    input.require_float(OP, "input")?;
    input.require_same_dtype(weight, OP, "weight")?;
    if weight.ndim() == 1 {
        return linear_1d(input, weight, bias);
    }
    if weight.ndim() != 2 {
        return Err(Error::shape(
            OP,
            format!("weight has shape {:?}; expected (out_features, in_features)", weight.shape()),
        ));
    }
    let (fout, fin) = (weight.shape()[0], weight.shape()[1]);
    if input.ndim() == 0 || input.shape()[input.ndim() - 1] != fin {
        return Err(Error::shape(
            OP,
            format!(
                "input of shape {:?} has {} features in its last dim but weight of shape {:?} expects {fin}",
                input.shape(),
                input.shape().last().map_or("no".to_string(), |v| v.to_string()),
                weight.shape()
            ),
        ));
    }
    if let Some(b) = bias {
        input.require_same_dtype(b, OP, "bias")?;
        if b.shape() != [fout] {
            return Err(Error::shape(OP, format!("bias has shape {:?}; expected ({fout},)", b.shape())));
        }
    }
    let m = input.numel() / fin.max(1);
    let m = if fin == 0 { input.shape()[..input.ndim() - 1].iter().product() } else { m };
    let mut shape: Shape = input.shape()[..input.ndim() - 1].into();
    shape.push(fout);
    let storage = float_op2!(OP, input, weight, "weight", |xs, ws| {
        // every element is written: by the bias rows then the product (beta = 1),
        // or by the product alone (beta = 0)
        let mut out = crate::cpu::alloc::scratch::<T>(m * fout);
        let beta = match bias {
            Some(b) => {
                let bs = b.data::<T>(OP, "bias")?;
                out.chunks_exact_mut(fout.max(1)).for_each(|row| row.copy_from_slice(&bs));
                T::one()
            }
            None => T::zero(),
        };
        // y = x·Wᵀ (+ b already in y): (m×in)·(in×out), Wᵀ read through strides
        T::gemm(m, fin, fout, xs, (fin, 1), ws, (1, fin), &mut out, beta);
        T::wrap(out)
    });
    let node = LinearBackward { m, fin, fout };
    match bias {
        Some(b) => Ok(Tensor::from_op(storage, &shape, node, &[input, weight, b])),
        None => Ok(Tensor::from_op(storage, &shape, node, &[input, weight])),
    }
}

/// [`linear`] with a 1-D `weight (in,)`: the product with one output
/// feature, that feature dim then dropped.
fn linear_1d(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    const OP: &str = "linear";
    let bias = match bias {
        Some(b) if b.numel() == 1 && b.ndim() <= 1 => {
            input.require_same_dtype(b, OP, "bias")?;
            Some(b.reshape(&[1])?)
        }
        Some(b) => {
            return Err(Error::shape(
                OP,
                format!("bias has shape {:?}; with a 1-D weight it must be 0-d (or hold one element)", b.shape()),
            ));
        }
        None => None,
    };
    let y = linear(input, &weight.unsqueeze(0)?, bias.as_ref())?;
    y.squeeze(-1)
}
