//! gradcheck (central finite differences, f64) over random configurations of
//! every loss: shapes, weights, ignore_index, label smoothing, pos_weight,
//! beta, delta, reductions; gradients of the input and of float targets.

mod common;

use common::cases::{ALL_LOSSES, random_case};
use tapegrad::DType;
use tapegrad::autograd::gradcheck;

#[test]
fn every_loss_passes_gradcheck_on_random_configurations() {
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
            let r = gradcheck(|t| case.functional(&t[0], &t[1]), &inputs, 1e-6, 1e-6, 1e-4)
                .unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
        }
    }
    println!(
        "gradcheck: {checked} gradient elements over {} configurations ({degenerate} all-ignored, NaN as PyTorch)",
        ALL_LOSSES.len() * 30
    );
    assert!(degenerate < 20, "too few configurations were checked");
}

#[test]
fn log_softmax_and_softmax_pass_gradcheck() {
    let x = tapegrad::Tensor::randn(&[2, 3, 4], DType::F64, &mut rand::rng());
    for dim in [-1isize, 0, 1, 2] {
        let r =
            gradcheck(|t| tapegrad::functional::log_softmax(&t[0], dim), std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4)
                .unwrap();
        assert!(r.passed, "log_softmax dim {dim}: {r:?}");
        let r = gradcheck(|t| tapegrad::functional::softmax(&t[0], dim), std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4)
            .unwrap();
        assert!(r.passed, "softmax dim {dim}: {r:?}");
    }
}

/// `nll_loss(log_softmax(x))` records a fused backward straight to `x`: check it
/// by finite differences over rows, K-dim planes and unbatched input, with
/// weights, ignore_index and every reduction, and when `y` is also used elsewhere.
#[test]
fn nll_over_log_softmax_fused_backward_passes_gradcheck() {
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
            let r = gradcheck(f, std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{xs:?} {reduction:?}: {r:?}");
            // y used twice: through the fused nll and through a sum
            let g = |v: &[Tensor]| {
                let y = F::log_softmax(&v[0], dim as isize)?;
                F::nll_loss(&y, &t, &opts)?.sum_all().add(&y.mul_scalar(0.3)?.sum_all())
            };
            let r = gradcheck(g, std::slice::from_ref(&x), 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{xs:?} {reduction:?} (y reused): {r:?}");
        }
    }
}

/// The divergence, likelihood and margin losses over random shapes and
/// options: gradients of every differentiable tensor (targets included).
#[test]
fn divergence_margin_losses_pass_gradcheck_on_random_configurations() {
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
            let r = gradcheck(f, &vary, 1e-6, 1e-6, 1e-4).unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
        }
    }
    println!("gradcheck: {checked} gradient elements over {} configurations", DM_LOSSES.len() * 30);
    assert!(checked > 1000);
}

/// pairwise_distance and cosine_similarity by finite differences, over norms,
/// dims, broadcasting and keepdim.
#[test]
fn distance_helpers_pass_gradcheck() {
    use tapegrad::functional as F;
    let rng = &mut rand::rng();
    let x = tapegrad::Tensor::randn(&[3, 4], DType::F64, rng);
    let y = tapegrad::Tensor::randn(&[3, 4], DType::F64, rng);
    let row = tapegrad::Tensor::randn(&[1, 4], DType::F64, rng);
    for p in [1.0, 2.0, 3.0, 0.5, f64::INFINITY] {
        for keepdim in [false, true] {
            let r = gradcheck(
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
        let r = gradcheck(|t| F::cosine_similarity(&t[0], &t[1], dim, 1e-8), &[x.clone(), y.clone()], 1e-6, 1e-6, 1e-4)
            .unwrap();
        assert!(r.passed, "cosine_similarity dim {dim}: {r:?}");
    }
    let r = gradcheck(|t| F::cosine_similarity(&t[0], &t[1], 1, 1e-8), &[x.clone(), row], 1e-6, 1e-6, 1e-4).unwrap();
    assert!(r.passed, "cosine_similarity broadcast: {r:?}");
}

/// The margin, triplet, CTC (through a log-softmax) and chunked linear
/// cross-entropy losses over random shapes and options, in f64: the
/// gradients of every float input.
#[test]
fn margin_triplet_ctc_and_chunked_losses_pass_gradcheck() {
    use common::more_losses::{MORE_LOSSES, random_more_case};
    let (mut checked, mut configs) = (0, 0);
    for (li, loss) in MORE_LOSSES.iter().enumerate() {
        for seed in 0..30u64 {
            let case = random_more_case(loss, DType::F64, 7000 + 100 * li as u64 + seed);
            let value = case.functional(&case.floats).unwrap();
            if value.to_vec::<f64>().unwrap().iter().any(|v| !v.is_finite()) {
                // every target ignored under `mean`: 0/0, as in PyTorch
                continue;
            }
            let r = gradcheck(|t| case.functional(t), &case.floats, 1e-6, 1e-6, 1e-4)
                .unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert!(r.passed, "{loss} seed {seed}: {r:?}\n{case:?}");
            checked += r.checked;
            configs += 1;
        }
    }
    println!("gradcheck: {checked} gradient elements over {configs} configurations");
    assert!(configs >= 170, "too few configurations were checked: {configs}");
}

/// `binary_cross_entropy(sigmoid(x))` records a fused backward straight to
/// `x`: check it by finite differences with weights, every reduction, a
/// differentiable target, and when the probabilities are also used elsewhere.
#[test]
fn bce_over_sigmoid_fused_backward_passes_gradcheck() {
    use tapegrad::functional as F;
    use tapegrad::{Reduction, Tensor};
    let mut rng = rand::rng();
    let x = Tensor::randn(&[3, 4], DType::F64, &mut rng);
    let t = Tensor::rand(&[3, 4], DType::F64, &mut rng);
    let w = Tensor::rand(&[4], DType::F64, &mut rng).add_scalar(0.5).unwrap();
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        for weight in [None, Some(w.clone())] {
            let opts = F::BceOptions { weight, reduction };
            let f = |v: &[Tensor]| F::binary_cross_entropy(&F::sigmoid(&v[0])?, &v[1], &opts);
            let r = gradcheck(f, &[x.clone(), t.clone()], 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{reduction:?}: {r:?}");
            let g = |v: &[Tensor]| {
                let p = F::sigmoid(&v[0])?;
                F::binary_cross_entropy(&p, &v[1], &opts)?.sum_all().add(&p.mul_scalar(0.3)?.sum_all())
            };
            let r = gradcheck(g, &[x.clone(), t.clone()], 1e-6, 1e-6, 1e-4).unwrap();
            assert!(r.passed, "{reduction:?} (p reused): {r:?}");
        }
    }
}
