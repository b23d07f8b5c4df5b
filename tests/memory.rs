//! 20,000 training steps of a small MLP: after every step the live tensors,
//! live graph nodes and cached buffer bytes are back at the same level (no
//! growth, no reference cycles). Alone in its binary: the counters are global.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::live_nodes;
use tapegrad::nn;
use tapegrad::tensor::{cached_bytes, live_tensors};
use tapegrad::{DType, Tensor, optim};

#[test]
fn twenty_thousand_steps_hold_no_more_memory_than_one() {
    let mut rng = StdRng::seed_from_u64(7);
    let model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(8, 16, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(16, 3, &mut rng)),
    ]);
    let loss_fn = nn::CrossEntropyLoss::new().label_smoothing(0.05);
    let mut opt = optim::Adam::new(model.parameters(), 1e-2);
    let x = Tensor::randn(&[32, 8], DType::F32, &mut rng);
    let y = Tensor::randint(0, 3, &[32], &mut rng);
    let mut levels = Vec::new();
    let mut first_loss = None;
    let mut last_loss = 0.0;
    for step in 0..20_000 {
        opt.zero_grad();
        let loss = loss_fn.forward(&model.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        last_loss = loss.item::<f32>().unwrap();
        first_loss.get_or_insert(last_loss);
        drop(loss);
        let level = (live_tensors(), live_nodes(), cached_bytes());
        if step == 0 {
            levels.push(level);
        } else {
            assert_eq!(level, levels[0], "step {step}: (tensors, nodes, cached bytes) moved from {:?}", levels[0]);
        }
    }
    assert_eq!(levels[0].1, 0, "no graph node outlives its step");
    assert!(last_loss < first_loss.unwrap() / 2.0, "the model trained: {first_loss:?} -> {last_loss}");
    println!(
        "20000 steps: {} live tensors, {} graph nodes, {} cached bytes after every step",
        levels[0].0, levels[0].1, levels[0].2
    );
}
