//! The article's point-cloud case: Linear layers applied to `(N, L, 3)` point
//! clouds → log_softmax(-1) → view(-1, C) → nll_loss, on synthetic clouds whose
//! points are labelled by their radial shell. Per-point accuracy rises.
//!
//! Run: `cargo run --release --example pointcloud`

mod common;

use common::{Epoch, Res};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, no_grad, optim};

fn main() -> Res<()> {
    println!("tapegrad: per-point classification, Linear(3→64) → ReLU → Linear(64→3) on (8, 128, 3) clouds");
    let acc = train(300, 0, &mut |e| {
        if e.epoch % 30 == 0 || e.epoch == 1 {
            println!(
                "step {:>3}  loss {:.4}  point accuracy {:5.1}%  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                100.0 * e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final point accuracy: {:.1}% (chance: about 33%)", 100.0 * acc);
    Ok(())
}

/// Trains the network for `steps` steps, each on a fresh batch of 8 clouds of
/// 128 points, and returns its final per-point accuracy on 16 test clouds.
/// `seed` fixes the initial weights and the clouds; `report` receives the loss
/// of each step (as [`Epoch::train_loss`], `epoch` being the step) and the test
/// accuracy after it.
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    const C: isize = 3; // classes

    // Model and optimizer: the Linear layers act on the last dim of (N, L, 3),
    // then log-probabilities over the classes along that dim.
    let mut rng = StdRng::seed_from_u64(seed);
    let fc1 = nn::Linear::new(3, 64, &mut rng);
    let fc2 = nn::Linear::new(64, C as usize, &mut rng);
    let forward = |pcl: &Tensor| -> tapegrad::Result<Tensor> {
        nn::LogSoftmax::new(-1).forward(&fc2.forward(&fc1.forward(pcl)?.relu())?)
    };
    let loss_fn = nn::NllLoss::new();
    let params: Vec<Tensor> = fc1.parameters().into_iter().chain(fc2.parameters()).collect();
    let mut opt = optim::Adam::new(params, 1e-2);

    let (test_x, test_y) = clouds(16, 128, &mut rng)?;
    let test_labels = test_y.to_vec::<i64>()?;
    let start = Instant::now();
    let mut accuracy = 0.0;
    for step in 1..=steps {
        // One step on a fresh batch: (N, L, C) log-probabilities viewed as
        // (N·L, C) rows against (N·L,) labels, as in PyTorch.
        let (pcl, target) = clouds(8, 128, &mut rng)?;
        opt.zero_grad();
        let output = forward(&pcl)?;
        let loss = loss_fn.forward(&output.view(&[-1, C])?, &target.view(&[-1])?)?;
        loss.backward()?;
        opt.step()?;

        // Evaluation: the most likely class of every test point.
        let predicted = no_grad(|| forward(&test_x)?.argmax(-1, false))?.to_vec::<i64>()?;
        let hits = predicted.iter().zip(&test_labels).filter(|(p, l)| p == l).count();
        accuracy = hits as f64 / test_labels.len() as f64;
        let train_loss = loss.item::<f32>()? as f64;
        report(&Epoch { epoch: step, train_loss, metric: accuracy, elapsed: start.elapsed() });
    }
    Ok(accuracy)
}

/// `n` point clouds of `l` points in [-1, 1]³, each point labelled by its
/// shell: radius < 0.6 → 0, < 1.0 → 1, else 2.
pub fn clouds(n: usize, l: usize, rng: &mut StdRng) -> Res<(Tensor, Tensor)> {
    let pts: Vec<f32> = (0..n * l * 3).map(|_| rng.random_range(-1.0..1.0f32)).collect();
    let labels: Vec<i64> = pts
        .chunks(3)
        .map(|p| {
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            if r < 0.6 {
                0
            } else if r < 1.0 {
                1
            } else {
                2
            }
        })
        .collect();
    Ok((Tensor::from_vec(pts, &[n, l, 3])?, Tensor::from_vec(labels, &[n, l])?))
}
