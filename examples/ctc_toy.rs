//! A toy sequence task for the CTC loss: frames of noisy one-hot features
//! spell one to three labels (each held for two to four frames, with gaps);
//! a per-frame network trained with `CtcLoss` learns to read the label
//! sequence without any frame alignment. Greedy decoding (most likely class
//! per frame, repeats merged, blanks removed) reads more and more test
//! sequences exactly.
//!
//! Run: `cargo run --release --example ctc_toy`

mod common;

use common::{Epoch, Res};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, functional as F, no_grad, optim};

/// Frames per sequence.
const T: usize = 18;
/// Classes: the blank (0) and labels 1..=4; also the feature size.
const C: usize = 5;

fn main() -> Res<()> {
    println!("tapegrad: Linear(5→32) → ReLU → Linear(32→5) per frame, log_softmax, CtcLoss");
    let acc = train(300, 0, &mut |e| {
        if e.epoch % 30 == 0 || e.epoch == 1 {
            println!(
                "step {:>3}  loss {:.4}  test sequences read exactly {:5.1}%  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                100.0 * e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final: {:.1}% of test sequences decoded exactly", 100.0 * acc);
    Ok(())
}

/// A batch: frames `(T, N, C)`, padded targets `(N, 3)`, input and target lengths.
pub struct Batch {
    pub frames: Tensor,
    pub targets: Tensor,
    pub input_lengths: Tensor,
    pub target_lengths: Tensor,
    pub labels: Vec<Vec<i64>>,
}

/// Trains for `steps` steps on fresh batches of 32 sequences and returns the
/// share of 128 test sequences whose greedy decoding equals their labels.
pub fn train(steps: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let fc1 = nn::Linear::new(C, 32, &mut rng);
    let fc2 = nn::Linear::new(32, C, &mut rng);
    let log_probs =
        |x: &Tensor| -> tapegrad::Result<Tensor> { F::log_softmax(&fc2.forward(&fc1.forward(x)?.relu())?, 2) };
    let loss_fn = nn::CtcLoss::new();
    let params: Vec<Tensor> = fc1.parameters().into_iter().chain(fc2.parameters()).collect();
    let mut opt = optim::Adam::new(params, 1e-2);

    let test = batch(128, &mut rng)?;
    let start = Instant::now();
    let mut exact = 0.0;
    for step in 1..=steps {
        let b = batch(32, &mut rng)?;
        opt.zero_grad();
        let loss = loss_fn.forward(&log_probs(&b.frames)?, &b.targets, &b.input_lengths, &b.target_lengths)?;
        loss.backward()?;
        opt.step()?;

        let best = no_grad(|| log_probs(&test.frames)?.argmax(2, false))?.to_vec::<i64>()?;
        let n = test.labels.len();
        let hits = (0..n).filter(|&j| greedy(&best, j, n) == test.labels[j]).count();
        exact = hits as f64 / n as f64;
        report(&Epoch { epoch: step, train_loss: loss.item::<f32>()? as f64, metric: exact, elapsed: start.elapsed() });
    }
    Ok(exact)
}

/// The greedy decoding of sequence `j` from the per-frame best classes `(T, n)`.
fn greedy(best: &[i64], j: usize, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut prev = 0;
    for t in 0..T {
        let c = best[t * n + j];
        if c != 0 && c != prev {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// `n` random sequences: one to three labels, each held for 2 to 4 frames
/// with a blank frame between equal neighbours and random gaps; features
/// are the frame's one-hot class plus uniform noise in [0, 0.5).
pub fn batch(n: usize, rng: &mut StdRng) -> Res<Batch> {
    let mut frames = vec![0.0f32; T * n * C];
    let (mut targets, mut lengths, mut labels) = (vec![0i64; n * 3], Vec::new(), Vec::new());
    for j in 0..n {
        let k = rng.random_range(1..=3);
        let seq: Vec<i64> = (0..k).map(|_| rng.random_range(1..C as i64)).collect();
        let mut classes = Vec::new();
        for &l in &seq {
            classes.extend(std::iter::repeat_n(0, rng.random_range(0..=1) + usize::from(classes.last() == Some(&l))));
            classes.extend(std::iter::repeat_n(l, rng.random_range(2..=4)));
        }
        classes.resize(T, 0);
        for (t, &c) in classes.iter().enumerate() {
            for f in 0..C {
                frames[(t * n + j) * C + f] = rng.random_range(0.0..0.5) + if f == c as usize { 1.0 } else { 0.0 };
            }
        }
        targets[j * 3..j * 3 + k].copy_from_slice(&seq);
        lengths.push(k as i64);
        labels.push(seq);
    }
    Ok(Batch {
        frames: Tensor::from_vec(frames, &[T, n, C])?,
        targets: Tensor::from_vec(targets, &[n, 3])?,
        input_lengths: Tensor::from_vec(vec![T as i64; n], &[n])?,
        target_lengths: Tensor::from_vec(lengths, &[n])?,
        labels,
    })
}
