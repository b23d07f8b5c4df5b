//! The training loops behind the examples, shared with the tests that run
//! each one on a few iterations. Each reports every epoch to a callback.

use super::data::{self, Table};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::error::Error;
use std::time::{Duration, Instant};
use tapegrad::nn::{self, Module};
use tapegrad::{DType, Tensor, no_grad, optim};

pub type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// What one epoch measured.
#[derive(Clone, Debug)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    /// accuracy in [0, 1] for classifiers, mean absolute error for regression
    pub metric: f64,
    pub elapsed: Duration,
}

fn mlp(sizes: &[usize], rng: &mut StdRng) -> nn::Sequential {
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            layers.push(Box::new(nn::ReLU::new()));
        }
        layers.push(Box::new(nn::Linear::new(w[0], w[1], rng)));
    }
    nn::Sequential::new(layers)
}

/// One epoch of mini-batches: for each batch, `loss_of(batch)`, backward and an
/// optimizer step. Returns the mean training loss (weighted by batch size).
fn run_epoch(
    opt: &mut optim::Adam,
    batches: Vec<Vec<usize>>,
    mut loss_of: impl FnMut(&[usize]) -> tapegrad::Result<Tensor>,
) -> Res<f64> {
    let (mut total, mut count) = (0.0, 0usize);
    for b in batches {
        opt.zero_grad();
        let loss = loss_of(&b)?;
        loss.backward()?;
        opt.step()?;
        total += loss.item::<f32>()? as f64 * b.len() as f64;
        count += b.len();
    }
    Ok(total / count.max(1) as f64)
}

/// Fraction of `test` rows whose arg-max logit is the label.
fn accuracy(model: &dyn Module, t: &Table<i64>, test: &[usize]) -> Res<f64> {
    let pred = no_grad(|| model.forward(&t.features(test)?)?.argmax(1, false))?.to_vec::<i64>()?;
    let hits = pred.iter().zip(test).filter(|&(p, &i)| *p == t.y[i]).count();
    Ok(hits as f64 / test.len().max(1) as f64)
}

/// The main job: an MLP 64→128→10 on the handwritten digits (pixels
/// standardised with the training set's statistics), Adam (lr 1e-3), batch 64,
/// cross-entropy, 80/20 split. Returns the final test accuracy.
pub fn digits(epochs: usize, seed: u64, on_epoch: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut t = data::digits()?;
    let (train, test) = data::split(t.len(), seed);
    data::standardize(&mut t, &train);
    let mut rng = StdRng::seed_from_u64(seed);
    let model = mlp(&[64, 128, 10], &mut rng);
    let loss_fn = nn::CrossEntropyLoss::new();
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);
    let start = Instant::now();
    let mut acc = 0.0;
    for epoch in 1..=epochs {
        let train_loss = run_epoch(&mut opt, data::batches(&train, 64, &mut rng), |b| {
            let (x, y) = t.rows(b);
            loss_fn.forward(&model.forward(&Tensor::from_vec(x, &[b.len(), 64])?)?, &Tensor::from_vec(y, &[b.len()])?)
        })?;
        acc = accuracy(&model, &t, &test)?;
        on_epoch(&Epoch { epoch, train_loss, metric: acc, elapsed: start.elapsed() });
    }
    Ok(acc)
}

/// Binary classification of tumours: standardised features, MLP 30→32→1,
/// `BceWithLogitsLoss` with `pos_weight = #negatives / #positives`, Adam.
pub fn breast_cancer(epochs: usize, seed: u64, on_epoch: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut t = data::breast_cancer()?;
    let (train, test) = data::split(t.len(), seed);
    data::standardize(&mut t, &train);
    let pos = train.iter().filter(|&&i| t.y[i] == 1.0).count() as f32;
    let neg = train.len() as f32 - pos;
    let mut rng = StdRng::seed_from_u64(seed);
    let model = mlp(&[30, 32, 1], &mut rng);
    let loss_fn = nn::BceWithLogitsLoss::new().pos_weight(Tensor::from_vec(vec![neg / pos.max(1.0)], &[1])?);
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);
    let start = Instant::now();
    let mut acc = 0.0;
    for epoch in 1..=epochs {
        let train_loss = run_epoch(&mut opt, data::batches(&train, 64, &mut rng), |b| {
            let (x, y) = t.rows(b);
            loss_fn
                .forward(&model.forward(&Tensor::from_vec(x, &[b.len(), 30])?)?, &Tensor::from_vec(y, &[b.len(), 1])?)
        })?;
        let logits = no_grad(|| model.forward(&t.features(&test)?))?.to_vec::<f32>()?;
        let hits = logits.iter().zip(&test).filter(|&(z, &i)| (*z > 0.0) == (t.y[i] == 1.0)).count();
        acc = hits as f64 / test.len() as f64;
        on_epoch(&Epoch { epoch, train_loss, metric: acc, elapsed: start.elapsed() });
    }
    Ok(acc)
}

/// The regression losses compared by `train_diabetes`.
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

/// Regression of disease progression: standardised features and target,
/// MLP 10→32→1, Adam. Returns the test mean absolute error in the target's units.
pub fn diabetes(kind: Regression, epochs: usize, seed: u64, on_epoch: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut t = data::diabetes()?;
    let (train, test) = data::split(t.len(), seed);
    data::standardize(&mut t, &train);
    let ys: Vec<f64> = train.iter().map(|&i| t.y[i] as f64).collect();
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let sd = (ys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / ys.len() as f64).sqrt();
    let scaled: Vec<f32> = t.y.iter().map(|&v| ((v as f64 - mean) / sd) as f32).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let model = mlp(&[10, 32, 1], &mut rng);
    let mut opt = optim::Adam::new(model.parameters(), 1e-3);
    let start = Instant::now();
    let mut mae = f64::NAN;
    for epoch in 1..=epochs {
        let train_loss = run_epoch(&mut opt, data::batches(&train, 64, &mut rng), |b| {
            let y = Tensor::from_vec(b.iter().map(|&i| scaled[i]).collect(), &[b.len(), 1])?;
            kind.loss(&model.forward(&t.features(b)?)?, &y)
        })?;
        let pred = no_grad(|| model.forward(&t.features(&test)?))?.to_vec::<f32>()?;
        mae = pred.iter().zip(&test).map(|(p, &i)| (*p as f64 * sd + mean - t.y[i] as f64).abs()).sum::<f64>()
            / test.len() as f64;
        on_epoch(&Epoch { epoch, train_loss, metric: mae, elapsed: start.elapsed() });
    }
    Ok(mae)
}

/// The label of a border pixel in `segmentation`: ignored by the loss.
pub const IGNORE: i64 = 255;

/// `n` synthetic 16×16 images, each with a bright square (class 1) and a dark
/// disk (class 2) on noise (class 0); the one-pixel border is labelled [`IGNORE`].
pub fn shapes(n: usize, rng: &mut StdRng) -> Res<(Tensor, Tensor)> {
    const S: usize = 16;
    let mut img = vec![0f32; n * S * S];
    let mut lab = vec![0i64; n * S * S];
    for k in 0..n {
        let (sx, sy, ss) = (rng.random_range(1..9), rng.random_range(1..9), rng.random_range(3..7));
        let (cx, cy, r) =
            (rng.random_range(4.0..12.0f32), rng.random_range(4.0..12.0f32), rng.random_range(2.0..4.0f32));
        for y in 0..S {
            for x in 0..S {
                let i = k * S * S + y * S + x;
                let noise: f32 = rng.random_range(-0.4..0.4);
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let (v, c) = if (sx..sx + ss).contains(&x) && (sy..sy + ss).contains(&y) {
                    (1.0, 1)
                } else if dx * dx + dy * dy <= r * r {
                    (-1.0, 2)
                } else {
                    (0.0, 0)
                };
                img[i] = v + noise;
                lab[i] = if x == 0 || y == 0 || x == S - 1 || y == S - 1 { IGNORE } else { c };
            }
        }
    }
    Ok((Tensor::from_vec(img, &[n, 1, S, S])?, Tensor::from_vec(lab, &[n, S, S])?))
}

/// The article's 2-D case: conv2d → ReLU → conv2d → log_softmax(dim=1) →
/// nll_loss per pixel (border ignored). Returns the final pixel accuracy.
pub fn segmentation(steps: usize, seed: u64, on_step: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let pad = tapegrad::functional::Conv2dOptions { padding: (1, 1), ..Default::default() };
    let conv1 = nn::Conv2d::new(1, 8, (3, 3), &mut rng).options(pad.clone());
    let conv2 = nn::Conv2d::new(8, 3, (3, 3), &mut rng).options(pad);
    let model = nn::Sequential::new(vec![
        Box::new(conv1),
        Box::new(nn::ReLU::new()),
        Box::new(conv2),
        Box::new(nn::LogSoftmax::new(1)),
    ]);
    let loss_fn = nn::NllLoss::new().ignore_index(IGNORE);
    let mut opt = optim::Adam::new(model.parameters(), 1e-2);
    let (test_x, test_y) = shapes(32, &mut rng)?;
    let start = Instant::now();
    let mut acc = 0.0;
    for step in 1..=steps {
        let (x, y) = shapes(16, &mut rng)?;
        opt.zero_grad();
        let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
        loss.backward()?;
        opt.step()?;
        let pred = no_grad(|| model.forward(&test_x)?.argmax(1, false))?.to_vec::<i64>()?;
        let labels = test_y.to_vec::<i64>()?;
        let counted: Vec<(i64, i64)> = pred.into_iter().zip(labels).filter(|(_, l)| *l != IGNORE).collect();
        acc = counted.iter().filter(|(p, l)| p == l).count() as f64 / counted.len() as f64;
        on_step(&Epoch { epoch: step, train_loss: loss.item::<f32>()? as f64, metric: acc, elapsed: start.elapsed() });
    }
    Ok(acc)
}

/// `n` point clouds of `l` points in [-1, 1]³, each point labelled by its
/// shell: radius < 0.6 → 0, < 1.0 → 1, else 2.
pub fn clouds(n: usize, l: usize, rng: &mut StdRng) -> Res<(Tensor, Tensor)> {
    let pts: Vec<f32> = (0..n * l * 3).map(|_| rng.random_range(-1.0..1.0f32)).collect();
    let labels: Vec<i64> = pts
        .chunks(3)
        .map(|p| {
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            if r < 0.6 {
                0
            } else if r < 1.0 {
                1
            } else {
                2
            }
        })
        .collect();
    Ok((Tensor::from_vec(pts, &[n, l, 3])?, Tensor::from_vec(labels, &[n, l])?))
}

/// The article's point-cloud case: Linear layers on `(N, L, 3)` →
/// log_softmax(-1) → view(-1, C) → nll_loss. Returns the final per-point accuracy.
pub fn pointcloud(steps: usize, seed: u64, on_step: &mut dyn FnMut(&Epoch)) -> Res<f64> {
    const C: isize = 3;
    let mut rng = StdRng::seed_from_u64(seed);
    let fc1 = nn::Linear::new(3, 64, &mut rng);
    let fc2 = nn::Linear::new(64, C as usize, &mut rng);
    let params: Vec<Tensor> = fc1.parameters().into_iter().chain(fc2.parameters()).collect();
    let mut opt = optim::Adam::new(params, 1e-2);
    let loss_fn = nn::NllLoss::new();
    let forward = |pcl: &Tensor| -> tapegrad::Result<Tensor> {
        nn::LogSoftmax::new(-1).forward(&fc2.forward(&fc1.forward(pcl)?.relu())?)
    };
    let (test_x, test_y) = clouds(16, 128, &mut rng)?;
    let start = Instant::now();
    let mut acc = 0.0;
    for step in 1..=steps {
        let (pcl, target) = clouds(8, 128, &mut rng)?;
        opt.zero_grad();
        let output = forward(&pcl)?;
        let loss = loss_fn.forward(&output.view(&[-1, C])?, &target.view(&[-1])?)?;
        loss.backward()?;
        opt.step()?;
        let pred = no_grad(|| forward(&test_x)?.argmax(-1, false))?.to_vec::<i64>()?;
        let labels = test_y.to_vec::<i64>()?;
        acc = pred.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
        on_step(&Epoch { epoch: step, train_loss: loss.item::<f32>()? as f64, metric: acc, elapsed: start.elapsed() });
    }
    Ok(acc)
}

/// A tensor of `n` evenly spaced values in `[lo, hi]`, f64.
pub fn linspace(lo: f64, hi: f64, n: usize) -> Tensor {
    let v: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64).collect();
    Tensor::from_vec(v, &[n]).unwrap_or_else(|_| Tensor::zeros(&[0], DType::F64))
}
