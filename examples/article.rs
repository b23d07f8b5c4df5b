//! The source article, section by section: each loss built the way the article
//! builds it in PyTorch, with the `nn` module and the `functional` call side
//! by side, printing the value and checking that both agree (bit for bit).
//!
//! Run: `cargo run --release --example article`

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Result, Tensor};

fn show(section: &str, via_nn: &Tensor, via_f: &Tensor) -> Result<()> {
    let (a, b) = (via_nn.to_vec::<f32>()?, via_f.to_vec::<f32>()?);
    let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
    println!("{section:<58} nn: {:<10} F: {:<10} agree: {same}", format!("{:.4}", a[0]), format!("{:.4}", b[0]));
    if same {
        Ok(())
    } else {
        Err(tapegrad::Error::Value { op: "article", msg: format!("{section}: nn and functional disagree") })
    }
}

fn main() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(42);
    println!("== Negative log-likelihood: nn.NLLLoss / F.nll_loss");
    // m = nn.LogSoftmax(dim=1); loss = nn.NLLLoss(); input (N=3, C=5)
    let (n, c) = (3, 5);
    let m = nn::LogSoftmax::new(1);
    let loss = nn::NllLoss::new();
    let input = Tensor::randn(&[n, c], DType::F32, &mut rng).requires_grad();
    let target = Tensor::randint(0, c as i64, &[n], &mut rng);
    let output = loss.forward(&m.forward(&input)?, &target)?;
    output.backward()?;
    let f = F::nll_loss(&F::log_softmax(&input, 1)?, &target, &Default::default())?;
    show("nll_loss(log_softmax(input, 1), target), (3, 5)", &output, &f)?;
    println!("   input.grad = {}", input.grad().unwrap_or_else(|| input.full_like(0.0)));

    // 2-D loss: input of size N x C x height x width, from a conv2d
    let (n, c) = (5, 4);
    let data = Tensor::randn(&[n, 16, 10, 10], DType::F32, &mut rng);
    let conv = nn::Conv2d::new(16, c, (3, 3), &mut rng);
    let target = Tensor::randint(0, c as i64, &[n, 8, 8], &mut rng);
    let output = loss.forward(&m.forward(&conv.forward(&data)?)?, &target)?;
    output.backward()?;
    let f = F::nll_loss(
        &F::log_softmax(&F::conv2d(&data, conv.weight(), conv.bias(), &Default::default())?, 1)?,
        &target,
        &Default::default(),
    )?;
    show("2-D: nll_loss(log_softmax(conv2d(data), 1)), (5, 4, 8, 8)", &output, &f)?;

    // point cloud: (N, L, 3) through Linear layers, then view(-1, C)
    let (n, l, c) = (4, 10, 6);
    let pcl = Tensor::randn(&[n, l, 3], DType::F32, &mut rng);
    let (fc1, fc2) = (nn::Linear::new(3, 64, &mut rng), nn::Linear::new(64, c, &mut rng));
    let target = Tensor::randint(0, c as i64, &[n, l], &mut rng);
    let output = nn::LogSoftmax::new(-1).forward(&fc2.forward(&fc1.forward(&pcl)?)?)?;
    let via_nn = loss.forward(&output.view(&[-1, c as isize])?, &target.view(&[-1])?)?;
    let logits = F::linear(&F::linear(&pcl, fc1.weight(), fc1.bias())?, fc2.weight(), fc2.bias())?;
    let f =
        F::nll_loss(&F::log_softmax(&logits, -1)?.view(&[-1, c as isize])?, &target.view(&[-1])?, &Default::default())?;
    show("point cloud: nll_loss(log_softmax(fc2(fc1(pcl)), -1).view(-1, C))", &via_nn, &f)?;

    println!("\n== Cross-entropy: nn.CrossEntropyLoss / F.cross_entropy");
    let input = Tensor::randn(&[3, 5], DType::F32, &mut rng).requires_grad();
    let target = Tensor::randint(0, 5, &[3], &mut rng);
    let ce = nn::CrossEntropyLoss::new();
    show("class indices", &ce.forward(&input, &target)?, &F::cross_entropy(&input, &target, &Default::default())?)?;
    let probs = F::softmax(&Tensor::randn(&[3, 5], DType::F32, &mut rng), 1)?;
    show("class probabilities", &ce.forward(&input, &probs)?, &F::cross_entropy(&input, &probs, &Default::default())?)?;
    let smooth = nn::CrossEntropyLoss::new().label_smoothing(0.1);
    let opts = F::CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
    show("label_smoothing = 0.1", &smooth.forward(&input, &target)?, &F::cross_entropy(&input, &target, &opts)?)?;

    println!("\n== Binary cross-entropy: nn.BCELoss, nn.BCEWithLogitsLoss");
    let input = Tensor::randn(&[3, 2], DType::F32, &mut rng).requires_grad();
    let target = Tensor::rand(&[3, 2], DType::F32, &mut rng);
    let sig = nn::Sigmoid::new();
    show(
        "BCELoss(sigmoid(input), target)",
        &nn::BceLoss::new().forward(&sig.forward(&input)?, &target)?,
        &F::binary_cross_entropy(&F::sigmoid(&input)?, &target, &Default::default())?,
    )?;
    show(
        "BCEWithLogitsLoss(input, target)",
        &nn::BceWithLogitsLoss::new().forward(&input, &target)?,
        &F::binary_cross_entropy_with_logits(&input, &target, &Default::default())?,
    )?;

    println!("\n== Regression: SmoothL1Loss, MSELoss (L2), L1Loss (MAE), HuberLoss");
    let input = Tensor::randn(&[3, 5], DType::F32, &mut rng).requires_grad();
    let target = Tensor::randn(&[3, 5], DType::F32, &mut rng);
    show(
        "SmoothL1Loss (beta = 1)",
        &nn::SmoothL1Loss::new().forward(&input, &target)?,
        &F::smooth_l1_loss(&input, &target, &Default::default())?,
    )?;
    show(
        "MSELoss",
        &nn::MseLoss::new().forward(&input, &target)?,
        &F::mse_loss(&input, &target, &Default::default())?,
    )?;
    show("L1Loss", &nn::L1Loss::new().forward(&input, &target)?, &F::l1_loss(&input, &target, &Default::default())?)?;
    show(
        "HuberLoss (delta = 1)",
        &nn::HuberLoss::new().forward(&input, &target)?,
        &F::huber_loss(&input, &target, &Default::default())?,
    )?;
    println!("\nEvery nn module agrees with its functional twin.");
    Ok(())
}
