//! `nn` ≡ `functional`: for random shapes, options and dtypes, each `nn` loss
//! and its functional twin give bitwise-equal values and gradients.

mod common;

use common::cases::{ALL_LOSSES, Case, random_case};
use proptest::prelude::*;
use tapegrad::{DType, Tensor};

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap().iter().map(|v| v.to_bits()).collect()
}

/// Value and gradients (input, target) of one path.
fn run(case: &Case, via_module: bool) -> (Vec<u64>, Vec<u64>, Option<Vec<u64>>) {
    let input = case.input.clone().requires_grad();
    let target = if case.target_has_grad() { case.target.clone().requires_grad() } else { case.target.clone() };
    let out = if via_module { case.module(&input, &target) } else { case.functional(&input, &target) }
        .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    let seed = Tensor::full(out.shape(), 0.75, out.dtype());
    out.backward_with(&seed).unwrap();
    let gi = input.grad().map(|g| bits(&g)).unwrap_or_default();
    (bits(&out), gi, target.grad().map(|g| bits(&g)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn module_and_functional_agree_bitwise(which in 0usize..9, f64_dtype in any::<bool>(), seed in any::<u64>()) {
        let dtype = if f64_dtype { DType::F64 } else { DType::F32 };
        let case = random_case(ALL_LOSSES[which], dtype, seed, 0);
        let a = run(&case, false);
        let b = run(&case, true);
        prop_assert_eq!(a, b, "{:?}", case);
    }
}

/// Value and the gradient of every differentiable tensor, through one path.
fn run_dm(case: &common::divergence_margin_cases::DmCase, via_module: bool) -> Vec<Vec<u64>> {
    let leaves: Vec<Tensor> = case
        .inputs
        .iter()
        .zip(&case.differentiable)
        .map(|(t, &d)| if d { t.detach().requires_grad() } else { t.clone() })
        .collect();
    let out = if via_module { case.module(&leaves) } else { case.functional(&leaves) }
        .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    out.backward_with(&Tensor::full(out.shape(), 0.75, out.dtype())).unwrap();
    let mut all = vec![bits(&out)];
    all.extend(leaves.iter().map(|l| l.grad().map(|g| bits(&g)).unwrap_or_default()));
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    /// The divergence, likelihood and margin losses: module ≡ functional.
    #[test]
    fn divergence_margin_modules_and_functionals_agree_bitwise(
        which in 0usize..8,
        f64_dtype in any::<bool>(),
        seed in any::<u64>(),
    ) {
        use common::divergence_margin_cases::{DM_LOSSES, random_dm_case};
        let dtype = if f64_dtype { DType::F64 } else { DType::F32 };
        let case = random_dm_case(DM_LOSSES[which], dtype, seed, 0);
        prop_assert_eq!(run_dm(&case, false), run_dm(&case, true), "{:?}", case);
    }
}

/// Values and gradients of every float input of one path.
fn run_more(case: &common::more_losses::MoreCase, via_module: bool) -> (Vec<u64>, Vec<Vec<u64>>) {
    let leaves: Vec<Tensor> = case.floats.iter().map(|t| t.detach().requires_grad()).collect();
    let out = if via_module { case.module(&leaves) } else { case.functional(&leaves) }
        .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    out.backward_with(&Tensor::full(out.shape(), 0.75, out.dtype())).unwrap();
    (bits(&out), leaves.iter().map(|l| l.grad().map(|g| bits(&g)).unwrap_or_default()).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn margin_triplet_ctc_modules_and_functionals_agree_bitwise(
        which in 0usize..5, f64_dtype in any::<bool>(), seed in any::<u64>()
    ) {
        use common::more_losses::{MORE_LOSSES, random_more_case};
        let dtype = if f64_dtype { DType::F64 } else { DType::F32 };
        let case = random_more_case(MORE_LOSSES[which], dtype, seed);
        prop_assert_eq!(run_more(&case, false), run_more(&case, true), "{:?}", case);
    }
}

/// `nn::LinearCrossEntropyLoss` equals the functional over its own weight
/// and bias, bitwise, with each of its options; its parameters carry
/// PyTorch's names.
#[test]
fn linear_cross_entropy_module_and_functional_agree_bitwise() {
    use rand::SeedableRng;
    use tapegrad::nn::{self, Module};
    use tapegrad::{Reduction, functional as F};
    let mut r = rand::rngs::StdRng::seed_from_u64(11);
    let x = Tensor::randn(&[7, 5], DType::F32, &mut r);
    let t = Tensor::from_vec(vec![0i64, 3, 2, 8, 8, 1, 0], &[7]).unwrap();
    let cw = Tensor::rand(&[9], DType::F32, &mut r);
    for bias in [false, true] {
        let head = nn::LinearCrossEntropyLoss::new(5, 9, &mut r)
            .bias(bias)
            .weight(cw.clone())
            .ignore_index(8)
            .label_smoothing(0.1)
            .reduction(Reduction::Sum)
            .chunk_rows(3);
        let names: Vec<String> = head.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, if bias { vec!["weight", "bias"] } else { vec!["weight"] });
        assert_eq!(head.linear_weight().shape(), &[9, 5]);
        let xm = x.clone().requires_grad();
        head.forward(&xm, &t).unwrap().backward().unwrap();
        let via_module: Vec<Vec<u64>> = std::iter::once(xm.grad().unwrap())
            .chain(head.parameters().iter().map(|p| p.grad().unwrap()))
            .map(|g| bits(&g))
            .collect();
        let xf = x.clone().requires_grad();
        let (w, b) =
            (head.linear_weight().detach().requires_grad(), head.linear_bias().map(|b| b.detach().requires_grad()));
        F::linear_cross_entropy(&xf, &w, &t, b.as_ref(), head.options()).unwrap().backward().unwrap();
        let via_functional: Vec<Vec<u64>> =
            [Some(xf), Some(w), b].into_iter().flatten().map(|l| bits(&l.grad().unwrap())).collect();
        assert_eq!(via_module, via_functional, "bias {bias}");
        // as a Module, forward gives the logits
        assert_eq!(Module::forward(&head, &x).unwrap().shape(), &[7, 9]);
    }
}
