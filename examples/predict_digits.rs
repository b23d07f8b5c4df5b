//! Loads the digits MLP saved by `train_digits --save PATH` and reports its
//! test accuracy on the same split: the same figure training printed, from
//! the safetensors file alone.
//!
//! Run: `cargo run --release --example train_digits -- --save digits.safetensors`
//! then `cargo run --release --example predict_digits -- digits.safetensors`

// The architecture and the evaluation are train_digits' own, so that both
// programs agree on them.
#[path = "train_digits.rs"]
#[allow(dead_code)]
mod train_digits;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::io;
use tapegrad::nn::Module;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        return Err("usage: predict_digits PATH (a file written by train_digits --save PATH)".into());
    };
    // the initial values are overwritten by the load
    let mut model = train_digits::mlp(&mut StdRng::seed_from_u64(0));
    model.load_state_dict(&io::load_safetensors(&path)?, true)?;
    model.train(false);
    // train_digits trains on the split of seed 0
    let acc = train_digits::test_accuracy(&model, 0)?;
    println!("{path}: test accuracy {:.1}%", 100.0 * acc);
    Ok(())
}
