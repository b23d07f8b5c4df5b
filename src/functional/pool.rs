//! 2-D pooling: `max_pool2d` and `avg_pool2d`, each one op with its backward.

use crate::autograd::Backward;
use crate::tensor::Tensor;
use crate::tensor::ops::float_op;
use crate::{Error, Result};

/// The geometry of one pooling call, checked.
#[derive(Clone, Copy, Debug)]
struct Geom {
    /// Batch size times channels: the number of independent planes.
    planes: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    /// Checks the arguments as PyTorch does and computes the output size
    /// (`floor((H + 2·pad − kernel) / stride) + 1`, no ceil mode, dilation 1).
    fn new(
        op: &'static str,
        input: &Tensor,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Geom> {
        input.require_float(op, "input")?;
        let s = input.shape();
        let (planes, h, w) = match *s {
            [n, c, h, w] => (n * c, h, w),
            [c, h, w] => (c, h, w),
            _ => {
                return Err(Error::shape(
                    op,
                    format!("input must have 3 dims (C, H, W) or 4 dims (N, C, H, W), got shape {s:?}"),
                ));
            }
        };
        if s[s.len() - 3..].contains(&0) {
            return Err(Error::shape(op, format!("input of shape {s:?} has an empty channel or spatial dim")));
        }
        if kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::value(op, format!("kernel_size = {kernel:?} must be positive")));
        }
        if stride.0 == 0 || stride.1 == 0 {
            return Err(Error::value(op, format!("stride = {stride:?} must be positive")));
        }
        if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
            return Err(Error::value(
                op,
                format!("padding = {padding:?} must be at most half of kernel_size = {kernel:?}"),
            ));
        }
        if h + 2 * padding.0 < kernel.0 || w + 2 * padding.1 < kernel.1 {
            return Err(Error::shape(
                op,
                format!(
                    "kernel_size = {kernel:?} is larger than the padded input ({}, {}) (input shape {s:?}, padding {padding:?})",
                    h + 2 * padding.0,
                    w + 2 * padding.1
                ),
            ));
        }
        let oh = (h + 2 * padding.0 - kernel.0) / stride.0 + 1;
        let ow = (w + 2 * padding.1 - kernel.1) / stride.1 + 1;
        Ok(Geom {
            planes,
            h,
            w,
            kh: kernel.0,
            kw: kernel.1,
            sh: stride.0,
            sw: stride.1,
            ph: padding.0,
            pw: padding.1,
            oh,
            ow,
        })
    }

    /// The output shape for an input of shape `s`.
    fn out_shape(&self, s: &[usize]) -> Vec<usize> {
        let mut o = s[..s.len() - 2].to_vec();
        o.extend([self.oh, self.ow]);
        o
    }

    /// The rows and columns of the input the window of output `(i, j)` covers
    /// (the padding clipped off).
    fn window(&self, i: usize, j: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (h0, w0) = (i * self.sh, j * self.sw); // in padded coordinates
        let rows = h0.saturating_sub(self.ph)..(h0 + self.kh - self.ph).min(self.h);
        let cols = w0.saturating_sub(self.pw)..(w0 + self.kw - self.pw).min(self.w);
        (rows, cols)
    }
}

struct MaxPool2dBackward {
    /// Per output element, the flat index of its maximum in the input.
    argmax: Vec<usize>,
}

impl Backward for MaxPool2dBackward {
    fn name(&self) -> &'static str {
        "MaxPool2DWithIndicesBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "max_pool2d";
        let x = &inputs[0];
        let gx = float_op!(OP, "grad", grad, |g| {
            let mut gx = vec![T::zero(); x.numel()];
            for (&k, &gv) in self.argmax.iter().zip(g.iter()) {
                gx[k] += gv;
            }
            T::wrap(gx)
        });
        Ok(vec![Some(Tensor::from_storage(gx, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let at = std::sync::Arc::new(self.argmax.clone());
        Ok(vec![Some(grad.scatter_offsets(at, inputs[0].shape(), "max_pool2d")?)])
    }
}

struct AvgPool2dBackward {
    geom: Geom,
}

impl Backward for AvgPool2dBackward {
    fn name(&self) -> &'static str {
        "AvgPool2DBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "avg_pool2d";
        let x = &inputs[0];
        let d = self.geom;
        let gx = float_op!(OP, "grad", grad, |g| {
            let mut gx = vec![T::zero(); x.numel()];
            let div = T::from_f64((d.kh * d.kw) as f64);
            for p in 0..d.planes {
                let (gp, xp) = (&g[p * d.oh * d.ow..], &mut gx[p * d.h * d.w..(p + 1) * d.h * d.w]);
                for i in 0..d.oh {
                    for j in 0..d.ow {
                        let share = gp[i * d.ow + j] / div;
                        let (rows, cols) = d.window(i, j);
                        for r in rows {
                            for c in cols.clone() {
                                xp[r * d.w + c] += share;
                            }
                        }
                    }
                }
            }
            T::wrap(gx)
        });
        Ok(vec![Some(Tensor::from_storage(gx, x.shape()))])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // each output's gradient / (kh·kw), added to every input of its window
        let d = self.geom;
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for p in 0..d.planes {
            for i in 0..d.oh {
                for j in 0..d.ow {
                    let (rows, cols) = d.window(i, j);
                    for r in rows {
                        for c in cols.clone() {
                            from.push((p * d.oh + i) * d.ow + j);
                            to.push((p * d.h + r) * d.w + c);
                        }
                    }
                }
            }
        }
        let n = from.len();
        let shares = grad.take_offsets(std::sync::Arc::new(from), &[n])?.div_scalar((d.kh * d.kw) as f64)?;
        Ok(vec![Some(shares.scatter_offsets(std::sync::Arc::new(to), inputs[0].shape(), "avg_pool2d")?)])
    }
}

/// 2-D max pooling (`F.max_pool2d(input, kernel_size, stride, padding)`,
/// the maths of [`nn::MaxPool2d`](crate::nn::MaxPool2d); dilation 1, no ceil
/// mode): each output element is the maximum of its `kernel` window, the
/// window moving by `stride` over the input padded with `-∞` by `padding` on
/// each side. PyTorch's default stride is the kernel size.
///
/// As PyTorch on the CPU, a NaN in a window is its maximum, and the gradient
/// goes to the window's first maximum (its last NaN if it has any); windows
/// that share a maximum add their gradients there.
///
/// Shapes: `input (N, C, H, W)` or `(C, H, W)`; output `(N, C, H_out, W_out)`
/// (or `(C, H_out, W_out)`) with `H_out = (H + 2·padding.0 − kernel.0) /
/// stride.0 + 1` (rounded down), likewise `W_out`.
///
/// Errors (naming `max_pool2d` and the value): a zero kernel or stride, a
/// padding over half the kernel, a kernel larger than the padded input, an
/// input that is not 3-d or 4-d or has an empty channel or spatial dim, or
/// an integer input.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 1, 4, 4])?.requires_grad();
/// let y = F::max_pool2d(&x, (2, 2), (2, 2), (0, 0))?;
/// assert_eq!(y.to_vec::<f32>()?, vec![5.0, 7.0, 13.0, 15.0]);
/// y.sum_all().backward()?;
/// assert_eq!(x.grad().unwrap().to_vec::<f32>()?[5], 1.0);
/// assert!(F::max_pool2d(&x, (2, 2), (0, 2), (0, 0)).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn max_pool2d(
    input: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    const OP: &str = "max_pool2d";
    let d = Geom::new(OP, input, kernel, stride, padding)?;
    let mut argmax = Vec::with_capacity(d.planes * d.oh * d.ow);
    let storage = float_op!(OP, "input", input, |xs| {
        let mut out = Vec::with_capacity(d.planes * d.oh * d.ow);
        for p in 0..d.planes {
            let base = p * d.h * d.w;
            let xp = &xs[base..base + d.h * d.w];
            for i in 0..d.oh {
                for j in 0..d.ow {
                    let (rows, cols) = d.window(i, j);
                    let mut best = T::neg_infinity();
                    let mut at = rows.start * d.w + cols.start;
                    for r in rows {
                        for c in cols.clone() {
                            let v = xp[r * d.w + c];
                            // PyTorch's rule: a strictly larger value or a NaN takes over
                            if v > best || v.is_nan() {
                                best = v;
                                at = r * d.w + c;
                            }
                        }
                    }
                    out.push(best);
                    argmax.push(base + at);
                }
            }
        }
        T::wrap(out)
    });
    Ok(Tensor::from_op(storage, &d.out_shape(input.shape()), MaxPool2dBackward { argmax }, &[input]))
}

/// 2-D average pooling (`F.avg_pool2d(input, kernel_size, stride, padding)`,
/// the maths of [`nn::AvgPool2d`](crate::nn::AvgPool2d); PyTorch's defaults
/// `count_include_pad=True`, `ceil_mode=False`): each output element is the
/// sum of its `kernel` window over the input zero-padded by `padding` on
/// each side, divided by `kernel.0 · kernel.1` (padding included). PyTorch's
/// default stride is the kernel size. The gradient spreads each output's
/// gradient evenly over its window.
///
/// Shapes and errors as [`max_pool2d`] (naming `avg_pool2d`).
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[1, 2, 2])?.requires_grad();
/// let y = F::avg_pool2d(&x, (2, 2), (2, 2), (0, 0))?;
/// assert_eq!(y.to_vec::<f64>()?, vec![2.5]);
/// y.sum_all().backward()?;
/// assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![0.25; 4]);
/// // with padding 1, the zeros count: the corner window holds only x[0, 0]
/// let p = F::avg_pool2d(&x, (2, 2), (1, 1), (1, 1))?;
/// assert_eq!(p.to_vec::<f64>()?[0], 0.25);
/// assert!(F::avg_pool2d(&x, (3, 3), (1, 1), (0, 0)).is_err());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn avg_pool2d(
    input: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    const OP: &str = "avg_pool2d";
    let d = Geom::new(OP, input, kernel, stride, padding)?;
    let storage = float_op!(OP, "input", input, |xs| {
        let div = T::from_f64((d.kh * d.kw) as f64);
        let mut out = Vec::with_capacity(d.planes * d.oh * d.ow);
        for p in 0..d.planes {
            let xp = &xs[p * d.h * d.w..(p + 1) * d.h * d.w];
            for i in 0..d.oh {
                for j in 0..d.ow {
                    let (rows, cols) = d.window(i, j);
                    let mut sum = T::zero();
                    for r in rows {
                        for c in cols.clone() {
                            sum += xp[r * d.w + c];
                        }
                    }
                    out.push(sum / div);
                }
            }
        }
        T::wrap(out)
    });
    Ok(Tensor::from_op(storage, &d.out_shape(input.shape()), AvgPool2dBackward { geom: d }, &[input]))
}
