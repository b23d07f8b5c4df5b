//! Random configurations of the margin, triplet, CTC and chunked linear
//! cross-entropy losses: shapes, options and reductions, with a functional
//! and an `nn` path for each.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Result, Tensor};

pub const MORE_LOSSES: [&str; 6] =
    ["multilabel_margin", "multi_margin", "triplet", "triplet_distance", "ctc", "linear_ce"];

#[derive(Clone, Debug)]
pub enum Opts {
    MultiLabel(F::MultilabelMarginOptions),
    MultiMargin(F::MultiMarginOptions),
    Triplet(F::TripletMarginOptions),
    /// the options, and whether the distance is a user's (L1) rather than the default
    TripletDistance(F::TripletMarginWithDistanceOptions, bool),
    Ctc(F::CtcLossOptions),
    /// the options, and whether there is a bias
    LinearCe(F::LinearCrossEntropyOptions, bool),
}

/// One configuration: the differentiable tensors `floats` and the fixed ones
/// (targets, lengths).
#[derive(Clone, Debug)]
pub struct MoreCase {
    pub loss: &'static str,
    pub floats: Vec<Tensor>,
    pub fixed: Vec<Tensor>,
    pub opts: Opts,
}

fn l1_distance() -> F::Distance {
    Arc::new(|x: &Tensor, y: &Tensor| x.sub(y)?.abs().sum(-1, false))
}

impl MoreCase {
    /// The functional loss at `f` (in place of `floats`). CTC takes the
    /// log-softmax of `f[0]` first (its gradient assumes normalised input).
    pub fn functional(&self, f: &[Tensor]) -> Result<Tensor> {
        let k = &self.fixed;
        match &self.opts {
            Opts::MultiLabel(o) => F::multilabel_margin_loss(&f[0], &k[0], o),
            Opts::MultiMargin(o) => F::multi_margin_loss(&f[0], &k[0], o),
            Opts::Triplet(o) => F::triplet_margin_loss(&f[0], &f[1], &f[2], o),
            Opts::TripletDistance(o, _) => F::triplet_margin_with_distance_loss(&f[0], &f[1], &f[2], o),
            Opts::Ctc(o) => F::ctc_loss(&F::log_softmax(&f[0], -1)?, &k[0], &k[1], &k[2], o),
            Opts::LinearCe(o, _) => F::linear_cross_entropy(&f[0], &f[1], &k[0], f.get(2), o),
        }
    }

    /// The same loss through its `nn` module, built with the builders.
    pub fn module(&self, f: &[Tensor]) -> Result<Tensor> {
        let k = &self.fixed;
        match &self.opts {
            Opts::MultiLabel(o) => nn::MultiLabelMarginLoss::new().reduction(o.reduction).forward(&f[0], &k[0]),
            Opts::MultiMargin(o) => {
                let mut m = nn::MultiMarginLoss::new().reduction(o.reduction).p(o.p).margin(o.margin);
                if let Some(w) = &o.weight {
                    m = m.weight(w.clone());
                }
                m.forward(&f[0], &k[0])
            }
            Opts::Triplet(o) => nn::TripletMarginLoss::new()
                .reduction(o.reduction)
                .margin(o.margin)
                .p(o.p)
                .eps(o.eps)
                .swap(o.swap)
                .forward(&f[0], &f[1], &f[2]),
            Opts::TripletDistance(o, custom) => {
                let mut m =
                    nn::TripletMarginWithDistanceLoss::new().reduction(o.reduction).margin(o.margin).swap(o.swap);
                if *custom {
                    m = m.distance_function(l1_distance());
                }
                m.forward(&f[0], &f[1], &f[2])
            }
            Opts::Ctc(o) => nn::CtcLoss::new()
                .reduction(o.reduction)
                .blank(o.blank)
                .zero_infinity(o.zero_infinity)
                .forward(&F::log_softmax(&f[0], -1)?, &k[0], &k[1], &k[2]),
            Opts::LinearCe(..) => unreachable!("LinearCrossEntropyLoss holds its own weight: see linear_ce_module"),
        }
    }
}

fn reduction(r: &mut StdRng) -> Reduction {
    [Reduction::None, Reduction::Mean, Reduction::Sum][r.random_range(0..3)]
}

/// A random configuration of `loss` in `dtype`.
pub fn random_more_case(loss: &'static str, dtype: DType, seed: u64) -> MoreCase {
    let mut r = StdRng::seed_from_u64(seed);
    let randn = |r: &mut StdRng, s: &[usize]| Tensor::randn(s, dtype, r);
    let n = r.random_range(1..5);
    let c = r.random_range(2..7);
    let (floats, fixed, opts) = match loss {
        "multilabel_margin" => {
            let one_d = r.random_bool(0.2);
            let s: Vec<usize> = if one_d { vec![c] } else { vec![n, c] };
            let rows = if one_d { 1 } else { n };
            let mut t = Vec::new();
            for _ in 0..rows {
                let k = r.random_range(0..=c);
                t.extend((0..c).map(|i| if i < k { r.random_range(0..c as i64) } else { -1 }));
            }
            let t = Tensor::from_vec(t, &s).unwrap();
            (
                vec![randn(&mut r, &s)],
                vec![t],
                Opts::MultiLabel(F::MultilabelMarginOptions { reduction: reduction(&mut r) }),
            )
        }
        "multi_margin" => {
            let t = Tensor::randint(0, c as i64, &[n], &mut r);
            let weight = r.random_bool(0.5).then(|| Tensor::rand(&[c], dtype, &mut r).add_scalar(0.2).unwrap());
            let o = F::MultiMarginOptions {
                p: r.random_range(1..3),
                margin: r.random_range(0.1..2.0),
                weight,
                reduction: reduction(&mut r),
            };
            (vec![randn(&mut r, &[n, c])], vec![t], Opts::MultiMargin(o))
        }
        "triplet" | "triplet_distance" => {
            let d = r.random_range(1..6);
            let s: Vec<usize> = if r.random_bool(0.2) { vec![d] } else { vec![n, d] };
            let floats = (0..3).map(|_| randn(&mut r, &s)).collect();
            let (margin, swap, red) = (r.random_range(0.1..2.0), r.random_bool(0.5), reduction(&mut r));
            let opts = if loss == "triplet" {
                let p = [1.0, 2.0, 3.0, 1.5][r.random_range(0..4)];
                Opts::Triplet(F::TripletMarginOptions { margin, p, eps: 1e-6, swap, reduction: red })
            } else {
                let custom = r.random_bool(0.5);
                let o = F::TripletMarginWithDistanceOptions {
                    distance_function: custom.then(l1_distance),
                    margin,
                    swap,
                    reduction: red,
                };
                Opts::TripletDistance(o, custom)
            };
            (floats, vec![], opts)
        }
        "ctc" => {
            let t_len = r.random_range(1..9);
            let s_max = r.random_range(1..5);
            let blank = r.random_range(0..c as i64);
            let label = |r: &mut StdRng| loop {
                let v = r.random_range(0..c as i64);
                if v != blank {
                    break v;
                }
            };
            let il: Vec<i64> = (0..n).map(|_| r.random_range(0..=t_len as i64)).collect();
            let tl: Vec<i64> = (0..n).map(|_| r.random_range(0..=s_max as i64)).collect();
            let concatenated = r.random_bool(0.5);
            let targets = if concatenated {
                let total: i64 = tl.iter().sum();
                Tensor::from_vec((0..total).map(|_| label(&mut r)).collect(), &[total as usize]).unwrap()
            } else {
                Tensor::from_vec((0..n * s_max).map(|_| label(&mut r)).collect(), &[n, s_max]).unwrap()
            };
            let o = F::CtcLossOptions { blank, reduction: reduction(&mut r), zero_infinity: true };
            let fixed = vec![targets, Tensor::from_vec(il, &[n]).unwrap(), Tensor::from_vec(tl, &[n]).unwrap()];
            (vec![randn(&mut r, &[t_len, n, c])], fixed, Opts::Ctc(o))
        }
        "linear_ce" => {
            let fin = r.random_range(1..5);
            let probs = r.random_bool(0.3);
            let t = if probs {
                F::softmax(&randn(&mut r, &[n, c]), 1).unwrap()
            } else {
                Tensor::randint(0, c as i64, &[n], &mut r)
            };
            let bias = r.random_bool(0.5);
            let mut floats = vec![randn(&mut r, &[n, fin]), randn(&mut r, &[c, fin])];
            if bias {
                floats.push(randn(&mut r, &[c]));
            }
            let o = F::LinearCrossEntropyOptions {
                weight: r.random_bool(0.5).then(|| Tensor::rand(&[c], dtype, &mut r).add_scalar(0.2).unwrap()),
                ignore_index: if r.random_bool(0.3) { 0 } else { -100 },
                reduction: reduction(&mut r),
                label_smoothing: if r.random_bool(0.5) { r.random_range(0.0..0.5) } else { 0.0 },
                chunk_rows: Some(r.random_range(1..4)),
            };
            (floats, vec![t], Opts::LinearCe(o, bias))
        }
        other => panic!("unknown loss {other}"),
    };
    MoreCase { loss, floats, fixed, opts }
}
