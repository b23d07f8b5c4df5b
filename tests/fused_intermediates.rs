//! `nll_loss(log_softmax(x))` and `binary_cross_entropy(sigmoid(x))` are
//! recorded on `x`, never reading the log-probabilities or probabilities; a
//! gradient asked of those intermediates with `grad` is still the unfused
//! loss's gradient at them, as in PyTorch, and the gradient of `x` is the same
//! whichever route it takes.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{GradOptions, grad};
use tapegrad::functional as F;
use tapegrad::{DType, Reduction, Tensor};

fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 + 1e-10 * w.abs(), "{what}[{i}]: {g} vs {w}");
    }
}

/// The gradient of `loss(leaf)` at a leaf holding `y`'s values: the unfused loss's.
fn at_leaf(y: &Tensor, loss: impl Fn(&Tensor) -> Tensor) -> Vec<f64> {
    let leaf = Tensor::from_vec(y.to_vec::<f64>().unwrap(), y.shape()).unwrap().requires_grad();
    loss(&leaf).backward().unwrap();
    leaf.grad().unwrap().to_vec::<f64>().unwrap()
}

fn bce_cases() -> Vec<F::BceOptions> {
    let w = Tensor::from_vec((0..12).map(|i| 0.5 + i as f64 / 10.0).collect(), &[3, 4]).unwrap();
    vec![
        F::BceOptions::default(),
        F::BceOptions { weight: Some(w), reduction: Reduction::Sum },
        F::BceOptions { weight: None, reduction: Reduction::None },
    ]
}

#[test]
fn grad_of_bce_with_respect_to_the_sigmoid_output_is_bce_s() {
    let mut r = StdRng::seed_from_u64(7);
    let y = Tensor::rand(&[3, 4], DType::F64, &mut r);
    for opts in bce_cases() {
        let x = Tensor::randn(&[3, 4], DType::F64, &mut r).mul_scalar(3.0).unwrap().requires_grad();
        let p = F::sigmoid(&x).unwrap();
        let loss = F::binary_cross_entropy(&p, &y, &opts).unwrap();
        let seed = loss.full_like(1.0).mul_scalar(1.5).unwrap();
        let reduce = |l: Tensor| l.mul(&seed).unwrap().sum_all();
        let loss = reduce(loss);
        let want_p = at_leaf(&p, |q| reduce(F::binary_cross_entropy(q, &y, &opts).unwrap()));
        for create_graph in [false, true] {
            let opts_g = GradOptions { create_graph, ..Default::default() };
            let g = grad(std::slice::from_ref(&loss), &[p.clone(), x.clone()], &opts_g).unwrap();
            let (gp, gx) = (g[0].clone().unwrap(), g[1].clone().unwrap());
            assert_eq!(gp.tracks_grad(), create_graph);
            close("dL/dp", &gp.to_vec::<f64>().unwrap(), &want_p);
            // dL/dx = dL/dp · p(1 − p), whether through p or by the fused route
            let pv = p.to_vec::<f64>().unwrap();
            let want_x: Vec<f64> = want_p.iter().zip(&pv).map(|(g, p)| g * p * (1.0 - p)).collect();
            close("dL/dx through p", &gx.to_vec::<f64>().unwrap(), &want_x);
            let only_x =
                grad(std::slice::from_ref(&loss), std::slice::from_ref(&x), &opts_g).unwrap()[0].clone().unwrap();
            close("dL/dx fused", &only_x.to_vec::<f64>().unwrap(), &want_x);
        }
    }
}

#[test]
fn grad_of_nll_with_respect_to_the_log_softmax_output_is_nll_s() {
    let mut r = StdRng::seed_from_u64(8);
    let t = Tensor::from_vec(vec![2i64, 0, -100, 4], &[4]).unwrap();
    let w = Tensor::from_vec(vec![1.0, 0.5, 2.0, 1.5, 0.25], &[5]).unwrap();
    for (weight, reduction) in [(None, Reduction::Mean), (Some(w), Reduction::Mean), (None, Reduction::None)] {
        let opts = F::NllLossOptions { weight, reduction, ..Default::default() };
        let x = Tensor::randn(&[4, 5], DType::F64, &mut r).requires_grad();
        let logp = F::log_softmax(&x, 1).unwrap();
        let loss = F::nll_loss(&logp, &t, &opts).unwrap().sum_all();
        let want_lp = at_leaf(&logp, |q| F::nll_loss(q, &t, &opts).unwrap().sum_all());
        // and the gradient of x through log_softmax's backward
        let x2 = Tensor::from_vec(x.to_vec::<f64>().unwrap(), &[4, 5]).unwrap().requires_grad();
        F::nll_loss(&F::log_softmax(&x2, 1).unwrap(), &t, &opts).unwrap().sum_all().backward().unwrap();
        let want_x = x2.grad().unwrap().to_vec::<f64>().unwrap();
        for create_graph in [false, true] {
            let opts_g = GradOptions { create_graph, ..Default::default() };
            let g = grad(std::slice::from_ref(&loss), &[logp.clone(), x.clone()], &opts_g).unwrap();
            close("dL/dlogp", &g[0].as_ref().unwrap().to_vec::<f64>().unwrap(), &want_lp);
            close("dL/dx through logp", &g[1].as_ref().unwrap().to_vec::<f64>().unwrap(), &want_x);
        }
        // the gradient of the log-probabilities can be differentiated again:
        // nll's is constant in them, so its derivative is zero
        let opts_g = GradOptions { create_graph: true, ..Default::default() };
        let g = grad(std::slice::from_ref(&loss), std::slice::from_ref(&logp), &opts_g).unwrap()[0].clone().unwrap();
        let again = GradOptions { allow_unused: true, ..Default::default() };
        let h = grad(&[g.mul(&g).unwrap().sum_all()], std::slice::from_ref(&x), &again).unwrap();
        if let Some(h) = &h[0] {
            assert!(h.to_vec::<f64>().unwrap().iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn backward_still_takes_the_fused_route_and_leaves_the_intermediate_alone() {
    let mut r = StdRng::seed_from_u64(9);
    let x = Tensor::randn(&[64, 10], DType::F32, &mut r).requires_grad();
    let y = Tensor::rand(&[64, 10], DType::F32, &mut r);
    let p = F::sigmoid(&x).unwrap();
    let loss = F::binary_cross_entropy(&p, &y, &Default::default()).unwrap();
    loss.backward().unwrap();
    let fused = x.grad().unwrap().to_vec::<f32>().unwrap();
    // the two ops, unfused: p read first
    let x2 = Tensor::from_vec(x.to_vec::<f32>().unwrap(), &[64, 10]).unwrap().requires_grad();
    let p2 = F::sigmoid(&x2).unwrap();
    let p2_leaf = Tensor::from_vec(p2.to_vec::<f32>().unwrap(), &[64, 10]).unwrap().requires_grad();
    F::binary_cross_entropy(&p2_leaf, &y, &Default::default()).unwrap().backward().unwrap();
    p2.backward_with(&p2_leaf.grad().unwrap()).unwrap();
    assert_eq!(fused, x2.grad().unwrap().to_vec::<f32>().unwrap());
}

/// A trainable logit tensor updated between the sigmoid and the loss: the loss
/// is of the probabilities the sigmoid made (the old logits), as in PyTorch.
#[test]
fn bce_of_a_sigmoid_taken_before_an_update_uses_the_old_logits() {
    let x = Tensor::from_vec(vec![0.0f64, 0.0], &[2]).unwrap().requires_grad();
    let p = F::sigmoid(&x).unwrap();
    x.set_data(&Tensor::from_vec(vec![5.0f64, 5.0], &[2]).unwrap()).unwrap();
    let y = Tensor::from_vec(vec![1.0f64, 0.0], &[2]).unwrap();
    let opts = F::BceOptions { weight: None, reduction: Reduction::None };
    let loss = F::binary_cross_entropy(&p, &y, &opts).unwrap();
    close("loss", &loss.to_vec::<f64>().unwrap(), &[2f64.ln(), 2f64.ln()]);
    loss.sum_all().backward().unwrap();
    // dL/dx at x = 0: p − y
    close("dL/dx", &x.grad().unwrap().to_vec::<f64>().unwrap(), &[-0.5, 0.5]);
}
