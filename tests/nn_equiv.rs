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
