//! Binary classification of the breast-cancer data set (`data/breast_cancer.csv`)
//! with `BceWithLogitsLoss` and a `pos_weight` for the class imbalance;
//! standardised features, MLP 30→32→1, Adam.
//!
//! Run: `cargo run --release --example train_breast_cancer`

mod common;

fn main() -> common::tasks::Res<()> {
    println!("tapegrad: MLP 30→32→1 on 569 tumours (80/20 split), BCEWithLogitsLoss with pos_weight, Adam lr 1e-3");
    let acc = common::tasks::breast_cancer(50, 0, &mut |e| {
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
