//! Property test over the public surface: random shapes (0- and 1-sized dims,
//! up to 6 dims), random dtypes (also the wrong ones), NaN / ±inf data, option
//! values that are negative, NaN or huge, out-of-range and negative targets.
//! Every call must return `Ok` or `Err` — never panic — and so must the
//! backward of every `Ok` result.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Result, Tensor};

fn dtype(r: &mut StdRng) -> DType {
    [DType::F32, DType::F64, DType::I64, DType::F32, DType::F64, DType::Bool][r.random_range(0..6)]
}

fn shape(r: &mut StdRng) -> Vec<usize> {
    (0..r.random_range(0..=6)).map(|_| r.random_range(0..=3)).collect()
}

/// A tensor of `shape` and `dtype` holding ordinary values, NaN, ±inf and
/// integers in -3..8 (class-index-like), mixed.
fn tensor(r: &mut StdRng, shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| match r.random_range(0..12) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3..=5 => r.random_range(-3..8) as f64,
            6 => r.random_range(0.0..1.0),
            _ => r.random_range(-5.0..5.0),
        })
        .collect();
    Tensor::from_vec(v, shape).unwrap().to_dtype(dtype).unwrap()
}

fn odd_f64(r: &mut StdRng) -> f64 {
    [-1.0, 0.0, 0.3, 1.0, 1.5, f64::NAN, f64::INFINITY, 1e30, -1e-9][r.random_range(0..9)]
}

fn maybe(r: &mut StdRng, t: Tensor) -> Option<Tensor> {
    r.random_range(0..3).eq(&0).then_some(t)
}

fn call(seed: u64) -> Result<Tensor> {
    let r = &mut StdRng::seed_from_u64(seed);
    let xs = shape(r);
    let xd = dtype(r);
    let x = tensor(r, &xs, xd);
    let x = if r.random_range(0..2) == 0 { x.requires_grad() } else { x };
    // targets: the input's shape, a class-index shape, or anything
    let ts: Vec<usize> = match r.random_range(0..3) {
        0 => xs.clone(),
        1 if xs.len() >= 2 => xs.iter().enumerate().filter(|&(i, _)| i != 1).map(|(_, &d)| d).collect(),
        _ => shape(r),
    };
    let td = dtype(r);
    let t = tensor(r, &ts, td);
    let red = [Reduction::None, Reduction::Mean, Reduction::Sum][r.random_range(0..3)];
    let wshape = if r.random_range(0..2) == 0 { xs.get(1).map(|&c| vec![c]).unwrap_or_default() } else { shape(r) };
    let wd = dtype(r);
    let w = tensor(r, &wshape, wd);
    let w = maybe(r, w);
    let dim = r.random_range(-8..8i64) as isize;
    match r.random_range(0..23) {
        0 => F::nll_loss(
            &x,
            &t,
            &F::NllLossOptions { weight: w, ignore_index: r.random_range(-200..200), reduction: red },
        ),
        // the fused path: nll_loss of a log_softmax (over the class dim or another)
        19 => F::nll_loss(
            &F::log_softmax(&x, dim)?,
            &t,
            &F::NllLossOptions { weight: w, ignore_index: r.random_range(-3..5), reduction: red },
        ),
        1 => F::cross_entropy(
            &x,
            &t,
            &F::CrossEntropyOptions {
                weight: w,
                ignore_index: r.random_range(-3..5),
                reduction: red,
                label_smoothing: odd_f64(r),
            },
        ),
        2 => F::binary_cross_entropy(&x, &t, &F::BceOptions { weight: w, reduction: red }),
        3 => {
            let (ps, pd) = (shape(r), dtype(r));
            let pw = tensor(r, &ps, pd);
            let pos_weight = maybe(r, pw);
            F::binary_cross_entropy_with_logits(
                &x,
                &t,
                &F::BceWithLogitsOptions { weight: w, pos_weight, reduction: red },
            )
        }
        4 => F::smooth_l1_loss(&x, &t, &F::SmoothL1Options { reduction: red, beta: odd_f64(r) }),
        5 => F::huber_loss(&x, &t, &F::HuberOptions { reduction: red, delta: odd_f64(r), weight: w }),
        6 => F::mse_loss(&x, &t, &F::MseOptions { reduction: red, weight: w }),
        7 => F::l1_loss(&x, &t, &F::L1Options { reduction: red, weight: w }),
        8 => F::log_softmax(&x, dim),
        9 => F::softmax(&x, dim),
        10 => F::sigmoid(&x),
        11 => F::linear(&x, &t, w.as_ref()),
        12 => {
            let opts = F::Conv2dOptions {
                stride: (r.random_range(0..3), r.random_range(0..3)),
                padding: (r.random_range(0..3), r.random_range(0..3)),
                dilation: (r.random_range(0..3), r.random_range(0..3)),
                groups: r.random_range(0..3),
            };
            F::conv2d(&x, &t, w.as_ref(), &opts)
        }
        13 => nn::Linear::from_parts(t, w)?.forward(&x),
        14 => {
            let shape: Vec<isize> = (0..r.random_range(0..4)).map(|_| r.random_range(-2..4i64) as isize).collect();
            x.reshape(&shape)?.sum(dim, r.random_range(0..2) == 0)
        }
        15 => x.matmul(&t)?.max(dim, false),
        16 => match r.random_range(0..4) {
            0 => {
                let m = nn::CrossEntropyLoss::new()
                    .label_smoothing(odd_f64(r))
                    .ignore_index(r.random_range(-3..5))
                    .reduction(red);
                match w {
                    Some(w) => m.weight(w),
                    None => m,
                }
                .forward(&x, &t)
            }
            1 => nn::HuberLoss::new().delta(odd_f64(r)).reduction(red).forward(&x, &t),
            2 => nn::SmoothL1Loss::new().beta(odd_f64(r)).forward(&x, &t),
            _ => match w {
                Some(w) => nn::BceWithLogitsLoss::new().pos_weight(w).forward(&x, &t),
                None => nn::NllLoss::new().ignore_index(r.random_range(-200..200)).forward(&x, &t),
            },
        },
        17 => nn::Sequential::new(vec![
            Box::new(nn::LogSoftmax::new(dim)),
            Box::new(nn::Softmax::new(dim)),
            Box::new(nn::Sigmoid::new()),
            Box::new(nn::ReLU::new()),
        ])
        .forward(&x),
        20 => {
            // comparisons (broadcasting, mixed dtypes), arg-extremes, masks
            let c = match r.random_range(0..8) {
                0 => x.eq(&t),
                1 => x.ne(&t),
                2 => x.lt(&t),
                3 => x.le(&t),
                4 => x.gt_scalar(odd_f64(r)),
                5 => x.ge_scalar(odd_f64(r)),
                6 => x.argmax(dim, r.random_range(0..2) == 0),
                _ => x.argmin(dim, r.random_range(0..2) == 0),
            }?;
            let _ = c.sum_all();
            let _ = c.to_dtype(dtype(r));
            let _ = format!("{c}");
            Tensor::where_cond(&c, &x, &t)
        }
        21 => {
            // operators on every pairing, reshape spellings
            let ok: Result<Tensor> = Ok(t.clone());
            let y = match r.random_range(0..6) {
                0 => &x * &t + &x,
                1 => (&x - ok)? / 2,
                2 => 1.5 - &x,
                3 => x.clone() * t.clone(),
                4 => x.reshape(t.shape()),
                _ => {
                    let dims: Vec<i64> = (0..r.random_range(0..4)).map(|_| r.random_range(-2..5)).collect();
                    x.view(&dims)
                }
            }?;
            Ok(-y)
        }
        22 => {
            // embedding lookups and batches
            let emb = match w {
                Some(w) => F::embedding(&t, &w),
                None => nn::Embedding::new(r.random_range(0..6), r.random_range(0..4), r)
                    .padding_idx(r.random_range(-8..8))
                    .forward(&t),
            };
            let n = r.random_range(0..10);
            for b in
                tapegrad::data::Batches::new(n, r.random_range(0..4))?.shuffle(r).drop_last(r.random_range(0..2) == 0)
            {
                let _ = b.select(&x);
            }
            emb
        }
        _ => {
            // constructors and conversions with wrong lengths, empty ranges, odd values
            let n = r.random_range(0..30);
            let s2 = shape(r);
            let _ = Tensor::from_vec(vec![1.5f32; n], &s2);
            let _ = Tensor::from_slice(&vec![2i64; n], &s2);
            let _ = Tensor::full(&s2, odd_f64(r), dtype(r));
            let _ = Tensor::randint(r.random_range(-5..5), r.random_range(-5..5), &s2, r);
            let _ = (x.item::<f32>(), x.to_vec::<i64>(), x.to_dtype(dtype(r)));
            let _ = x.clamp(Some(odd_f64(r)), Some(odd_f64(r)));
            x.pow(odd_f64(r))?.unsqueeze(dim)?.squeeze(dim)?.permute(&[dim])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]
    #[test]
    fn no_call_panics(seed in any::<u64>()) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(out) = call(seed)
                && out.tracks_grad()
                && out.dtype().is_float()
            {
                let _ = out.backward_with(&out.full_like(1.0));
            }
        }));
        prop_assert!(outcome.is_ok(), "seed {} panicked", seed);
    }
}

/// The divergence, likelihood, margin and distance surface: the same kind of
/// random tensors, dtypes and odd options, through functionals and modules.
fn call_divergence_margin(seed: u64) -> Result<Tensor> {
    let r = &mut StdRng::seed_from_u64(seed);
    let xs = shape(r);
    let xd = dtype(r);
    let x = tensor(r, &xs, xd);
    let x = if r.random_range(0..2) == 0 { x.requires_grad() } else { x };
    let other = |r: &mut StdRng| -> Tensor {
        let s = match r.random_range(0..3) {
            0 => xs.clone(),
            1 => xs[..xs.len().saturating_sub(1)].to_vec(),
            _ => shape(r),
        };
        let d = if r.random_range(0..3) == 0 { dtype(r) } else { xd };
        let t = tensor(r, &s, d);
        if r.random_range(0..2) == 0 && t.dtype().is_float() { t.requires_grad() } else { t }
    };
    let (t, v) = (other(r), other(r));
    let red = [Reduction::None, Reduction::Mean, Reduction::Sum, Reduction::BatchMean][r.random_range(0..4)];
    let flag = r.random_range(0..2) == 0;
    let w0 = other(r);
    let w = maybe(r, w0);
    let dim = r.random_range(-8..8i64) as isize;
    match r.random_range(0..13) {
        0 => F::kl_div(&x, &t, &F::KlDivOptions { reduction: red, log_target: flag }),
        1 => F::poisson_nll_loss(
            &x,
            &t,
            &F::PoissonNllOptions { log_input: flag, full: !flag, eps: odd_f64(r), reduction: red },
        ),
        2 => F::gaussian_nll_loss(&x, &t, &v, &F::GaussianNllOptions { full: flag, eps: odd_f64(r), reduction: red }),
        3 => F::margin_ranking_loss(&x, &t, &v, &F::MarginRankingOptions { margin: odd_f64(r), reduction: red }),
        4 => F::hinge_embedding_loss(&x, &t, &F::HingeEmbeddingOptions { margin: odd_f64(r), reduction: red }),
        5 => F::soft_margin_loss(&x, &t, &F::SoftMarginOptions { reduction: red }),
        6 => F::multilabel_soft_margin_loss(&x, &t, &F::MultilabelSoftMarginOptions { weight: w, reduction: red }),
        7 => F::cosine_embedding_loss(&x, &t, &v, &F::CosineEmbeddingOptions { margin: odd_f64(r), reduction: red }),
        8 => F::pairwise_distance(&x, &t, odd_f64(r), odd_f64(r), flag),
        9 => F::cosine_similarity(&x, &t, dim, odd_f64(r)),
        10 => F::linear(&x, &t, w.as_ref()),
        11 => match r.random_range(0..4) {
            0 => nn::KlDivLoss::new().log_target(flag).reduction(red).forward(&x, &t),
            1 => nn::GaussianNllLoss::new().eps(odd_f64(r)).forward(&x, &t, &v),
            2 => nn::CosineEmbeddingLoss::new().margin(odd_f64(r)).forward(&x, &t, &v),
            _ => nn::MarginRankingLoss::new().margin(odd_f64(r)).reduction(red).forward(&x, &t, &v),
        },
        _ => match r.random_range(0..4) {
            0 => nn::PoissonNllLoss::new().log_input(flag).full(flag).forward(&x, &t),
            1 => nn::HingeEmbeddingLoss::new().margin(odd_f64(r)).forward(&x, &t),
            2 => nn::SoftMarginLoss::new().reduction(red).forward(&x, &t),
            _ => match w {
                Some(w) => nn::MultiLabelSoftMarginLoss::new().weight(w).forward(&x, &t),
                None => nn::MultiLabelSoftMarginLoss::new().reduction(red).forward(&x, &t),
            },
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
    #[test]
    fn no_divergence_margin_call_panics(seed in any::<u64>()) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(out) = call_divergence_margin(seed)
                && out.tracks_grad()
                && out.dtype().is_float()
            {
                let _ = out.backward_with(&out.full_like(1.0));
            }
        }));
        prop_assert!(outcome.is_ok(), "seed {} panicked", seed);
    }
}
