//! The article's 2-D case for real: conv2d → log_softmax(dim=1) → nll_loss
//! per pixel, on synthetic 16×16 images of a bright square and a dark disk,
//! with the one-pixel border marked `ignore_index`. Pixel accuracy rises.
//!
//! Run: `cargo run --release --example segmentation_2d`

mod common;

use common::{Epoch, Res};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, no_grad, optim};

/// The label of a border pixel: ignored by the loss and by the accuracy.
pub const IGNORE: i64 = 255;

fn main() -> Res<()> {
    println!(
        "tapegrad: per-pixel segmentation (3 classes) with Conv2d(1→8) → ReLU → Conv2d(8→3) → LogSoftmax(1) → NLLLoss(ignore_index=255)"
    );
    let acc = train(150, 0, &mut |e| {
        if e.epoch % 15 == 0 || e.epoch == 1 {
            println!(
                "step {:>3}  loss {:.4}  pixel accuracy {:5.1}%  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                100.0 * e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final pixel accuracy (border ignored): {:.1}%", 100.0 * acc);
    Ok(())
}

/// Trains the network for `steps` steps, each on a fresh batch of 16 images,
/// and returns its final pixel accuracy on 32 test images. `seed` fixes the
/// initial weights and the images; `report` receives the loss of each step
/// (as [`Epoch::train_loss`], `epoch` being the step) and the test accuracy after it.
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    // Model, loss and optimizer: two 3×3 convolutions padded to keep 16×16,
    // then log-probabilities over the 3 classes along dim 1 for `NllLoss`.
    let mut rng = StdRng::seed_from_u64(seed);
    let pad = tapegrad::functional::Conv2dOptions { padding: (1, 1), ..Default::default() };
    let conv1 = nn::Conv2d::new(1, 8, (3, 3), &mut rng).options(pad.clone());
    let conv2 = nn::Conv2d::new(8, 3, (3, 3), &mut rng).options(pad);
    let model = nn::Sequential::new(vec![
        Box::new(conv1),
        Box::new(nn::ReLU::new()),
        Box::new(conv2),
        Box::new(nn::LogSoftmax::new(1)),
    ]);
    let loss_fn = nn::NllLoss::new().ignore_index(IGNORE);
    let mut opt = optim::Adam::new(model.parameters(), 1e-2);

    let (test_x, test_y) = shapes(32, &mut rng)?;
    let test_labels = test_y.to_vec::<i64>()?;
    let start = Instant::now();
    let mut accuracy = 0.0;
    for step in 1..=steps {
        // One step on a fresh batch: (16, 1, 16, 16) images, (16, 16, 16) labels.
        let (x, y) = shapes(16, &mut rng)?;
        opt.zero_grad();
        let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
        loss.backward()?;
        opt.step()?;

        // Evaluation: the most likely class of every test pixel off the border.
        let predicted = no_grad(|| model.forward(&test_x)?.argmax(1, false))?.to_vec::<i64>()?;
        let counted: Vec<(i64, i64)> =
            predicted.into_iter().zip(test_labels.iter().copied()).filter(|(_, l)| *l != IGNORE).collect();
        accuracy = counted.iter().filter(|(p, l)| p == l).count() as f64 / counted.len() as f64;
        let train_loss = loss.item::<f32>()? as f64;
        report(&Epoch { epoch: step, train_loss, metric: accuracy, elapsed: start.elapsed() });
    }
    Ok(accuracy)
}

/// `n` synthetic 16×16 images, each with a bright square (class 1) and a dark
/// disk (class 2) on noise (class 0); the one-pixel border is labelled [`IGNORE`].
pub fn shapes(n: usize, rng: &mut StdRng) -> Res<(Tensor, Tensor)> {
    const S: usize = 16;
    let mut img = vec![0f32; n * S * S];
    let mut lab = vec![0i64; n * S * S];
    for k in 0..n {
        let (sx, sy, ss) = (rng.random_range(1..9), rng.random_range(1..9), rng.random_range(3..7));
        let (cx, cy, r) =
            (rng.random_range(4.0..12.0f32), rng.random_range(4.0..12.0f32), rng.random_range(2.0..4.0f32));
        for y in 0..S {
            for x in 0..S {
                let i = k * S * S + y * S + x;
                let noise: f32 = rng.random_range(-0.4..0.4);
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let (v, c) = if (sx..sx + ss).contains(&x) && (sy..sy + ss).contains(&y) {
                    (1.0, 1)
                } else if dx * dx + dy * dy <= r * r {
                    (-1.0, 2)
                } else {
                    (0.0, 0)
                };
                img[i] = v + noise;
                lab[i] = if x == 0 || y == 0 || x == S - 1 || y == S - 1 { IGNORE } else { c };
            }
        }
    }
    Ok((Tensor::from_vec(img, &[n, 1, S, S])?, Tensor::from_vec(lab, &[n, S, S])?))
}
