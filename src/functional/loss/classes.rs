//! What the class losses (`nll_loss`, `cross_entropy`) share: the
//! `(N, C, d1, …, dK)` layout, target and weight validation.

use crate::cpu::alloc::scratch;
use crate::cpu::simd::dispatch;
use crate::kernels::softmax::Dims;
use crate::tensor::ops::index::unravel;
use crate::tensor::{DType, Float, Shape, Tensor};
use crate::{Error, Result};

/// An input of shape `(N, C, d1, …, dK)` (or `(C,)`) seen as `(N, C, inner)`,
/// with `inner = d1·…·dK`; the class dim is read with stride `inner`, without a transpose.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub n: usize,
    pub c: usize,
    pub inner: usize,
    /// the shape of a per-position loss (= the target shape for class indices)
    pub out: Shape,
}

impl Layout {
    /// Number of positions (`N · d1 · … · dK`).
    pub fn positions(&self) -> usize {
        self.n * self.inner
    }
    /// The `(N, C, inner)` dims the softmax kernels work on.
    pub fn dims(&self) -> Dims {
        Dims { n: self.n, c: self.c, inner: self.inner }
    }
    /// Offset of class 0 at every position, in position order (class `k` is
    /// `+ k · inner`): no division per position.
    pub fn bases(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.n).flat_map(move |n| (0..self.inner).map(move |i| n * self.c * self.inner + i))
    }
}

/// Class weight `k`, 1 without weights.
#[inline]
pub(crate) fn class_weight<T: Float>(w: Option<&[T]>, k: usize) -> T {
    w.map_or(T::one(), |w| w[k])
}

/// The weight of each position's target class, 0 where the target is
/// `ignore`; targets are checked (see [`check_targets`]).
pub(crate) fn target_weights<T: Float>(t: &[i64], w: Option<&[T]>, ignore: i64) -> Vec<T> {
    let mut weights = scratch::<T>(t.len());
    weights_into(t, w, ignore, &mut weights);
    weights
}

dispatch! {
    /// [`target_weights`] into `out`: one vectorised pass (a parallel one cost
    /// more in waking threads than the pass itself, at 131K positions).
    fn weights_into<T: Float>(t: &[i64], w: Option<&[T]>, ignore: i64, out: &mut [T]) {
        match w {
            None => {
                for (wj, &tj) in out.iter_mut().zip(t) {
                    *wj = if tj == ignore { T::zero() } else { T::one() };
                }
            }
            Some(w) if !w.is_empty() => {
                let last = w.len() - 1;
                for (wj, &tj) in out.iter_mut().zip(t) {
                    // the min only keeps the (checked) index provably in bounds
                    let v = w[(tj as usize).min(last)];
                    *wj = if tj == ignore { T::zero() } else { v };
                }
            }
            Some(_) => out.fill(T::zero()), // no classes: every target is ignored
        }
    }
}

dispatch! {
    /// Whether some target is neither `ignore` nor in `[0, c)`, and how many
    /// are not `ignore`: without branches, so that the scan vectorises.
    fn scan_targets(t: &[i64], c: usize, ignore: i64) -> (bool, usize) {
        t.iter().fold((false, 0), |(any, n), &v| (any | out_of_range(v, c, ignore), n + usize::from(v != ignore)))
    }
}

/// Targets from which [`check_targets`] scans on all cores, in halves of
/// this: a megabyte of `i64` targets, read once from memory, takes a core
/// tens of microseconds, a sizeable part of a loss that takes a millisecond.
/// A kernel that reads this many targets anyway may scan them in its own
/// parallel section instead ([`scan_in_kernel`], [`TargetScan`]).
const SCAN_PAR: usize = 1 << 16;

/// A target neither `ignore` nor in `[0, c)` (as u64, a negative one is too).
#[inline(always)]
fn out_of_range(v: i64, c: usize, ignore: i64) -> bool {
    (v != ignore) & (v as u64 >= c as u64)
}

/// The layout of `input` for a class loss, checked against an index `target`.
pub(crate) fn index_layout(op: &'static str, input: &Tensor, target: &Tensor) -> Result<Layout> {
    input.require_float(op, "input")?;
    if target.dtype() != DType::I64 {
        return Err(Error::dtype(
            op,
            format!(
                "target has dtype {} and shape {:?}: class indices must be I64; for class probabilities \
                 pass a float tensor of the input's shape {:?}",
                target.dtype(),
                target.shape(),
                input.shape()
            ),
        ));
    }
    let (is, ts) = (input.shape(), target.shape());
    match input.ndim() {
        0 => Err(Error::shape(op, "input is 0-d; expected (C,), (N, C) or (N, C, d1, ..., dK)".to_string())),
        1 => {
            if target.ndim() != 0 {
                return Err(Error::shape(
                    op,
                    format!(
                        "target has shape {ts:?}; for unbatched input of shape {is:?} = (C,) the target must be 0-d"
                    ),
                ));
            }
            Ok(Layout { n: 1, c: is[0], inner: 1, out: Shape::new() })
        }
        _ => {
            if target.ndim() == input.ndim() && ts.last() == Some(&1) && ts[..ts.len() - 1] == [is[0]][..] {
                return Err(Error::shape(
                    op,
                    format!("target has shape {ts:?}; expected ({},): squeeze the last dim of an (N, 1) target", is[0]),
                ));
            }
            if target.ndim() == 0 || ts[0] != is[0] {
                return Err(Error::shape(
                    op,
                    format!(
                        "expected input batch_size ({}) to match target batch_size ({}) (input shape {is:?}, target shape {ts:?})",
                        is[0],
                        ts.first().map_or("none".to_string(), |v| v.to_string())
                    ),
                ));
            }
            if ts[1..] != is[2..] {
                let channels_last = input.ndim() >= 3 && ts.len() + 1 == is.len() && ts[1..] == is[1..is.len() - 1];
                let hint = if channels_last {
                    "; the class dim must be dim 1 (channels-first): permute a channels-last input, e.g. x.permute(&[0, 3, 1, 2])"
                } else {
                    ""
                };
                let expected: Vec<usize> = std::iter::once(is[0]).chain(is[2..].iter().copied()).collect();
                return Err(Error::shape(
                    op,
                    format!(
                        "target has shape {ts:?} but input of shape {is:?} needs a target of shape {expected:?}{hint}"
                    ),
                ));
            }
            Ok(Layout { n: is[0], c: is[1], inner: is[2..].iter().product(), out: ts.into() })
        }
    }
}

/// Checks every target against `[0, C)` (or `ignore_index`), naming the first
/// bad one; returns how many targets are not `ignore_index`.
pub(crate) fn check_targets(
    op: &'static str,
    target: &Tensor,
    t: &[i64],
    c: usize,
    ignore_index: i64,
) -> Result<usize> {
    // one vectorised scan; the position is looked for on failure
    let (bad, counted) = if t.len() >= SCAN_PAR {
        let scan = TargetScan { t, c, ignore: ignore_index };
        let parts = crate::cpu::par::map_claimed((0..scan.parts()).collect(), |i| scan.part(i));
        parts.into_iter().fold((false, 0), |(b1, n1), (b2, n2)| (b1 | b2, n1 + n2))
    } else {
        scan_targets(t, c, ignore_index)
    };
    if bad {
        return Err(bad_target(op, target, t, c, ignore_index));
    }
    Ok(counted)
}

/// Whether [`check_targets`] should be left to the kernel that reads the
/// targets (see [`TargetScan`]): with this many targets it would be a
/// parallel section of its own.
pub(crate) fn scan_in_kernel(t: &[i64]) -> bool {
    t.len() >= SCAN_PAR
}

/// [`check_targets`]' scan in parts: its own on all cores, or a kernel's that
/// scans before it runs in the same parallel section
/// ([`crate::kernels::softmax::Dims::run_scanned`]).
pub(crate) struct TargetScan<'a> {
    pub t: &'a [i64],
    pub c: usize,
    pub ignore: i64,
}

impl TargetScan<'_> {
    /// How many parts.
    pub fn parts(&self) -> usize {
        self.t.len().div_ceil(SCAN_PAR / 2)
    }

    /// Part `i`: whether some target in it is neither `ignore` nor in
    /// `[0, c)`, and how many are not `ignore`.
    pub fn part(&self, i: usize) -> (bool, usize) {
        let start = (i * (SCAN_PAR / 2)).min(self.t.len());
        let end = (start + SCAN_PAR / 2).min(self.t.len());
        scan_targets(&self.t[start..end], self.c, self.ignore)
    }
}

/// The error naming the first target of `t` that is neither `ignore_index`
/// nor in `[0, c)`, for a scan that found one.
pub(crate) fn bad_target(op: &'static str, target: &Tensor, t: &[i64], c: usize, ignore_index: i64) -> Error {
    if let Some((j, &v)) = t.iter().enumerate().find(|&(_, &v)| out_of_range(v, c, ignore_index)) {
        let pos = unravel(j, target.shape());
        let at = if pos.is_empty() {
            String::new()
        } else {
            format!("[{}]", pos.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
        };
        return Error::index(op, format!("target{at} = {v} is out of range for {c} classes"));
    }
    Error::index(op, format!("a target is out of range for {c} classes"))
}

/// Checks a class `weight`: 1-D, one entry per class, the input's dtype.
pub(crate) fn check_weight(op: &'static str, input: &Tensor, weight: Option<&Tensor>, c: usize) -> Result<()> {
    if let Some(w) = weight {
        input.require_same_dtype(w, op, "weight")?;
        if w.ndim() != 1 || w.numel() != c {
            return Err(Error::shape(
                op,
                format!("weight has shape {:?}; expected a 1-D tensor of {c} elements, one per class", w.shape()),
            ));
        }
    }
    Ok(())
}

/// The class losses as recorded ops on the log-probabilities `logp` (the
/// composite their fused kernels compute), for their double backward:
/// per position `(1 − ε)·(−w[t]·logp[t]) + ε/C·(−Σ_c w_c·logp_c)`, zero where
/// the target is ignored, reduced (`mean` divides by `denom`).
#[allow(clippy::too_many_arguments)] // the loss options, spelled out
pub(crate) fn index_loss_graph(
    logp: &Tensor,
    target: &Tensor,
    l: &Layout,
    weight: Option<&Tensor>,
    ignore: i64,
    reduction: crate::Reduction,
    denom: f64,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let t = target.data::<i64>(OP, "target")?;
    let w: Option<Vec<f64>> = weight.map(|w| w.to_dtype(DType::F64)?.to_vec::<f64>()).transpose()?;
    let mut offsets = Vec::with_capacity(t.len());
    let (mut cw, mut keep) = (Vec::with_capacity(t.len()), Vec::with_capacity(t.len()));
    for (&tj, base) in t.iter().zip(l.bases()) {
        let kept = tj != ignore;
        offsets.push(if kept { base + tj as usize * l.inner } else { base });
        cw.push(if kept { w.as_ref().map_or(1.0, |w| w[tj as usize]) } else { 0.0 });
        keep.push(if kept { 1.0 } else { 0.0 });
    }
    let constant = |v: Vec<f64>| Tensor::from_storage(crate::tensor::Storage::F64(v), &l.out).to_dtype(logp.dtype());
    let picked = logp.take_offsets(std::sync::Arc::new(offsets), &l.out)?;
    let mut loss = picked.mul(&constant(cw)?)?.neg();
    if eps > 0.0 {
        let dim: isize = if logp.ndim() >= 2 { 1 } else { 0 };
        let weighted = match weight {
            Some(w) => {
                let mut ws: Shape = Shape::from_slice(&[l.c]);
                ws.extend(std::iter::repeat_n(1, logp.ndim().saturating_sub(2)));
                logp.mul(&w.reshape_internal(&ws)?)?
            }
            None => logp.clone(),
        };
        let smooth = weighted.sum(dim, false)?.neg().mul(&constant(keep)?)?;
        loss = loss.mul_scalar(1.0 - eps)?.add(&smooth.mul_scalar(eps / l.c as f64)?)?;
    }
    reduce_graph(loss, reduction, denom)
}

/// Cross-entropy with class-probability targets as recorded ops on `logp`:
/// per position `−Σ_c w_c·t'_c·logp_c` with `t' = (1 − ε)·t + ε/C`; `mean`
/// divides by the number of positions.
pub(crate) fn prob_loss_graph(
    logp: &Tensor,
    target: &Tensor,
    l: &Layout,
    weight: Option<&Tensor>,
    reduction: crate::Reduction,
    eps: f64,
) -> Result<Tensor> {
    let dim: isize = if logp.ndim() >= 2 { 1 } else { 0 };
    let t = if eps > 0.0 { target.mul_scalar(1.0 - eps)?.add_scalar(eps / l.c as f64)? } else { target.clone() };
    let mut prod = logp.mul(&t)?;
    if let Some(w) = weight {
        let mut ws: Shape = Shape::from_slice(&[l.c]);
        ws.extend(std::iter::repeat_n(1, logp.ndim().saturating_sub(2)));
        prod = prod.mul(&w.reshape_internal(&ws)?)?;
    }
    reduce_graph(prod.sum(dim, false)?.neg(), reduction, l.positions() as f64)
}

/// Per-position losses reduced with recorded ops.
fn reduce_graph(loss: Tensor, reduction: crate::Reduction, denom: f64) -> Result<Tensor> {
    match reduction {
        crate::Reduction::None => Ok(loss),
        crate::Reduction::Sum => Ok(loss.sum_all()),
        crate::Reduction::Mean => loss.sum_all().div_scalar(denom),
        // the class losses refuse it before they run
        crate::Reduction::BatchMean => crate::Reduction::BatchMean.reject_batchmean("cross_entropy").map(|_| loss),
    }
}
