//! Regression on the diabetes data set (`data/diabetes_*.csv.gz`): the same
//! network (10→32→1, standardised features and target, Adam) trained with each
//! regression loss of the article, then a table of test mean absolute errors.
//!
//! Run: `cargo run --release --example train_diabetes`

mod common;

use common::{Epoch, Res, data};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, no_grad, optim};

fn main() -> Res<()> {
    println!("tapegrad: MLP 10→32→1 on 442 patients (80/20 split), 100 epochs per loss, Adam lr 1e-3");
    let mut rows = Vec::new();
    for kind in Regression::ALL {
        let mae = train(kind, 100, 0, &mut |e| {
            if e.epoch % 25 == 0 {
                println!(
                    "{:<14} epoch {:>3}  train loss {:.4}  test MAE {:6.2}  elapsed {:.2}s",
                    kind.name(),
                    e.epoch,
                    e.train_loss,
                    e.metric,
                    e.elapsed.as_secs_f64()
                );
            }
        })?;
        rows.push((kind.name(), mae));
    }
    println!("\n| loss | test MAE (target units) |\n|---|---|");
    for (name, mae) in rows {
        println!("| {name} | {mae:.1} |");
    }
    println!("(PyTorch 2.15, same setup: about 44 for each loss)");
    Ok(())
}

/// The regression losses compared.
#[derive(Clone, Copy, Debug)]
pub enum Regression {
    Mse,
    L1,
    SmoothL1,
    Huber,
}

impl Regression {
    pub const ALL: [Regression; 4] = [Regression::Mse, Regression::L1, Regression::SmoothL1, Regression::Huber];

    pub fn name(self) -> &'static str {
        match self {
            Regression::Mse => "MSELoss (L2)",
            Regression::L1 => "L1Loss (MAE)",
            Regression::SmoothL1 => "SmoothL1Loss",
            Regression::Huber => "HuberLoss",
        }
    }

    fn loss(self, pred: &Tensor, y: &Tensor) -> tapegrad::Result<Tensor> {
        match self {
            Regression::Mse => nn::MseLoss::new().forward(pred, y),
            Regression::L1 => nn::L1Loss::new().forward(pred, y),
            Regression::SmoothL1 => nn::SmoothL1Loss::new().forward(pred, y),
            Regression::Huber => nn::HuberLoss::new().forward(pred, y),
        }
    }
}

/// Trains the network with the loss `kind` for `epochs` epochs and returns the
/// final test mean absolute error, in the target's units. `seed` fixes the split,
/// the initial weights and the order of the batches; `report` receives the mean
/// training loss (on the standardised target) and the test MAE of every epoch.
pub fn train(kind: Regression, epochs: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    // Data: features standardised with the statistics of the training rows, and
    // the target too (the network predicts `(y - mean) / sd`).
    let mut patients = data::diabetes()?;
    let (train_rows, test_rows) = data::split(patients.len(), seed);
    data::standardize(&mut patients, &train_rows);
    let ys: Vec<f64> = train_rows.iter().map(|&i| patients.y[i] as f64).collect();
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let sd = (ys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / ys.len() as f64).sqrt();
    let scaled: Vec<f32> = patients.y.iter().map(|&v| ((v as f64 - mean) / sd) as f32).collect();

    // Model and optimizer (the loss is `kind`).
    let mut rng = StdRng::seed_from_u64(seed);
    let model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(10, 32, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(32, 1, &mut rng)),
    ]);
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);

    let start = Instant::now();
    let mut mae = f64::NAN;
    for epoch in 1..=epochs {
        // One pass over the training rows in shuffled mini-batches of 64.
        let (mut loss_sum, mut seen) = (0.0, 0);
        for batch in data::batches(&train_rows, 64, &mut rng) {
            let x = patients.features(&batch)?;
            let y = Tensor::from_vec(batch.iter().map(|&i| scaled[i]).collect(), &[batch.len(), 1])?;
            opt.zero_grad();
            let loss = kind.loss(&model.forward(&x)?, &y)?;
            loss.backward()?;
            opt.step()?;
            loss_sum += loss.item::<f32>()? as f64 * batch.len() as f64;
            seen += batch.len();
        }

        // Evaluation: predictions back in the target's units, against the raw target.
        let pred = no_grad(|| model.forward(&patients.features(&test_rows)?))?.to_vec::<f32>()?;
        let abs_errors =
            pred.iter().zip(&test_rows).map(|(p, &i)| (*p as f64 * sd + mean - patients.y[i] as f64).abs());
        mae = abs_errors.sum::<f64>() / test_rows.len() as f64;
        report(&Epoch { epoch, train_loss: loss_sum / seen as f64, metric: mae, elapsed: start.elapsed() });
    }
    Ok(mae)
}
