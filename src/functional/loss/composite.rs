//! What the composite forms of the fused losses share: each fused loss (one
//! node with its own backward) keeps, in its file, the same formula written
//! with differentiable tensor ops (`*_composite`), which a second-order
//! gradient differentiates; a test there checks the two agree.

use crate::{Reduction, Result, Tensor};

/// `reduction` applied to per-element losses with tensor ops.
pub(crate) fn reduce(loss: &Tensor, reduction: Reduction, op: &'static str) -> Result<Tensor> {
    match reduction {
        Reduction::None => Ok(loss.clone()),
        Reduction::Sum => Ok(loss.sum_all()),
        Reduction::Mean => Ok(loss.mean_all()),
        Reduction::BatchMean if op == "kl_div" => {
            let b = loss.shape().first().map_or(1.0, |&b| b as f64);
            loss.sum_all().div_scalar(b)
        }
        Reduction::BatchMean => Reduction::BatchMean.reject_batchmean(op).map(|_| loss.clone()),
    }
}

/// Asserts that `fused` and `composite` give the same value and the same
/// gradients (of `Σ out · g` for a fixed `g`) for the f64 `inputs`.
#[cfg(test)]
pub(crate) fn assert_same(
    inputs: &[&Tensor],
    fused: impl Fn(&[&Tensor]) -> Result<Tensor>,
    composite: impl Fn(&[&Tensor]) -> Result<Tensor>,
) {
    let run = |f: &dyn Fn(&[&Tensor]) -> Result<Tensor>| {
        let leaves: Vec<Tensor> = inputs.iter().map(|t| t.detach().requires_grad()).collect();
        let refs: Vec<&Tensor> = leaves.iter().collect();
        let out = f(&refs).unwrap();
        let n = out.numel();
        let g: Vec<f64> = (0..n).map(|i| 0.5 + 0.25 * i as f64).collect();
        out.backward_with(&Tensor::from_vec(g, out.shape()).unwrap()).unwrap();
        let grads: Vec<Option<Vec<f64>>> = leaves.iter().map(|l| l.grad().map(|g| g.to_vec().unwrap())).collect();
        (out.shape().to_vec(), out.to_vec::<f64>().unwrap(), grads)
    };
    let (a, b) = (run(&fused), run(&composite));
    assert_eq!(a.0, b.0, "output shapes");
    let close = |p: &[f64], q: &[f64]| {
        p.len() == q.len()
            && p.iter().zip(q).all(|(u, v)| (u.is_nan() && v.is_nan()) || (u - v).abs() <= 1e-10 * (1.0 + v.abs()))
    };
    assert!(close(&a.1, &b.1), "values {:?} vs {:?}", a.1, b.1);
    for (k, (ga, gb)) in a.2.iter().zip(&b.2).enumerate() {
        match (ga, gb) {
            (Some(p), Some(q)) => assert!(close(p, q), "gradient {k}: {p:?} vs {q:?}"),
            (None, None) => {}
            _ => panic!("gradient {k}: present in one path only"),
        }
    }
}
