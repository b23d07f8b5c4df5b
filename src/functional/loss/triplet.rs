//! Triplet losses: `F.triplet_margin_loss` (fused for equal shapes, see
//! `triplet_rows`) and `F.triplet_margin_with_distance_loss`, built from
//! differentiable tensor ops (so gradients of gradients come with it).

use super::rows::reduce;
use crate::{Error, Reduction, Result, Tensor};
use std::fmt;
use std::sync::Arc;

/// A distance between two batches of embeddings, one value per pair (for
/// [`triplet_margin_with_distance_loss`]): `(N, D), (N, D) → (N,)`, say.
pub type Distance = Arc<dyn Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

/// Options of [`triplet_margin_loss`]; `Default` is PyTorch's default.
#[derive(Clone, Debug)]
pub struct TripletMarginOptions {
    /// The margin between the positive and the negative distance (default 1.0).
    pub margin: f64,
    /// The norm's degree, `p > 0` (default 2.0; `f64::INFINITY` is the max norm).
    pub p: f64,
    /// Added to each difference before the norm, for stability (default 1e-6).
    pub eps: f64,
    /// Use `min(d(a, n), d(p, n))` as the negative distance (default false).
    pub swap: bool,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for TripletMarginOptions {
    fn default() -> Self {
        TripletMarginOptions { margin: 1.0, p: 2.0, eps: 1e-6, swap: false, reduction: Reduction::Mean }
    }
}

/// Options of [`triplet_margin_with_distance_loss`]; `Default` is PyTorch's default.
#[derive(Clone)]
pub struct TripletMarginWithDistanceOptions {
    /// The distance; `None` (default) is the Euclidean pairwise distance
    /// `‖a − b + 1e-6‖₂` over the last dim.
    pub distance_function: Option<Distance>,
    /// The margin, > 0 (default 1.0).
    pub margin: f64,
    /// Use `min(d(a, n), d(p, n))` as the negative distance (default false).
    pub swap: bool,
    /// How to reduce (default `Mean`).
    pub reduction: Reduction,
}

impl Default for TripletMarginWithDistanceOptions {
    fn default() -> Self {
        TripletMarginWithDistanceOptions {
            distance_function: None,
            margin: 1.0,
            swap: false,
            reduction: Reduction::Mean,
        }
    }
}

impl fmt::Debug for TripletMarginWithDistanceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TripletMarginWithDistanceOptions")
            .field("distance_function", &self.distance_function.as_ref().map(|_| "<fn>"))
            .field("margin", &self.margin)
            .field("swap", &self.swap)
            .field("reduction", &self.reduction)
            .finish()
    }
}

/// `‖x1 − x2 + eps‖_p` over the last dim: [`pairwise_distance`](crate::functional::pairwise_distance)
/// without `keepdim`, with 0-d embeddings refused in the name of the loss `op`.
pub(crate) fn pairwise_distance(op: &'static str, x1: &Tensor, x2: &Tensor, p: f64, eps: f64) -> Result<Tensor> {
    if x1.ndim() == 0 && x2.ndim() == 0 {
        return Err(Error::shape(op, "inputs are 0-d; expected embeddings (D,) or (N, D)"));
    }
    crate::functional::pairwise_distance(x1, x2, p, eps, false)
}

/// Checks the three embeddings have one rank (1-D or 2-D) and a float dtype.
fn check_triplet(op: &'static str, a: &Tensor, p: &Tensor, n: &Tensor) -> Result<()> {
    for (name, t) in [("anchor", a), ("positive", p), ("negative", n)] {
        t.require_float(op, name)?;
        a.require_same_dtype(t, op, name)?;
    }
    if a.ndim() != p.ndim() || p.ndim() != n.ndim() {
        return Err(Error::shape(
            op,
            format!(
                "anchor, positive and negative have shapes {:?}, {:?}, {:?}: expected the same number of dims",
                a.shape(),
                p.shape(),
                n.shape()
            ),
        ));
    }
    Ok(())
}

/// `max(margin + d_pos − d_neg, 0)` (with the swap), reduced.
fn hinge(
    op: &'static str,
    dist: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
    (a, p, n): (&Tensor, &Tensor, &Tensor),
    margin: f64,
    swap: bool,
    reduction: Reduction,
) -> Result<Tensor> {
    let d_pos = dist(a, p)?;
    let mut d_neg = dist(a, n)?;
    if swap {
        d_neg = d_neg.minimum(&dist(p, n)?)?;
    }
    let loss = d_pos.sub(&d_neg)?.add_scalar(margin)?.clamp(Some(0.0), None)?;
    reduce(op, loss, reduction)
}

/// Triplet margin loss (`F.triplet_margin_loss`, `nn.TripletMarginLoss`):
/// `ℓ_n = max(d(a_n, p_n) − d(a_n, n_n) + margin, 0)` with
/// `d(x, y) = ‖x − y + eps‖_p` over the last dim; with `swap`, the negative
/// distance is `min(d(a, n), d(p, n))`.
///
/// Shapes: anchor, positive and negative `(N, D)` (broadcast against each
/// other) or `(D,)`; the unreduced loss is `(N,)` (or `()`). Errors on inputs
/// of different rank, non-broadcastable shapes or `p <= 0`.
///
/// ```
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![0.0f64, 0.0], &[1, 2])?;
/// let p = Tensor::from_vec(vec![3.0f64, 4.0], &[1, 2])?;
/// let n = Tensor::from_vec(vec![1.0f64, 0.0], &[1, 2])?;
/// let opts = F::TripletMarginOptions { eps: 0.0, ..Default::default() };
/// // max(5 − 1 + 1, 0)
/// assert!((F::triplet_margin_loss(&a, &p, &n, &opts)?.item::<f64>()? - 5.0).abs() < 1e-12);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn triplet_margin_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    opts: &TripletMarginOptions,
) -> Result<Tensor> {
    const OP: &str = "triplet_margin_loss";
    check_triplet(OP, anchor, positive, negative)?;
    if opts.p.is_nan() || opts.p <= 0.0 {
        return Err(Error::value(OP, format!("p = {}: expected the norm's degree > 0", opts.p)));
    }
    if !opts.margin.is_finite() || !opts.eps.is_finite() {
        return Err(Error::value(OP, format!("margin = {}, eps = {}: expected finite numbers", opts.margin, opts.eps)));
    }
    let same = anchor.shape() == positive.shape() && anchor.shape() == negative.shape();
    if same && (1..=2).contains(&anchor.ndim()) && opts.p.is_finite() {
        return super::triplet_rows::triplet_fused(anchor, positive, negative, opts);
    }
    triplet_margin_composite(anchor, positive, negative, opts)
}

/// [`triplet_margin_loss`] from differentiable tensor ops (the pairwise
/// distances, minimum, clamp): the path for broadcast shapes and the max
/// norm, and the formula the engine differentiates for gradients of
/// gradients of the fused path.
pub(crate) fn triplet_margin_composite(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    opts: &TripletMarginOptions,
) -> Result<Tensor> {
    const OP: &str = "triplet_margin_loss";
    let dist = |x: &Tensor, y: &Tensor| pairwise_distance(OP, x, y, opts.p, opts.eps);
    hinge(OP, dist, (anchor, positive, negative), opts.margin, opts.swap, opts.reduction)
}

/// Triplet margin loss with any distance (`F.triplet_margin_with_distance_loss`,
/// `nn.TripletMarginWithDistanceLoss`):
/// `ℓ_n = max(d(a_n, p_n) − d(a_n, n_n) + margin, 0)`, `d` the given
/// distance (default the Euclidean pairwise distance, eps 1e-6); with `swap`
/// the negative distance is `min(d(a, n), d(p, n))`. Gradients flow through
/// the distance (built from tensor ops).
///
/// Shapes as [`triplet_margin_loss`]; the distance must return one value per
/// triplet. Errors on `margin <= 0`, inputs of different rank, or an error
/// of the distance.
///
/// ```
/// use std::sync::Arc;
/// use tapegrad::{functional as F, Tensor};
/// let a = Tensor::from_vec(vec![0.0f64, 0.0], &[1, 2])?;
/// let p = Tensor::from_vec(vec![3.0f64, 4.0], &[1, 2])?;
/// let n = Tensor::from_vec(vec![1.0f64, 0.0], &[1, 2])?;
/// let l1: F::Distance = Arc::new(|x: &Tensor, y: &Tensor| x.sub(y)?.abs().sum(-1, false));
/// let opts = F::TripletMarginWithDistanceOptions { distance_function: Some(l1), ..Default::default() };
/// // max(7 − 1 + 1, 0)
/// assert_eq!(F::triplet_margin_with_distance_loss(&a, &p, &n, &opts)?.item::<f64>()?, 7.0);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn triplet_margin_with_distance_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    opts: &TripletMarginWithDistanceOptions,
) -> Result<Tensor> {
    const OP: &str = "triplet_margin_with_distance_loss";
    check_triplet(OP, anchor, positive, negative)?;
    if opts.margin.is_nan() || opts.margin <= 0.0 {
        return Err(Error::value(OP, format!("margin = {}: expected a margin > 0", opts.margin)));
    }
    let dist = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        let d = match &opts.distance_function {
            Some(f) => f(x, y)?,
            None => pairwise_distance(OP, x, y, 2.0, 1e-6)?,
        };
        let lead = |t: &Tensor| t.shape()[..t.ndim().saturating_sub(1)].iter().product::<usize>();
        let expected = lead(x).max(lead(y));
        if d.numel() != expected {
            return Err(Error::shape(
                OP,
                format!("the distance returned shape {:?}; expected one value per triplet ({expected})", d.shape()),
            ));
        }
        Ok(d)
    };
    hinge(OP, dist, (anchor, positive, negative), opts.margin, opts.swap, opts.reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functional::loss::rows::{assert_near, value_and_grads};
    use crate::tensor::DType;
    use rand::SeedableRng;

    #[test]
    fn the_fused_loss_equals_its_composite() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for shape in [&[6usize, 5][..], &[4]] {
            let inputs: Vec<Tensor> = (0..3).map(|_| Tensor::randn(shape, DType::F64, &mut rng)).collect();
            for p in [1.0, 2.0, 3.0, 1.5] {
                for swap in [false, true] {
                    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                        let o = TripletMarginOptions { margin: 0.8, p, eps: 1e-6, swap, reduction };
                        let fused = value_and_grads(|v| triplet_margin_loss(&v[0], &v[1], &v[2], &o), &inputs);
                        let comp = value_and_grads(|v| triplet_margin_composite(&v[0], &v[1], &v[2], &o), &inputs);
                        assert_near("value", &fused.0, &comp.0);
                        for i in 0..3 {
                            assert_near("grad", &fused.1[i], &comp.1[i]);
                        }
                    }
                }
            }
        }
    }
}
