//! Binary classification of the breast-cancer data set (`data/breast_cancer.csv`)
//! with `BceWithLogitsLoss` and a `pos_weight` for the class imbalance;
//! standardised features, MLP 30→32→1, Adam.
//!
//! Run: `cargo run --release --example train_breast_cancer`

mod common;

use common::{Epoch, Res, data};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::nn;
use tapegrad::{Tensor, no_grad, optim};

fn main() -> Res<()> {
    println!("tapegrad: MLP 30→32→1 on 569 tumours (80/20 split), BCEWithLogitsLoss with pos_weight, Adam lr 1e-3");
    let acc = train(50, 0, &mut |e| {
        if e.epoch % 5 == 0 || e.epoch == 1 {
            println!(
                "epoch {:>2}  train loss {:.4}  test accuracy {:5.1}%  elapsed {:.2}s",
                e.epoch,
                e.train_loss,
                100.0 * e.metric,
                e.elapsed.as_secs_f64()
            );
        }
    })?;
    println!("final test accuracy: {:.1}% (PyTorch 2.15, same setup: 97–100%)", 100.0 * acc);
    Ok(())
}

/// Trains the classifier for `epochs` epochs and returns its final test accuracy.
/// `seed` fixes the split, the initial weights and the order of the batches;
/// `report` receives the mean training loss and the test accuracy of every epoch.
pub fn train(epochs: usize, seed: u64, report: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    // Data: features standardised with the statistics of the training rows.
    let mut tumours = data::breast_cancer()?;
    let (train_rows, test_rows) = data::split(tumours.len(), seed);
    data::standardize(&mut tumours, &train_rows);

    // Model, loss and optimizer. The loss weighs the positive (benign) rows by
    // #negatives / #positives, so that both classes count alike.
    let positives = train_rows.iter().filter(|&&i| tumours.y[i] == 1.0).count() as f32;
    let negatives = train_rows.len() as f32 - positives;
    let mut rng = StdRng::seed_from_u64(seed);
    let model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(30, 32, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(32, 1, &mut rng)),
    ]);
    let pos_weight = Tensor::from_vec(vec![negatives / positives.max(1.0)], &[1])?;
    let loss_fn = nn::BceWithLogitsLoss::new().pos_weight(pos_weight);
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);

    let start = Instant::now();
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        // One pass over the training rows in shuffled mini-batches of 64.
        let (mut loss_sum, mut seen) = (0.0, 0);
        for batch in data::batches(&train_rows, 64, &mut rng) {
            let (x, y) = tumours.rows(&batch);
            let x = Tensor::from_vec(x, &[batch.len(), 30])?;
            let y = Tensor::from_vec(y, &[batch.len(), 1])?;
            opt.zero_grad();
            let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
            loss.backward()?;
            opt.step()?;
            loss_sum += loss.item::<f32>()? as f64 * batch.len() as f64;
            seen += batch.len();
        }

        // Evaluation: a positive logit predicts label 1.
        let logits = no_grad(|| model.forward(&tumours.features(&test_rows)?))?.to_vec::<f32>()?;
        let hits = logits.iter().zip(&test_rows).filter(|&(z, &i)| (*z > 0.0) == (tumours.y[i] == 1.0)).count();
        accuracy = hits as f64 / test_rows.len() as f64;
        report(&Epoch { epoch, train_loss: loss_sum / seen as f64, metric: accuracy, elapsed: start.elapsed() });
    }
    Ok(accuracy)
}
