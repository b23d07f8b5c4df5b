//! A physics-informed network: a small MLP `u(t)` trained so that
//! `u'(t) + u(t) = 0` on `[0, 2]` with `u(0) = 1`, whose solution is `e^{−t}`.
//! No value of the solution is ever shown to it: the loss is the residual of
//! the equation at collocation points, with `u'` taken by `autograd::grad`
//! with `create_graph`, so that the residual can itself be differentiated
//! with respect to the weights.
//!
//! Run: `cargo run --release --example physics_informed`

mod common;

use common::{Epoch, Res};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::autograd::{GradOptions, grad};
use tapegrad::functional as F;
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::{DType, Tensor, no_grad};

fn main() -> Res<()> {
    println!("tapegrad: u' + u = 0, u(0) = 1 on [0, 2], MLP 1 → 32 → 32 → 1 (tanh)");
    let err = train(1500, 0, &mut |e| {
        if e.epoch % 150 == 0 || e.epoch == 1 {
            println!(
                "step {:>4}  residual loss {:.2e}  max|u − e^−t| {:.2e}  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final max|u(t) − e^−t| on [0, 2]: {err:.2e}");
    Ok(())
}

/// The network `u(t)`: two tanh layers of 32 units, in f64.
pub struct Mlp {
    params: Vec<Tensor>,
}

impl Mlp {
    fn new(seed: u64) -> Mlp {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut layer = |fin: usize, fout: usize| {
            let w = Tensor::randn(&[fout, fin], DType::F64, &mut rng).mul_scalar((1.0 / fin as f64).sqrt()).unwrap();
            [w.requires_grad(), Tensor::zeros(&[fout], DType::F64).requires_grad()]
        };
        let params = [layer(1, 32), layer(32, 32), layer(32, 1)].concat();
        Mlp { params }
    }

    /// `u(t)` for `t` of shape `(N, 1)`.
    pub fn forward(&self, t: &Tensor) -> tapegrad::Result<Tensor> {
        let p = &self.params;
        let h = F::linear(t, &p[0], Some(&p[1]))?.tanh();
        let h = F::linear(&h, &p[2], Some(&p[3]))?.tanh();
        F::linear(&h, &p[4], Some(&p[5]))
    }
}

/// `max |u(t) − e^{−t}|` over 201 points of `[0, 2]`.
pub fn max_error(model: &Mlp) -> Res<f64> {
    let ts: Vec<f64> = (0..=200).map(|i| i as f64 / 100.0).collect();
    let u = no_grad(|| model.forward(&Tensor::from_vec(ts.clone(), &[ts.len(), 1])?))?.to_vec::<f64>()?;
    Ok(u.iter().zip(&ts).map(|(u, t)| (u - (-t).exp()).abs()).fold(0.0, f64::max))
}

/// Trains for `steps` Adam steps on 64 collocation points and returns the
/// final `max |u(t) − e^{−t}|` on `[0, 2]`; `report` receives, per step, the
/// loss `mean((u' + u)²) + (u(0) − 1)²` and the error so far (every 100 steps).
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let start = Instant::now();
    let model = Mlp::new(seed);
    let mut opt = Adam::new(model.params.clone(), 1e-2);
    let ts: Vec<f64> = (0..64).map(|i| 2.0 * i as f64 / 63.0).collect();
    let t = Tensor::from_vec(ts, &[64, 1])?.requires_grad();
    let t0 = Tensor::zeros(&[1, 1], DType::F64);
    let opts = GradOptions { grad_outputs: None, create_graph: true, allow_unused: false };
    let mut err = f64::INFINITY;
    for step in 1..=steps {
        if step == steps / 2 {
            opt.set_lr(3e-3);
        }
        opt.zero_grad();
        let u = model.forward(&t)?;
        // each u_i depends on t_i only: the gradient of Σu is u'(t_i)
        let du = grad(&[u.sum_all()], std::slice::from_ref(&t), &opts)?.remove(0).ok_or("u' is missing")?;
        let residual = du.add(&u)?.pow(2.0)?.mean_all();
        let boundary = model.forward(&t0)?.sub_scalar(1.0)?.pow(2.0)?.sum_all();
        let loss = residual.add(&boundary)?;
        loss.backward()?;
        opt.step()?;
        if step % 100 == 0 || step == 1 || step == steps {
            err = max_error(&model)?;
        }
        let e = Epoch { epoch: step, train_loss: loss.item::<f64>()?, metric: err, elapsed: start.elapsed() };
        report(&e);
    }
    max_error(&model)
}
