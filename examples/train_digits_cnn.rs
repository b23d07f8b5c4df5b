//! A small CNN on the handwritten-digits data set (`data/digits.csv.gz`),
//! trained the way a PyTorch user writes it: `model.train(true)`,
//! `opt.zero_grad()`, forward, loss, `backward()`, gradient clipping,
//! `opt.step()`, a cosine learning-rate schedule stepped once per epoch, then
//! evaluation in eval mode under `no_grad`. One progress line per epoch.
//!
//! The model is PyTorch's
//! `Sequential(Conv2d(1,8,3,padding=1), BatchNorm2d(8), ReLU, MaxPool2d(2),
//! Conv2d(8,16,3,padding=1), BatchNorm2d(16), ReLU, AvgPool2d(2), Flatten,
//! Linear(64,32), Tanh, LayerNorm(32), Dropout(0.1), Linear(32,10))`.
//!
//! Run: `cargo run --release --example train_digits_cnn`

mod common;

use common::{Epoch, Res, data};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::optim::{self, lr_scheduler::CosineAnnealingLr};
use tapegrad::{Tensor, no_grad};

fn main() -> Res<()> {
    println!("tapegrad: digits CNN on 1797 handwritten 8×8 digits (80/20 split), AdamW + cosine schedule, batch 32");
    let acc = train(EPOCHS, 0, &mut |e| {
        println!(
            "epoch {:>2}  train loss {:.4}  test accuracy {:5.1}%  elapsed {:.2}s",
            e.epoch,
            e.train_loss,
            100.0 * e.metric,
            e.elapsed.as_secs_f64()
        );
    })?;
    println!("final test accuracy: {:.1}% (PyTorch 2.15 reaches 99.4% with this model)", 100.0 * acc);
    Ok(())
}

/// Epochs of the full run.
pub const EPOCHS: usize = 30;

/// The CNN, with PyTorch's layer order and state-dict names (`0.weight`,
/// `1.running_mean`, ..., `13.bias`).
pub fn cnn(rng: &mut StdRng) -> nn::Sequential {
    let pad = F::Conv2dOptions { padding: (1, 1), ..Default::default() };
    nn::Sequential::new(vec![
        Box::new(nn::Conv2d::new(1, 8, (3, 3), rng).options(pad.clone())),
        Box::new(nn::BatchNorm2d::new(8)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::MaxPool2d::new((2, 2))),
        Box::new(nn::Conv2d::new(8, 16, (3, 3), rng).options(pad)),
        Box::new(nn::BatchNorm2d::new(16)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::AvgPool2d::new((2, 2))),
        Box::new(nn::Flatten::new(1, -1)),
        Box::new(nn::Linear::new(64, 32, rng)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::LayerNorm::new(&[32])),
        Box::new(nn::Dropout::new(0.1).seed(rand::RngExt::random(rng))),
        Box::new(nn::Linear::new(32, 10, rng)),
    ])
}

/// The rows `idx` of `digits` as a batch of images `(B, 1, 8, 8)` and their labels `(B,)`.
fn images(digits: &data::Table<i64>, idx: &[usize]) -> Res<(Tensor, Tensor)> {
    let (x, y) = digits.rows(idx);
    Ok((Tensor::from_vec(x, &[idx.len(), 1, 8, 8])?, Tensor::from_vec(y, &[idx.len()])?))
}

/// Trains the CNN for `epochs` epochs and returns its final test accuracy.
/// `seed` fixes the split, the initial weights, the dropout masks and the
/// order of the batches; `report` receives every epoch's mean training loss
/// and test accuracy.
pub fn train(epochs: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    // Data: pixels in [0, 1]; the test rows are held out.
    let digits = data::digits()?;
    let (train_rows, test_rows) = data::split(digits.len(), seed);
    let (x_test, y_test) = images(&digits, &test_rows)?;

    // Model, loss, optimizer and schedule.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = cnn(&mut rng);
    let loss_fn = nn::CrossEntropyLoss::new().label_smoothing(0.05);
    let mut opt = optim::Adam::new(model.parameters(), 1e-2).weight_decay(0.05).decoupled(true);
    let mut sched = CosineAnnealingLr::new(epochs as u64, 0.0);

    let start = Instant::now();
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        model.train(true);
        let (mut loss_sum, mut seen) = (0.0, 0);
        for batch in data::batches(&train_rows, 32, &mut rng) {
            let (x, y) = images(&digits, &batch)?;
            opt.zero_grad();
            let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
            loss.backward()?;
            nn::utils::clip_grad_norm(&model.parameters(), 1.0, 2.0)?;
            opt.step()?;
            loss_sum += loss.item::<f32>()? as f64 * batch.len() as f64;
            seen += batch.len();
        }
        sched.step(&mut opt)?;

        // Evaluation in eval mode (BatchNorm's running statistics, no dropout).
        model.train(false);
        let correct = no_grad(|| model.forward(&x_test)?.argmax(1, false)?.eq(&y_test)?.sum_all().item::<i64>())?;
        accuracy = correct as f64 / test_rows.len() as f64;
        report(&Epoch { epoch, train_loss: loss_sum / seen as f64, metric: accuracy, elapsed: start.elapsed() });
    }
    Ok(accuracy)
}
