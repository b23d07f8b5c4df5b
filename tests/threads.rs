//! Independent models trained in 4 threads at once give exactly the results of
//! training them one after the other; `no_grad` is per thread.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::nn;
use tapegrad::{DType, Tensor, no_grad, optim};

/// Trains a small MLP from `seed` for 200 steps; returns its parameters' bits.
fn train(seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(6, 12, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(12, 4, &mut rng)),
    ]);
    let mut opt = optim::Sgd::new(model.parameters(), 0.05).momentum(0.9);
    let x = Tensor::randn(&[64, 6], DType::F32, &mut rng);
    let y = Tensor::randint(0, 4, &[64], &mut rng);
    for _ in 0..200 {
        opt.zero_grad();
        nn::CrossEntropyLoss::new().forward(&model.forward(&x).unwrap(), &y).unwrap().backward().unwrap();
        opt.step().unwrap();
    }
    model.parameters().iter().flat_map(|p| p.to_vec::<f32>().unwrap()).map(f32::to_bits).collect()
}

#[test]
fn four_threads_train_exactly_like_sequential() {
    let seeds = [1u64, 2, 3, 4];
    let sequential: Vec<Vec<u32>> = seeds.iter().map(|&s| train(s)).collect();
    let handles: Vec<_> = seeds.iter().map(|&s| std::thread::spawn(move || train(s))).collect();
    let parallel: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(sequential, parallel);
    assert_ne!(sequential[0], sequential[1], "different seeds, different models");
}

#[test]
fn tensors_move_between_threads_and_no_grad_is_per_thread() {
    let w = Tensor::ones(&[3], DType::F64).requires_grad();
    let w2 = w.clone();
    let inside = no_grad(|| std::thread::spawn(move || w2.mul(&w2).unwrap().sum_all().tracks_grad()).join().unwrap());
    assert!(inside, "another thread records even while this one is in no_grad");
}

/// The output of `log_softmax` is computed on first read, on the thread pool
/// when it is large. Reading it from many pool tasks at once (a task may run
/// inside another's wait for the pool) must neither deadlock nor give
/// different data: every task sees the same values as a plain read.
#[test]
fn a_deferred_output_read_from_many_pool_tasks() {
    use rayon::prelude::*;
    let x = Tensor::randn(&[64, 2048], DType::F32, &mut StdRng::seed_from_u64(3));
    let want = tapegrad::functional::log_softmax(&x, 1).unwrap().to_vec::<f32>().unwrap();
    for _ in 0..20 {
        let y = tapegrad::functional::log_softmax(&x, 1).unwrap();
        let all: Vec<Vec<f32>> = (0..16).into_par_iter().map(|_| y.to_vec::<f32>().unwrap()).collect();
        assert!(all.iter().all(|v| *v == want));
    }
}
