//! Bad input to a loss returns an `Err` naming the op, the argument and the
//! value (never a panic); and PyTorch's edge cases: empty tensors, ±inf logits.

use tapegrad::functional as F;
use tapegrad::{DType, Reduction, Tensor, nn};

fn f32s(v: &[f32], s: &[usize]) -> Tensor {
    Tensor::from_slice(v, s).unwrap()
}
fn i64s(v: &[i64], s: &[usize]) -> Tensor {
    Tensor::from_slice(v, s).unwrap()
}
fn err(r: tapegrad::Result<Tensor>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn class_index_out_of_range_names_position_and_value() {
    let x = Tensor::zeros(&[2, 5, 4], DType::F32);
    let mut t = vec![0i64; 8];
    t[7] = 7;
    let msg = err(F::cross_entropy(&x, &i64s(&t, &[2, 4]), &Default::default()));
    assert_eq!(msg, "cross_entropy: target[1, 3] = 7 is out of range for 5 classes");
    let msg = err(F::nll_loss(&Tensor::zeros(&[3], DType::F32), &Tensor::scalar(-2i64), &Default::default()));
    assert_eq!(msg, "nll_loss: target = -2 is out of range for 3 classes");
    // an ignored value is fine wherever it lies
    let opts = F::NllLossOptions { ignore_index: 9, ..Default::default() };
    assert!(F::nll_loss(&Tensor::zeros(&[1, 3], DType::F32), &i64s(&[9], &[1]), &opts).is_ok());
}

#[test]
fn batch_and_spatial_mismatch() {
    let x = Tensor::zeros(&[3, 4], DType::F64);
    let msg = err(F::nll_loss(&x, &i64s(&[0, 1], &[2]), &Default::default()));
    assert!(msg.contains("batch_size (3)") && msg.contains("batch_size (2)"), "{msg}");
    let x = Tensor::zeros(&[2, 4, 3, 3], DType::F64);
    let msg = err(F::cross_entropy(&x, &Tensor::zeros(&[2, 3, 2], DType::I64), &Default::default()));
    assert!(msg.contains("[2, 3, 2]") && msg.contains("[2, 4, 3, 3]"), "{msg}");
}

#[test]
fn classic_mistakes_get_advice() {
    let x = Tensor::zeros(&[4, 3], DType::F32);
    // float class indices to nll_loss
    let msg = err(F::nll_loss(&x, &Tensor::zeros(&[4], DType::F32), &Default::default()));
    assert!(msg.contains("class indices must be I64") && msg.contains("float tensor of the input's shape"), "{msg}");
    // (N, 1) targets
    let msg = err(F::cross_entropy(&x, &Tensor::zeros(&[4, 1], DType::I64), &Default::default()));
    assert!(msg.contains("squeeze the last dim"), "{msg}");
    // channels-last K-dim input: (N, H, W, C) with targets (N, H, W)
    let msg = err(F::cross_entropy(
        &Tensor::zeros(&[2, 3, 3, 5], DType::F32),
        &Tensor::zeros(&[2, 3, 3], DType::I64),
        &Default::default(),
    ));
    assert!(msg.contains("channels-first"), "{msg}");
    // logits to BCE
    let msg = err(F::binary_cross_entropy(&f32s(&[0.5, 2.0], &[2]), &f32s(&[1.0, 0.0], &[2]), &Default::default()));
    assert!(
        msg.starts_with("binary_cross_entropy: input[1] = 2") && msg.contains("binary_cross_entropy_with_logits"),
        "{msg}"
    );
    assert!(
        err(F::binary_cross_entropy(&f32s(&[f32::NAN], &[1]), &f32s(&[1.0], &[1]), &Default::default()))
            .contains("NaN")
    );
}

#[test]
fn invalid_options() {
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let t = i64s(&[0, 1], &[2]);
    for ls in [-0.1, 1.5, f64::NAN] {
        let msg = err(nn::CrossEntropyLoss::new().label_smoothing(ls).forward(&x, &t));
        assert!(msg.starts_with("cross_entropy: label_smoothing = "), "{msg}");
    }
    let msg = err(nn::NllLoss::new().weight(Tensor::ones(&[2], DType::F32)).forward(&x, &t));
    assert!(msg.contains("weight has shape [2]") && msg.contains("3 elements"), "{msg}");
    let msg = err(nn::NllLoss::new().weight(Tensor::ones(&[3], DType::F64)).forward(&x, &t));
    assert!(msg.contains("weight has dtype F64"), "{msg}");
    let y = Tensor::zeros(&[2, 3], DType::F32);
    assert!(err(nn::SmoothL1Loss::new().beta(-1.0).forward(&x, &y)).contains("beta = -1"));
    assert!(err(nn::HuberLoss::new().delta(0.0).forward(&x, &y)).contains("delta = 0"));
    assert!(err(F::log_softmax(&x, 2)).starts_with("log_softmax: dim = 2"));
    let msg =
        err(F::mse_loss(&Tensor::zeros(&[5, 4], DType::F32), &Tensor::zeros(&[5], DType::F32), &Default::default()));
    assert!(msg.contains("[5]") && msg.contains("[5, 4]"), "{msg}");
    let msg = err(F::mse_loss(&x, &Tensor::zeros(&[2, 3], DType::F64), &Default::default()));
    assert!(msg.contains("F64"), "{msg}");
    let msg = err(F::binary_cross_entropy_with_logits(&x, &Tensor::zeros(&[3, 2], DType::F32), &Default::default()));
    assert!(msg.contains("[3, 2]"), "{msg}");
    let bad_pw = F::BceWithLogitsOptions { pos_weight: Some(Tensor::ones(&[4], DType::F32)), ..Default::default() };
    assert!(err(F::binary_cross_entropy_with_logits(&x, &y, &bad_pw)).contains("pos_weight of shape [4]"));
}

#[test]
fn empty_tensors_reduce_like_pytorch() {
    let x = Tensor::zeros(&[0, 4], DType::F32);
    let t = Tensor::zeros(&[0], DType::I64);
    for (reduction, check) in [
        (Reduction::None, (|v: &Tensor| v.shape() == [0]) as fn(&Tensor) -> bool),
        (Reduction::Sum, |v| v.item::<f32>().unwrap() == 0.0),
        (Reduction::Mean, |v| v.item::<f32>().unwrap().is_nan()),
    ] {
        let ce = nn::CrossEntropyLoss::new().reduction(reduction).forward(&x, &t).unwrap();
        assert!(check(&ce), "cross_entropy {reduction:?}: {ce}");
        let mse = nn::MseLoss::new().reduction(reduction).forward(&x, &x).unwrap();
        assert!(check(&mse.reshape(&[-1]).unwrap()) || reduction != Reduction::None, "mse {reduction:?}: {mse}");
    }
    assert!(F::mse_loss(&x, &x, &Default::default()).unwrap().item::<f32>().unwrap().is_nan());
}

#[test]
fn bce_with_logits_takes_the_limit_at_infinite_logits() {
    let inf = f32::INFINITY;
    let x = f32s(&[inf, -inf, inf, -inf], &[4]).requires_grad();
    let y = f32s(&[1.0, 0.0, 0.0, 1.0], &[4]);
    let opts = F::BceWithLogitsOptions { reduction: Reduction::None, ..Default::default() };
    let l = F::binary_cross_entropy_with_logits(&x, &y, &opts).unwrap();
    assert_eq!(l.to_vec::<f32>().unwrap(), vec![0.0, 0.0, inf, inf]);
    l.sum_all().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![0.0, 0.0, 1.0, -1.0]);
    // with pos_weight too
    let pw = F::BceWithLogitsOptions {
        pos_weight: Some(f32s(&[3.0], &[1])),
        reduction: Reduction::None,
        ..Default::default()
    };
    let l = F::binary_cross_entropy_with_logits(&x, &y, &pw).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(l, vec![0.0, 0.0, inf, inf]);
}

#[test]
fn nan_propagates_through_losses() {
    let x = f32s(&[f32::NAN, 1.0], &[1, 2]);
    let ce = F::cross_entropy(&x, &i64s(&[1], &[1]), &Default::default()).unwrap();
    assert!(ce.item::<f32>().unwrap().is_nan());
    let mse = F::mse_loss(&f32s(&[f32::NAN], &[1]), &f32s(&[0.0], &[1]), &Default::default()).unwrap();
    assert!(mse.item::<f32>().unwrap().is_nan());
}

/// Rows with −inf, +inf, all −inf, or NaN logits give PyTorch's values through
/// `log_softmax`, `softmax`, `cross_entropy` and the fused
/// `nll_loss(log_softmax)`, in rows and K-dim planes (40 classes: the vector
/// paths): −inf logits get probability 0, a +inf logit NaN (and the others
/// −inf / 0), an all −inf row or a NaN anywhere NaN throughout.
#[test]
fn infinite_and_nan_logits_follow_pytorch() {
    let (inf, c) = (f32::INFINITY, 40usize);
    let mut rows: Vec<Vec<f32>> =
        (0..4).map(|r| (0..c).map(|k| ((k * 7 + r) % 11) as f32 / 3.0 - 1.5).collect()).collect();
    rows[0][3] = -inf;
    rows[1][5] = inf;
    rows[2].iter_mut().for_each(|v| *v = -inf);
    rows[3][7] = f32::NAN;
    // f64 reference for row 0's finite entries
    let r0: Vec<f64> = rows[0].iter().map(|&v| v as f64).collect();
    let lse = r0.iter().filter(|v| v.is_finite()).map(|v| v.exp()).sum::<f64>().ln();
    let check = |what: &str, logp: &[Vec<f32>], p: &[Vec<f32>]| {
        for k in 0..c {
            let (lp, pp) = (logp[0][k] as f64, p[0][k] as f64);
            if k == 3 {
                assert!(lp == -inf as f64 && pp == 0.0, "{what} row 0 [{k}]: {lp} {pp}");
            } else {
                assert!(
                    (lp - (r0[k] - lse)).abs() < 1e-5 && (pp - (r0[k] - lse).exp()).abs() < 1e-6,
                    "{what} row 0 [{k}]"
                );
            }
            let (l1, p1) = (logp[1][k], p[1][k]);
            assert!(
                if k == 5 { l1.is_nan() && p1.is_nan() } else { l1 == -inf && p1 == 0.0 },
                "{what} row 1 [{k}]: {l1} {p1}"
            );
            assert!(logp[2][k].is_nan() && p[2][k].is_nan(), "{what} row 2 [{k}]");
            assert!(logp[3][k].is_nan() && p[3][k].is_nan(), "{what} row 3 [{k}]");
        }
    };
    let t = [0i64, 0, 0, 0];
    let want_loss = |logp: &[Vec<f32>]| -> Vec<f32> { (0..4).map(|r| -logp[r][t[r] as usize]).collect() };
    let none = F::NllLossOptions { reduction: Reduction::None, ..Default::default() };
    let ce_none = F::CrossEntropyOptions { reduction: Reduction::None, ..Default::default() };
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
    // rows: (4, C), classes along dim 1
    let x = f32s(&rows.concat(), &[4, c]);
    let split = |t: &Tensor| -> Vec<Vec<f32>> { t.to_vec::<f32>().unwrap().chunks(c).map(|r| r.to_vec()).collect() };
    let logp = split(&F::log_softmax(&x, 1).unwrap());
    check("rows", &logp, &split(&F::softmax(&x, 1).unwrap()));
    let tt = Tensor::from_vec(t.to_vec(), &[4]).unwrap();
    let nll = F::nll_loss(&F::log_softmax(&x, 1).unwrap(), &tt, &none).unwrap().to_vec::<f32>().unwrap();
    let ce = F::cross_entropy(&x, &tt, &ce_none).unwrap().to_vec::<f32>().unwrap();
    assert!(same(&nll, &want_loss(&logp)) && same(&ce, &want_loss(&logp)), "rows: nll {nll:?} ce {ce:?}");
    // K-dim: (1, C, 4), the four rows as four positions of one plane
    let plane: Vec<f32> = (0..c).flat_map(|k| rows.iter().map(move |r| r[k])).collect();
    let x = f32s(&plane, &[1, c, 4]);
    let unplane = |t: &Tensor| -> Vec<Vec<f32>> {
        let v = t.to_vec::<f32>().unwrap();
        (0..4).map(|i| (0..c).map(|k| v[k * 4 + i]).collect()).collect()
    };
    let logp = unplane(&F::log_softmax(&x, 1).unwrap());
    check("plane", &logp, &unplane(&F::softmax(&x, 1).unwrap()));
    let tt = Tensor::from_vec(t.to_vec(), &[1, 4]).unwrap();
    let nll = F::nll_loss(&F::log_softmax(&x, 1).unwrap(), &tt, &none).unwrap().to_vec::<f32>().unwrap();
    let ce = F::cross_entropy(&x, &tt, &ce_none).unwrap().to_vec::<f32>().unwrap();
    assert!(same(&nll, &want_loss(&logp)) && same(&ce, &want_loss(&logp)), "plane: nll {nll:?} ce {ce:?}");
}

/// Many targets are checked on all cores: the first bad one is still the one
/// named (two bad ones in different chunks), and the `mean` divisor still
/// counts every non-ignored target (against the loss summed by hand).
#[test]
fn many_targets_checked_in_parallel_name_the_first_bad_one() {
    let (n, c) = (200_000usize, 3usize);
    let x = Tensor::zeros(&[n, c], DType::F32);
    let mut t: Vec<i64> = (0..n as i64).map(|j| j % 3).collect();
    t[150_001] = 5;
    t[190_000] = -7;
    let msg = err(F::nll_loss(&x, &i64s(&t, &[n]), &Default::default()));
    assert_eq!(msg, "nll_loss: target[150001] = 5 is out of range for 3 classes");
    // logits of class k: k + 1; ignore every fifth target
    let xs: Vec<f32> = (0..n * c).map(|i| (i % c) as f32 + 1.0).collect();
    let t: Vec<i64> = (0..n as i64).map(|j| if j % 5 == 0 { -100 } else { j % 3 }).collect();
    let l = F::nll_loss(&f32s(&xs, &[n, c]), &i64s(&t, &[n]), &Default::default()).unwrap();
    let kept: Vec<i64> = t.iter().copied().filter(|&v| v != -100).collect();
    let want = -(kept.iter().map(|&v| (v + 1) as f64).sum::<f64>()) / kept.len() as f64;
    let got = l.item::<f32>().unwrap() as f64;
    assert!((got - want).abs() < 1e-5 * want.abs(), "{got} vs {want}");
}

/// `nll_loss(log_softmax(x))` with many targets and a gradient to make checks
/// them in its kernel's parallel section: a bad target is still named (the
/// first of two, in different samples), no gradient is left behind, and with
/// ignored targets the `mean` divisor, loss and gradient are those of the
/// unfused chain (`* 1.0` hides the log_softmax from nll_loss); and
/// `cross_entropy`, which on K-dim input takes the same path, gives the same
/// bits and names itself in the error.
#[test]
fn targets_checked_in_the_fused_kernel_name_the_first_bad_one() {
    let (n, c, h, w) = (3usize, 4usize, 160usize, 150usize);
    let mut rng = rand::rng();
    let x = Tensor::randn(&[n, c, h, w], DType::F32, &mut rng).requires_grad();
    let mut t: Vec<i64> = (0..n * h * w).map(|j| (j * 7 % c) as i64).collect();
    t[h * w + 5 * w + 17] = 4;
    t[2 * h * w + 3] = -3;
    let tt = i64s(&t, &[n, h, w]);
    let msg = err(F::nll_loss(&F::log_softmax(&x, 1).unwrap(), &tt, &Default::default()));
    assert_eq!(msg, "nll_loss: target[1, 5, 17] = 4 is out of range for 4 classes");
    // cross_entropy on K-dim input is nll_loss over log_softmax, under its own name
    let msg = err(F::cross_entropy(&x, &tt, &Default::default()));
    assert_eq!(msg, "cross_entropy: target[1, 5, 17] = 4 is out of range for 4 classes");
    assert!(x.grad().is_none());
    let t: Vec<i64> = (0..n * h * w).map(|j| if j % 13 == 2 { -100 } else { (j * 7 % c) as i64 }).collect();
    let tt = i64s(&t, &[n, h, w]);
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let opts = F::NllLossOptions { reduction, ..Default::default() };
        let run = |fused: bool| {
            x.zero_grad();
            let y = F::log_softmax(&x, 1).unwrap();
            let y = if fused { y } else { y.mul_scalar(1.0).unwrap() };
            let l = F::nll_loss(&y, &tt, &opts).unwrap();
            l.backward().unwrap();
            (l.item::<f32>().unwrap(), x.grad().unwrap().to_vec::<f32>().unwrap())
        };
        let ((lf, gf), (lu, gu)) = (run(true), run(false));
        assert_eq!(lf, lu, "{reduction:?}");
        let worst = gf.iter().zip(&gu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-6 * gu.iter().fold(0f32, |m, v| m.max(v.abs())), "{reduction:?}: {worst}");
        x.zero_grad();
        let ce = F::CrossEntropyOptions { reduction, ..Default::default() };
        let l = F::cross_entropy(&x, &tt, &ce).unwrap();
        l.backward().unwrap();
        assert_eq!(l.item::<f32>().unwrap(), lf, "{reduction:?}: cross_entropy");
        assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), gf, "{reduction:?}: cross_entropy grad");
    }
}

/// `BatchMean` is `kl_div`'s alone: every other loss names it in an `Err`.
#[test]
fn batchmean_is_accepted_by_kl_div_only() {
    let bm = Reduction::BatchMean;
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let p = Tensor::full(&[2, 3], 0.5, DType::F32);
    let idx = i64s(&[0, 1], &[2]);
    let y = Tensor::full(&[2], 1.0, DType::F32);
    let checks: Vec<(&str, tapegrad::Result<Tensor>)> = vec![
        ("nll_loss", F::nll_loss(&x, &idx, &F::NllLossOptions { reduction: bm, ..Default::default() })),
        ("cross_entropy", F::cross_entropy(&x, &idx, &F::CrossEntropyOptions { reduction: bm, ..Default::default() })),
        ("binary_cross_entropy", F::binary_cross_entropy(&p, &p, &F::BceOptions { reduction: bm, weight: None })),
        (
            "binary_cross_entropy_with_logits",
            F::binary_cross_entropy_with_logits(
                &x,
                &p,
                &F::BceWithLogitsOptions { reduction: bm, ..Default::default() },
            ),
        ),
        ("smooth_l1_loss", F::smooth_l1_loss(&x, &p, &F::SmoothL1Options { reduction: bm, beta: 1.0 })),
        ("huber_loss", F::huber_loss(&x, &p, &F::HuberOptions { reduction: bm, ..Default::default() })),
        ("mse_loss", F::mse_loss(&x, &p, &F::MseOptions { reduction: bm, weight: None })),
        ("l1_loss", F::l1_loss(&x, &p, &F::L1Options { reduction: bm, weight: None })),
        (
            "poisson_nll_loss",
            F::poisson_nll_loss(&x, &p, &F::PoissonNllOptions { reduction: bm, ..Default::default() }),
        ),
        (
            "gaussian_nll_loss",
            F::gaussian_nll_loss(&x, &p, &p, &F::GaussianNllOptions { reduction: bm, ..Default::default() }),
        ),
        (
            "margin_ranking_loss",
            F::margin_ranking_loss(&x, &p, &p, &F::MarginRankingOptions { reduction: bm, margin: 0.0 }),
        ),
        (
            "hinge_embedding_loss",
            F::hinge_embedding_loss(&x, &p, &F::HingeEmbeddingOptions { reduction: bm, margin: 1.0 }),
        ),
        ("soft_margin_loss", F::soft_margin_loss(&x, &p, &F::SoftMarginOptions { reduction: bm })),
        (
            "multilabel_soft_margin_loss",
            F::multilabel_soft_margin_loss(&x, &p, &F::MultilabelSoftMarginOptions { reduction: bm, weight: None }),
        ),
        (
            "cosine_embedding_loss",
            F::cosine_embedding_loss(&x, &p, &y, &F::CosineEmbeddingOptions { reduction: bm, margin: 0.0 }),
        ),
    ];
    for (op, r) in checks {
        let msg = err(r);
        assert!(msg.starts_with(op) && msg.contains("BatchMean") && msg.contains("kl_div"), "{op}: {msg}");
    }
    let kl = F::kl_div(&x, &p, &F::KlDivOptions { reduction: bm, log_target: false }).unwrap();
    // Σ 0.5·ln 0.5 over 6 elements, divided by the batch of 2
    assert!((kl.item::<f32>().unwrap() - 3.0 * 0.5 * 0.5f32.ln()).abs() < 1e-6);
}

/// A target that would broadcast the input to a larger shape ((N, 1) against
/// (N,) becoming (N, N)) is an `Err` for every elementwise loss; a target
/// that broadcasts without changing the input's shape is accepted.
#[test]
fn elementwise_targets_may_not_enlarge_the_input() {
    let col = Tensor::zeros(&[4, 1], DType::F32);
    let flat = Tensor::full(&[4], 0.5, DType::F32);
    let results: Vec<(&str, tapegrad::Result<Tensor>)> = vec![
        ("mse_loss", F::mse_loss(&col, &flat, &Default::default())),
        ("l1_loss", F::l1_loss(&col, &flat, &Default::default())),
        ("smooth_l1_loss", F::smooth_l1_loss(&col, &flat, &Default::default())),
        ("huber_loss", F::huber_loss(&col, &flat, &Default::default())),
        ("binary_cross_entropy", F::binary_cross_entropy(&col, &flat, &Default::default())),
        ("binary_cross_entropy_with_logits", F::binary_cross_entropy_with_logits(&col, &flat, &Default::default())),
        ("kl_div", F::kl_div(&col, &flat, &Default::default())),
        ("poisson_nll_loss", F::poisson_nll_loss(&col, &flat, &Default::default())),
        ("soft_margin_loss", F::soft_margin_loss(&col, &flat, &Default::default())),
        ("hinge_embedding_loss", F::hinge_embedding_loss(&col, &flat, &Default::default())),
        ("multilabel_soft_margin_loss", F::multilabel_soft_margin_loss(&col, &flat, &Default::default())),
        ("gaussian_nll_loss", F::gaussian_nll_loss(&col, &flat, &col, &Default::default())),
    ];
    for (op, r) in results {
        let msg = err(r);
        assert!(msg.starts_with(op) && msg.contains("[4, 1]") && msg.contains("[4]"), "{op}: {msg}");
        if !op.starts_with("binary") {
            assert!(msg.contains("squeeze or reshape") && msg.contains("[4, 4]"), "{op}: {msg}");
        }
    }
    // a (1, C) target against (N, C): the input's shape is kept, the target's gradient summed back
    let x = Tensor::randn(&[3, 4], DType::F64, &mut rand::rng()).requires_grad();
    let row = Tensor::randn(&[1, 4], DType::F64, &mut rand::rng()).requires_grad();
    for loss in [
        F::mse_loss(&x, &row, &Default::default()).unwrap(),
        F::kl_div(&x, &row.abs(), &Default::default()).unwrap(),
        F::soft_margin_loss(&x, &row, &Default::default()).unwrap(),
    ] {
        row.zero_grad();
        loss.backward().unwrap();
        assert_eq!(row.grad().unwrap().shape(), &[1, 4]);
    }
    let none = F::mse_loss(&x, &row, &F::MseOptions { reduction: Reduction::None, weight: None }).unwrap();
    assert_eq!(none.shape(), &[3, 4]);
    // the input smaller than the target is refused too
    let msg = err(F::mse_loss(&row, &x, &Default::default()));
    assert!(msg.contains("[3, 4]") && msg.contains("squeeze or reshape"), "{msg}");
}

#[test]
fn gaussian_nll_checks_var() {
    let x = Tensor::zeros(&[4, 3], DType::F64);
    let msg = err(F::gaussian_nll_loss(&x, &x, &Tensor::full(&[4, 2], 1.0, DType::F64), &Default::default()));
    assert!(msg.starts_with("gaussian_nll_loss") && msg.contains("var of shape [4, 2]"), "{msg}");
    let mut v = vec![1.0f64; 12];
    v[5] = -0.5;
    let msg = err(F::gaussian_nll_loss(&x, &x, &Tensor::from_vec(v, &[4, 3]).unwrap(), &Default::default()));
    assert!(msg.contains("var[5] = -0.5") && msg.contains("negative"), "{msg}");
    let msg = err(F::gaussian_nll_loss(&x, &x, &Tensor::ones(&[4, 3], DType::F32), &Default::default()));
    assert!(msg.contains("var") && msg.contains("F32"), "{msg}");
    // (4,) and (4, 1) variances are one per sample
    for vs in [&[4][..], &[4, 1][..]] {
        let l = F::gaussian_nll_loss(&x, &x, &Tensor::ones(vs, DType::F64), &Default::default()).unwrap();
        assert_eq!(l.item::<f64>().unwrap(), 0.0);
    }
}

#[test]
fn pair_losses_check_their_shapes_and_options() {
    let a = Tensor::zeros(&[3, 4], DType::F32);
    let t = Tensor::ones(&[3], DType::F32);
    let msg = err(F::margin_ranking_loss(&a, &a, &t, &Default::default()));
    assert!(msg.starts_with("margin_ranking_loss") && msg.contains("same number of dims"), "{msg}");
    let msg = err(F::margin_ranking_loss(&t, &Tensor::ones(&[4], DType::F32), &t, &Default::default()));
    assert!(msg.contains("input1 of shape [3]") && msg.contains("input2 of shape [4]"), "{msg}");
    let msg = err(F::cosine_embedding_loss(&a, &Tensor::zeros(&[3, 5], DType::F32), &t, &Default::default()));
    assert!(msg.contains("[3, 4]") && msg.contains("[3, 5]"), "{msg}");
    let msg = err(F::cosine_embedding_loss(&a, &a, &a, &Default::default()));
    assert!(msg.contains("target has 2 dims"), "{msg}");
    let msg = err(F::cosine_embedding_loss(&t, &t, &t, &Default::default()));
    assert!(msg.contains("expects 2-d inputs"), "{msg}");
    let msg = err(F::cosine_embedding_loss(&a, &a, &Tensor::ones(&[2], DType::F32), &Default::default()));
    assert!(msg.contains("target of shape [2]"), "{msg}");
    let msg =
        err(F::hinge_embedding_loss(&a, &a, &F::HingeEmbeddingOptions { margin: f64::NAN, ..Default::default() }));
    assert!(msg.contains("margin = NaN"), "{msg}");
    let msg =
        err(F::multilabel_soft_margin_loss(&Tensor::scalar(1.0f32), &Tensor::scalar(1.0f32), &Default::default()));
    assert!(msg.contains("0-d"), "{msg}");
    let msg = err(F::kl_div(&a, &Tensor::zeros(&[3, 4], DType::F64), &Default::default()));
    assert!(msg.starts_with("kl_div") && msg.contains("F64"), "{msg}");
    let msg = err(F::cosine_similarity(&a, &Tensor::zeros(&[2, 4], DType::F32), 1, 1e-8));
    assert!(msg.starts_with("cosine_similarity") && msg.contains("[2, 4]"), "{msg}");
    let msg = err(F::cosine_similarity(&a, &a, 2, 1e-8));
    assert!(msg.starts_with("cosine_similarity"), "{msg}");
    let msg = err(F::pairwise_distance(&a, &a, f64::NAN, 1e-6, false));
    assert!(msg.starts_with("pairwise_distance") && msg.contains("p = NaN"), "{msg}");
    let msg = err(F::linear(&a, &Tensor::zeros(&[4], DType::F32), Some(&Tensor::zeros(&[2], DType::F32))));
    assert!(msg.contains("1-D weight"), "{msg}");
}

#[test]
fn margin_losses_reject_bad_targets_and_options() {
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let msg = err(F::multi_margin_loss(&x, &i64s(&[0, 3], &[2]), &Default::default()));
    assert_eq!(msg, "multi_margin_loss: target[1] = 3 is out of range for 3 classes");
    let opts = F::MultiMarginOptions { p: 3, ..Default::default() };
    assert!(err(F::multi_margin_loss(&x, &i64s(&[0, 1], &[2]), &opts)).contains("p = 3"));
    let opts = F::MultiMarginOptions { weight: Some(f32s(&[1.0, 1.0], &[2])), ..Default::default() };
    assert!(err(F::multi_margin_loss(&x, &i64s(&[0, 1], &[2]), &opts)).contains("weight has shape [2]"));
    assert!(err(F::multi_margin_loss(&x, &f32s(&[0.0, 1.0], &[2]), &Default::default())).contains("dtype F32"));
    let msg = err(F::multilabel_margin_loss(&x, &i64s(&[0, 3, -1, 1, -1, 0], &[2, 3]), &Default::default()));
    assert!(msg.starts_with("multilabel_margin_loss: target[1] = 3 is out of range"), "{msg}");
    let msg = err(F::multilabel_margin_loss(&x, &i64s(&[0, 1], &[2]), &Default::default()));
    assert!(msg.contains("expected the input's shape [2, 3]"), "{msg}");
}

#[test]
fn triplet_losses_reject_mismatched_embeddings_and_options() {
    let a = Tensor::zeros(&[3, 4], DType::F64);
    let n = Tensor::zeros(&[2, 4], DType::F64);
    assert!(F::triplet_margin_loss(&a, &a, &n, &Default::default()).is_err());
    let msg = err(F::triplet_margin_loss(&a, &a, &Tensor::zeros(&[4], DType::F64), &Default::default()));
    assert!(msg.contains("expected the same number of dims"), "{msg}");
    let opts = F::TripletMarginOptions { p: 0.0, ..Default::default() };
    assert!(err(F::triplet_margin_loss(&a, &a, &a, &opts)).contains("p = 0"));
    let opts = F::TripletMarginWithDistanceOptions { margin: 0.0, ..Default::default() };
    assert!(err(F::triplet_margin_with_distance_loss(&a, &a, &a, &opts)).contains("margin = 0"));
    // a distance returning one value per element rather than per triplet
    let bad: F::Distance = std::sync::Arc::new(|x: &Tensor, y: &Tensor| x.sub(y));
    let opts = F::TripletMarginWithDistanceOptions { distance_function: Some(bad), ..Default::default() };
    let msg = err(F::triplet_margin_with_distance_loss(&a, &a, &a, &opts));
    assert!(msg.contains("one value per triplet"), "{msg}");
    let f = Tensor::zeros(&[3, 4], DType::F32);
    assert!(err(F::triplet_margin_loss(&a, &f, &a, &Default::default())).contains("positive"));
}

#[test]
fn ctc_loss_rejects_lengths_and_labels_out_of_range() {
    let lp = Tensor::zeros(&[5, 2, 3], DType::F64);
    let y = i64s(&[1, 2, 1, 1], &[2, 2]);
    let len = |v: &[i64]| i64s(v, &[v.len()]);
    let msg = err(F::ctc_loss(&lp, &y, &len(&[6, 5]), &len(&[2, 2]), &Default::default()));
    assert_eq!(msg, "ctc_loss: input_lengths[0] = 6 exceeds the 5 time steps of log_probs");
    let msg = err(F::ctc_loss(&lp, &i64s(&[1, 3, 1, 1], &[2, 2]), &len(&[5, 5]), &len(&[2, 2]), &Default::default()));
    assert_eq!(msg, "ctc_loss: target value 3 of sample 0 (label 1) is out of range for 3 classes");
    let msg = err(F::ctc_loss(&lp, &i64s(&[1, 0, 1, 1], &[2, 2]), &len(&[5, 5]), &len(&[2, 2]), &Default::default()));
    assert_eq!(msg, "ctc_loss: target value 0 of sample 0 (label 1) is the blank (0)");
    let msg = err(F::ctc_loss(&lp, &y, &len(&[5, 5]), &len(&[3, 2]), &Default::default()));
    assert!(msg.contains("target_lengths[0] = 3 exceeds"), "{msg}");
    let msg = err(F::ctc_loss(&lp, &i64s(&[1, 2, 1], &[3]), &len(&[5, 5]), &len(&[2, 2]), &Default::default()));
    assert!(msg.contains("target_lengths sum to at least 4"), "{msg}");
    let msg = err(F::ctc_loss(&lp, &y, &len(&[5]), &len(&[2, 2]), &Default::default()));
    assert!(msg.contains("input_lengths has shape [1]"), "{msg}");
    let msg = err(F::ctc_loss(&lp, &y, &len(&[5, -1]), &len(&[2, 2]), &Default::default()));
    assert!(msg.contains("input_lengths[1] = -1"), "{msg}");
    let opts = F::CtcLossOptions { blank: 3, ..Default::default() };
    assert!(err(F::ctc_loss(&lp, &y, &len(&[5, 5]), &len(&[2, 2]), &opts)).contains("blank = 3"));
    // an input too short for its target: an infinite loss, or zero with zero_infinity
    let lp = F::log_softmax(&Tensor::zeros(&[2, 1, 3], DType::F64), 2).unwrap().requires_grad();
    let y = i64s(&[1, 1, 2], &[1, 3]);
    let none = F::CtcLossOptions { reduction: Reduction::None, ..Default::default() };
    let loss = F::ctc_loss(&lp, &y, &len(&[2]), &len(&[3]), &none).unwrap();
    assert_eq!(loss.to_vec::<f64>().unwrap(), vec![f64::INFINITY]);
    let zi = F::CtcLossOptions { zero_infinity: true, ..none };
    let loss = F::ctc_loss(&lp, &y, &len(&[2]), &len(&[3]), &zi).unwrap();
    assert_eq!(loss.to_vec::<f64>().unwrap(), vec![0.0]);
    loss.sum_all().backward().unwrap();
    assert!(lp.grad().unwrap().to_vec::<f64>().unwrap().iter().all(|&g| g == 0.0));
}

#[test]
fn linear_cross_entropy_rejects_mismatched_features_and_targets() {
    let x = Tensor::zeros(&[3, 4], DType::F64);
    let msg = err(F::linear_cross_entropy(
        &x,
        &Tensor::zeros(&[5, 3], DType::F64),
        &i64s(&[0, 1, 2], &[3]),
        None,
        &Default::default(),
    ));
    assert!(msg.contains("equal in_features"), "{msg}");
    let w = Tensor::zeros(&[5, 4], DType::F64);
    let msg = err(F::linear_cross_entropy(&x, &w, &i64s(&[0, 5, 2], &[3]), None, &Default::default()));
    assert_eq!(msg, "linear_cross_entropy: target[1] = 5 is out of range for 5 classes");
    let b = Tensor::zeros(&[4], DType::F64);
    assert!(
        err(F::linear_cross_entropy(&x, &w, &i64s(&[0, 1, 2], &[3]), Some(&b), &Default::default()))
            .contains("linear_bias")
    );
    let opts = F::LinearCrossEntropyOptions { chunk_rows: Some(0), ..Default::default() };
    assert!(err(F::linear_cross_entropy(&x, &w, &i64s(&[0, 1, 2], &[3]), None, &opts)).contains("chunk_rows = 0"));
    let opts = F::LinearCrossEntropyOptions { label_smoothing: 1.5, ..Default::default() };
    assert!(err(F::linear_cross_entropy(&x, &w, &i64s(&[0, 1, 2], &[3]), None, &opts)).contains("label_smoothing"));
    let msg = err(F::linear_cross_entropy(&x, &w, &Tensor::zeros(&[3, 4], DType::F64), None, &Default::default()));
    assert!(msg.contains("class probabilities need [3, 5]"), "{msg}");
    // nn: the module's forward reports the functional's errors
    let head = nn::LinearCrossEntropyLoss::new(4, 5, &mut rand::rng());
    assert!(head.forward(&Tensor::zeros(&[3, 2], DType::F32), &i64s(&[0, 1, 2], &[3])).is_err());
}

/// `binary_cross_entropy(sigmoid(x), y)` is computed on `x` in one pass; a
/// NaN logit is still the error a NaN probability is, for every reduction,
/// and a NaN target still gives a NaN loss.
#[test]
fn bce_of_sigmoid_reports_a_nan_logit() {
    use tapegrad::Reduction;
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let opts = F::BceOptions { weight: None, reduction };
        let x = Tensor::from_vec(vec![0.5f32, f32::NAN, -2.0], &[3]).unwrap().requires_grad();
        let y = Tensor::from_vec(vec![1.0f32, 0.0, 0.5], &[3]).unwrap();
        let e = F::binary_cross_entropy(&F::sigmoid(&x).unwrap(), &y, &opts).unwrap_err();
        assert_eq!(e.op(), "binary_cross_entropy");
        assert!(e.to_string().contains("input[1] = NaN is outside [0, 1]"), "{e}");
        let x = Tensor::from_vec(vec![0.5f32, 1.0, -2.0], &[3]).unwrap();
        let y = Tensor::from_vec(vec![1.0f32, f32::NAN, 0.5], &[3]).unwrap();
        let l = F::binary_cross_entropy(&F::sigmoid(&x).unwrap(), &y, &opts).unwrap();
        assert!(l.to_vec::<f32>().unwrap()[if reduction == Reduction::None { 1 } else { 0 }].is_nan());
    }
}
