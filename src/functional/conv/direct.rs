//! Stride-1 convolutions without a column matrix (f32, AVX-512).
//!
//! With stride and dilation 1, row `r = (c, i, j)` of a sample's im2col matrix,
//! restricted to output row `oh`, is the zero-padded input `xp` (`C × Hp × Wp`)
//! read from `off[r] + oh·Wp`, where `off[r] = c·Hp·Wp + i·Wp + j`. So
//!
//! - forward: `out[o, oh, :] = Σ_r w[o, r] · xp[off[r] + oh·Wp ..]`;
//! - weight gradient: `dW[o, r] = Σ_p dYw[o, p] · xp[off[r] + p]` over the
//!   positions `p = oh·Wp + ow` of the padded width (`dYw` is zero where
//!   `ow ≥ Wo`), computed as `dWᵀ = X·dYwᵀ` with the rows of `X` read in place;
//! - input gradient: the full correlation of the output gradient padded by the
//!   kernel size (`dyq`, `O × Hq × Wq`) with the flipped kernel,
//!   `dx[c, y, :] = Σ_{o,i,j} w[o, c, i, j] · dyq[o, y + ph + kh−1−i, pw + kw−1−j ..]`.
//!
//! Each is one product per sample ([`gemm_offsets`]; for `dW` with fewer than
//! [`DOTS_BELOW`] output channels, dot products of rows, [`gemm_dots_offsets`]),
//! the forward and `dx` over the padded width with the valid columns copied
//! out: nothing is gathered into a column matrix, scattered back (col2im) or
//! packed, and a sample's buffers stay in L2.

use super::{Geometry, Grads};
use crate::cpu::alloc::{give_back, scratch, zeros};
use crate::cpu::offset_gemm::{self, Out, Rows, gemm_dots_offsets, gemm_offsets};
use crate::cpu::par::for_each_claimed;
use crate::cpu::sum::pairwise_sum;
use crate::tensor::DType;

/// Output channels below which the weight gradient is taken as dot products
/// ([`gemm_dots_offsets`]) rather than as `X·dYwᵀ`, whose 16-lane column tiles
/// would be mostly empty.
const DOTS_BELOW: usize = 16;

impl Geometry {
    /// Whether this convolution, on data of `dtype`, takes the direct path.
    pub(super) fn direct(&self, dtype: DType) -> bool {
        dtype == DType::F32
            && self.stride == (1, 1)
            && self.dilation == (1, 1)
            && self.groups == 1
            && offset_gemm::fast()
    }

    /// Padded input size `(Hp, Wp)`.
    fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.padding.0, self.w + 2 * self.padding.1)
    }

    /// `xp`: sample `x` (`C × H × W`) with `padding` zeros around each plane.
    fn pad_sample(&self, x: &[f32], xp: &mut [f32]) {
        let (hp, wp) = self.padded();
        let (ph, pw) = self.padding;
        if self.h * self.w == 0 {
            xp.fill(0.0); // an empty image: all padding
            return;
        }
        for (plane, dst) in x.chunks_exact(self.h * self.w).zip(xp.chunks_exact_mut(hp * wp)) {
            dst[..ph * wp].fill(0.0);
            dst[(ph + self.h) * wp..].fill(0.0);
            for (src, row) in plane.chunks_exact(self.w).zip(dst[ph * wp..].chunks_exact_mut(wp)) {
                row[..pw].fill(0.0);
                row[pw..pw + self.w].copy_from_slice(src);
                row[pw + self.w..].fill(0.0);
            }
        }
    }

    /// Sample `x` with its padding: `x` itself when there is none, else `buf`
    /// made and filled by [`Self::pad_sample`].
    fn padded_sample<'a>(&self, x: &'a [f32], buf: &'a mut Vec<f32>) -> &'a [f32] {
        if self.padding == (0, 0) {
            return x;
        }
        let (hp, wp) = self.padded();
        *buf = scratch::<f32>(self.c * hp * wp);
        self.pad_sample(x, buf);
        buf
    }

    /// `off[r]` for the rows `r = (c, i, j)` of the column matrix, in the
    /// weight's order.
    fn input_offsets(&self) -> Vec<usize> {
        let (hp, wp) = self.padded();
        let mut off = Vec::with_capacity(self.k());
        for c in 0..self.c {
            for i in 0..self.kh {
                for j in 0..self.kw {
                    off.push(c * hp * wp + i * wp + j);
                }
            }
        }
        off
    }

    /// The forward, one sample per part (parallel when large); `out` is `N × O × Ho × Wo`.
    pub(super) fn forward_direct(&self, xs: &[f32], ws: &[f32], bs: Option<&[f32]>, out: &mut [f32]) {
        let wp = self.padded().1;
        let (k, l) = (self.k(), self.l());
        let off = self.input_offsets();
        let w_rows: Vec<usize> = (0..self.o).map(|o| o * k).collect();
        let sample = self.c * self.h * self.w;
        let run = |(s, out_s): (usize, &mut [f32])| {
            let mut buf = Vec::new();
            let xp = self.padded_sample(&xs[s * sample..(s + 1) * sample], &mut buf);
            let (a, b) = (Rows { data: ws, offsets: &w_rows }, Rows { data: xp, offsets: &off });
            rows_product(a, b, (self.ho, self.wo, wp), bs, out_s);
            give_back(buf);
        };
        // small convolutions on the calling thread (no pool round trip)
        if self.parallel() {
            for_each_claimed(out.chunks_mut((self.o * l).max(1)).enumerate().collect(), run);
        } else {
            out.chunks_mut((self.o * l).max(1)).enumerate().for_each(run);
        }
    }

    /// The backward, one sample per part (parallel when large), as `backward_per_sample`
    /// (per-sample `dW` and `db` terms summed in sample order).
    pub(super) fn backward_direct(
        &self,
        xs: &[f32],
        ws: &[f32],
        g: &[f32],
        need_x: bool,
        need_w: bool,
        need_b: bool,
    ) -> Grads<f32> {
        let (l, o) = (self.l(), self.o);
        let sample = self.c * self.h * self.w;
        let off = self.input_offsets();
        let flipped = if need_x { self.flipped_kernel(ws) } else { Default::default() };
        let mut gx = scratch::<f32>(if need_x { self.n * sample } else { 0 });
        let run = |s: usize, dx: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
            let g_s = &g[s * o * l..(s + 1) * o * l];
            let gw = if need_w {
                let mut buf = Vec::new();
                let xp = self.padded_sample(&xs[s * sample..(s + 1) * sample], &mut buf);
                let gw = self.sample_weight_grad(xp, &off, g_s);
                give_back(buf);
                gw
            } else {
                Vec::new()
            };
            if let Some(dx) = dx {
                self.sample_input_grad(&flipped, g_s, dx);
            }
            let gb = if need_b { g_s.chunks_exact(l.max(1)).map(pairwise_sum).collect() } else { Vec::new() };
            (gw, gb)
        };
        let partials = self.per_sample(&mut gx, self.parallel(), run);
        let (gw, gb) = self.sum_partials(&partials, need_w, need_b);
        (need_x.then_some(gx), gw, gb)
    }

    /// One sample's `dW` (`O × K`) from its padded input `xp` (rows at `off`)
    /// and output gradient `g_s`: a product over the positions of the padded
    /// width up to the last valid one (so that every row of X stays inside
    /// `xp`), the output gradient zero in the padded columns.
    fn sample_weight_grad(&self, xp: &[f32], off: &[usize], g_s: &[f32]) -> Vec<f32> {
        let (k, l, o, wo, wp) = (self.k(), self.l(), self.o, self.wo, self.padded().1);
        let span = (self.ho - 1) * wp + wo;
        if o < DOTS_BELOW {
            // few output channels: dot products of dYw's rows (O × positions)
            // with the rows of X, straight into dW
            let mut dyw = scratch::<f32>(o * span);
            for (plane, dst) in g_s.chunks_exact(l).zip(dyw.chunks_exact_mut(span)) {
                for (src, seg) in plane.chunks_exact(wo).zip(dst.chunks_mut(wp)) {
                    seg[..wo].copy_from_slice(src);
                    seg[wo..].fill(0.0);
                }
            }
            let mut gw = scratch::<f32>(o * k);
            let dy_rows: Vec<usize> = (0..o).map(|oc| oc * span).collect();
            let (a, b) = (Rows { data: &dyw, offsets: &dy_rows }, Rows { data: xp, offsets: off });
            gemm_dots_offsets(a, b, span, Out { c: &mut gw, ldc: k, accumulate: false });
            give_back(dyw);
            return gw;
        }
        // dWᵀ = X·dYwᵀ; dYwᵀ (positions × O) written row by row (a scatter
        // along o would store with stride O)
        let mut dyt = scratch::<f32>(span * o);
        for (p, row) in dyt.chunks_exact_mut(o).enumerate() {
            let (oh, ow) = (p / wp, p % wp);
            if ow < wo {
                let at = oh * wo + ow;
                for (d, plane) in row.iter_mut().zip(g_s.chunks_exact(l)) {
                    *d = plane[at];
                }
            } else {
                row.fill(0.0);
            }
        }
        let mut gwt = scratch::<f32>(k * o);
        let pos_rows: Vec<usize> = (0..span).map(|p| p * o).collect();
        let (a, b) = (Rows { data: xp, offsets: off }, Rows { data: &dyt, offsets: &pos_rows });
        gemm_offsets(a, b, o, Out { c: &mut gwt, ldc: o, accumulate: false });
        let mut gw = vec![0.0f32; o * k];
        for (r, row) in gwt.chunks_exact(o).enumerate() {
            for (oc, &v) in row.iter().enumerate() {
                gw[oc * k + r] = v;
            }
        }
        give_back(gwt);
        give_back(dyt);
        gw
    }

    /// The flipped kernel for `dx`: `wt[c, (o, i, j)] = w[o, c, i, j]`, and the
    /// offsets in the kernel-padded output gradient (`O × Hq × Wq`) of the row
    /// each `(o, i, j)` reads, `o·Hq·Wq + (ph + kh−1−i)·Wq + (pw + kw−1−j)`.
    fn flipped_kernel(&self, ws: &[f32]) -> Flipped {
        let (o, c, kh, kw, (ph, pw)) = (self.o, self.c, self.kh, self.kw, self.padding);
        let (hq, wq) = self.grad_padded();
        let r = o * kh * kw;
        let mut wt = vec![0.0f32; c * r];
        let mut dy_off = Vec::with_capacity(r);
        for oc in 0..o {
            for ci in 0..c {
                for ij in 0..kh * kw {
                    wt[ci * r + oc * kh * kw + ij] = ws[(oc * c + ci) * kh * kw + ij];
                }
            }
            for i in 0..kh {
                for j in 0..kw {
                    dy_off.push(oc * hq * wq + (ph + kh - 1 - i) * wq + (pw + kw - 1 - j));
                }
            }
        }
        let rows = (0..c).map(|ci| ci * r).collect();
        Flipped { wt, rows, dy_off }
    }

    /// The output gradient's size padded by the kernel less one on each side.
    fn grad_padded(&self) -> (usize, usize) {
        (self.ho + 2 * (self.kh - 1), self.wo + 2 * (self.kw - 1))
    }

    /// One sample's `dx` (`C × H × W`, every element written): the full
    /// correlation of its kernel-padded output gradient with the flipped kernel.
    fn sample_input_grad(&self, f: &Flipped, g_s: &[f32], dx: &mut [f32]) {
        let (kh, kw, wo) = (self.kh, self.kw, self.wo);
        let (hq, wq) = self.grad_padded();
        let mut dyq = zeros::<f32>(self.o * hq * wq);
        for (plane, dst) in g_s.chunks_exact(self.l()).zip(dyq.chunks_exact_mut(hq * wq)) {
            for (src, row) in plane.chunks_exact(wo).zip(dst[(kh - 1) * wq..].chunks_exact_mut(wq)) {
                row[kw - 1..kw - 1 + wo].copy_from_slice(src);
            }
        }
        let (a, b) = (Rows { data: &f.wt, offsets: &f.rows }, Rows { data: &dyq, offsets: &f.dy_off });
        rows_product(a, b, (self.h, self.w, wq), None, dx);
        give_back(dyq);
    }
}

/// The flipped kernel of a convolution's `dx` ([`Geometry::flipped_kernel`]):
/// `wt` (`C × O·kh·kw`) with its row starts, and the offsets its columns read.
#[derive(Default)]
struct Flipped {
    wt: Vec<f32>,
    rows: Vec<usize>,
    dy_off: Vec<usize>,
}

/// `out[i, y, x] = Σ_p a[a_off[i] + p] · b[b_off[p] + y·stride + x] (+ bias[i])`
/// (`a_off`, `b_off` being the rows' offsets)
/// for `y < rows`, `x < width` (`out` is `m × rows·width`): one product over
/// the positions `y·stride + x` of the padded width (the columns `x ≥ width`
/// are computed and dropped), so that the kernel's tiles are wide even when
/// the image is narrow, then the valid columns are copied out.
fn rows_product(
    a: Rows<'_>,
    b: Rows<'_>,
    (rows, width, stride): (usize, usize, usize),
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    if rows == 0 || width == 0 {
        return;
    }
    let span = (rows - 1) * stride + width;
    let mut wide = scratch::<f32>(a.offsets.len() * span);
    gemm_offsets(a, b, span, Out { c: &mut wide, ldc: span, accumulate: false });
    for (i, (dst, src)) in out.chunks_exact_mut(rows * width).zip(wide.chunks_exact(span)).enumerate() {
        let bv = bias.map_or(0.0, |b| b[i]);
        for (d, s) in dst.chunks_exact_mut(width).zip(src.chunks(stride)) {
            d.iter_mut().zip(s).for_each(|(d, &s)| *d = s + bv);
        }
    }
    give_back(wide);
}
