//! 2-D convolution: `F.conv2d`, by im2col and GEMM, with stride, padding,
//! dilation and groups.

use crate::autograd::{Backward, composite_backward};
use crate::cpu::alloc::{give_back, scratch, zeros};
use crate::cpu::par::{for_each_claimed, map_claimed};
use crate::tensor::ops::float_op2;
use crate::tensor::ops::matmul::Gemm;
use crate::tensor::{Float, Storage, Tensor};
use crate::{Error, Result};
use std::sync::{Arc, Mutex};

mod direct;

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

    /// True when the convolution is big enough to split over threads.
    fn parallel(&self) -> bool {
        self.n > 1 && self.n * self.o * self.l() * self.k() >= 1 << 20
    }

    /// Samples per chunk, so that a group's column matrix (`k × samples·l`)
    /// stays within [`MAX_COLS`] elements.
    fn chunk(&self) -> usize {
        (MAX_COLS / (self.k() * self.l()).max(1)).clamp(1, self.n.max(1))
    }

    /// Fills row `r = (c, i, j)` of group `g`'s column matrix for samples
    /// `n0..n0 + ns`, side by side (`row` holds `ns · l` entries).
    fn im2col_row<T: Gemm>(&self, x: &[T], g: usize, r: usize, n0: usize, row: &mut [T]) {
        let (c, i, j) = (r / (self.kh * self.kw), r / self.kw % self.kh, r % self.kw);
        let (sh, dh, ph) = (self.stride.0, self.dilation.0, self.padding.0);
        let (sw, dw, pw) = (self.stride.1, self.dilation.1, self.padding.1);
        let (lo, hi) = self.valid_cols(j);
        for (s, block) in row.chunks_exact_mut(self.l().max(1)).enumerate() {
            let plane = ((n0 + s) * self.c + g * self.cg() + c) * self.h * self.w;
            for (oh, seg) in block.chunks_exact_mut(self.wo.max(1)).enumerate() {
                let y = (oh * sh + i * dh) as isize - ph as isize;
                if y < 0 || y as usize >= self.h || lo >= hi {
                    seg.fill(T::zero());
                    continue;
                }
                let src = plane + y as usize * self.w + lo * sw + j * dw - pw;
                seg[..lo].fill(T::zero());
                seg[hi..].fill(T::zero());
                if sw == 1 {
                    seg[lo..hi].copy_from_slice(&x[src..src + (hi - lo)]);
                } else {
                    for (k, d) in seg[lo..hi].iter_mut().enumerate() {
                        *d = x[src + k * sw];
                    }
                }
            }
        }
    }

    /// Group `g`'s column matrix (`k × ns·l`) for samples `n0..n0 + ns`.
    fn im2col<T: Gemm>(&self, x: &[T], g: usize, n0: usize, ns: usize, cols: &mut [T]) {
        let nl = ns * self.l();
        if nl == 0 {
            return;
        }
        let fill = |(r, row): (usize, &mut [T])| self.im2col_row(x, g, r, n0, row);
        if cols.len() >= 1 << 16 {
            for_each_claimed(cols.chunks_mut(nl).enumerate().collect(), fill);
        } else {
            cols.chunks_mut(nl).enumerate().for_each(fill);
        }
    }

    /// Adds sample `s` of a column-shaped gradient `dcols` (`k × ns·l`, group `g`)
    /// onto that sample's input gradient `dx` (`C × H × W`): col2im.
    fn col2im<T: Gemm>(&self, dcols: &[T], g: usize, s: usize, ns: usize, dx: &mut [T]) {
        let l = self.l();
        let (sh, dh, ph) = (self.stride.0, self.dilation.0, self.padding.0);
        let (sw, dw, pw) = (self.stride.1, self.dilation.1, self.padding.1);
        for r in 0..self.k() {
            let (c, i, j) = (r / (self.kh * self.kw), r / self.kw % self.kh, r % self.kw);
            let (lo, hi) = self.valid_cols(j);
            let block = &dcols[r * ns * l + s * l..r * ns * l + (s + 1) * l];
            let plane = (g * self.cg() + c) * self.h * self.w;
            for (oh, seg) in block.chunks_exact(self.wo.max(1)).enumerate() {
                let y = (oh * sh + i * dh) as isize - ph as isize;
                if y < 0 || y as usize >= self.h || lo >= hi {
                    continue;
                }
                let dst = plane + y as usize * self.w + lo * sw + j * dw - pw;
                if sw == 1 {
                    for (d, &v) in dx[dst..dst + (hi - lo)].iter_mut().zip(&seg[lo..hi]) {
                        *d += v;
                    }
                } else {
                    for (k, &v) in seg[lo..hi].iter().enumerate() {
                        dx[dst + k * sw] += v;
                    }
                }
            }
        }
    }

    /// The forward of a large convolution, one sample per parallel part: the
    /// sample's column matrix stays in cache, and each group's product is
    /// written straight into the output (`og × l` rows of stride `l`).
    fn forward_per_sample<T: Gemm>(&self, xs: &[T], ws: &[T], bs: Option<&[T]>, out: &mut [T]) {
        let (og, k, l) = (self.og(), self.k(), self.l());
        for_each_claimed(out.chunks_mut((self.o * l).max(1)).enumerate().collect(), |(s, out_s)| {
            let mut own = scratch::<T>(k * l);
            for g in 0..self.groups {
                self.im2col(xs, g, s, 1, &mut own);
                let dst = &mut out_s[g * og * l..(g + 1) * og * l];
                T::gemm(og, k, l, &ws[g * og * k..(g + 1) * og * k], (k, 1), &own, (l, 1), dst, T::zero());
            }
            if let Some(b) = bs {
                for (row, &bv) in out_s.chunks_exact_mut(l.max(1)).zip(b) {
                    row.iter_mut().for_each(|v| *v += bv);
                }
            }
            give_back(own);
        });
    }

    /// The backward of a large convolution, one sample per parallel part:
    /// the sample's output gradient is read in place (rows of stride `l`), its
    /// column matrix rebuilt in cache for `dW`, and `dcols = Wᵀ·G` folded back
    /// into its own slice of `dx`. The per-sample `dW` and `db` terms are summed
    /// in sample order, so the result does not depend on the thread count.
    fn backward_per_sample<T: Gemm>(
        &self,
        xs: &[T],
        ws: &[T],
        g: &[T],
        need_x: bool,
        need_w: bool,
        need_b: bool,
    ) -> Grads<T> {
        let (og, k, l) = (self.og(), self.k(), self.l());
        let sample = self.c * self.h * self.w;
        // every element of dx is written: each part zeroes its own sample first
        let mut gx = scratch::<T>(if need_x { self.n * sample } else { 0 });
        let run = |s: usize, dx: Option<&mut [T]>| -> (Vec<T>, Vec<T>) {
            let g_s = &g[s * self.o * l..(s + 1) * self.o * l];
            let mut gw = scratch::<T>(if need_w { self.o * k } else { 0 });
            let mut cols = scratch::<T>(k * l);
            let mut dx = dx;
            if let Some(dx) = dx.as_deref_mut() {
                dx.fill(T::zero());
            }
            for gr in 0..self.groups {
                let g_g = &g_s[gr * og * l..(gr + 1) * og * l];
                if need_w {
                    // dW_g += G_g · colsᵀ : (og × l)·(l × k)
                    self.im2col(xs, gr, s, 1, &mut cols);
                    let dst = &mut gw[gr * og * k..(gr + 1) * og * k];
                    T::gemm(og, l, k, g_g, (l, 1), &cols, (1, l), dst, T::zero());
                }
                if let Some(dx) = dx.as_deref_mut() {
                    // dcols = W_gᵀ · G_g : (k × og)·(og × l), then col2im
                    let w_g = &ws[gr * og * k..(gr + 1) * og * k];
                    T::gemm(k, og, l, w_g, (1, k), g_g, (l, 1), &mut cols, T::zero());
                    self.col2im(&cols, gr, 0, 1, dx);
                }
            }
            let gb = if need_b {
                g_s.chunks_exact(l.max(1)).map(crate::cpu::sum::pairwise_sum).collect()
            } else {
                Vec::new()
            };
            give_back(cols);
            (gw, gb)
        };
        let partials = self.per_sample(&mut gx, true, run);
        let (gw, gb) = self.sum_partials(&partials, need_w, need_b);
        (need_x.then_some(gx), gw, gb)
    }

    /// `run(s, dx_s)` for every sample `s`, in parallel when `parallel`, with
    /// `dx_s` the sample's slice of `gx` (`None` when `gx` is empty: dx is not
    /// wanted, or there are no input channels, where every sample still has its
    /// `db` term); the results in sample order.
    fn per_sample<T: Send, R: Send>(
        &self,
        gx: &mut [T],
        parallel: bool,
        run: impl Fn(usize, Option<&mut [T]>) -> R + Sync,
    ) -> Vec<R> {
        let sample = self.c * self.h * self.w;
        match (!gx.is_empty(), parallel) {
            (true, true) => map_claimed(gx.chunks_mut(sample).enumerate().collect(), |(s, dx)| run(s, Some(dx))),
            (false, true) => map_claimed((0..self.n).collect(), |s| run(s, None)),
            (true, false) => gx.chunks_mut(sample).enumerate().map(|(s, dx)| run(s, Some(dx))).collect(),
            (false, false) => (0..self.n).map(|s| run(s, None)).collect(),
        }
    }

    /// The per-sample `(dW, db)` terms of a per-sample backward, summed in
    /// sample order (so the result does not depend on the thread count).
    fn sum_partials<T: Float>(
        &self,
        partials: &[(Vec<T>, Vec<T>)],
        need_w: bool,
        need_b: bool,
    ) -> (Option<Vec<T>>, Option<Vec<T>>) {
        let sum = |need: bool, len: usize, first: bool| {
            need.then(|| {
                let mut acc = zeros::<T>(len);
                for (w, b) in partials {
                    let part = if first { w } else { b };
                    acc.iter_mut().zip(part).for_each(|(a, &v)| *a += v);
                }
                acc
            })
        };
        (sum(need_w, self.o * self.k(), true), sum(need_b, self.o, false))
    }

    /// Group `g`'s output gradient for samples `n0..n0 + ns`, as an `og × ns·l` matrix.
    fn grad_matrix<T: Gemm>(&self, grad: &[T], g: usize, n0: usize, ns: usize) -> Vec<T> {
        let (og, l) = (self.og(), self.l());
        let mut m = scratch::<T>(og * ns * l);
        for o in 0..og {
            for s in 0..ns {
                let src = ((n0 + s) * self.o + g * og + o) * l;
                m[o * ns * l + s * l..o * ns * l + (s + 1) * l].copy_from_slice(&grad[src..src + l]);
            }
        }
        m
    }
}

/// The gradients of a convolution's input, weight and bias, where asked for.
type Grads<T> = (Option<Vec<T>>, Option<Vec<T>>, Option<Vec<T>>);

/// [`Grads`] as the backward returns them, one per input (`input, weight[, bias]`).
fn grad_tensors<T: Float>(inputs: &[Tensor], (gx, gw, gb): Grads<T>) -> Vec<Option<Tensor>> {
    let wrap = |v: Option<Vec<T>>, t: &Tensor| v.map(|v| Tensor::from_storage(T::wrap(v), t.shape()));
    vec![wrap(gx, &inputs[0]), wrap(gw, &inputs[1]), inputs.get(2).and_then(|b| wrap(gb, b))]
}

/// Largest column matrix built at once (elements).
const MAX_COLS: usize = 1 << 24;

struct Conv2dBackward {
    geo: Geometry,
    /// the forward's column matrices (all groups, one chunk), if they were kept
    cols: Mutex<Option<Storage>>,
}

impl Backward for Conv2dBackward {
    fn name(&self) -> &'static str {
        "ConvolutionBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let geo = self.geo;
        let (og, k, l) = (geo.og(), geo.k(), geo.l());
        let kept = self.cols.lock().unwrap_or_else(|e| e.into_inner()).take();
        let need_b = inputs.get(2).is_some_and(|b| b.tracks_grad());
        if geo.direct(x.dtype()) {
            let (xs, ws) = (x.data::<f32>("conv2d", "input")?, w.data::<f32>("conv2d", "weight")?);
            let g = grad.data::<f32>("conv2d", "grad")?;
            return Ok(grad_tensors(
                inputs,
                geo.backward_direct(&xs, &ws, &g, x.tracks_grad(), w.tracks_grad(), need_b),
            ));
        }
        let (gx, gw, gb) = float_op2!("conv2d", x, w, "weight", |xs, ws| {
            let g = grad.data::<T>("conv2d", "grad")?;
            let g: &[T] = &g;
            if geo.parallel() {
                let grads = geo.backward_per_sample(xs, ws, g, x.tracks_grad(), w.tracks_grad(), need_b);
                return Ok(grad_tensors(inputs, grads));
            }
            // small convolutions: batched products over chunks of samples
            let kept: Option<Vec<T>> = kept.and_then(|mut s| T::take_vec(&mut s));
            let mut gw = zeros::<T>(if w.tracks_grad() { ws.len() } else { 0 });
            let mut gx = zeros::<T>(if x.tracks_grad() { xs.len() } else { 0 });
            let sample = geo.c * geo.h * geo.w;
            let chunk = geo.chunk();
            let mut cols = Vec::new();
            let mut acc = Vec::new();
            for n0 in (0..geo.n).step_by(chunk) {
                let ns = chunk.min(geo.n - n0);
                let nl = ns * l;
                for gr in 0..geo.groups {
                    let gm = geo.grad_matrix(g, gr, n0, ns);
                    if !gw.is_empty() {
                        // dW_g += G_g · colsᵀ : (og × ns·l)·(ns·l × k)
                        let c: &[T] = match &kept {
                            Some(all) => &all[gr * k * nl..(gr + 1) * k * nl],
                            None => {
                                cols.resize(k * nl, T::zero());
                                geo.im2col(xs, gr, n0, ns, &mut cols);
                                &cols
                            }
                        };
                        acc.resize(og * k, T::zero());
                        T::gemm(og, nl, k, &gm, (nl, 1), c, (1, nl), &mut acc, T::zero());
                        let dst = &mut gw[gr * og * k..(gr + 1) * og * k];
                        dst.iter_mut().zip(&acc).for_each(|(d, &v)| *d += v);
                    }
                    if !gx.is_empty() {
                        // dcols = W_gᵀ · G_g : (k × og)·(og × ns·l), then col2im per sample
                        let w_g = &ws[gr * og * k..(gr + 1) * og * k];
                        cols.resize(k * nl, T::zero());
                        T::gemm(k, og, nl, w_g, (1, k), &gm, (nl, 1), &mut cols, T::zero());
                        let dx = &mut gx[n0 * sample..(n0 + ns) * sample];
                        for (s, dxs) in dx.chunks_mut(sample.max(1)).enumerate() {
                            geo.col2im(&cols, gr, s, ns, dxs);
                        }
                    }
                }
            }
            let gb = inputs.get(2).filter(|b| b.tracks_grad()).map(|b| {
                let mut out = zeros::<T>(geo.o);
                for n in 0..geo.n {
                    for (oc, acc) in out.iter_mut().enumerate() {
                        *acc += crate::cpu::sum::pairwise_sum(&g[(n * geo.o + oc) * l..(n * geo.o + oc + 1) * l]);
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
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let shape = grad.shape().to_vec();
        composite_backward(inputs, grad, needs, |xs| self.geo.recorded(xs)?.reshape_internal(&shape))
    }
}

impl Geometry {
    /// The convolution from recorded ops (its double backward): the input
    /// zero-padded by a scatter, its columns read by a gather (im2col), one
    /// batched product with the weight per group, and the bias added.
    /// Returns `(N, O, Ho, Wo)`.
    fn recorded(&self, xs: &[Tensor]) -> Result<Tensor> {
        let (x, w) = (&xs[0], &xs[1]);
        let (ph, pw) = self.padding;
        let (hp, wp) = (self.h + 2 * ph, self.w + 2 * pw);
        let xp = if ph == 0 && pw == 0 {
            x.clone()
        } else {
            let mut at = Vec::with_capacity(x.numel());
            for nc in 0..self.n * self.c {
                for i in 0..self.h {
                    at.extend((0..self.w).map(|j| (nc * hp + i + ph) * wp + j + pw));
                }
            }
            x.scatter_offsets(Arc::new(at), &[self.n, self.c, hp, wp], "conv2d")?
        };
        let (cg, og, k, l) = (self.cg(), self.og(), self.k(), self.l());
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        let mut at = Vec::with_capacity(self.n * self.groups * k * l);
        for n in 0..self.n {
            for g in 0..self.groups {
                for c in 0..cg {
                    let plane = (n * self.c + g * cg + c) * hp * wp;
                    for i in 0..self.kh {
                        for j in 0..self.kw {
                            for oh in 0..self.ho {
                                let row = plane + (oh * sh + i * dh) * wp;
                                at.extend((0..self.wo).map(|ow| row + ow * sw + j * dw));
                            }
                        }
                    }
                }
            }
        }
        let cols = xp.take_offsets(Arc::new(at), &[self.n, self.groups, k, l])?;
        let wg = w.reshape_internal(&[self.groups, og, k])?;
        let out = wg.matmul(&cols)?.reshape_internal(&[self.n, self.o, self.ho, self.wo])?;
        match xs.get(2) {
            Some(b) => out.add(&b.reshape_internal(&[self.o, 1, 1])?),
            None => Ok(out),
        }
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
    let chunk = geo.chunk();
    // keep the column matrices for the backward's dW when they come in one chunk
    let batched = !geo.parallel();
    let keep = batched && crate::autograd::is_grad_enabled() && weight.tracks_grad() && chunk >= geo.n;
    let (storage, kept) = if geo.direct(input.dtype()) {
        let (xs, ws) = (input.data::<f32>(OP, "input")?, weight.data::<f32>(OP, "weight")?);
        let bs = bias.map(|b| b.data::<f32>(OP, "bias")).transpose()?;
        let mut out = scratch::<f32>(geo.n * geo.o * l);
        geo.forward_direct(&xs, &ws, bs.as_deref(), &mut out);
        (Storage::F32(out), None)
    } else {
        float_op2!(OP, input, weight, "weight", |xs, ws| {
            let bs = bias.map(|b| b.data::<T>(OP, "bias")).transpose()?;
            let bs = bs.as_deref();
            // every element is written below
            let mut out = scratch::<T>(geo.n * geo.o * l);
            if !batched {
                geo.forward_per_sample(xs, ws, bs, &mut out);
                (T::wrap(out), None)
            } else {
                // small convolutions: one batched column matrix per chunk of samples,
                // (og × k)·(k × ns·l), then each sample's block into place
                let mut all = scratch::<T>(if keep { geo.groups * k * geo.n * l } else { 0 });
                let mut cols = Vec::new();
                let mut tmp = Vec::new();
                for n0 in (0..geo.n).step_by(chunk) {
                    let ns = chunk.min(geo.n - n0);
                    let nl = ns * l;
                    for g in 0..geo.groups {
                        let c: &mut [T] = if keep {
                            &mut all[g * k * nl..(g + 1) * k * nl]
                        } else {
                            cols.resize(k * nl, T::zero());
                            &mut cols
                        };
                        geo.im2col(xs, g, n0, ns, c);
                        tmp.resize(og * nl, T::zero());
                        T::gemm(og, k, nl, &ws[g * og * k..(g + 1) * og * k], (k, 1), c, (nl, 1), &mut tmp, T::zero());
                        for o in 0..og {
                            let bv = bs.map_or(T::zero(), |b| b[g * og + o]);
                            for s in 0..ns {
                                let dst = ((n0 + s) * geo.o + g * og + o) * l;
                                let src = &tmp[o * nl + s * l..o * nl + (s + 1) * l];
                                for (d, &v) in out[dst..dst + l].iter_mut().zip(src) {
                                    *d = v + bv;
                                }
                            }
                        }
                    }
                }
                (T::wrap(out), keep.then(|| T::wrap(all)))
            }
        })
    };
    let shape = [geo.n, geo.o, geo.ho, geo.wo];
    let node = Conv2dBackward { geo, cols: Mutex::new(kept) };
    match bias {
        Some(b) => Ok(Tensor::from_op(storage, &shape, node, &[input, weight, b])),
        None => Ok(Tensor::from_op(storage, &shape, node, &[input, weight])),
    }
}
