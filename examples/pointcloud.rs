//! The article's point-cloud case: Linear layers applied to `(N, L, 3)` point
//! clouds → log_softmax(-1) → view(-1, C) → nll_loss, on synthetic clouds whose
//! points are labelled by their radial shell. Per-point accuracy rises.
//!
//! Run: `cargo run --release --example pointcloud`

mod common;

fn main() -> common::tasks::Res<()> {
    println!("tapegrad: per-point classification, Linear(3→64) → ReLU → Linear(64→3) on (8, 128, 3) clouds");
    let acc = common::tasks::pointcloud(300, 0, &mut |e| {
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
