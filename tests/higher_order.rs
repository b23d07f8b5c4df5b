//! `autograd::grad` and `backward_with_graph`: third derivatives against
//! closed forms, gradients with respect to computed tensors, the options'
//! errors, and a gradient taken with `create_graph` always differentiable.

use tapegrad::autograd::{GradOptions, grad};
use tapegrad::functional as F;
use tapegrad::{Result, Tensor};

const XS: [f64; 5] = [-1.7, -0.4, 0.0, 0.6, 2.1];

fn graph() -> GradOptions {
    GradOptions { create_graph: true, ..Default::default() }
}

/// `[f', f'', f''']` of an elementwise `f` at `XS`, by three `grad` calls.
fn three_derivatives(f: impl Fn(&Tensor) -> Result<Tensor>) -> [Vec<f64>; 3] {
    let x = Tensor::from_vec(XS.to_vec(), &[5]).unwrap().requires_grad();
    let mut y = f(&x).unwrap().sum_all();
    let mut out: [Vec<f64>; 3] = Default::default();
    for d in out.iter_mut() {
        let g = grad(&[y], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
        *d = g.to_vec::<f64>().unwrap();
        y = g.sum_all();
    }
    out
}

fn assert_all_close(what: &str, got: &[f64], want: impl Fn(usize) -> f64) {
    for (i, &g) in got.iter().enumerate() {
        let w = want(i);
        assert!((g - w).abs() <= 1e-12 + 1e-12 * w.abs(), "{what}[{i}]: {g} vs closed form {w}");
    }
}

#[test]
fn third_derivatives_of_elementwise_functions_match_closed_forms() {
    let [d1, d2, d3] = three_derivatives(|x| Ok(x.tanh()));
    let t = |i: usize| XS[i].tanh();
    assert_all_close("tanh'", &d1, |i| 1.0 - t(i).powi(2));
    assert_all_close("tanh''", &d2, |i| -2.0 * t(i) * (1.0 - t(i).powi(2)));
    assert_all_close("tanh'''", &d3, |i| (6.0 * t(i).powi(2) - 2.0) * (1.0 - t(i).powi(2)));

    let [d1, d2, d3] = three_derivatives(F::sigmoid);
    let s = |i: usize| 1.0 / (1.0 + (-XS[i]).exp());
    assert_all_close("sigmoid'", &d1, |i| s(i) * (1.0 - s(i)));
    assert_all_close("sigmoid''", &d2, |i| s(i) * (1.0 - s(i)) * (1.0 - 2.0 * s(i)));
    assert_all_close("sigmoid'''", &d3, |i| s(i) * (1.0 - s(i)) * (1.0 - 6.0 * s(i) + 6.0 * s(i).powi(2)));

    let [d1, d2, d3] = three_derivatives(|x| Ok(x.exp()));
    for d in [d1, d2, d3] {
        assert_all_close("exp", &d, |i| XS[i].exp());
    }

    let [d1, d2, d3] = three_derivatives(|x| x.mul(x)?.mul(x));
    assert_all_close("(x·x·x)'", &d1, |i| 3.0 * XS[i] * XS[i]);
    assert_all_close("(x·x·x)''", &d2, |i| 6.0 * XS[i]);
    assert_all_close("(x·x·x)'''", &d3, |_| 6.0);

    let [_, _, d3] = three_derivatives(|x| x.pow(4.0));
    assert_all_close("(x⁴)'''", &d3, |i| 24.0 * XS[i]);
}

#[test]
fn third_derivative_of_log_softmax_matches_its_closed_form() {
    // f = Σ v·log_softmax(x); g = ∂f/∂x; h = ∂⟨g, u⟩/∂x; k = ∂⟨h, w⟩/∂x
    let (v, u, w) = ([0.3, -1.2, 0.8, 2.0], [1.0, -0.5, 0.25, 0.7], [-0.3, 0.9, 1.1, -0.6]);
    let xv: [f64; 4] = [0.2, -1.0, 1.5, 0.4];
    let x = Tensor::from_vec(xv.to_vec(), &[4]).unwrap().requires_grad();
    let t = |a: [f64; 4]| Tensor::from_vec(a.to_vec(), &[4]).unwrap();
    let f = F::log_softmax(&x, 0).unwrap().mul(&t(v)).unwrap().sum_all();
    let g = grad(&[f], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
    let h = grad(&[g.mul(&t(u)).unwrap().sum_all()], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
    let k = grad(&[h.mul(&t(w)).unwrap().sum_all()], std::slice::from_ref(&x), &GradOptions::default()).unwrap()[0]
        .clone()
        .unwrap();
    let z: f64 = xv.iter().map(|a| a.exp()).sum();
    let p: Vec<f64> = xv.iter().map(|a| a.exp() / z).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let s: f64 = v.iter().sum();
    let (up, wp) = (dot(&u, &p), dot(&w, &p));
    let wu: Vec<f64> = w.iter().zip(&u).map(|(a, b)| a * b).collect();
    let wup = dot(&wu, &p);
    assert_all_close("log_softmax'", &g.to_vec::<f64>().unwrap(), |j| v[j] - s * p[j]);
    assert_all_close("log_softmax''", &h.to_vec::<f64>().unwrap(), |j| -s * p[j] * (u[j] - up));
    assert_all_close("log_softmax'''", &k.to_vec::<f64>().unwrap(), |m| {
        -s * (p[m] * (w[m] * u[m] - wup) - p[m] * (u[m] - up) * wp - up * p[m] * (w[m] - wp))
    });
}

#[test]
fn grad_leaves_the_leaves_alone_and_takes_computed_inputs() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().requires_grad();
    let h = x.mul_scalar(3.0).unwrap(); // a computed tensor
    let y = h.mul(&h).unwrap().sum_all(); // Σ (3x)²
    let g = grad(&[y], &[h.clone(), x.clone()], &GradOptions::default()).unwrap();
    assert_eq!(g[0].as_ref().unwrap().to_vec::<f64>().unwrap(), vec![6.0, 12.0]); // 2h
    assert_eq!(g[1].as_ref().unwrap().to_vec::<f64>().unwrap(), vec![18.0, 36.0]); // 18x
    assert!(x.grad().is_none(), "grad() must not accumulate into leaves");
    assert!(!g[0].as_ref().unwrap().tracks_grad(), "without create_graph the gradients are constants");
}

#[test]
fn backward_with_graph_leaves_differentiable_gradients() {
    let x = Tensor::from_vec(vec![0.5f64, -1.0], &[2]).unwrap().requires_grad();
    x.tanh().sum_all().backward_with_graph().unwrap();
    let g = x.grad().unwrap();
    assert!(g.tracks_grad());
    x.zero_grad();
    g.sum_all().backward().unwrap();
    let want: Vec<f64> = [0.5f64, -1.0].iter().map(|v| -2.0 * v.tanh() * (1.0 - v.tanh().powi(2))).collect();
    let got = x.grad().unwrap().to_vec::<f64>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-15), "{got:?} vs {want:?}");
    // accumulating twice with create_graph: a recorded sum
    x.zero_grad();
    for _ in 0..2 {
        x.mul(&x).unwrap().sum_all().backward_with_graph().unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![2.0, -4.0]);
    assert!(x.grad().unwrap().tracks_grad());
}

#[test]
fn a_constant_gradient_taken_with_create_graph_can_still_be_differentiated() {
    // d(2x)/dx = 2 depends on nothing: its own derivative is zero, not an error
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap().requires_grad();
    let g =
        grad(&[x.mul_scalar(2.0).unwrap().sum_all()], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
    assert_eq!(g.to_vec::<f32>().unwrap(), vec![2.0; 3]);
    g.sum_all().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![0.0; 3]);
    // the same for a gradient accumulated by backward_with_graph
    let w = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().requires_grad();
    w.mul_scalar(3.0).unwrap().sum_all().backward_with_graph().unwrap();
    let gw = w.grad().unwrap();
    assert!(gw.tracks_grad());
    w.zero_grad();
    gw.sum_all().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0; 2]);
    // the same through a loss whose gradient is constant in its input (nll)
    let t = Tensor::from_vec(vec![1i64, 0], &[2]).unwrap();
    let z = Tensor::from_vec(vec![-0.5f32, -1.0, -2.0, -0.1], &[2, 2]).unwrap().requires_grad();
    let l = F::nll_loss(&z, &t, &F::NllLossOptions::default()).unwrap();
    let g = grad(&[l], std::slice::from_ref(&z), &graph()).unwrap()[0].clone().unwrap();
    g.mul(&g).unwrap().sum_all().backward().unwrap();
    assert_eq!(z.grad().unwrap().to_vec::<f32>().unwrap(), vec![0.0; 4]);
}

#[test]
fn grad_options_are_checked() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap().requires_grad();
    let unused = Tensor::from_vec(vec![1.0f64], &[1]).unwrap().requires_grad();
    let y = x.mul(&x).unwrap();
    // a non-scalar output needs grad_outputs
    let e = grad(std::slice::from_ref(&y), std::slice::from_ref(&x), &GradOptions::default()).unwrap_err();
    assert!(e.to_string().contains("grad_outputs"), "{e}");
    let opts = GradOptions { grad_outputs: Some(vec![y.full_like(1.0)]), ..Default::default() };
    assert_eq!(
        grad(std::slice::from_ref(&y), std::slice::from_ref(&x), &opts).unwrap()[0]
            .as_ref()
            .unwrap()
            .to_vec::<f64>()
            .unwrap(),
        vec![2.0, 4.0]
    );
    // a wrong grad_outputs shape
    let bad = GradOptions { grad_outputs: Some(vec![Tensor::ones(&[3], tapegrad::DType::F64)]), ..Default::default() };
    assert!(grad(std::slice::from_ref(&y), std::slice::from_ref(&x), &bad).is_err());
    // an unused input: an Err unless allow_unused
    let s = y.sum_all();
    let e = grad(std::slice::from_ref(&s), &[x.clone(), unused.clone()], &GradOptions::default()).unwrap_err();
    assert!(e.to_string().contains("inputs[1]") && e.to_string().contains("allow_unused"), "{e}");
    let opts = GradOptions { allow_unused: true, ..Default::default() };
    let g = grad(std::slice::from_ref(&s), &[x.clone(), unused], &opts).unwrap();
    assert!(g[0].is_some() && g[1].is_none());
    // an input that tracks no gradient, an output that tracks none
    let plain = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
    assert!(grad(std::slice::from_ref(&s), std::slice::from_ref(&plain), &GradOptions::default()).is_err());
    assert!(grad(&[plain.sum_all()], &[x], &GradOptions::default()).is_err());
}

#[test]
fn gradients_of_several_outputs_add_up() {
    let x = Tensor::from_vec(vec![1.0f64, -2.0], &[2]).unwrap().requires_grad();
    let a = x.mul(&x).unwrap().sum_all();
    let b = x.mul_scalar(3.0).unwrap().sum_all();
    let g = grad(&[a, b], std::slice::from_ref(&x), &GradOptions::default()).unwrap();
    assert_eq!(g[0].as_ref().unwrap().to_vec::<f64>().unwrap(), vec![5.0, -1.0]);
}

/// The logistic losses' first and second derivatives taken with
/// `create_graph`, at logits of 0 (where a softplus through `|x|` loses half
/// its slope) and far out (where a naive `ln(1 + eˣ)` overflows), against
/// `σ(x) − t` and `σ(x)·(1 − σ(x))`.
#[test]
fn logistic_losses_differentiate_twice_at_zero_and_far_out() {
    let xs = [-1000.0, -1.7, 0.0, 0.6, 1000.0];
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let t = 0.25;
    type Loss = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let losses: [(&str, Loss, f64); 3] = [
        ("binary_cross_entropy_with_logits", |x, y| F::binary_cross_entropy_with_logits(x, y, &Default::default()), t),
        // softplus(−x·1): the derivative of bce with a target of 1
        ("soft_margin_loss", |x, y| F::soft_margin_loss(x, &y.full_like(1.0), &Default::default()), 1.0),
        ("multilabel_soft_margin_loss", |x, y| F::multilabel_soft_margin_loss(x, y, &Default::default()), t),
    ];
    for (name, loss, target) in losses {
        let x = Tensor::from_vec(xs.to_vec(), &[1, 5]).unwrap().requires_grad();
        let y = x.detach().full_like(t);
        let l = loss(&x, &y).unwrap().mul_scalar(5.0).unwrap(); // every loss here is a mean over 5
        let g = grad(&[l], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
        assert_all_close(&format!("{name}'"), &g.to_vec::<f64>().unwrap(), |i| sig(xs[i]) - target);
        let gg = grad(&[g.sum_all()], std::slice::from_ref(&x), &graph()).unwrap()[0].clone().unwrap();
        assert_all_close(&format!("{name}''"), &gg.to_vec::<f64>().unwrap(), |i| sig(xs[i]) * (1.0 - sig(xs[i])));
    }
}
