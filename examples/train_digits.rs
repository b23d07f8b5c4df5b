//! The main job: an MLP (64→128→10) trained with Adam and cross-entropy on the
//! real handwritten-digits data set (`data/digits.csv.gz`), 80/20 split with a
//! fixed seed, one progress line per epoch.
//!
//! Run: `cargo run --release --example train_digits`
//!
//! With `--save PATH` the trained model's state dict is written to `PATH`
//! as a safetensors file (PyTorch's names and layout), which
//! `examples/predict_digits.rs` loads to report the same test accuracy.

mod common;

use common::{Epoch, Res, data};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::data::Batches;
use tapegrad::nn::{self, Module};
use tapegrad::{Tensor, io, no_grad, optim};

fn main() -> Res<()> {
    let save = save_path()?;
    println!("tapegrad: MLP 64→128→10 on 1797 handwritten digits (80/20 split), Adam lr 1e-3, batch 64");
    let (acc, model) = train_model(30, 0, &mut |e| {
        println!(
            "epoch {:>2}  train loss {:.4}  test accuracy {:5.1}%  elapsed {:.2}s",
            e.epoch,
            e.train_loss,
            100.0 * e.metric,
            e.elapsed.as_secs_f64()
        );
    })?;
    println!("final test accuracy: {:.1}% (PyTorch 2.15, same setup: 97.5%)", 100.0 * acc);
    if let Some(path) = save {
        io::save_safetensors(&model.state_dict(), &path)?;
        println!("saved the model's state dict to {path}");
    }
    Ok(())
}

/// The `PATH` of `--save PATH`, if given; any other argument is an error.
fn save_path() -> Res<Option<String>> {
    let mut args = std::env::args().skip(1);
    let mut save = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--save" => save = Some(args.next().ok_or("--save needs a PATH; usage: train_digits [--save PATH]")?),
            other => return Err(format!("unknown argument {other:?}; usage: train_digits [--save PATH]").into()),
        }
    }
    Ok(save)
}

/// The MLP 64→128→10, PyTorch's `Sequential(Linear(64,128), ReLU, Linear(128,10))`
/// (state-dict keys `0.weight`, `0.bias`, `2.weight`, `2.bias`).
pub fn mlp(rng: &mut StdRng) -> nn::Sequential {
    nn::Sequential::new(vec![
        Box::new(nn::Linear::new(64, 128, rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(128, 10, rng)),
    ])
}

/// The test rows of the split made with `seed`, standardised with the
/// statistics of its training rows (as in training).
fn test_data(seed: u64) -> Res<(data::Table<i64>, Vec<usize>)> {
    let mut digits = data::digits()?;
    let (train_rows, test_rows) = data::split(digits.len(), seed);
    data::standardize(&mut digits, &train_rows);
    Ok((digits, test_rows))
}

/// The fraction of the `rows` of `digits` whose highest logit is their label.
fn accuracy(model: &nn::Sequential, digits: &data::Table<i64>, rows: &[usize]) -> Res<f64> {
    let logits = no_grad(|| model.forward(&digits.features(rows)?))?;
    let predicted = logits.argmax(1, false)?.to_vec::<i64>()?;
    let hits = predicted.iter().zip(rows).filter(|&(p, &i)| *p == digits.y[i]).count();
    Ok(hits as f64 / rows.len() as f64)
}

/// The test accuracy of `model` on the split made with `seed`.
pub fn test_accuracy(model: &nn::Sequential, seed: u64) -> Res<f64> {
    let (digits, test_rows) = test_data(seed)?;
    accuracy(model, &digits, &test_rows)
}

/// Trains the MLP for `epochs` epochs and returns its final test accuracy.
/// `seed` fixes the split, the initial weights and the order of the batches;
/// `report` receives the mean training loss and the test accuracy of every epoch.
pub fn train(epochs: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    Ok(train_model(epochs, seed, report)?.0)
}

/// [`train`], also returning the trained model.
pub fn train_model(epochs: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<(f64, nn::Sequential)> {
    // Data: pixels standardised with the statistics of the training rows.
    let mut digits = data::digits()?;
    let (train_rows, test_rows) = data::split(digits.len(), seed);
    data::standardize(&mut digits, &train_rows);
    let all_rows: Vec<usize> = (0..digits.len()).collect();

    // Model, loss and optimizer.
    let mut rng = StdRng::seed_from_u64(seed);
    let model = mlp(&mut rng);
    let loss_fn = nn::CrossEntropyLoss::new();
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);

    // Every digit as one tensor of pixels and one of labels; batches take their rows.
    let (pixels, labels) = (digits.features(&all_rows)?, Tensor::from_vec(digits.y.clone(), &[digits.len()])?);

    let start = Instant::now();
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        // One pass over the training rows in shuffled mini-batches of 64.
        let (mut loss_sum, mut seen) = (0.0, 0);
        for batch in Batches::over(train_rows.clone(), 64)?.shuffle(&mut rng) {
            let (x, y) = (batch.select(&pixels)?, batch.select(&labels)?);
            opt.zero_grad();
            let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
            loss.backward()?;
            opt.step()?;
            loss_sum += loss.item::<f32>()? as f64 * batch.len() as f64;
            seen += batch.len();
        }

        // Evaluation: the fraction of test digits whose highest logit is their label.
        accuracy = self::accuracy(&model, &digits, &test_rows)?;
        report(&Epoch { epoch, train_loss: loss_sum / seen as f64, metric: accuracy, elapsed: start.elapsed() });
    }
    Ok((accuracy, model))
}
