//! 2-D convolution: `F.conv2d`, by im2col and GEMM, with stride, padding,
//! dilation and groups.

use crate::autograd::Backward;
use crate::tensor::Tensor;
use crate::tensor::alloc::{scratch, zeros};
use crate::tensor::ops::float_op2;
use crate::tensor::ops::matmul::Gemm;
use crate::{Error, Result};
use rayon::prelude::*;

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

    /// The output columns `ow` whose input column `ow·sw + j·dw − pw` lies inside
    /// the image, for kernel column `j`: `lo..hi`.
    fn valid_cols(&self, j: usize) -> (usize, usize) {
        let (sw, dw, pw) = (self.stride.1, self.dilation.1, self.padding.1);
        let off = j * dw; // x = ow·sw + off − pw
        let lo = if pw > off { (pw - off).div_ceil(sw) } else { 0 };
        let hi = if self.w + pw > off { ((self.w + pw - off - 1) / sw + 1).min(self.wo) } else { 0 };
        (lo.min(hi), hi)
    }

    /// Visits the im2col matrix of one sample and group row segment by row
    /// segment: `f(dst_range, src_start, stride, lo..hi)` where the segment's
    /// columns `lo..hi` read the input from `src_start` with `stride` (the rest
    /// of the segment is padding).
    #[inline]
    fn segments(&self, g: usize, mut f: impl FnMut(usize, Option<usize>, (usize, usize))) {
        let (sh, dh, ph) = (self.stride.0, self.dilation.0, self.padding.0);
        let (sw, dw, pw) = (self.stride.1, self.dilation.1, self.padding.1);
        let l = self.l();
        for c in 0..self.cg() {
            let plane = (g * self.cg() + c) * self.h * self.w;
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let (lo, hi) = self.valid_cols(j);
                    let row = ((c * self.kh + i) * self.kw + j) * l;
                    for oh in 0..self.ho {
                        let y = (oh * sh + i * dh) as isize - ph as isize;
                        let dst = row + oh * self.wo;
                        if y < 0 || y as usize >= self.h || lo >= hi {
                            f(dst, None, (0, 0));
                        } else {
                            // input column of output column `lo`
                            let x0 = lo * sw + j * dw - pw;
                            f(dst, Some(plane + y as usize * self.w + x0), (lo, hi));
                        }
                    }
                }
            }
        }
    }

    /// The im2col matrix (`k × l`) of one sample `x` (`C × H × W`) and group `g`.
    fn im2col<T: Gemm>(&self, x: &[T], g: usize, cols: &mut [T]) {
        let (wo, sw) = (self.wo, self.stride.1);
        self.segments(g, |dst, src, (lo, hi)| {
            let seg = &mut cols[dst..dst + wo];
            match src {
                None => seg.fill(T::zero()),
                Some(s0) => {
                    seg[..lo].fill(T::zero());
                    seg[hi..].fill(T::zero());
                    if sw == 1 {
                        seg[lo..hi].copy_from_slice(&x[s0..s0 + (hi - lo)]);
                    } else {
                        for (k, d) in seg[lo..hi].iter_mut().enumerate() {
                            *d = x[s0 + k * sw];
                        }
                    }
                }
            }
        });
    }

    /// Adds the im2col-shaped `dcols` back onto the input gradient `dx` of one sample (col2im).
    fn col2im<T: Gemm>(&self, dcols: &[T], g: usize, dx: &mut [T]) {
        let sw = self.stride.1;
        self.segments(g, |dst, src, (lo, hi)| {
            if let Some(s0) = src {
                for (k, &v) in dcols[dst + lo..dst + hi].iter().enumerate() {
                    dx[s0 + k * sw] += v;
                }
            }
        });
    }

    /// True when the convolution is big enough to split over threads.
    fn parallel(&self) -> bool {
        self.n > 1 && self.n * self.o * self.l() * self.k() >= 1 << 20
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
            let (sample, out_sample) = (geo.c * geo.h * geo.w, geo.o * l);
            // dW = Σ_n G_n · cols_nᵀ, per group: over fixed chunks of samples, each
            // summed on its own, then the chunks in order (deterministic at any
            // thread count)
            let gw = w.tracks_grad().then(|| {
                let chunk = if geo.parallel() { geo.n.div_ceil(8) } else { geo.n.max(1) };
                let starts: Vec<usize> = (0..geo.n).step_by(chunk).collect();
                let partial = |&s0: &usize| -> Vec<T> {
                    let mut acc = zeros::<T>(ws.len());
                    let mut cols = scratch::<T>(k * l);
                    for n in s0..(s0 + chunk).min(geo.n) {
                        for gr in 0..geo.groups {
                            geo.im2col(&xs[n * sample..(n + 1) * sample], gr, &mut cols);
                            let go = &g[n * out_sample + gr * og * l..n * out_sample + (gr + 1) * og * l];
                            let dst = &mut acc[gr * og * k..(gr + 1) * og * k];
                            T::gemm(og, l, k, go, (l, 1), &cols, (1, l), dst, T::one());
                        }
                    }
                    acc
                };
                let parts: Vec<Vec<T>> = if starts.len() > 1 {
                    starts.par_iter().map(partial).collect()
                } else {
                    starts.iter().map(partial).collect()
                };
                let sum = parts
                    .into_iter()
                    .reduce(|mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, &y)| *x += y);
                        a
                    })
                    .unwrap_or_else(|| zeros::<T>(ws.len()));
                Tensor::from_storage(T::wrap(sum), w.shape())
            });
            // dx_n = col2im(W_gᵀ · G_n,g), sample by sample (disjoint, so in parallel)
            let gx = x.tracks_grad().then(|| {
                let mut gx = zeros::<T>(xs.len());
                let per_sample = |(n, dx): (usize, &mut [T])| {
                    let mut dcols = scratch::<T>(k * l);
                    for gr in 0..geo.groups {
                        let go = &g[n * out_sample + gr * og * l..n * out_sample + (gr + 1) * og * l];
                        let wg = &ws[gr * og * k..(gr + 1) * og * k];
                        T::gemm(k, og, l, wg, (1, k), go, (l, 1), &mut dcols, T::zero());
                        geo.col2im(&dcols, gr, dx);
                    }
                };
                if geo.parallel() {
                    gx.par_chunks_mut(sample.max(1)).enumerate().for_each(per_sample);
                } else {
                    gx.chunks_mut(sample.max(1)).enumerate().for_each(per_sample);
                }
                Tensor::from_storage(T::wrap(gx), x.shape())
            });
            let gb = inputs.get(2).filter(|b| b.tracks_grad()).map(|b| {
                let mut out = zeros::<T>(geo.o);
                for n in 0..geo.n {
                    for (oc, acc) in out.iter_mut().enumerate() {
                        *acc += crate::tensor::shape::pairwise_sum(
                            &g[n * out_sample + oc * l..n * out_sample + (oc + 1) * l],
                        );
                    }
                }
                Tensor::from_storage(T::wrap(out), b.shape())
            });
            (gx, gw, gb)
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
        let bs = bias.map(|b| b.data::<T>(OP, "bias")).transpose()?;
        let bs = bs.as_deref();
        let (sample, out_sample) = (geo.c * geo.h * geo.w, geo.o * l);
        // every element is written: the GEMM overwrites (beta = 0)
        let mut out = scratch::<T>(geo.n * out_sample);
        let per_sample = |(n, out_n): (usize, &mut [T])| {
            let mut cols = scratch::<T>(k * l);
            for g in 0..geo.groups {
                geo.im2col(&xs[n * sample..(n + 1) * sample], g, &mut cols);
                let dst = &mut out_n[g * og * l..(g + 1) * og * l];
                T::gemm(og, k, l, &ws[g * og * k..(g + 1) * og * k], (k, 1), &cols, (l, 1), dst, T::zero());
            }
            if let Some(bs) = bs {
                for (plane, &bv) in out_n.chunks_exact_mut(l.max(1)).zip(bs) {
                    plane.iter_mut().for_each(|v| *v += bv);
                }
            }
        };
        if geo.parallel() {
            out.par_chunks_mut(out_sample.max(1)).enumerate().for_each(per_sample);
        } else {
            out.chunks_mut(out_sample.max(1)).enumerate().for_each(per_sample);
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
