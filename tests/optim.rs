//! Optimizers against PyTorch's documented update rules (torch.optim.SGD,
//! Adam, AdamW), written out by hand here in plain f64 arithmetic: 5 steps on
//! a fixed quadratic problem must agree.

use approx::assert_relative_eq;
use tapegrad::{DType, Tensor, optim};

const P0: [f64; 3] = [0.5, -1.0, 2.0];
const C: [f64; 3] = [1.0, 2.0, -0.5];
const A: [f64; 3] = [1.0, 0.5, 2.0];

/// loss = Σ a·(p - c)², so dL/dp = 2a(p - c).
fn loss(p: &Tensor) -> Tensor {
    let c = Tensor::from_slice(&C, &[3]).unwrap();
    let a = Tensor::from_slice(&A, &[3]).unwrap();
    p.sub(&c).unwrap().pow(2.0).unwrap().mul(&a).unwrap().sum_all()
}
fn grad(p: &[f64]) -> Vec<f64> {
    (0..3).map(|i| 2.0 * A[i] * (p[i] - C[i])).collect()
}

fn run(mut step: impl FnMut() -> tapegrad::Result<()>, p: &Tensor, zero: impl Fn()) -> Vec<f64> {
    for _ in 0..5 {
        zero();
        loss(p).backward().unwrap();
        step().unwrap();
    }
    p.to_vec::<f64>().unwrap()
}

fn sgd_reference(lr: f64, mu: f64, damp: f64, nesterov: bool, wd: f64) -> Vec<f64> {
    let mut p = P0.to_vec();
    let mut buf: Option<Vec<f64>> = None;
    for _ in 0..5 {
        let mut g: Vec<f64> = grad(&p).iter().zip(&p).map(|(g, p)| g + wd * p).collect();
        if mu != 0.0 {
            let b = match buf {
                None => g.clone(),
                Some(b) => b.iter().zip(&g).map(|(b, g)| mu * b + (1.0 - damp) * g).collect(),
            };
            g = if nesterov { g.iter().zip(&b).map(|(g, b)| g + mu * b).collect() } else { b.clone() };
            buf = Some(b);
        }
        p = p.iter().zip(&g).map(|(p, g)| p - lr * g).collect();
    }
    p
}

fn adam_reference(lr: f64, b1: f64, b2: f64, eps: f64, wd: f64, decoupled: bool) -> Vec<f64> {
    let mut p = P0.to_vec();
    let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
    for t in 1..=5 {
        let g0 = grad(&p);
        for i in 0..3 {
            let mut g = g0[i];
            if decoupled {
                p[i] *= 1.0 - lr * wd;
            } else {
                g += wd * p[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let mhat = m[i] / (1.0 - b1.powi(t));
            let vhat = v[i] / (1.0 - b2.powi(t));
            p[i] -= lr * mhat / (vhat.sqrt() + eps);
        }
    }
    p
}

fn param() -> Tensor {
    Tensor::from_slice(&P0, &[3]).unwrap().requires_grad()
}

#[test]
fn sgd_matches_pytorch_rules() {
    for &(mu, damp, nesterov, wd) in &[
        (0.0, 0.0, false, 0.0),
        (0.9, 0.0, false, 0.0),
        (0.9, 0.5, false, 0.0),
        (0.8, 0.0, true, 0.0),
        (0.9, 0.1, false, 0.01),
    ] {
        let p = param();
        let mut opt =
            optim::Sgd::new(vec![p.clone()], 0.05).momentum(mu).dampening(damp).nesterov(nesterov).weight_decay(wd);
        let got = run(|| opt.step(), &p, || p.zero_grad());
        let want = sgd_reference(0.05, mu, damp, nesterov, wd);
        for (g, w) in got.iter().zip(&want) {
            assert_relative_eq!(*g, *w, epsilon = 1e-12);
        }
        assert_ne!(got, P0.to_vec(), "the parameter must move");
    }
}

#[test]
fn adam_and_adamw_match_pytorch_rules() {
    for &(b1, b2, eps, wd, decoupled) in
        &[(0.9, 0.999, 1e-8, 0.0, false), (0.8, 0.99, 1e-6, 0.1, false), (0.9, 0.999, 1e-8, 0.1, true)]
    {
        let p = param();
        let mut opt =
            optim::Adam::new(vec![p.clone()], 0.1).betas((b1, b2)).eps(eps).weight_decay(wd).decoupled(decoupled);
        let got = run(|| opt.step(), &p, || p.zero_grad());
        let want = adam_reference(0.1, b1, b2, eps, wd, decoupled);
        for (g, w) in got.iter().zip(&want) {
            assert_relative_eq!(*g, *w, epsilon = 1e-12);
        }
    }
}

#[test]
fn the_model_sees_the_update_and_f32_works() {
    // the optimizer holds clones of the handles: the update must reach the model's tensor
    let w = Tensor::from_vec(vec![1.0f32, -1.0], &[2]).unwrap().requires_grad();
    let held_by_model = w.clone();
    let mut opt = optim::Sgd::new(vec![w.clone()], 0.5);
    w.mul(&w).unwrap().sum_all().backward().unwrap();
    opt.step().unwrap();
    assert_eq!(held_by_model.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    opt.zero_grad();
    assert!(w.grad().is_none());
    // a parameter without gradient is left alone
    let idle = Tensor::ones(&[2], DType::F32).requires_grad();
    optim::Adam::new(vec![idle.clone()], 0.1).step().unwrap();
    assert_eq!(idle.to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
}

#[test]
fn invalid_options_are_errors() {
    let p = param();
    loss(&p).backward().unwrap();
    let e = optim::Sgd::new(vec![p.clone()], -0.1).step().unwrap_err().to_string();
    assert!(e.starts_with("Sgd::step: lr = -0.1"), "{e}");
    let e = optim::Sgd::new(vec![p.clone()], 0.1).nesterov(true).step().unwrap_err().to_string();
    assert!(e.contains("nesterov"), "{e}");
    let e = optim::Adam::new(vec![p.clone()], 0.1).betas((1.0, 0.9)).step().unwrap_err().to_string();
    assert!(e.contains("betas.0 = 1"), "{e}");
    let e = optim::Adam::new(vec![p], f64::NAN).step().unwrap_err().to_string();
    assert!(e.contains("lr = NaN"), "{e}");
}
