//! Normalisation layers: `layer_norm` and `batch_norm`, each one fused op with its backward.

use crate::autograd::{Backward, composite_backward};
use crate::tensor::Float;
use crate::tensor::Tensor;
use crate::tensor::ops::float_op;
use crate::{Error, Result};

/// The optional weight and bias of a normalisation, which follow the input
/// in its node's inputs (each present or not).
fn affine_inputs(inputs: &[Tensor], has_weight: bool, has_bias: bool) -> (Option<&Tensor>, Option<&Tensor>) {
    let w = has_weight.then(|| &inputs[1]);
    let b = has_bias.then(|| &inputs[1 + usize::from(has_weight)]);
    (w, b)
}

/// The gradients of a normalisation's input, weight and bias as tensors,
/// each only where its tensor tracks gradients (the weight's and bias's
/// summed in f64 and rounded once to `T`).
fn affine_grads<T: Float>(
    (x, gx): (&Tensor, Vec<T>),
    (w, dw): (Option<&Tensor>, Vec<f64>),
    (b, db): (Option<&Tensor>, Vec<f64>),
) -> [Option<Tensor>; 3] {
    let to =
        |v: Vec<f64>, t: &Tensor| Tensor::from_storage(T::wrap(v.into_iter().map(T::from_f64).collect()), t.shape());
    let gx = x.tracks_grad().then(|| Tensor::from_storage(T::wrap(gx), x.shape()));
    let gw = w.filter(|w| w.tracks_grad()).map(|w| to(dw, w));
    let gb = b.filter(|b| b.tracks_grad()).map(|b| to(db, b));
    [gx, gw, gb]
}

/// The backward's result in the order of the node's inputs: the input's
/// gradient, then the weight's and the bias's where the op had them.
fn grads_list(
    gx: Option<Tensor>,
    gw: Option<Tensor>,
    gb: Option<Tensor>,
    has_weight: bool,
    has_bias: bool,
) -> Vec<Option<Tensor>> {
    let mut out = vec![gx];
    if has_weight {
        out.push(gw);
    }
    if has_bias {
        out.push(gb);
    }
    out
}

struct LayerNormBackward {
    /// Elements per normalised group (the product of `normalized_shape`).
    n: usize,
    eps: f64,
    /// Per group, the mean and `1/√(var + eps)` of the forward pass.
    mean: Vec<f64>,
    rstd: Vec<f64>,
    has_weight: bool,
    has_bias: bool,
}

impl Backward for LayerNormBackward {
    fn name(&self) -> &'static str {
        "NativeLayerNormBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "layer_norm";
        let x = &inputs[0];
        let (w, b) = affine_inputs(inputs, self.has_weight, self.has_bias);
        let n = self.n;
        let [gx, gw, gb] = float_op!(OP, "input", x, |xs| {
            let g = grad.data::<T>(OP, "grad")?;
            let ws = match w {
                Some(w) => Some(w.data::<T>(OP, "weight")?),
                None => None,
            };
            let ws: Option<&[T]> = ws.as_deref();
            let mut gx = vec![T::zero(); xs.len()];
            // sums over groups in f64, for the parameter gradients
            let (mut dw, mut db) = (vec![0.0f64; n], vec![0.0f64; n]);
            if n > 0 {
                for (r, ((xr, gr), out)) in
                    xs.chunks_exact(n).zip(g.chunks_exact(n)).zip(gx.chunks_exact_mut(n)).enumerate()
                {
                    let (mean, rstd) = (self.mean[r], self.rstd[r]);
                    let (mut s_gy, mut s_gy_xhat) = (0.0f64, 0.0f64);
                    for j in 0..n {
                        let xhat = (xr[j].to_f64() - mean) * rstd;
                        let gj = gr[j].to_f64();
                        let gy = gj * ws.map_or(1.0, |w| w[j].to_f64());
                        s_gy += gy;
                        s_gy_xhat += gy * xhat;
                        dw[j] += gj * xhat;
                        db[j] += gj;
                    }
                    let (m_gy, m_gy_xhat) = (s_gy / n as f64, s_gy_xhat / n as f64);
                    for j in 0..n {
                        let xhat = (xr[j].to_f64() - mean) * rstd;
                        let gy = gr[j].to_f64() * ws.map_or(1.0, |w| w[j].to_f64());
                        // dx = rstd·(gy − mean(gy) − x̂·mean(gy·x̂))
                        out[j] = T::from_f64(rstd * (gy - m_gy - xhat * m_gy_xhat));
                    }
                }
            }
            affine_grads::<T>((x, gx), (w, dw), (b, db))
        });
        Ok(grads_list(gx, gw, gb, self.has_weight, self.has_bias))
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            // (x − E[x]) / √(Var[x] + eps) over the last n elements, then the affine map
            let x = &xs[0];
            let rows = x.reshape_internal(&[x.numel() / self.n.max(1), self.n])?;
            let xc = rows.sub(&rows.mean(1, true)?)?;
            let var = xc.mul(&xc)?.mean(1, true)?;
            let y = xc.div(&var.add_scalar(self.eps)?.sqrt())?.reshape_internal(x.shape())?;
            let (w, b) = affine_inputs(xs, self.has_weight, self.has_bias);
            let y = match w {
                Some(w) => y.mul(w)?,
                None => y,
            };
            match b {
                Some(b) => y.add(b),
                None => Ok(y),
            }
        })
    }
}

/// Checks that an affine parameter matches `normalized_shape` and the input's dtype.
fn check_param(input: &Tensor, p: Option<&Tensor>, arg: &'static str, normalized_shape: &[usize]) -> Result<()> {
    if let Some(p) = p {
        input.require_same_dtype(p, "layer_norm", arg)?;
        if p.shape() != normalized_shape {
            return Err(Error::shape(
                "layer_norm",
                format!("{arg} has shape {:?}; expected normalized_shape {normalized_shape:?}", p.shape()),
            ));
        }
    }
    Ok(())
}

/// Layer normalisation over the trailing dims given by `normalized_shape`
/// (`F.layer_norm(input, normalized_shape, weight, bias, eps)`, the maths of
/// `nn.LayerNorm`): for each group of the last `normalized_shape.len()` dims,
///
/// `y = (x − E[x]) / √(Var[x] + eps) · weight + bias`
///
/// with the biased variance (divided by the group size, as PyTorch). The
/// statistics are accumulated in f64. PyTorch's default `eps` is `1e-5`.
///
/// Shapes: `input (*, normalized_shape...)`, `weight` and `bias`
/// `normalized_shape` (each optional); the output has the input's shape.
/// Errors name the argument: an empty `normalized_shape`, trailing dims of
/// the input that differ from it, or a parameter of another shape or dtype.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 30.0], &[2, 2])?;
/// let y = F::layer_norm(&x, &[2], None, None, 0.0)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, 1.0, -1.0, 1.0]);
/// assert!(F::layer_norm(&x, &[3], None, None, 1e-5).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn layer_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    input.require_float(OP, "input")?;
    if normalized_shape.is_empty() {
        return Err(Error::shape(OP, "normalized_shape is empty; expected at least one dim"));
    }
    let k = normalized_shape.len();
    if input.ndim() < k || input.shape()[input.ndim() - k..] != *normalized_shape {
        return Err(Error::shape(
            OP,
            format!(
                "normalized_shape {normalized_shape:?} does not match the trailing dims of input of shape {:?}",
                input.shape()
            ),
        ));
    }
    check_param(input, weight, "weight", normalized_shape)?;
    check_param(input, bias, "bias", normalized_shape)?;
    let n: usize = normalized_shape.iter().product();
    let groups = input.numel().checked_div(n).unwrap_or(0);
    let (mut means, mut rstds) = (Vec::with_capacity(groups), Vec::with_capacity(groups));
    let storage = float_op!(OP, "input", input, |xs| {
        let w = match weight {
            Some(w) => Some(w.data::<T>(OP, "weight")?),
            None => None,
        };
        let b = match bias {
            Some(b) => Some(b.data::<T>(OP, "bias")?),
            None => None,
        };
        let (w, b): (Option<&[T]>, Option<&[T]>) = (w.as_deref(), b.as_deref());
        let mut out = vec![T::zero(); xs.len()];
        if n > 0 {
            for (xr, o) in xs.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
                // two passes: the mean, then the squared deviations from it
                let mean = xr.iter().map(|v| v.to_f64()).sum::<f64>() / n as f64;
                let var = xr.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / n as f64;
                let rstd = 1.0 / (var + eps).sqrt();
                for j in 0..n {
                    let y = (xr[j].to_f64() - mean) * rstd * w.map_or(1.0, |w| w[j].to_f64())
                        + b.map_or(0.0, |b| b[j].to_f64());
                    o[j] = T::from_f64(y);
                }
                means.push(mean);
                rstds.push(rstd);
            }
        }
        T::wrap(out)
    });
    let node =
        LayerNormBackward { n, eps, mean: means, rstd: rstds, has_weight: weight.is_some(), has_bias: bias.is_some() };
    let mut inputs = vec![input];
    inputs.extend(weight);
    inputs.extend(bias);
    Ok(Tensor::from_op(storage, input.shape(), node, &inputs))
}

struct BatchNormBackward {
    /// Channels, and elements per (sample, channel) block (the product of the dims after 1).
    c: usize,
    s: usize,
    /// Per channel, the mean and `1/√(var + eps)` used by the forward pass.
    mean: Vec<f64>,
    rstd: Vec<f64>,
    /// Batch statistics (train mode) or fixed running statistics (eval mode).
    training: bool,
    eps: f64,
    has_weight: bool,
    has_bias: bool,
}

impl Backward for BatchNormBackward {
    fn name(&self) -> &'static str {
        "NativeBatchNormBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "batch_norm";
        let x = &inputs[0];
        let (w, b) = affine_inputs(inputs, self.has_weight, self.has_bias);
        let (c, s) = (self.c, self.s);
        let [gx, gw, gb] = float_op!(OP, "input", x, |xs| {
            let g = grad.data::<T>(OP, "grad")?;
            let ws = match w {
                Some(w) => Some(w.data::<T>(OP, "weight")?),
                None => None,
            };
            let ws: Option<&[T]> = ws.as_deref();
            let mut gx = vec![T::zero(); xs.len()];
            let (mut dw, mut db) = (vec![0.0f64; c], vec![0.0f64; c]);
            let block = c * s;
            let n = xs.len().checked_div(block).unwrap_or(0);
            let m = (n * s) as f64;
            for ch in 0..c {
                let (mean, rstd) = (self.mean[ch], self.rstd[ch]);
                let wc = ws.map_or(1.0, |w| w[ch].to_f64());
                let (mut s_g, mut s_g_xhat) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let base = i * block + ch * s;
                    for j in base..base + s {
                        let xhat = (xs[j].to_f64() - mean) * rstd;
                        s_g += g[j].to_f64();
                        s_g_xhat += g[j].to_f64() * xhat;
                    }
                }
                dw[ch] = s_g_xhat;
                db[ch] = s_g;
                let (m_g, m_g_xhat) = if self.training && m > 0.0 { (s_g / m, s_g_xhat / m) } else { (0.0, 0.0) };
                for i in 0..n {
                    let base = i * block + ch * s;
                    for j in base..base + s {
                        let v = if self.training {
                            // dx = w·rstd·(g − mean(g) − x̂·mean(g·x̂))
                            let xhat = (xs[j].to_f64() - mean) * rstd;
                            wc * rstd * (g[j].to_f64() - m_g - xhat * m_g_xhat)
                        } else {
                            wc * rstd * g[j].to_f64()
                        };
                        gx[j] = T::from_f64(v);
                    }
                }
            }
            affine_grads::<T>((x, gx), (w, dw), (b, db))
        });
        Ok(grads_list(gx, gw, gb, self.has_weight, self.has_bias))
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| {
            // per channel (x − mean) / √(var + eps) over (N, C, S), then the affine map
            let x = &xs[0];
            let (c, s) = (self.c, self.s);
            let x3 = x.reshape_internal(&[x.numel() / (c * s).max(1), c, s])?;
            let y = if self.training {
                let xc = x3.sub(&x3.mean(2, true)?.mean(0, true)?)?;
                let var = xc.mul(&xc)?.mean(2, true)?.mean(0, true)?;
                xc.div(&var.add_scalar(self.eps)?.sqrt())?
            } else {
                // the running statistics are constants
                let col = |v: &[f64]| Tensor::from_vec(v.to_vec(), &[1, c, 1])?.to_dtype(x.dtype());
                x3.sub(&col(&self.mean)?)?.mul(&col(&self.rstd)?)?
            };
            let (w, b) = affine_inputs(xs, self.has_weight, self.has_bias);
            let y = match w {
                Some(w) => y.mul(&w.reshape_internal(&[1, c, 1])?)?,
                None => y,
            };
            let y = match b {
                Some(b) => y.add(&b.reshape_internal(&[1, c, 1])?)?,
                None => y,
            };
            y.reshape_internal(x.shape())
        })
    }
}

/// Batch normalisation over the channel dim 1 (`F.batch_norm(input,
/// running_mean, running_var, weight, bias, training, momentum, eps)`, the
/// maths of `nn.BatchNorm1d` / `nn.BatchNorm2d`): for each channel `c`,
///
/// `y = (x − mean_c) / √(var_c + eps) · weight_c + bias_c`
///
/// With `training`, `mean_c` and `var_c` are the batch's (over every dim but
/// 1, the biased variance), and the running statistics, when given, are
/// updated in place: `running = (1 − momentum)·running + momentum·batch`,
/// with the unbiased batch variance for `running_var` (as PyTorch). Without
/// `training`, the running statistics are used (both must be given) and are
/// not changed. Statistics are accumulated in f64.
///
/// Shapes: `input (N, C, *)`, each of `running_mean`, `running_var`,
/// `weight`, `bias` of shape `(C)` and the input's dtype; the output has the
/// input's shape. Running statistics updated in place must be replaceable
/// leaves (made with [`Tensor::requires_grad`]; no gradient flows into them).
/// Errors name the argument: an input with fewer than 2 dims, a parameter of
/// another shape or dtype, missing running statistics in eval mode, and a
/// batch with one value per channel in training ("expected more than 1 value
/// per channel when training").
///
/// ```
/// use tapegrad::{functional as F, DType, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], &[2, 2])?;
/// let rm = Tensor::zeros(&[2], DType::F64).requires_grad();
/// let rv = Tensor::ones(&[2], DType::F64).requires_grad();
/// let y = F::batch_norm(&x, Some(&rm), Some(&rv), None, None, true, 0.1, 0.0)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![-1.0, -1.0, 1.0, 1.0]);
/// assert_eq!(rm.to_vec::<f64>()?, vec![0.2, 2.0]);   // 0.1 · batch mean
/// let one = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2])?;   // one value per channel
/// assert!(F::batch_norm(&one, None, None, None, None, true, 0.1, 1e-5).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    input: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "batch_norm";
    input.require_float(OP, "input")?;
    if input.ndim() < 2 {
        return Err(Error::shape(
            OP,
            format!("input has shape {:?}; expected at least 2 dims (N, C, *)", input.shape()),
        ));
    }
    let c = input.shape()[1];
    for (p, arg) in [(running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias")] {
        if let Some(p) = p {
            input.require_same_dtype(p, OP, arg)?;
            if p.shape() != [c] {
                return Err(Error::shape(
                    OP,
                    format!("{arg} has shape {:?}; expected [{c}], the input's channel count (dim 1)", p.shape()),
                ));
            }
        }
    }
    let s: usize = input.shape()[2..].iter().product();
    let n = input.shape()[0];
    let m = n * s;
    let (rm, rv) = if training {
        if m == 1 {
            return Err(Error::value(
                OP,
                format!("expected more than 1 value per channel when training, got input of shape {:?}", input.shape()),
            ));
        }
        for (p, arg) in [(running_mean, "running_mean"), (running_var, "running_var")] {
            if let Some(p) = p
                && !(p.is_leaf() && p.tracks_grad())
            {
                return Err(Error::autograd(
                    OP,
                    format!("{arg} cannot be updated in place (not made with requires_grad())"),
                ));
            }
        }
        (None, None)
    } else {
        match (running_mean, running_var) {
            (Some(rm), Some(rv)) => (Some(rm), Some(rv)),
            _ => {
                return Err(Error::value(
                    OP,
                    "running_mean and running_var must both be given in eval mode (training = false)",
                ));
            }
        }
    };
    let (mut means, mut rstds) = (vec![0.0f64; c], vec![0.0f64; c]);
    let mut vars = vec![0.0f64; c];
    let block = c * s;
    let (storage, new_stats) = float_op!(OP, "input", input, |xs| {
        let fetch = |t: Option<&Tensor>, arg: &str| -> Result<Option<Vec<f64>>> {
            match t {
                Some(t) => Ok(Some(t.data::<T>(OP, arg)?.iter().map(|v| v.to_f64()).collect())),
                None => Ok(None),
            }
        };
        let (w, b) = (fetch(weight, "weight")?, fetch(bias, "bias")?);
        let (rmv, rvv) = (fetch(rm, "running_mean")?, fetch(rv, "running_var")?);
        let mut out = vec![T::zero(); xs.len()];
        for ch in 0..c {
            let (mean, var) = match (&rmv, &rvv) {
                (Some(rm), Some(rv)) => (rm[ch], rv[ch]),
                _ => {
                    // two passes: the mean, then the squared deviations from it
                    let mut sum = 0.0f64;
                    for i in 0..n {
                        sum += xs[i * block + ch * s..][..s].iter().map(|v| v.to_f64()).sum::<f64>();
                    }
                    let mean = sum / m as f64;
                    let mut sq = 0.0f64;
                    for i in 0..n {
                        sq += xs[i * block + ch * s..][..s].iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>();
                    }
                    (mean, sq / m as f64)
                }
            };
            let rstd = 1.0 / (var + eps).sqrt();
            let (wc, bc) = (w.as_ref().map_or(1.0, |w| w[ch]), b.as_ref().map_or(0.0, |b| b[ch]));
            for i in 0..n {
                let base = i * block + ch * s;
                for j in base..base + s {
                    out[j] = T::from_f64((xs[j].to_f64() - mean) * rstd * wc + bc);
                }
            }
            means[ch] = mean;
            vars[ch] = var;
            rstds[ch] = rstd;
        }
        // the running statistics' new values, in train mode
        let mut new_stats = Vec::new();
        if training {
            let unbiased = m as f64 / (m as f64 - 1.0);
            for (p, arg, batch, scale) in
                [(running_mean, "running_mean", &means, 1.0), (running_var, "running_var", &vars, unbiased)]
            {
                if let Some(p) = p {
                    let old = p.data::<T>(OP, arg)?;
                    let v: Vec<T> = old
                        .iter()
                        .zip(batch.iter())
                        .map(|(o, bt)| T::from_f64((1.0 - momentum) * o.to_f64() + momentum * bt * scale))
                        .collect();
                    new_stats.push((p, Tensor::from_storage(T::wrap(v), &[c])));
                }
            }
        }
        (T::wrap(out), new_stats)
    });
    for (p, value) in new_stats {
        p.set_data(&value)?;
    }
    let node = BatchNormBackward {
        c,
        s,
        mean: means,
        rstd: rstds,
        training,
        eps,
        has_weight: weight.is_some(),
        has_bias: bias.is_some(),
    };
    let mut inputs = vec![input];
    inputs.extend(weight);
    inputs.extend(bias);
    Ok(Tensor::from_op(storage, input.shape(), node, &inputs))
}

#[cfg(test)]
mod tests {
    use crate::Tensor;
    use crate::functional as F;

    /// Without weight and bias, each group has mean 0 and (biased) variance 1.
    #[test]
    fn groups_are_standardised() {
        let x = Tensor::from_vec((0..24).map(|i| (i * i) as f64).collect(), &[2, 3, 4]).unwrap();
        let y = F::layer_norm(&x, &[3, 4], None, None, 0.0).unwrap().to_vec::<f64>().unwrap();
        for g in y.chunks(12) {
            let m = g.iter().sum::<f64>() / 12.0;
            let v = g.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 12.0;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12);
        }
    }
}
