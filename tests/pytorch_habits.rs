//! Programs written the way a PyTorch user first types them: comparisons to
//! count hits, operator chains, `nn::Sequential` with `Flatten`, the usual
//! loop (`zero_grad`, forward, loss, `backward`, clip, `step`, schedule),
//! evaluation in eval mode under `no_grad` with `argmax(1)?.eq(&y)?`, and no
//! `Module` import anywhere.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::Batches;
use tapegrad::nn;
use tapegrad::optim::lr_scheduler::StepLr;
use tapegrad::optim::{self, Optimizer};
use tapegrad::{DType, Result, Tensor, no_grad};

/// Two separable blobs in 2-D: label 1 when `x0 + x1 > 0`, kept away from the boundary.
fn blobs(n: usize, rng: &mut StdRng) -> Result<(Tensor, Tensor)> {
    let raw = Tensor::randn(&[n, 2], DType::F32, rng);
    let s = raw.sum(1, false)?;
    // push every point at least 0.5 away from the line x0 + x1 = 0
    let side = s.gt_scalar(0.0)?.to_dtype(DType::F32)?;
    let shift = ((&side * 2.0)? - 1.0)?.unsqueeze(1)?;
    let x = (&raw + (&shift * 0.5)?)?;
    Ok((x, side))
}

#[test]
fn logistic_regression_with_comparisons() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(0);
    let (x, y) = blobs(200, &mut rng)?;
    let w = Tensor::zeros(&[2, 1], DType::F32).requires_grad();
    let b = Tensor::zeros(&[1], DType::F32).requires_grad();
    let mut opt = optim::Sgd::new(vec![w.clone(), b.clone()], 0.5);
    let loss_fn = nn::BceLoss::new();
    let mut first_loss = None;
    for _ in 0..100 {
        opt.zero_grad();
        let score = (x.matmul(&w)? + &b)?.sigmoid().squeeze(1)?;
        let loss = loss_fn.forward(&score, &y)?;
        first_loss.get_or_insert(loss.item::<f32>()?);
        loss.backward()?;
        opt.step()?;
    }
    let score = no_grad(|| (x.matmul(&w)? + &b).map(|t| t.sigmoid().squeeze(1)))??;
    let pred = score.gt_scalar(0.5)?;
    let hits = pred.eq(&y)?.sum_all().item::<i64>()?;
    assert!(hits >= 196, "logistic regression: {hits} of 200 right");
    // the same count through a float mask and mean_all
    let acc = pred.eq(&y)?.mean_all().item::<f64>()?;
    assert!((acc - hits as f64 / 200.0).abs() < 1e-12);
    assert!(!pred.tracks_grad());
    Ok(())
}

#[test]
fn operator_chains_compile_and_compute() -> Result<()> {
    let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2])?;
    let b = Tensor::from_vec(vec![3.0f32, 4.0], &[2])?;
    let c = Tensor::from_vec(vec![0.5f32, 0.5], &[2])?;
    let y = (&a * &b + &c)?;
    assert_eq!(y.to_vec::<f32>()?, [3.5, 8.5]);
    let x = Tensor::from_vec(vec![1.0f32, -2.0], &[1, 2])?;
    let w = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
    let h = (x.matmul(&w) + &c)?.relu();
    assert_eq!(h.to_vec::<f32>()?, [1.5, 0.0]);
    let z = (1.0 - (&y / 2)?)?;
    assert_eq!(z.to_vec::<f32>()?, [-0.75, -3.25]);
    assert_eq!(y.reshape(&[1, -1])?.reshape(a.shape())?.shape(), &[2]);
    Ok(())
}

/// 8×8 images: a bright vertical bar (class 0) or horizontal bar (class 1) at
/// a random position, with noise.
fn bars(n: usize, rng: &mut StdRng) -> Result<(Tensor, Tensor)> {
    let noise = (Tensor::randn(&[n, 1, 8, 8], DType::F32, rng) * 0.3)?.to_vec::<f32>()?;
    let labels = Tensor::randint(0, 2, &[n], rng);
    let pos = Tensor::randint(1, 7, &[n], rng).to_vec::<i64>()?;
    let ys = labels.to_vec::<i64>()?;
    let mut img = noise;
    for i in 0..n {
        for k in 0..8 {
            let (r, c) = if ys[i] == 0 { (k, pos[i] as usize) } else { (pos[i] as usize, k) };
            img[i * 64 + r * 8 + c] += 1.5;
        }
    }
    Ok((Tensor::from_vec(img, &[n, 1, 8, 8])?, labels))
}

#[test]
fn small_cnn_training_loop() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(1);
    let (x, y) = bars(256, &mut rng)?;
    let (x_test, y_test) = bars(128, &mut rng)?;
    let mut model = nn::Sequential::new(vec![
        Box::new(nn::Conv2d::new(1, 4, (3, 3), &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::MaxPool2d::new((2, 2))),
        Box::new(nn::Flatten::new(1, -1)),
        Box::new(nn::Dropout::new(0.1)),
        Box::new(nn::Linear::new(4 * 3 * 3, 2, &mut rng)),
    ]);
    let loss_fn = nn::CrossEntropyLoss::new();
    let mut opt = optim::Adam::new(model.parameters(), 0.02);
    let mut sched = StepLr::new(5, 0.5);
    let mut last_norm = 0.0;
    for _epoch in 0..10 {
        model.train(true);
        for batch in Batches::new(256, 32)?.shuffle(&mut rng) {
            let (xb, yb) = (batch.select(&x)?, batch.select(&y)?);
            opt.zero_grad();
            let logits = model.forward(&xb)?;
            let loss = loss_fn.forward(&logits, &yb)?;
            loss.backward()?;
            last_norm = nn::utils::clip_grad_norm(&model.parameters(), 1.0, 2.0)?;
            opt.step()?;
        }
        sched.step(&mut opt)?;
    }
    assert!(last_norm.is_finite());
    assert!((opt.lr() - 0.005).abs() < 1e-12, "two decays of 0.5: {}", opt.lr());
    model.eval();
    let correct = no_grad(|| -> Result<i64> {
        let logits = model.forward(&x_test)?;
        logits.argmax(1, false)?.eq(&y_test)?.sum_all().item::<i64>()
    })?;
    assert!(correct >= 120, "cnn: {correct} of 128 test images right");
    Ok(())
}
