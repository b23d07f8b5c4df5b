//! Code shared by the examples (and by the tests that run them on a few
//! epochs): loading the data sets, and the record each training loop reports
//! after every epoch. The training itself lives in each example.
#![allow(dead_code)]

pub mod data;

use std::time::Duration;

/// The error type of the examples: I/O, parsing or tapegrad errors.
pub type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What one epoch (or, for the synthetic examples, one step) measured.
#[derive(Clone, Debug)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    /// accuracy in [0, 1] for classifiers, mean absolute error for regression
    pub metric: f64,
    pub elapsed: Duration,
}
