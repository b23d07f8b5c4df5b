//! 2-D convolution: `F.conv2d`, by im2col and GEMM, with stride, padding,
//! dilation and groups.

use crate::autograd::Backward;
use crate::tensor::Tensor;
use crate::tensor::ops::float_op2;
use crate::tensor::ops::matmul::Gemm;
use crate::{Error, Result};

/// Options of [`conv2d`]; `Default` is PyTorch's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step of the kernel over (height, width) (default (1, 1)).
    pub stride: (usize, usize),
    /// Zeros added on each side of (height, width) (default (0, 0)).
    pub padding: (usize, usize),
    /// Spacing between kernel elements (default (1, 1)).
    pub dilation: (usize, usize),
    /// Number of channel groups; input and output channels must divide by it (default 1).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions { stride: (1, 1), padding: (0, 0), dilation: (1, 1), groups: 1 }
    }
}

/// Every size of one convolution, validated.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    groups: usize,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
}

impl Geometry {
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn og(&self) -> usize {
        self.o / self.groups
    }
    /// rows of the im2col matrix of one group
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// columns of the im2col matrix (output positions)
    fn l(&self) -> usize {
        self.ho * self.wo
    }

    /// Calls `f(col_index, input_offset)` for every in-bounds entry of the
    /// im2col matrix of sample `n`, group `g`.
    #[inline]
    fn for_each_col(&self, n: usize, g: usize, mut f: impl FnMut(usize, usize)) {
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let (dh, dw) = self.dilation;
        for c in 0..self.cg() {
            let plane = (n * self.c + g * self.cg() + c) * self.h * self.w;
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let row = ((c * self.kh + i) * self.kw + j) * self.l();
                    for oh in 0..self.ho {
                        let y = (oh * sh + i * dh) as isize - ph as isize;
                        if y < 0 || y as usize >= self.h {
                            continue;
                        }
                        for ow in 0..self.wo {
                            let x = (ow * sw + j * dw) as isize - pw as isize;
                            if x >= 0 && (x as usize) < self.w {
                                f(row + oh * self.wo + ow, plane + y as usize * self.w + x as usize);
                            }
                        }
                    }
                }
            }
        }
    }

    fn im2col<T: Gemm>(&self, x: &[T], n: usize, g: usize, cols: &mut [T]) {
        cols.iter_mut().for_each(|v| *v = T::zero());
        self.for_each_col(n, g, |ci, xi| cols[ci] = x[xi]);
    }
}

struct Conv2dBackward {
    geo: Geometry,
}

impl Backward for Conv2dBackward {
    fn name(&self) -> &'static str {
        "ConvolutionBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let geo = self.geo;
        let (og, k, l) = (geo.og(), geo.k(), geo.l());
        let (gx, gw, gb) = float_op2!("conv2d", x, w, "weight", |xs, ws| {
            let g = grad.data::<T>("conv2d", "grad")?;
            let g: &[T] = &g;
            let mut gx = crate::tensor::alloc::zeros::<T>(if x.tracks_grad() { xs.len() } else { 0 });
            let mut gw = crate::tensor::alloc::zeros::<T>(if w.tracks_grad() { ws.len() } else { 0 });
            let mut cols = crate::tensor::alloc::zeros::<T>(k * l);
            let mut dcols = crate::tensor::alloc::zeros::<T>(k * l);
            for n in 0..geo.n {
                for gr in 0..geo.groups {
                    let go = &g[(n * geo.o + gr * og) * l..(n * geo.o + (gr + 1) * og) * l];
                    let wg = &ws[gr * og * k..(gr + 1) * og * k];
                    if !gw.is_empty() {
                        // dW_g += G_g · colsᵀ : (og×l)·(l×k)
                        geo.im2col(xs, n, gr, &mut cols);
                        T::gemm(og, l, k, go, (l, 1), &cols, (1, l), &mut gw[gr * og * k..(gr + 1) * og * k], T::one());
                    }
                    if !gx.is_empty() {
                        // dcols = W_gᵀ · G_g : (k×og)·(og×l), then scattered back (col2im)
                        T::gemm(k, og, l, wg, (1, k), go, (l, 1), &mut dcols, T::zero());
                        geo.for_each_col(n, gr, |ci, xi| gx[xi] += dcols[ci]);
                    }
                }
            }
            let gb = inputs.get(2).filter(|b| b.tracks_grad()).map(|b| {
                let mut out = crate::tensor::alloc::zeros::<T>(geo.o);
                for n in 0..geo.n {
                    for (oc, acc) in out.iter_mut().enumerate() {
                        *acc += g[(n * geo.o + oc) * l..(n * geo.o + oc + 1) * l].iter().copied().sum::<T>();
                    }
                }
                Tensor::from_storage(T::wrap(out), b.shape())
            });
            (
                (!gx.is_empty()).then(|| Tensor::from_storage(T::wrap(gx), x.shape())),
                (!gw.is_empty()).then(|| Tensor::from_storage(T::wrap(gw), w.shape())),
                gb,
            )
        });
        Ok(vec![gx, gw, gb])
    }
}

fn geometry(input: &Tensor, weight: &Tensor, opts: &Conv2dOptions) -> Result<Geometry> {
    const OP: &str = "conv2d";
    let (is, ws) = (input.shape(), weight.shape());
    if is.len() != 4 {
        return Err(Error::shape(OP, format!("input has shape {is:?}; expected (N, C, H, W) or (C, H, W)")));
    }
    if ws.len() != 4 {
        return Err(Error::shape(
            OP,
            format!("weight has shape {ws:?}; expected (out_channels, in_channels / groups, kH, kW)"),
        ));
    }
    for (name, (a, b)) in [("stride", opts.stride), ("dilation", opts.dilation)] {
        if a == 0 || b == 0 {
            return Err(Error::value(OP, format!("{name} = ({a}, {b}) must be positive")));
        }
    }
    let groups = opts.groups;
    if groups == 0 || ws[0] % groups != 0 {
        return Err(Error::value(
            OP,
            format!("groups = {groups} must be positive and divide out_channels = {}", ws[0]),
        ));
    }
    if is[1] != ws[1] * groups {
        return Err(Error::shape(
            OP,
            format!(
                "weight of shape {ws:?} with groups = {groups} expects input with {} channels, but input of shape {is:?} has {}",
                ws[1] * groups,
                is[1]
            ),
        ));
    }
    let out = |size: usize, k: usize, s: usize, p: usize, d: usize| -> Option<usize> {
        let span = d * (k.max(1) - 1) + 1;
        (size + 2 * p >= span && k > 0).then(|| (size + 2 * p - span) / s + 1)
    };
    let ho = out(is[2], ws[2], opts.stride.0, opts.padding.0, opts.dilation.0);
    let wo = out(is[3], ws[3], opts.stride.1, opts.padding.1, opts.dilation.1);
    let (Some(ho), Some(wo)) = (ho, wo) else {
        return Err(Error::shape(
            OP,
            format!(
                "kernel {:?} (dilation {:?}) is larger than the padded input {:?} (padding {:?})",
                &ws[2..],
                opts.dilation,
                &is[2..],
                opts.padding
            ),
        ));
    };
    Ok(Geometry {
        n: is[0],
        c: is[1],
        h: is[2],
        w: is[3],
        o: ws[0],
        kh: ws[2],
        kw: ws[3],
        ho,
        wo,
        groups,
        stride: opts.stride,
        padding: opts.padding,
        dilation: opts.dilation,
    })
}

/// 2-D convolution (cross-correlation, as PyTorch) of `input` with `weight`
/// (`F.conv2d`, the maths of `nn.Conv2d`):
/// `out[n, o, y, x] = b[o] + Σ_{c, i, j} w[o, c, i, j] · in[n, g·C/G + c, y·s + i·d - p, x·s + j·d - p]`.
///
/// Shapes: input `(N, C, H, W)` or unbatched `(C, H, W)`; weight
/// `(O, C / groups, kH, kW)`; bias `(O,)`; output `(N, O, H_out, W_out)`
/// with `H_out = ⌊(H + 2p - d(kH - 1) - 1) / s⌋ + 1`.
///
/// ```
/// use tapegrad::{functional as F, DType, Tensor};
/// let x = Tensor::ones(&[1, 1, 4, 4], DType::F32);
/// let w = Tensor::ones(&[2, 1, 3, 3], DType::F32);
/// let y = F::conv2d(&x, &w, None, &F::Conv2dOptions::default())?;
/// assert_eq!(y.shape(), &[1, 2, 2, 2]);
/// assert_eq!(y.to_vec::<f32>()?[0], 9.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn conv2d(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>, opts: &Conv2dOptions) -> Result<Tensor> {
    const OP: &str = "conv2d";
    input.require_float(OP, "input")?;
    input.require_same_dtype(weight, OP, "weight")?;
    if input.ndim() == 3 {
        return conv2d(&input.unsqueeze(0)?, weight, bias, opts)?.squeeze(0);
    }
    let geo = geometry(input, weight, opts)?;
    if let Some(b) = bias {
        input.require_same_dtype(b, OP, "bias")?;
        if b.shape() != [geo.o] {
            return Err(Error::shape(OP, format!("bias has shape {:?}; expected ({},)", b.shape(), geo.o)));
        }
    }
    let (og, k, l) = (geo.og(), geo.k(), geo.l());
    let storage = float_op2!(OP, input, weight, "weight", |xs, ws| {
        let mut out = crate::tensor::alloc::zeros::<T>(geo.n * geo.o * l);
        let mut cols = crate::tensor::alloc::zeros::<T>(k * l);
        for n in 0..geo.n {
            for g in 0..geo.groups {
                geo.im2col(xs, n, g, &mut cols);
                let dst = &mut out[(n * geo.o + g * og) * l..(n * geo.o + (g + 1) * og) * l];
                T::gemm(og, k, l, &ws[g * og * k..(g + 1) * og * k], (k, 1), &cols, (l, 1), dst, T::zero());
            }
        }
        if let Some(b) = bias {
            let bs = b.data::<T>(OP, "bias")?;
            let bs: &[T] = &bs;
            for (plane, &bv) in out.chunks_exact_mut(l.max(1)).zip(bs.iter().cycle()) {
                plane.iter_mut().for_each(|v| *v += bv);
            }
        }
        T::wrap(out)
    });
    let shape = [geo.n, geo.o, geo.ho, geo.wo];
    let node = Conv2dBackward { geo };
    match bias {
        Some(b) => Ok(Tensor::from_op(storage, &shape, node, &[input, weight, b])),
        None => Ok(Tensor::from_op(storage, &shape, node, &[input, weight])),
    }
}
