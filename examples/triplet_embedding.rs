//! A metric embedding trained with the triplet margin loss: points of four
//! noisy classes in 8 dimensions are mapped to 2, so that each point lies
//! nearer to a point of its own class than to a point of another by a
//! margin. The share of test triplets ordered correctly rises.
//!
//! Run: `cargo run --release --example triplet_embedding`

mod common;

use common::{Epoch, Res};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, no_grad, optim};

const DIM: usize = 8;
const CLASSES: usize = 4;

fn main() -> Res<()> {
    println!("tapegrad: Linear(8→32) → ReLU → Linear(32→2) embedding, TripletMarginLoss");
    let acc = train(200, 0, &mut |e| {
        if e.epoch % 20 == 0 || e.epoch == 1 {
            println!(
                "step {:>3}  loss {:.4}  ordered test triplets {:5.1}%  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                100.0 * e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final: {:.1}% of test triplets have d(anchor, positive) < d(anchor, negative)", 100.0 * acc);
    Ok(())
}

/// Trains the embedding for `steps` steps on fresh batches of 64 triplets
/// and returns the share of 512 test triplets whose positive lies nearer to
/// the anchor than their negative. `report` gets each step's loss and that share.
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..CLASSES * DIM).map(|_| rng.random_range(-1.0..1.0f32)).collect();
    let fc1 = nn::Linear::new(DIM, 32, &mut rng);
    let fc2 = nn::Linear::new(32, 2, &mut rng);
    let embed = |x: &Tensor| -> tapegrad::Result<Tensor> { fc2.forward(&fc1.forward(x)?.relu()) };
    let loss_fn = nn::TripletMarginLoss::new().margin(1.0);
    let params: Vec<Tensor> = fc1.parameters().into_iter().chain(fc2.parameters()).collect();
    let mut opt = optim::Adam::new(params, 1e-2);

    let test = triplets(512, &centres, &mut rng)?;
    let start = Instant::now();
    let mut ordered = 0.0;
    for step in 1..=steps {
        let (a, p, n) = triplets(64, &centres, &mut rng)?;
        opt.zero_grad();
        let loss = loss_fn.forward(&embed(&a)?, &embed(&p)?, &embed(&n)?)?;
        loss.backward()?;
        opt.step()?;

        ordered = no_grad(|| -> tapegrad::Result<f64> {
            let (ea, ep, en) = (embed(&test.0)?, embed(&test.1)?, embed(&test.2)?);
            let dist = |x: &Tensor, y: &Tensor| -> tapegrad::Result<Vec<f32>> {
                let d = x.sub(y)?;
                d.mul(&d)?.sum(-1, false)?.to_vec::<f32>()
            };
            let (dp, dn) = (dist(&ea, &ep)?, dist(&ea, &en)?);
            Ok(dp.iter().zip(&dn).filter(|(p, n)| p < n).count() as f64 / dp.len() as f64)
        })?;
        report(&Epoch {
            epoch: step,
            train_loss: loss.item::<f32>()? as f64,
            metric: ordered,
            elapsed: start.elapsed(),
        });
    }
    Ok(ordered)
}

/// `n` triplets `(anchor, positive, negative)`, each `(n, 8)`: anchor and
/// positive from one class, the negative from another; a point is its class
/// centre plus Gaussian noise (σ 0.6).
pub fn triplets(n: usize, centres: &[f32], rng: &mut StdRng) -> Res<(Tensor, Tensor, Tensor)> {
    let noise = Normal::new(0.0f32, 0.6)?;
    let point = |class: usize, rng: &mut StdRng| -> Vec<f32> {
        (0..DIM).map(|k| centres[class * DIM + k] + noise.sample(rng)).collect()
    };
    let (mut a, mut p, mut q) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let c = rng.random_range(0..CLASSES);
        let other = (c + rng.random_range(1..CLASSES)) % CLASSES;
        a.extend(point(c, rng));
        p.extend(point(c, rng));
        q.extend(point(other, rng));
    }
    Ok((Tensor::from_vec(a, &[n, DIM])?, Tensor::from_vec(p, &[n, DIM])?, Tensor::from_vec(q, &[n, DIM])?))
}
