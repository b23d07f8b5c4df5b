//! Knowledge distillation with `kl_div` on the handwritten digits. A teacher
//! MLP (64→128→10) is trained on the labelled training digits. A small
//! student (64→16→10) then learns in a setting where labels are scarce: only
//! [`LABELLED`] training digits keep their label. Trained twice from the same
//! initial weights, once with cross-entropy on those few labelled digits, and
//! once on every training image with the teacher's softened predictions as
//! targets, `T²·KL(softmax(teacher/T) ‖ softmax(student/T))` (Hinton et
//! al.'s transfer set; in PyTorch
//! `F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")`).
//!
//! Run: `cargo run --release --example distillation`

mod common;

use common::{Res, data};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::Batches;
use tapegrad::functional as F;
use tapegrad::{Reduction, Tensor, nn, no_grad, optim};

fn main() -> Res<()> {
    let r = run(0)?;
    println!("teacher 64→128→10:                   {:5.1}% test accuracy", 100.0 * r.teacher);
    println!("student 64→16→10, {LABELLED} labels only:    {:5.1}%", 100.0 * r.student_labels);
    println!("student 64→16→10, distilled (T = {TEMPERATURE}): {:5.1}%", 100.0 * r.student_distilled);
    Ok(())
}

/// The softmax temperature of the distillation term.
pub const TEMPERATURE: f64 = 4.0;
/// How many training digits keep their label for the students.
pub const LABELLED: usize = 100;

/// Test accuracies of the three models.
#[derive(Debug)]
pub struct Results {
    pub teacher: f64,
    pub student_labels: f64,
    pub student_distilled: f64,
}

fn mlp(hidden: usize, rng: &mut StdRng) -> nn::Sequential {
    nn::Sequential::new(vec![
        Box::new(nn::Linear::new(64, hidden, rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(hidden, 10, rng)),
    ])
}

/// The fraction of `y` that `model` labels right.
fn accuracy(model: &nn::Sequential, x: &Tensor, y: &Tensor) -> Res<f64> {
    let hits = no_grad(|| model.forward(x)?.argmax(1, false)?.eq(y)?.sum_all().item::<i64>())?;
    Ok(hits as f64 / y.numel() as f64)
}

/// Trains `model` for `epochs` epochs on the rows `train` of `(x, y)`: with a
/// `teacher`, on the distillation loss alone (the labels are not read), else
/// on cross-entropy with the labels.
fn fit(
    model: &nn::Sequential,
    teacher: Option<&nn::Sequential>,
    x: &Tensor,
    y: &Tensor,
    train: &[usize],
    epochs: usize,
    rng: &mut StdRng,
) -> Res<()> {
    let mut opt = optim::Adam::new(model.parameters(), 3e-3);
    let kl = F::KlDivOptions { reduction: Reduction::BatchMean, log_target: false };
    let t = TEMPERATURE;
    for _ in 0..epochs {
        for batch in Batches::over(train.to_vec(), 64)?.shuffle(rng) {
            let (xb, yb) = (batch.select(x)?, batch.select(y)?);
            opt.zero_grad();
            let logits = model.forward(&xb)?;
            let loss = match teacher {
                None => F::cross_entropy(&logits, &yb, &Default::default())?,
                Some(teacher) => {
                    let soft = no_grad(|| F::softmax(&(teacher.forward(&xb)? / t)?, 1))?;
                    (F::kl_div(&F::log_softmax(&(&logits / t)?, 1)?, &soft, &kl)? * (t * t))?
                }
            };
            loss.backward()?;
            opt.step()?;
        }
    }
    Ok(())
}

/// Trains the teacher and both students on the split made with `seed`.
pub fn run(seed: u64) -> Res<Results> {
    let mut digits = data::digits()?;
    let (train, test) = data::split(digits.len(), seed);
    data::standardize(&mut digits, &train);
    let all: Vec<usize> = (0..digits.len()).collect();
    let (x, y) = (digits.features(&all)?, Tensor::from_vec(digits.y.clone(), &[digits.len()])?);
    let (x_test, y_test) = (
        digits.features(&test)?,
        Tensor::from_vec(test.iter().map(|&i| digits.y[i]).collect::<Vec<i64>>(), &[test.len()])?,
    );

    let mut rng = StdRng::seed_from_u64(seed);
    let teacher = mlp(128, &mut rng);
    fit(&teacher, None, &x, &y, &train, 30, &mut rng)?;

    // Both students start from the same weights.
    let student_seed = seed + 1;
    // The labelled few get as many optimizer steps as the transfer set's epochs give.
    let labels_only = mlp(16, &mut StdRng::seed_from_u64(student_seed));
    let steps_per_epoch = train.len().div_ceil(64);
    fit(
        &labels_only,
        None,
        &x,
        &y,
        &train[..LABELLED],
        30 * steps_per_epoch / LABELLED.div_ceil(64),
        &mut StdRng::seed_from_u64(student_seed),
    )?;
    let distilled = mlp(16, &mut StdRng::seed_from_u64(student_seed));
    fit(&distilled, Some(&teacher), &x, &y, &train, 30, &mut StdRng::seed_from_u64(student_seed))?;

    Ok(Results {
        teacher: accuracy(&teacher, &x_test, &y_test)?,
        student_labels: accuracy(&labels_only, &x_test, &y_test)?,
        student_distilled: accuracy(&distilled, &x_test, &y_test)?,
    })
}
