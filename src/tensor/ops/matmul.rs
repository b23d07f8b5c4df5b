//! Matrix multiplication on the `matrixmultiply` GEMM kernels (blocked,
//! SIMD, runtime feature detection): 2-D, batched with broadcast batch dims,
//! and PyTorch's 1-D promotions.

use crate::autograd::Backward;
use crate::cpu::small_gemm::{SMALL_M, gemm_dots, gemm_rows};
use crate::tensor::shape::{broadcast_shapes, broadcast_strides, contiguous_strides, for_each_offset2, numel};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Error, Result};

/// Products below this many multiply-adds run on one thread.
const PAR_GEMM_MIN: usize = 1 << 21;

/// The float types with a GEMM kernel.
pub(crate) trait Gemm: Float {
    /// `c = a·b + beta·c` for row/column strides given in elements, on the
    /// calling thread.
    #[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
    fn gemm_kernel(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: &mut [Self],
        beta: Self,
    );

    /// `c = a·b + beta·c` (`m × k` times `k × n` into row-major `m × n`). A
    /// large product called outside a parallel region is split by rows of `c`
    /// over the thread pool (each block is the same sequential kernel call on a
    /// row range, so the result does not depend on the thread count's timing).
    #[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: &mut [Self],
        beta: Self,
    ) {
        if m <= SMALL_M && k > 0 && n > 0 {
            if sb.1 == 1 {
                return gemm_rows(m, k, n, a, sa, b, sb.0, c, beta);
            }
            if sb.0 == 1 && sa.1 == 1 {
                return gemm_dots(m, k, n, a, sa.0, b, sb.1, c, beta);
            }
        }
        let threads = rayon::current_num_threads();
        if threads < 2 || m < 32 || m * k * n < PAR_GEMM_MIN || crate::cpu::par::in_section() {
            return Self::gemm_kernel(m, k, n, a, sa, b, sb, c, beta);
        }
        // row blocks: multiples of 16 rows (whole micro-kernel panels), at most one per thread
        let rows = m.div_ceil(threads).next_multiple_of(16);
        crate::cpu::par::for_each_claimed(c[..m * n].chunks_mut(rows * n).enumerate().collect(), |(i, block)| {
            let (r0, mr) = (i * rows, block.len() / n.max(1));
            Self::gemm_kernel(mr, k, n, &a[r0 * sa.0..], sa, b, sb, block, beta);
        });
    }

    /// [`gemm`](Gemm::gemm) for a short, wide product (a few rows times a
    /// large matrix, the logits of a chunk of rows against every class): split
    /// by blocks of columns of `c`, so that each thread packs only its part of
    /// `b`, where a split by rows would pack all of `b` on every thread. Each
    /// element is the same kernel's sum as in `gemm`, whatever the split.
    #[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
    fn gemm_wide(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: &mut [Self],
        beta: Self,
    ) {
        let threads = rayon::current_num_threads();
        let small = m * k * n < PAR_GEMM_MIN || crate::cpu::par::in_section();
        if threads < 2 || small || n < threads * WIDE_COLS || m <= SMALL_M {
            return Self::gemm(m, k, n, a, sa, b, sb, c, beta);
        }
        assert!(extent(m, k, sa) <= a.len() && extent(k, n, sb) <= b.len() && m * n <= c.len());
        let cols = n.div_ceil(threads).next_multiple_of(WIDE_COLS);
        let blocks: Vec<(usize, usize)> = (0..n).step_by(cols).map(|j0| (j0, cols.min(n - j0))).collect();
        let out = SendPtr(c.as_mut_ptr());
        crate::cpu::par::for_each_claimed(blocks, |(j0, nc)| {
            let out = &out;
            // SAFETY: the columns j0..j0 + nc of the m × n row-major `c` (checked
            // above to hold m·n elements) lie inside it; the blocks' column ranges
            // are disjoint, so no two threads write one element, and `c` is a
            // distinct &mut borrow that does not alias `a` or `b`.
            unsafe { Self::gemm_kernel_raw(m, k, nc, a, sa, &b[j0 * sb.1..], sb, out.0.add(j0), n, beta) };
        });
    }

    /// `c = a·b` (`beta = 0`) for a product whose inner dimension dwarfs the
    /// others (a chunk's logit gradient times the class weights): the inner
    /// dimension is cut in two halves, computed on two threads and added,
    /// always the same two halves (the result does not depend on the thread
    /// count), so that each thread packs half of `b`.
    #[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
    fn gemm_deep(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: &mut [Self],
    ) {
        if k < DEEP_K || k < 8 * m.max(n) || m <= SMALL_M || m * k * n < PAR_GEMM_MIN {
            return Self::gemm(m, k, n, a, sa, b, sb, c, Self::zero());
        }
        let h = k / 2;
        let mut other = crate::cpu::alloc::scratch::<Self>(m * n);
        let (a1, b1) = (&a[h * sa.1..], &b[h * sb.0..]);
        let first = |c: &mut [Self]| Self::gemm_kernel(m, h, n, a, sa, b, sb, c, Self::zero());
        let second = |o: &mut [Self]| Self::gemm_kernel(m, k - h, n, a1, sa, b1, sb, o, Self::zero());
        if crate::cpu::par::in_section() || rayon::current_num_threads() < 2 {
            first(c);
            second(&mut other);
        } else {
            crate::cpu::par::for_each_claimed(vec![(0, &mut *c), (1, &mut other[..])], |(i, out)| {
                if i == 0 { first(out) } else { second(out) }
            });
        }
        c[..m * n].iter_mut().zip(&other).for_each(|(x, &y)| *x += y);
        crate::cpu::alloc::give_back(other);
    }

    /// `c = a·b + beta·c` into the `m × n` block at `c` of a row-major matrix
    /// whose rows are `ldc` apart, on the calling thread.
    ///
    /// # Safety
    /// `c.add(i * ldc + j)` for `i < m`, `j < n` must be valid for reads and
    /// writes, written by no one else during the call, and not alias `a`/`b`.
    #[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
    unsafe fn gemm_kernel_raw(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        c: *mut Self,
        ldc: usize,
        beta: Self,
    );
}

/// Column block granularity of [`Gemm::gemm_wide`] (whole micro-kernel panels).
const WIDE_COLS: usize = 64;
/// Inner dimension from which [`Gemm::gemm_deep`] splits it.
const DEEP_K: usize = 4096;

/// A pointer handed to the threads of one parallel call (each writes its own elements).
struct SendPtr<T>(*mut T);
// SAFETY: the pointer is only used under the disjointness rules of its user.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above; the threads never write the same element.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// Largest offset touched by a `rows × cols` matrix with strides `s`, plus one.
fn extent(rows: usize, cols: usize, s: (usize, usize)) -> usize {
    if rows == 0 || cols == 0 { 0 } else { (rows - 1) * s.0 + (cols - 1) * s.1 + 1 }
}

macro_rules! impl_gemm {
    ($t:ty, $f:path) => {
        impl Gemm for $t {
            fn gemm_kernel(
                m: usize,
                k: usize,
                n: usize,
                a: &[$t],
                sa: (usize, usize),
                b: &[$t],
                sb: (usize, usize),
                c: &mut [$t],
                beta: $t,
            ) {
                // The bound on c is what makes the raw call sound; shapes were
                // validated by the caller, so it holds for every internal call.
                assert!(m * n <= c.len());
                // SAFETY: c holds the m×n row-major block (checked above), is a
                // distinct &mut borrow (no other writer, no alias of a or b).
                unsafe { Self::gemm_kernel_raw(m, k, n, a, sa, b, sb, c.as_mut_ptr(), n, beta) }
            }

            unsafe fn gemm_kernel_raw(
                m: usize,
                k: usize,
                n: usize,
                a: &[$t],
                sa: (usize, usize),
                b: &[$t],
                sb: (usize, usize),
                c: *mut $t,
                ldc: usize,
                beta: $t,
            ) {
                // The bounds on a and b are what make the kernel call sound.
                assert!(extent(m, k, sa) <= a.len() && extent(k, n, sb) <= b.len());
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    // as the kernel: with beta = 0, C is not read (it may hold anything)
                    for i in 0..m {
                        // SAFETY: row i of the block is valid and ours (the caller's contract)
                        let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n) };
                        if beta == 0.0 {
                            row.fill(0.0);
                        } else {
                            row.iter_mut().for_each(|v| *v *= beta);
                        }
                    }
                    return;
                }
                // SAFETY: a and b are valid for the extents checked above; the block
                // of c (row stride ldc, column stride 1) is valid, ours and not
                // aliased (the caller's contract).
                unsafe {
                    $f(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        sa.0 as isize,
                        sa.1 as isize,
                        b.as_ptr(),
                        sb.0 as isize,
                        sb.1 as isize,
                        beta,
                        c,
                        ldc as isize,
                        1,
                    );
                }
            }
        }
    };
}
impl_gemm!(f32, matrixmultiply::sgemm);
impl_gemm!(f64, matrixmultiply::dgemm);

/// Batched product `out[b] = op(A[b]) · op(B[b])` accumulated into `out` at the
/// offsets the batch strides give. `ta`/`tb` read A/B transposed.
#[allow(clippy::too_many_arguments)] // the GEMM kernels' scalars (see cpu::small_gemm)
fn batched<T: Gemm>(
    batch: &[usize],
    a: &[T],
    a_bstride: &[usize],
    b: &[T],
    b_bstride: &[usize],
    out: &mut [T],
    out_bstride: &[usize],
    (m, k, n): (usize, usize, usize),
    sa: (usize, usize),
    sb: (usize, usize),
    accumulate: bool,
) {
    let beta = if accumulate { T::one() } else { T::zero() };
    let co = contiguous_strides(batch);
    // iterate batch positions: offsets into a and b, plus the output offset
    let mut pairs = Vec::with_capacity(numel(batch));
    for_each_offset2(batch, a_bstride, b_bstride, |ia, ib| pairs.push((ia, ib)));
    let mut outs = Vec::with_capacity(pairs.len());
    for_each_offset2(batch, out_bstride, &co, |io, _| outs.push(io));
    for ((ia, ib), io) in pairs.into_iter().zip(outs) {
        T::gemm(m, k, n, &a[ia..], sa, &b[ib..], sb, &mut out[io..io + m * n], beta);
    }
}

struct MatmulBackward;

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "MmBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // inputs are at least 2-D here (1-D operands are promoted by reshapes around this op)
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ra, rb) = (a.ndim(), b.ndim());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let n = b.shape()[rb - 1];
        let batch: Shape = grad.shape()[..grad.ndim() - 2].into();
        let mat = |t: &Tensor| -> Shape {
            let mut s: Shape = t.shape()[..t.ndim() - 2].into();
            s.push(1);
            s
        };
        // batch strides (in elements) of each operand, broadcast to `batch`
        let bstride = |t: &Tensor, mn: usize| -> Shape {
            let bs = mat(t);
            let bs = &bs[..bs.len() - 1];
            broadcast_strides(bs, &batch).iter().map(|s| s * mn).collect()
        };
        let (sa_b, sb_b, sg_b) = (bstride(a, m * k), bstride(b, k * n), bstride(grad, m * n));
        let (ga, gb) = float_op2!("matmul", a, b, "other", |x, y| {
            let g = grad.data::<T>("matmul", "grad")?;
            let g: &[T] = &g;
            let ga = a.tracks_grad().then(|| {
                // dA = G · Bᵀ : (m×n)·(n×k), summed over broadcast batches
                let mut out = crate::cpu::alloc::zeros::<T>(x.len());
                batched(&batch, g, &sg_b, y, &sb_b, &mut out, &sa_b, (m, n, k), (n, 1), (1, n), true);
                Tensor::from_storage(T::wrap(out), a.shape())
            });
            let gb = b.tracks_grad().then(|| {
                // dB = Aᵀ · G : (k×m)·(m×n)
                let mut out = crate::cpu::alloc::zeros::<T>(y.len());
                batched(&batch, x, &sa_b, g, &sg_b, &mut out, &sb_b, (k, m, n), (1, k), (n, 1), true);
                Tensor::from_storage(T::wrap(out), b.shape())
            });
            (ga, gb)
        });
        Ok(vec![ga, gb])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        // dA = G·Bᵀ, dB = Aᵀ·G, summed over broadcast batch dims
        let ga = needs[0].then(|| grad.matmul(&b.transpose(-1, -2)?)?.sum_to(a.shape())).transpose()?;
        let gb = needs[1].then(|| a.transpose(-1, -2)?.matmul(grad)?.sum_to(b.shape())).transpose()?;
        Ok(vec![ga, gb])
    }
}

impl Tensor {
    /// Matrix product with PyTorch's rules (`torch.matmul`): 1-D·1-D is a dot
    /// product, 2-D·2-D a matrix product, and N-D operands are batches of
    /// matrices whose batch dims broadcast.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
    /// assert_eq!(a.matmul(&b)?.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        match (self.ndim(), other.ndim()) {
            (0, _) | (_, 0) => Err(Error::shape(
                "matmul",
                format!("both arguments need at least 1 dim, got shapes {:?} and {:?}", self.shape(), other.shape()),
            )),
            (1, 1) => self.unsqueeze(0)?.matmul_nd(&other.unsqueeze(1)?)?.reshape_internal(&[]),
            (1, _) => self.unsqueeze(0)?.matmul_nd(other)?.squeeze(-2),
            (_, 1) => self.matmul_nd(&other.unsqueeze(1)?)?.squeeze(-1),
            _ => self.matmul_nd(other),
        }
    }

    fn matmul_nd(&self, other: &Tensor) -> Result<Tensor> {
        let (ra, rb) = (self.ndim(), other.ndim());
        let (m, k) = (self.shape()[ra - 2], self.shape()[ra - 1]);
        let (k2, n) = (other.shape()[rb - 2], other.shape()[rb - 1]);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "shapes {:?} and {:?} cannot be multiplied ({m}x{k} and {k2}x{n}): inner sizes {k} and {k2} differ",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        let ba = &self.shape()[..ra - 2];
        let bb = &other.shape()[..rb - 2];
        let batch = broadcast_shapes("matmul", ba, bb)?;
        let mut shape = batch.clone();
        shape.extend_from_slice(&[m, n]);
        let sa: Shape = broadcast_strides(ba, &batch).iter().map(|s| s * m * k).collect();
        let sb: Shape = broadcast_strides(bb, &batch).iter().map(|s| s * k * n).collect();
        let so: Shape = contiguous_strides(&batch).iter().map(|s| s * m * n).collect();
        let storage = float_op2!("matmul", self, other, "other", |x, y| {
            let mut out = crate::cpu::alloc::zeros::<T>(numel(&shape));
            batched(&batch, x, &sa, y, &sb, &mut out, &so, (m, k, n), (k, 1), (n, 1), false);
            T::wrap(out)
        });
        Ok(Tensor::from_op(storage, &shape, MatmulBackward, &[self, other]))
    }
}

#[cfg(test)]
mod tests {
    use super::Gemm;

    /// The column split gives each element the same bits as the row split,
    /// for both betas, with a last block narrower than the others.
    #[test]
    fn gemm_wide_matches_gemm() {
        let (m, k, n) = (40, 70, 1000 + 17);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 97) as f32 / 48.0 - 1.0).collect();
        let c0: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32).collect();
        for beta in [0.0, 1.0] {
            // b read transposed too (strides (1, k)), as the chunks' logits read W
            for (sb, bt) in [((n, 1), false), ((1, k), true)] {
                let b = if bt { (0..n * k).map(|i| b[(i % k) * n + i / k]).collect() } else { b.clone() };
                let (mut want, mut got) = (c0.clone(), c0.clone());
                f32::gemm(m, k, n, &a, (k, 1), &b, sb, &mut want, beta);
                f32::gemm_wide(m, k, n, &a, (k, 1), &b, sb, &mut got, beta);
                assert_eq!(want, got, "beta {beta}, b transposed {bt}");
            }
        }
    }

    /// The inner dimension cut in halves: the f64 product within f32
    /// rounding of two partial sums, and the same bits on one thread as on two.
    #[test]
    fn gemm_deep_matches_the_product() {
        let (m, k, n) = (24, 8192 + 5, 20);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 97) as f32 / 48.0 - 1.0).collect();
        let mut got = vec![f32::NAN; m * n];
        f32::gemm_deep(m, k, n, &a, (k, 1), &b, (n, 1), &mut got);
        for i in 0..m {
            for j in 0..n {
                let (mut want, mut size) = (0f64, 0f64);
                for p in 0..k {
                    let t = f64::from(a[i * k + p]) * f64::from(b[p * n + j]);
                    want += t;
                    size += t.abs();
                }
                let g = f64::from(got[i * n + j]);
                assert!((g - want).abs() <= 1e-6 * size, "[{i}, {j}]: {g} vs {want}");
            }
        }
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut alone = vec![0f32; m * n];
        one.install(|| f32::gemm_deep(m, k, n, &a, (k, 1), &b, (n, 1), &mut alone));
        assert_eq!(alone, got);
    }
}
