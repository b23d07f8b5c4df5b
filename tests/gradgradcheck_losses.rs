//! gradgradcheck (finite differences of the analytic gradient, f64) over the
//! random loss configurations gradcheck uses: shapes, weights, ignore_index,
//! label smoothing, pos_weight, beta, delta, reductions; second derivatives
//! in the input and in float targets. The divergence, likelihood and margin
//! losses, the distances and embedding likewise, over the configurations
//! their gradcheck draws.

mod common;

use common::cases::{ALL_LOSSES, random_case};
use tapegrad::DType;
use tapegrad::autograd::gradgradcheck;

#[test]
fn every_loss_passes_gradgradcheck_on_random_configurations() {
    let (mut checked, mut degenerate) = (0, 0);
    for (li, loss) in ALL_LOSSES.iter().enumerate() {
        for seed in 0..30u64 {
            let case = random_case(loss, DType::F64, 1000 * li as u64 + seed, 1);
            let inputs = [case.input.clone(), case.target.clone()];
            // Every target ignored under `mean` is 0/0 = NaN, as in PyTorch: finite
            // differences are undefined there, so check PyTorch's behaviour instead
            // (a NaN loss and a zero gradient).
            let value = case.functional(&case.input, &case.target).unwrap();
            if value.to_vec::<f64>().unwrap().iter().any(|v| v.is_nan()) {
                let x = case.input.clone().requires_grad();
                let out = case.functional(&x, &case.target).unwrap();
                out.backward_with(&out.full_like(1.0)).unwrap();
                assert!(x.grad().unwrap().to_vec::<f64>().unwrap().iter().all(|g| *g == 0.0), "{case:?}");
                degenerate += 1;
                continue;
            }
            let r = gradgradcheck(|t| case.functional(&t[0], &t[1]), &inputs, 1e-6, 1e-6, 1e-4)
                .unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
        }
    }
    println!(
        "gradgradcheck: {checked} gradient elements over {} configurations ({degenerate} all-ignored, NaN as PyTorch)",
        ALL_LOSSES.len() * 30
    );
    assert!(degenerate < 20, "too few configurations were checked");
}

#[test]
fn log_softmax_and_softmax_pass_gradgradcheck() {
    let x = tapegrad::Tensor::randn(&[2, 3, 4], DType::F64, &mut rand::rng());
    for dim in [-1isize, 0, 1, 2] {
        let r = gradgradcheck(
            |t| tapegrad::functional::log_softmax(&t[0], dim),
            std::slice::from_ref(&x),
            1e-6,
            1e-6,
            1e-4,
        )
        .unwrap();
        assert!(r.passed, "log_softmax dim {dim}: {r:?}");
        let r =
            gradgradcheck(|t| tapegrad::functional::softmax(&t[0], dim), std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4)
                .unwrap();
        assert!(r.passed, "softmax dim {dim}: {r:?}");
    }
}

/// `nll_loss(log_softmax(x))` records a fused backward straight to `x`: check it
/// by finite differences over rows, K-dim planes and unbatched input, with
/// weights, ignore_index and every reduction, and when `y` is also used elsewhere.
#[test]
fn nll_over_log_softmax_fused_backward_passes_gradgradcheck() {
    use tapegrad::functional as F;
    use tapegrad::{Reduction, Tensor};
    let cases: &[(&[usize], &[usize], usize)] = &[(&[4, 5], &[4], 1), (&[2, 3, 4, 2], &[2, 4, 2], 1), (&[6], &[], 0)];
    for (k, &(xs, ts, dim)) in cases.iter().enumerate() {
        let x = tapegrad::Tensor::randn(xs, DType::F64, &mut rand::rng());
        let c = xs[dim] as i64;
        let t = Tensor::randint(0, c, ts, &mut rand::rng());
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            let w = Tensor::rand(&[c as usize], DType::F64, &mut rand::rng()).add_scalar(0.5).unwrap();
            let opts = F::NllLossOptions { weight: Some(w), ignore_index: if k == 0 { 2 } else { -100 }, reduction };
            let f = |v: &[Tensor]| F::nll_loss(&F::log_softmax(&v[0], dim as isize)?, &t, &opts);
            let r = gradgradcheck(f, std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{xs:?} {reduction:?}: {r:?}");
            // y used twice: through the fused nll and through a sum
            let g = |v: &[Tensor]| {
                let y = F::log_softmax(&v[0], dim as isize)?;
                F::nll_loss(&y, &t, &opts)?.sum_all().add(&y.mul_scalar(0.3)?.sum_all())
            };
            let r = gradgradcheck(g, std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{xs:?} {reduction:?} (y reused): {r:?}");
        }
    }
}

/// The divergence, likelihood and margin losses over random shapes and
/// options: second derivatives in every differentiable tensor (targets and
/// variances included), through each fused node's double backward.
#[test]
fn divergence_margin_losses_pass_gradgradcheck_on_random_configurations() {
    use common::divergence_margin_cases::{DM_LOSSES, random_dm_case};
    let mut checked = 0;
    for (li, loss) in DM_LOSSES.iter().enumerate() {
        for seed in 0..30u64 {
            let case = random_dm_case(loss, DType::F64, 7000 + 1000 * li as u64 + seed, 1);
            let which: Vec<usize> = (0..case.inputs.len()).filter(|&k| case.differentiable[k]).collect();
            let vary: Vec<_> = which.iter().map(|&k| case.inputs[k].clone()).collect();
            let f = |v: &[tapegrad::Tensor]| {
                let mut all = case.inputs.clone();
                for (slot, &k) in which.iter().enumerate() {
                    all[k] = v[slot].clone();
                }
                case.functional(&all)
            };
            let r = gradgradcheck(f, &vary, 1e-6, 1e-6, 1e-4).unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
        }
    }
    println!("gradgradcheck: {checked} gradient elements over {} configurations", DM_LOSSES.len() * 30);
    assert!(checked > 1000);
}

/// pairwise_distance (recorded ops) and cosine_similarity (a fused row
/// kernel) by finite differences of their gradients, over norms, dims (a
/// leading and an inner dim of a 3-D input too), broadcasting and keepdim.
#[test]
fn distance_helpers_pass_gradgradcheck() {
    use tapegrad::functional as F;
    let rng = &mut rand::rng();
    let x = tapegrad::Tensor::randn(&[3, 4], DType::F64, rng);
    let y = tapegrad::Tensor::randn(&[3, 4], DType::F64, rng);
    let row = tapegrad::Tensor::randn(&[1, 4], DType::F64, rng);
    for p in [1.0, 2.0, 3.0, 0.5, f64::INFINITY] {
        for keepdim in [false, true] {
            let r = gradgradcheck(
                |t| F::pairwise_distance(&t[0], &t[1], p, 1e-6, keepdim),
                &[x.clone(), y.clone()],
                1e-6,
                1e-6,
                1e-4,
            )
            .unwrap();
            assert!(r.passed, "pairwise_distance p = {p}: {r:?}");
        }
    }
    for dim in [0isize, 1, -1] {
        let r =
            gradgradcheck(|t| F::cosine_similarity(&t[0], &t[1], dim, 1e-8), &[x.clone(), y.clone()], 1e-6, 1e-6, 1e-4)
                .unwrap();
        assert!(r.passed, "cosine_similarity dim {dim}: {r:?}");
    }
    let r =
        gradgradcheck(|t| F::cosine_similarity(&t[0], &t[1], 1, 1e-8), &[x.clone(), row], 1e-6, 1e-6, 1e-4).unwrap();
    assert!(r.passed, "cosine_similarity broadcast: {r:?}");
    let a = tapegrad::Tensor::randn(&[2, 3, 4], DType::F64, rng);
    let b = tapegrad::Tensor::randn(&[2, 3, 4], DType::F64, rng);
    for dim in [0isize, 1, 2] {
        let r =
            gradgradcheck(|t| F::cosine_similarity(&t[0], &t[1], dim, 1e-8), &[a.clone(), b.clone()], 1e-6, 1e-6, 1e-4)
                .unwrap();
        assert!(r.passed, "cosine_similarity 3-D dim {dim}: {r:?}");
    }
}

/// embedding's scatter-add backward differentiated again: through a
/// nonlinear use of the looked-up rows, with repeated indices and a padding row.
#[test]
fn embedding_passes_gradgradcheck() {
    use tapegrad::functional as F;
    let w = tapegrad::Tensor::randn(&[5, 3], DType::F64, &mut rand::rng());
    let idx = tapegrad::Tensor::from_vec(vec![4i64, 0, 4, 2, 1, 0], &[2, 3]).unwrap();
    let r =
        gradgradcheck(|t| Ok(F::embedding(&idx, &t[0])?.tanh()), std::slice::from_ref(&w), 1e-6, 1e-6, 1e-4).unwrap();
    assert!(r.passed, "embedding: {r:?}");
    let r = gradgradcheck(
        |t| Ok(F::embedding_with_padding(&idx, &t[0], 0)?.tanh()),
        std::slice::from_ref(&w),
        1e-6,
        1e-6,
        1e-4,
    )
    .unwrap();
    assert!(r.passed, "embedding with padding: {r:?}");
}

/// The fused margin, triplet and chunked linear cross-entropy losses
/// differentiated twice through their composites, over random
/// configurations: multi_margin (p 1 and 2, class weights, margins),
/// multilabel_margin, triplet_margin (norm degrees, swap) and
/// linear_cross_entropy (class weights, ignore_index, label smoothing,
/// probability targets, bias), every reduction. Each option is asserted to
/// occur among the configurations drawn.
#[test]
fn fused_margin_triplet_linear_ce_pass_gradgradcheck_on_random_configurations() {
    use common::more_losses::{Opts, random_more_case};
    use std::collections::BTreeSet;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let (mut checked, mut configs, mut degenerate) = (0, 0, 0);
    for (li, loss) in ["multi_margin", "multilabel_margin", "triplet", "linear_ce"].into_iter().enumerate() {
        for seed in 0..25u64 {
            let case = random_more_case(loss, DType::F64, 40_000 + 1000 * li as u64 + seed);
            match &case.opts {
                Opts::MultiMargin(o) => {
                    seen.insert(format!("multi_margin p{}", o.p));
                    if o.weight.is_some() {
                        seen.insert("multi_margin weight".into());
                    }
                }
                Opts::Triplet(o) => {
                    seen.insert(format!("triplet p{}", o.p));
                    if o.swap {
                        seen.insert("triplet swap".into());
                    }
                }
                Opts::LinearCe(o, bias) => {
                    if o.weight.is_some() {
                        seen.insert("linear_ce weight".into());
                    }
                    if o.ignore_index >= 0 {
                        seen.insert("linear_ce ignore_index".into());
                    }
                    if o.label_smoothing > 0.0 {
                        seen.insert("linear_ce label_smoothing".into());
                    }
                    if case.fixed[0].dtype().is_float() {
                        seen.insert("linear_ce probabilities".into());
                    }
                    if *bias {
                        seen.insert("linear_ce bias".into());
                    }
                }
                _ => {}
            }
            // every target ignored under `mean` is 0/0 = NaN, as in PyTorch:
            // finite differences are undefined there
            let value = case.functional(&case.floats).unwrap();
            if value.to_vec::<f64>().unwrap().iter().any(|v| v.is_nan()) {
                degenerate += 1;
                continue;
            }
            let r = gradgradcheck(|t| case.functional(t), &case.floats, 1e-6, 1e-6, 1e-4)
                .unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
            configs += 1;
        }
    }
    println!("gradgradcheck: {checked} gradient elements over {configs} configurations ({degenerate} all-ignored)");
    let want = [
        "multi_margin p1",
        "multi_margin p2",
        "multi_margin weight",
        "triplet p1",
        "triplet p2",
        "triplet p3",
        "triplet swap",
        "linear_ce weight",
        "linear_ce ignore_index",
        "linear_ce label_smoothing",
        "linear_ce probabilities",
        "linear_ce bias",
    ];
    for w in want {
        assert!(seen.contains(w), "no configuration drew {w}: {seen:?}");
    }
    assert!(degenerate < 10, "too few configurations were checked");
}

/// A `create_graph` pass through ctc_loss is refused with an error naming
/// the loss, as PyTorch refuses to differentiate CTC's gradient; the
/// first-order gradient still works.
#[test]
fn ctc_loss_refuses_double_backward() {
    use common::more_losses::random_more_case;
    use tapegrad::autograd::{GradOptions, grad};
    let case = random_more_case("ctc", DType::F64, 5);
    let x = case.floats[0].clone().requires_grad();
    let loss = case.functional(std::slice::from_ref(&x)).unwrap().sum_all();
    let opts = GradOptions { create_graph: true, ..Default::default() };
    let err = grad(std::slice::from_ref(&loss), std::slice::from_ref(&x), &opts).unwrap_err().to_string();
    assert!(err.contains("ctc_loss does not support double backward"), "{err}");
    let g = grad(&[loss], std::slice::from_ref(&x), &GradOptions::default()).unwrap()[0].clone().unwrap();
    assert_eq!(g.shape(), x.shape());
    assert!(g.to_vec::<f64>().unwrap().iter().all(|v| v.is_finite()));
}

/// `binary_cross_entropy(sigmoid(x))`, fused on `x`: second derivatives with
/// weights and every reduction.
#[test]
fn bce_over_sigmoid_fused_backward_passes_gradgradcheck() {
    use tapegrad::functional as F;
    use tapegrad::{Reduction, Tensor};
    let mut rng = rand::rng();
    let x = Tensor::randn(&[3, 4], DType::F64, &mut rng);
    let t = Tensor::rand(&[3, 4], DType::F64, &mut rng);
    let w = Tensor::rand(&[4], DType::F64, &mut rng).add_scalar(0.5).unwrap();
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let opts = F::BceOptions { weight: Some(w.clone()), reduction };
        let f = |v: &[Tensor]| F::binary_cross_entropy(&F::sigmoid(&v[0])?, &v[1], &opts);
        let r = gradgradcheck(f, &[x.clone(), t.clone()], 1e-6, 1e-6, 1e-4).unwrap();
        assert!(r.passed, "{reduction:?}: {r:?}");
    }
}
