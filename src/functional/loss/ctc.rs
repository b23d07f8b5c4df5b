//! Connectionist temporal classification: `F.ctc_loss`.
//!
//! Per sample, the forward variables `α` over the blank-extended target
//! (in probability space, rescaled at each time step; in log space where a
//! probability underflows or no alignment exists) give the negative
//! log-likelihood; when the log-probabilities track gradients the backward
//! variables `β` are run in the forward too, and the sample's gradient
//! (PyTorch's: `exp(lp) − exp(log Σ_{s: l'_s = c} α_t(s)·β_t(s) + nll − lp)`,
//! which is the gradient through a `log_softmax` producing `lp`) is kept; the
//! backward only scales it. Samples run in parallel.

use super::rows::check_reduction;
use crate::autograd::{Backward, is_grad_enabled, no_double_backward};
use crate::cpu::par::map_claimed;
use crate::tensor::ops::float_op;
use crate::tensor::{DType, Float, Shape};
use crate::{Error, Reduction, Result, Tensor};

const OP: &str = "ctc_loss";

/// Options of [`ctc_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct CtcLossOptions {
    /// The blank label's class index (default 0).
    pub blank: i64,
    /// How to reduce (default `Mean`: each sample's loss divided by its target
    /// length, then averaged over the batch).
    pub reduction: Reduction,
    /// Replace infinite losses (inputs too short for their target) and their
    /// gradients by zero (default false).
    pub zero_infinity: bool,
}

impl Default for CtcLossOptions {
    fn default() -> Self {
        CtcLossOptions { blank: 0, reduction: Reduction::Mean, zero_infinity: false }
    }
}

/// One sample's problem: its input length, and its target labels.
struct Sample<'a> {
    il: usize,
    target: &'a [i64],
}

/// The checked batch: `N` and `C` of `(T, N, C)`, whether the input was unbatched, and each
/// sample's input length and target.
struct Batch<'a> {
    n: usize,
    c: usize,
    unbatched: bool,
    samples: Vec<Sample<'a>>,
}

fn lengths(t: &Tensor, name: &str, n: usize, unbatched: bool) -> Result<Vec<i64>> {
    if t.dtype() != DType::I64 {
        return Err(Error::dtype(OP, format!("{name} has dtype {}; expected I64 lengths", t.dtype())));
    }
    let ok = if unbatched { t.numel() == 1 && t.ndim() <= 1 } else { t.shape() == [n] };
    if !ok {
        let want = if unbatched { "() or (1,)".to_string() } else { format!("({n},)") };
        return Err(Error::shape(OP, format!("{name} has shape {:?}; expected {want}", t.shape())));
    }
    let v = t.to_vec::<i64>()?;
    if let Some((b, &l)) = v.iter().enumerate().find(|&(_, &l)| l < 0) {
        return Err(Error::value(OP, format!("{name}[{b}] = {l}: a length must be >= 0")));
    }
    Ok(v)
}

fn check<'a>(
    log_probs: &Tensor,
    targets: &'a [i64],
    tshape: &[usize],
    il: &[i64],
    tl: &[i64],
    blank: i64,
) -> Result<Batch<'a>> {
    let (t, n, c, unbatched) = match log_probs.shape() {
        [t, n, c] => (*t, *n, *c, false),
        [t, c] => (*t, 1, *c, true),
        s => return Err(Error::shape(OP, format!("log_probs has shape {s:?}; expected (T, N, C) or (T, C)"))),
    };
    if blank < 0 || blank as usize >= c {
        return Err(Error::value(OP, format!("blank = {blank} is out of range for {c} classes")));
    }
    let mut samples = Vec::with_capacity(n);
    let mut offset = 0usize;
    let padded = if unbatched { true } else { tshape.len() == 2 };
    if !(unbatched || tshape.len() == 1 || tshape.len() == 2 && tshape[0] == n) {
        return Err(Error::shape(
            OP,
            format!("targets has shape {tshape:?}; expected padded ({n}, S) or concatenated (sum of target_lengths,)"),
        ));
    }
    if unbatched && tshape.len() != 1 {
        return Err(Error::shape(OP, format!("targets has shape {tshape:?}; expected (S,) for log_probs (T, C)")));
    }
    let s_max = *tshape.last().unwrap_or(&0);
    for b in 0..n {
        let (ilb, tlb) = (il[b] as usize, tl[b] as usize);
        if ilb > t {
            return Err(Error::value(
                OP,
                format!("input_lengths[{b}] = {ilb} exceeds the {t} time steps of log_probs"),
            ));
        }
        let start = if padded {
            if tlb > s_max {
                return Err(Error::value(
                    OP,
                    format!("target_lengths[{b}] = {tlb} exceeds the padded targets' length {s_max}"),
                ));
            }
            b * s_max
        } else {
            offset
        };
        offset += tlb;
        if !padded && offset > targets.len() {
            return Err(Error::shape(
                OP,
                format!("targets has {} labels but target_lengths sum to at least {offset}", targets.len()),
            ));
        }
        let target = &targets[start..start + tlb];
        if let Some((k, &v)) = target.iter().enumerate().find(|&(_, &v)| v < 0 || v as usize >= c || v == blank) {
            let why =
                if v == blank { format!("is the blank ({blank})") } else { format!("is out of range for {c} classes") };
            return Err(Error::index(OP, format!("target value {v} of sample {b} (label {k}) {why}")));
        }
        samples.push(Sample { il: ilb, target });
    }
    Ok(Batch { n, c, unbatched, samples })
}

/// `log(eˣ + eʸ + eᶻ)` for the recursions: `-inf` terms vanish, and an all
/// `-inf` sum stays `-inf`.
#[inline]
fn lse3<T: Float>(a: T, b: T, c: T) -> T {
    let m = a.max(b).max(c);
    let m0 = if m == T::neg_infinity() { T::zero() } else { m };
    ((a - m0).exp() + (b - m0).exp() + (c - m0).exp()).ln() + m0
}

/// One sample: its negative log-likelihood and (when `grad`) its gradient
/// in its `(il, C)` log-probabilities (rows `t·stride`, `stride = N·C`).
fn sample<T: Float>(lp: &[T], stride: usize, c: usize, blank: usize, s: &Sample, grad: bool) -> (T, Vec<T>) {
    let (il, tl) = (s.il, s.target.len());
    let ninf = T::neg_infinity();
    if il == 0 {
        let nll = if tl == 0 { T::zero() } else { T::infinity() };
        return (nll, Vec::new());
    }
    let w = 2 * tl + 1;
    let prime = |k: usize| if k.is_multiple_of(2) { blank } else { s.target[k / 2] as usize };
    let at = |t: usize, k: usize| lp[t * stride + k];
    let mut la = vec![ninf; il * w];
    la[0] = at(0, blank);
    if tl > 0 {
        la[1] = at(0, prime(1));
    }
    for t in 1..il {
        for k in 0..w {
            let cur = prime(k);
            let prev = &la[(t - 1) * w..t * w];
            let a1 = prev[k];
            let a2 = if k > 0 { prev[k - 1] } else { ninf };
            let a3 = if k > 1 && prime(k - 2) != cur { prev[k - 2] } else { ninf };
            la[t * w + k] = lse3(a1, a2, a3) + at(t, cur);
        }
    }
    let last = &la[(il - 1) * w..il * w];
    let nll = if tl == 0 { -last[0] } else { -lse3(last[w - 1], last[w - 2], ninf) };
    if !grad {
        return (nll, Vec::new());
    }
    // log Σ α·β per (t, class), then the gradient
    let mut lcab = vec![ninf; il * c];
    let mut lb = vec![ninf; il * w];
    let add = |cell: &mut T, v: T| {
        *cell = if *cell == ninf {
            v
        } else {
            let m = cell.max(v);
            ((*cell - m).exp() + (v - m).exp()).ln() + m
        };
    };
    let t = il - 1;
    lb[t * w + w - 1] = at(t, blank);
    add(&mut lcab[t * c + blank], la[t * w + w - 1] + lb[t * w + w - 1]);
    if tl > 0 {
        let cur = prime(w - 2);
        lb[t * w + w - 2] = at(t, cur);
        add(&mut lcab[t * c + cur], la[t * w + w - 2] + lb[t * w + w - 2]);
    }
    for t in (0..il - 1).rev() {
        for k in (0..w).rev() {
            let cur = prime(k);
            let next = &lb[(t + 1) * w..(t + 2) * w];
            let b1 = next[k];
            let b2 = if k + 1 < w { next[k + 1] } else { ninf };
            let b3 = if k + 2 < w && prime(k + 2) != cur { next[k + 2] } else { ninf };
            let v = lse3(b1, b2, b3) + at(t, cur);
            lb[t * w + k] = v;
            add(&mut lcab[t * c + cur], la[t * w + k] + v);
        }
    }
    for t in 0..il {
        for (k, g) in lcab[t * c..(t + 1) * c].iter_mut().enumerate() {
            let l = at(t, k);
            *g = l.exp() - (*g + nll - l).exp();
        }
    }
    (nll, lcab)
}

/// [`sample`] in probability space with each time step's variables
/// rescaled to sum to 1 (the logarithms of the scales add up to the
/// likelihood): one `exp` per log-probability instead of several per
/// recursion step. `None` where a probability or a scale is 0 or not
/// finite (an impossible alignment, an underflow): [`sample`] handles those.
fn sample_scaled<T: Float>(
    lp: &[T],
    stride: usize,
    c: usize,
    blank: usize,
    s: &Sample,
    grad: bool,
) -> Option<(T, Vec<T>)> {
    let (il, tl) = (s.il, s.target.len());
    if il == 0 {
        return None;
    }
    let w = 2 * tl + 1;
    let prime = |k: usize| if k.is_multiple_of(2) { blank } else { s.target[k / 2] as usize };
    let ok = |v: T| v > T::zero() && v.is_finite();
    // the probabilities, (il, C)
    let mut pr = vec![T::zero(); il * c];
    for t in 0..il {
        for (k, p) in pr[t * c..(t + 1) * c].iter_mut().enumerate() {
            *p = lp[t * stride + k].exp();
        }
    }
    if !(0..w).all(|k| (0..il).all(|t| ok(pr[t * c + prime(k)]))) {
        return None;
    }
    let (mut al, mut logc) = (vec![T::zero(); il * w], vec![T::zero(); il]);
    let normalise = |v: &mut [T]| -> Option<T> {
        let z = v.iter().fold(T::zero(), |a, &x| a + x);
        if !ok(z) {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= z);
        Some(z.ln())
    };
    al[0] = pr[blank];
    if tl > 0 {
        al[1] = pr[prime(1)];
    }
    logc[0] = normalise(&mut al[..w])?;
    for t in 1..il {
        let (prev, cur) = al[(t - 1) * w..(t + 1) * w].split_at_mut(w);
        for k in 0..w {
            let p = prime(k);
            let mut v = prev[k];
            if k > 0 {
                v += prev[k - 1];
            }
            if k > 1 && prime(k - 2) != p {
                v += prev[k - 2];
            }
            cur[k] = v * pr[t * c + p];
        }
        logc[t] = normalise(cur)?;
    }
    let last = &al[(il - 1) * w..il * w];
    let end = if tl == 0 { last[0] } else { last[w - 1] + last[w - 2] };
    if !ok(end) {
        return None;
    }
    let nll = -(logc.iter().fold(T::zero(), |a, &v| a + v) + end.ln());
    if !grad {
        return Some((nll, Vec::new()));
    }
    let (mut be, mut logd) = (vec![T::zero(); il * w], vec![T::zero(); il]);
    let t = il - 1;
    be[t * w + w - 1] = pr[t * c + blank];
    if tl > 0 {
        be[t * w + w - 2] = pr[t * c + prime(w - 2)];
    }
    logd[t] = normalise(&mut be[t * w..(t + 1) * w])?;
    for t in (0..il - 1).rev() {
        let (cur, next) = be[t * w..(t + 2) * w].split_at_mut(w);
        for k in 0..w {
            let p = prime(k);
            let mut v = next[k];
            if k + 1 < w {
                v += next[k + 1];
            }
            if k + 2 < w && prime(k + 2) != p {
                v += next[k + 2];
            }
            cur[k] = v * pr[t * c + p];
        }
        logd[t] = normalise(cur)?;
    }
    // α_t(s)·β_t(s) / P = α̂·β̂ · exp(Σ_{τ≤t} log c_τ + Σ_{τ≥t} log d_τ + nll)
    let mut g = vec![T::zero(); il * c];
    let (mut cum_c, mut cum_d) = (T::zero(), logd.iter().fold(T::zero(), |a, &v| a + v));
    for t in 0..il {
        cum_c += logc[t];
        let f = (cum_c + cum_d + nll).exp();
        cum_d -= logd[t];
        let row = &mut g[t * c..(t + 1) * c];
        for k in 0..w {
            row[prime(k)] += al[t * w + k] * be[t * w + k];
        }
        for (k, gk) in row.iter_mut().enumerate() {
            let p = pr[t * c + k];
            *gk = p - *gk * f / p;
        }
    }
    Some((nll, g))
}

/// Keeps the per-sample gradient `(T, N, C)` (for an upstream gradient of 1
/// on each sample's loss) and each sample's scale under the reduction.
struct CtcBackward {
    d: Tensor,
    /// `max(target_length, 1)` per sample (for `Mean`)
    len: Vec<f64>,
    reduction: Reduction,
    n: usize,
    c: usize,
}

impl Backward for CtcBackward {
    fn name(&self) -> &'static str {
        "CtcLossBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let lp = &inputs[0];
        let (n, c) = (self.n, self.c);
        let out = float_op!(OP, "grad", grad, |g| {
            let ds = self.d.data::<T>(OP, "saved gradient")?;
            let scale: Vec<T> = (0..n)
                .map(|b| match self.reduction {
                    Reduction::None => g[b.min(g.len() - 1)],
                    Reduction::Mean => g[0] / T::from_f64(self.len[b] * n as f64),
                    _ => g[0],
                })
                .collect();
            let mut out = crate::cpu::alloc::scratch::<T>(ds.len());
            for (row, (o, d)) in out.chunks_exact_mut(c.max(1)).zip(ds.chunks_exact(c.max(1))).enumerate() {
                let s = scale[row % n.max(1)];
                o.iter_mut().zip(d).for_each(|(o, &d)| *o = s * d);
            }
            T::wrap(out)
        });
        // differentiating this gradient again is refused, as PyTorch does
        let g = Tensor::from_op(out, lp.shape(), CtcDoubleBackward, &[lp, grad]);
        Ok(vec![Some(g), None, None, None])
    }
    /// Refused, as PyTorch refuses to differentiate CTC's gradient: named
    /// for the loss, so a `create_graph` pass through it says which op.
    fn backward_graph(&self, _: &[Tensor], _: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Err(no_double_backward(OP))
    }
}

/// The node of CTC's gradient: it has no derivative of its own.
struct CtcDoubleBackward;

impl Backward for CtcDoubleBackward {
    fn name(&self) -> &'static str {
        "CtcLossBackwardBackward0"
    }
    fn backward(&self, _: &[Tensor], _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(Error::autograd(
            OP,
            "double backward (the gradient of ctc_loss's gradient) is not implemented, as in PyTorch",
        ))
    }
}

/// Connectionist temporal classification loss (`F.ctc_loss`, `nn.CTCLoss`):
/// the negative log-likelihood of each target under all alignments of the
/// input, `ℓ_n = −log Σ_{π ∈ B⁻¹(y_n)} Π_t exp(lp[t, n, π_t])`, where `B`
/// collapses repeats and removes blanks. `mean` divides each `ℓ_n` by its
/// target length (at least 1), then averages over the batch.
///
/// Shapes: `log_probs (T, N, C)` (log-softmax outputs) or `(T, C)`; targets
/// padded `(N, S)` or concatenated `(Σ target_lengths,)` (I64, each label in
/// `[0, C)` and not the blank); `input_lengths` and `target_lengths` I64 `(N,)`.
/// The unreduced loss is `(N,)`. An input too short for its target has an
/// infinite loss (zero with `zero_infinity`). Errors on a length out of range,
/// a label out of range or equal to the blank, or mismatched shapes.
/// The gradient is PyTorch's (it assumes normalised log-probabilities);
/// a gradient of this gradient is refused, as in PyTorch.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// // two steps, classes {blank, a}: target "a" is "a·", "·a" or "aa"
/// let p = [0.5f64, 0.5, 0.5, 0.5];
/// let lp = Tensor::from_vec(p.iter().map(|v: &f64| v.ln()).collect(), &[2, 1, 2])?;
/// let y = Tensor::from_vec(vec![1i64], &[1, 1])?;
/// let il = Tensor::from_vec(vec![2i64], &[1])?;
/// let tl = Tensor::from_vec(vec![1i64], &[1])?;
/// let opts = F::CtcLossOptions { reduction: tapegrad::Reduction::Sum, ..Default::default() };
/// let loss = F::ctc_loss(&lp, &y, &il, &tl, &opts)?;
/// assert!((loss.item::<f64>()? + 0.75f64.ln()).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &Tensor,
    input_lengths: &Tensor,
    target_lengths: &Tensor,
    opts: &CtcLossOptions,
) -> Result<Tensor> {
    log_probs.require_float(OP, "log_probs")?;
    check_reduction(OP, opts.reduction)?;
    if targets.dtype() != DType::I64 {
        return Err(Error::dtype(OP, format!("targets has dtype {}; expected I64 labels", targets.dtype())));
    }
    let unbatched = log_probs.ndim() == 2;
    let n = if log_probs.ndim() == 3 { log_probs.shape()[1] } else { 1 };
    let il = lengths(input_lengths, "input_lengths", n, unbatched)?;
    let tl = lengths(target_lengths, "target_lengths", n, unbatched)?;
    let tv = targets.to_vec::<i64>()?;
    let batch = check(log_probs, &tv, targets.shape(), &il, &tl, opts.blank)?;
    let Batch { n, c, unbatched, samples } = batch;
    let want_grad = is_grad_enabled() && log_probs.tracks_grad();
    let blank = opts.blank as usize;
    let len: Vec<f64> = samples.iter().map(|s| s.target.len().max(1) as f64).collect();
    let (values, d) = float_op!(OP, "log_probs", log_probs, |lps| {
        let stride = n * c;
        let work: Vec<usize> = (0..n).collect();
        let results = map_claimed(work, |b| {
            let (lp, s) = (&lps[b * c..], &samples[b]);
            sample_scaled(lp, stride, c, blank, s, want_grad)
                .unwrap_or_else(|| sample(lp, stride, c, blank, s, want_grad))
        });
        let mut nll: Vec<T> = results.iter().map(|r| r.0).collect();
        let mut d = crate::cpu::alloc::zeros::<T>(if want_grad { lps.len() } else { 0 });
        for (b, (l, g)) in nll.iter_mut().zip(&results).enumerate() {
            let infinite = *l == T::infinity();
            if opts.zero_infinity && infinite {
                *l = T::zero();
                continue;
            }
            for (t, row) in g.1.chunks_exact(c).enumerate() {
                d[t * stride + b * c..t * stride + (b + 1) * c].copy_from_slice(row);
            }
        }
        let v = match opts.reduction {
            Reduction::None => nll,
            Reduction::Mean => {
                let s: T = nll.iter().zip(&len).fold(T::zero(), |a, (&l, &k)| a + l / T::from_f64(k));
                vec![s / T::from_f64(n as f64)]
            }
            _ => vec![nll.iter().fold(T::zero(), |a, &l| a + l)],
        };
        let d = want_grad.then(|| Tensor::from_storage(T::wrap(d), log_probs.shape()));
        (T::wrap(v), d)
    });
    let shape: Shape = match (opts.reduction, unbatched) {
        (Reduction::None, false) => Shape::from_slice(&[n]),
        _ => Shape::new(),
    };
    Ok(match d {
        Some(d) => {
            let node = CtcBackward { d, len, reduction: opts.reduction, n, c };
            Tensor::from_op(values, &shape, node, &[log_probs, targets, input_lengths, target_lengths])
        }
        None => Tensor::from_storage(values, &shape),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The rescaled probability-space recursions give the log-space ones'
    /// likelihood and gradient, with repeats, an empty target and the blank
    /// anywhere.
    #[test]
    fn rescaled_and_log_space_recursions_agree() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let (t, c) = (12, 5);
        let x = Tensor::randn(&[t, 1, c], DType::F64, &mut rng);
        let lp = crate::functional::log_softmax(&x, 2).unwrap().to_vec::<f64>().unwrap();
        for (blank, target) in [(0, vec![1i64, 1, 2, 4]), (4, vec![0, 3, 3]), (2, vec![]), (1, vec![0, 2, 3, 4, 0])] {
            for il in [t, 7] {
                let s = Sample { il, target: &target };
                let (a, ga) = sample(&lp, c, c, blank, &s, true);
                let (b, gb) = sample_scaled(&lp, c, c, blank, &s, true).expect("a feasible alignment");
                assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "nll {a} vs {b}");
                for (u, v) in ga.iter().zip(&gb) {
                    assert!((u - v).abs() <= 1e-12, "grad {u} vs {v}");
                }
            }
        }
        // no alignment of 3 labels in 2 steps: the log-space path takes it
        let s = Sample { il: 2, target: &[1, 2, 3] };
        assert!(sample_scaled(&lp, c, c, 0, &s, true).is_none());
    }
}
