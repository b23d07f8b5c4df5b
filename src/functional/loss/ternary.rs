//! One op for every elementwise loss of three operands (`margin_ranking_loss`
//! of `x₁, x₂, y`; `gaussian_nll_loss` of `x, y, σ²`): a value with its three
//! partial derivatives, and the reduction.
//!
//! Fused as the two-operand losses are (see `pointwise`): the forward reads
//! the three operands once, in parallel chunks, and writes the derivative of
//! each operand that tracks gradients (pre-scaled by the reduction); the
//! backward scales them by the upstream gradient, or hands them over when it
//! is 1. The kernel is built for each combination of wanted outputs, so its
//! loop writes exactly those, without a test per element (it vectorises).
//!
//! Double backward differentiates the loss's composite form (the same formula
//! from recorded ops, given by the caller) on the node's own operands.

use super::pointwise::chain_saved;
use crate::autograd::{Backward, composite_backward, is_grad_enabled};
use crate::cpu::par::{PAR_THRESHOLD, map_claimed};
use crate::cpu::simd::dispatch;
use crate::cpu::sum::{pairwise_sum, sum1};
use crate::functional::Reduction;
use crate::tensor::ops::float_op;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result};

/// An elementwise loss of three operands `a, b, c`.
pub(crate) trait Ternary: Copy + Send + Sync + 'static {
    /// The functional's name, for errors.
    const OP: &'static str;
    /// PyTorch's grad_fn name.
    const BACKWARD: &'static str;
    /// The operands' names, for errors.
    const NAMES: [&'static str; 3];
    /// Which operands the loss is differentiable in.
    const GRADS: [bool; 3];
    /// The value and its partial derivatives in `a`, `b`, `c`.
    fn eval<T: Float>(self, a: T, b: T, c: T) -> (T, [T; 3]);
}

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 16;
/// Elements per block of the cascade summation.
const BLOCK: usize = 256;

/// One chunk's outputs: values (`None` reduction) and the wanted derivatives
/// (each empty when not wanted).
struct Outs<'a, T> {
    vals: &'a mut [T],
    d: [&'a mut [T]; 3],
}

/// Which outputs a kernel writes, as constants: each combination is its own
/// build of the kernel, whose loop then carries no test of what is wanted.
trait Wanted: Copy + Send + Sync + 'static {
    /// the values (a `None` reduction), else their sum
    const VALS: bool;
    /// the derivatives in each operand
    const D: [bool; 3];
}

#[derive(Clone, Copy)]
struct Want<const V: bool, const A: bool, const B: bool, const C: bool>;

impl<const V: bool, const A: bool, const B: bool, const C: bool> Wanted for Want<V, A, B, C> {
    const VALS: bool = V;
    const D: [bool; 3] = [A, B, C];
}

/// `s[start..start + m]` when `want`, else an empty slice.
#[inline(always)]
fn block<T>(s: &mut [T], want: bool, start: usize, m: usize) -> &mut [T] {
    if want { &mut s[start..start + m] } else { &mut [] }
}

dispatch! {
    /// Values and scaled derivatives of one chunk; returns the chunk's sum in
    /// f64 (block sums in `T`, carried in f64 and rounded once at the end, as
    /// the two-operand losses do).
    fn ternary_chunk<T: Float, L: Ternary, W: Wanted>(loss: L, _want: W, ops: [&[T]; 3], scale: T, outs: Outs<'_, T>) -> f64 {
        let [a, b, c] = ops;
        let Outs { vals, d: [d0, d1, d2] } = outs;
        let mut sums = Vec::with_capacity(a.len() / BLOCK + 1);
        let mut buf = [T::zero(); BLOCK];
        for start in (0..a.len()).step_by(BLOCK) {
            let m = BLOCK.min(a.len() - start);
            let (ab, bb, cb) = (&a[start..start + m], &b[start..start + m], &c[start..start + m]);
            let v: &mut [T] = if W::VALS { &mut vals[start..start + m] } else { &mut buf[..m] };
            let (g0, g1, g2) = (block(d0, W::D[0], start, m), block(d1, W::D[1], start, m), block(d2, W::D[2], start, m));
            for k in 0..m {
                let (f, df) = loss.eval(ab[k], bb[k], cb[k]);
                v[k] = f;
                if W::D[0] {
                    g0[k] = scale * df[0];
                }
                if W::D[1] {
                    g1[k] = scale * df[1];
                }
                if W::D[2] {
                    g2[k] = scale * df[2];
                }
            }
            if !W::VALS {
                sums.push(sum1(v, |x| x).to_f64());
            }
        }
        pairwise_sum(&sums)
    }
}

/// [`ternary_chunk`] built for the outputs wanted.
fn run_chunk<T: Float, L: Ternary>(loss: L, ops: [&[T]; 3], scale: T, outs: Outs<'_, T>) -> f64 {
    let want = (!outs.vals.is_empty(), !outs.d[0].is_empty(), !outs.d[1].is_empty(), !outs.d[2].is_empty());
    macro_rules! arms {
        ($(($v:literal, $a:literal, $b:literal, $c:literal)),*) => {
            match want {
                $(($v, $a, $b, $c) => ternary_chunk(loss, Want::<$v, $a, $b, $c>, ops, scale, outs),)*
            }
        };
    }
    arms!(
        (false, false, false, false),
        (false, false, false, true),
        (false, false, true, false),
        (false, false, true, true),
        (false, true, false, false),
        (false, true, false, true),
        (false, true, true, false),
        (false, true, true, true),
        (true, false, false, false),
        (true, false, false, true),
        (true, false, true, false),
        (true, false, true, true),
        (true, true, false, false),
        (true, true, false, true),
        (true, true, true, false),
        (true, true, true, true)
    )
}

/// A ternary loss with its reduction, from recorded ops on its three operands.
pub(crate) type Formula3 = Box<dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

/// The saved derivatives of a ternary loss.
struct TernaryBackward {
    name: &'static str,
    /// the loss recomputed from recorded ops (its double backward)
    formula: Formula3,
    reduction: Reduction,
    /// `scale·∂f/∂operand` over the loss's shape, for each operand that tracks gradients
    d: [Option<Tensor>; 3],
}

impl Backward for TernaryBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut out = Vec::with_capacity(3);
        for (d, to) in self.d.iter().zip(inputs) {
            out.push(d.as_ref().map(|d| chain_saved(self.name, self.reduction, d, grad, to)).transpose()?);
        }
        Ok(out)
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        composite_backward(inputs, grad, needs, |xs| (self.formula)(&xs[0], &xs[1], &xs[2]))
    }
}

/// Splits the first `len` elements off `s` (nothing off an empty `s`).
fn take<'a, T>(s: &mut &'a mut [T], len: usize) -> &'a mut [T] {
    if s.is_empty() {
        return &mut [];
    }
    let (head, tail) = std::mem::take(s).split_at_mut(len);
    *s = tail;
    head
}

/// Computes a ternary loss over `ops` (each broadcasting to `out`, checked by
/// the caller) with its reduction (`None`, `Mean` or `Sum`), recording one
/// node; `formula` is the same loss from recorded ops, for double backward.
pub(crate) fn ternary_loss<L: Ternary>(
    loss: L,
    ops: [&Tensor; 3],
    out: &[usize],
    reduction: Reduction,
    formula: Formula3,
) -> Result<Tensor> {
    let op = L::OP;
    reduction.reject_batchmean(op)?;
    for (t, name) in ops.iter().zip(L::NAMES) {
        t.require_float(op, name)?;
        ops[0].require_same_dtype(t, op, name)?;
    }
    let full = |t: &Tensor| t.detach().broadcast_to(out);
    let (a, b, c) = (full(ops[0])?, full(ops[1])?, full(ops[2])?);
    let need: [bool; 3] = std::array::from_fn(|k| L::GRADS[k] && is_grad_enabled() && ops[k].tracks_grad());
    let n = a.numel();
    let (storage, d) = float_op!(op, L::NAMES[0], a, |xa| {
        let xb = b.data::<T>(op, L::NAMES[1])?;
        let xc = c.data::<T>(op, L::NAMES[2])?;
        let (xb, xc): (&[T], &[T]) = (&xb, &xc);
        let scale = if reduction == Reduction::Mean { T::one() / T::from_f64(n as f64) } else { T::one() };
        // every element of these is written by the kernel
        let buf = |want: bool| crate::cpu::alloc::scratch::<T>(if want { n } else { 0 });
        let mut vals = buf(reduction == Reduction::None);
        let mut d: [Vec<T>; 3] = std::array::from_fn(|k| buf(need[k]));
        let chunk = if n < PAR_THRESHOLD { n.max(1) } else { CHUNK };
        let mut work = Vec::with_capacity(n.div_ceil(chunk));
        {
            let mut v: &mut [T] = &mut vals;
            let [d0, d1, d2] = &mut d;
            let (mut d0, mut d1, mut d2): (&mut [T], &mut [T], &mut [T]) = (d0, d1, d2);
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                let outs =
                    Outs { vals: take(&mut v, len), d: [take(&mut d0, len), take(&mut d1, len), take(&mut d2, len)] };
                work.push((start..start + len, outs));
                start += len;
            }
        }
        let sums =
            map_claimed(work, |(r, outs)| run_chunk(loss, [&xa[r.clone()], &xb[r.clone()], &xc[r]], scale, outs));
        let total = pairwise_sum(&sums);
        let storage = match reduction {
            Reduction::None => T::wrap(vals),
            Reduction::Sum => T::wrap(vec![T::from_f64(total)]),
            _ => T::wrap(vec![T::from_f64(total / n as f64)]),
        };
        let [d0, d1, d2] = d;
        let keep = |v: Vec<T>, k: usize| need[k].then(|| Tensor::from_storage(T::wrap(v), out));
        (storage, [keep(d0, 0), keep(d1, 1), keep(d2, 2)])
    });
    let shape: &[usize] = if reduction == Reduction::None { out } else { &[] };
    let node = TernaryBackward { name: L::BACKWARD, formula, reduction, d };
    Ok(Tensor::from_op(storage, shape, node, &ops))
}

/// The broadcast shape of two operands that must broadcast together, named
/// in the error.
pub(crate) fn broadcast_pair(op: &'static str, names: [&str; 2], a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    crate::tensor::shape::broadcast_shapes(op, a, b).map(|s| s.to_vec()).map_err(|_| {
        Error::shape(
            op,
            format!("{} of shape {a:?} and {} of shape {b:?} do not broadcast together", names[0], names[1]),
        )
    })
}
