//! A WGAN-GP-style critic on 2-D points: the critic `D` learns to score real
//! points (a ring of radius 2) above fake ones (a Gaussian blob), with the
//! gradient penalty `λ·(‖∂D/∂x̂‖₂ − 1)²` at random interpolates `x̂` keeping
//! it 1-Lipschitz. `∂D/∂x̂` is taken by `autograd::grad` with `create_graph`,
//! so that the penalty can be differentiated with respect to the weights.
//! The penalty falls as the critic's gradient norm settles near 1.
//!
//! Run: `cargo run --release --example gradient_penalty`

mod common;

use common::{Epoch, Res};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::time::Instant;
use tapegrad::autograd::{GradOptions, grad};
use tapegrad::nn;
use tapegrad::optim::Adam;
use tapegrad::{DType, Tensor};

fn main() -> Res<()> {
    println!("tapegrad: WGAN-GP critic, Linear(2→64) → Tanh → Linear(64→64) → Tanh → Linear(64→1), λ = 10");
    let (first, last) = train(600, 0, &mut |e| {
        if e.epoch % 60 == 0 || e.epoch == 1 {
            println!(
                "step {:>3}  critic loss {:+.4}  gradient penalty {:.5}  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("gradient penalty (mean of the first and last 50 steps): {first:.5} -> {last:.5}");
    Ok(())
}

/// `n` points of the real distribution (a ring of radius 2) and of the fake one
/// (a Gaussian blob at (0.5, 0.5)), each `(n, 2)`.
fn batch(n: usize, rng: &mut StdRng) -> Res<(Tensor, Tensor)> {
    let mut real = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let a: f64 = rng.random::<f64>() * std::f64::consts::TAU;
        let r = 2.0 + 0.05 * (rng.random::<f64>() - 0.5);
        real.extend([(r * a.cos()) as f32, (r * a.sin()) as f32]);
    }
    let fake = Tensor::randn(&[n, 2], DType::F32, rng).mul_scalar(0.5)?.add_scalar(0.5)?;
    Ok((Tensor::from_vec(real, &[n, 2])?, fake))
}

/// Trains the critic for `steps` Adam steps on batches of 128 points and
/// returns the mean gradient penalty `(‖∂D/∂x̂‖₂ − 1)²` over the first and over
/// the last 50 steps; `report` receives each step's critic loss and penalty.
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<(f64, f64)> {
    const LAMBDA: f64 = 10.0;
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let critic = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(2, 64, &mut rng)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::Linear::new(64, 64, &mut rng)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::Linear::new(64, 1, &mut rng)),
    ]);
    let mut opt = Adam::new(critic.parameters(), 1e-3);
    let opts = GradOptions { create_graph: true, ..Default::default() };
    let mut penalties = Vec::with_capacity(steps);
    for step in 1..=steps {
        let (real, fake) = batch(128, &mut rng)?;
        // x̂ = ε·real + (1 − ε)·fake, one ε per point
        let eps = Tensor::rand(&[128, 1], DType::F32, &mut rng);
        let mixed = real.mul(&eps)?.add(&fake.mul(&eps.neg().add_scalar(1.0)?)?)?.requires_grad();
        let d_mixed = critic.forward(&mixed)?.sum_all();
        let g = grad(&[d_mixed], std::slice::from_ref(&mixed), &opts)?.remove(0).ok_or("no gradient")?;
        let penalty = g.mul(&g)?.sum(1, false)?.sqrt().sub_scalar(1.0)?.pow(2.0)?.mean_all();
        let wasserstein = critic.forward(&fake)?.mean_all().sub(&critic.forward(&real)?.mean_all())?;
        let loss = wasserstein.add(&penalty.mul_scalar(LAMBDA)?)?;
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        let p = penalty.item::<f32>()? as f64;
        penalties.push(p);
        report(&Epoch { epoch: step, train_loss: loss.item::<f32>()? as f64, metric: p, elapsed: start.elapsed() });
    }
    let k = 50.min(penalties.len());
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    Ok((mean(&penalties[..k]), mean(&penalties[penalties.len() - k..])))
}
