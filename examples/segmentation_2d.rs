//! The article's 2-D case for real: conv2d → log_softmax(dim=1) → nll_loss
//! per pixel, on synthetic 16×16 images of a bright square and a dark disk,
//! with the one-pixel border marked `ignore_index`. Pixel accuracy rises.
//!
//! Run: `cargo run --release --example segmentation_2d`

mod common;

fn main() -> common::tasks::Res<()> {
    println!(
        "tapegrad: per-pixel segmentation (3 classes) with Conv2d(1→8) → ReLU → Conv2d(8→3) → LogSoftmax(1) → NLLLoss(ignore_index=255)"
    );
    let acc = common::tasks::segmentation(150, 0, &mut |e| {
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
