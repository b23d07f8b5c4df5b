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
