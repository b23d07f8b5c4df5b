//! The benchmark workloads, under the same names and shapes as the PyTorch
//! side (`tools/torch_baseline.py`): f32, contiguous, fixed seeds; "fwd_bwd" computes the loss and
//! `backward()` fills the input's (and parameters') gradient.
//!
//! Run: `cargo bench --bench workloads` (or `-- NAME` for one workload).

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use std::time::Duration;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Tensor, io, optim};

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

fn ce_fwd_bwd(c: &mut Criterion, name: &str, n: usize, k: usize, opts: F::CrossEntropyOptions) {
    let mut r = rng();
    let x = Tensor::randn(&[n, k], DType::F32, &mut r).requires_grad();
    let t = Tensor::randint(0, k as i64, &[n], &mut r);
    c.bench_function(name, |b| {
        b.iter(|| {
            x.zero_grad();
            F::cross_entropy(&x, &t, &opts).unwrap().backward().unwrap();
        })
    });
}

fn cross_entropy(c: &mut Criterion) {
    ce_fwd_bwd(c, "ce_fwd_bwd_2048x8192", 2048, 8192, Default::default());
    ce_fwd_bwd(c, "ce_fwd_bwd_64x10", 64, 10, Default::default());
    let w = Tensor::rand(&[1000], DType::F32, &mut rng()).add_scalar(0.5).unwrap();
    let opts = F::CrossEntropyOptions { weight: Some(w), label_smoothing: 0.1, ..Default::default() };
    ce_fwd_bwd(c, "ce_ls_weighted_2048x1000", 2048, 1000, opts);

    let mut r = rng();
    let x = Tensor::randn(&[2048, 8192], DType::F32, &mut r);
    let t = Tensor::randint(0, 8192, &[2048], &mut r);
    c.bench_function("ce_fwd_2048x8192", |b| {
        b.iter(|| black_box(F::cross_entropy(&x, &t, &Default::default()).unwrap()))
    });

    let x = Tensor::randn(&[2048, 1000], DType::F32, &mut r).requires_grad();
    let p = F::softmax(&Tensor::randn(&[2048, 1000], DType::F32, &mut r), 1).unwrap();
    c.bench_function("ce_prob_fwd_bwd_2048x1000", |b| {
        b.iter(|| {
            x.zero_grad();
            F::cross_entropy(&x, &p, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let x = Tensor::randn(&[8, 21, 128, 128], DType::F32, &mut r).requires_grad();
    let t = Tensor::randint(0, 21, &[8, 128, 128], &mut r);
    c.bench_function("nll_2d_fwd_bwd_8x21x128x128", |b| {
        b.iter(|| {
            x.zero_grad();
            F::nll_loss(&F::log_softmax(&x, 1).unwrap(), &t, &Default::default()).unwrap().backward().unwrap();
        })
    });
}

fn elementwise(c: &mut Criterion) {
    const N: usize = 1 << 22;
    let mut r = rng();
    let x = Tensor::randn(&[N], DType::F32, &mut r).requires_grad();
    let y = Tensor::rand(&[N], DType::F32, &mut r);
    let mean = Reduction::Mean;
    let mut run = |name: &str, f: &dyn Fn() -> Tensor| {
        c.bench_function(name, |b| {
            b.iter(|| {
                x.zero_grad();
                f().backward().unwrap();
            })
        });
    };
    run("bce_logits_fwd_bwd_4M", &|| F::binary_cross_entropy_with_logits(&x, &y, &Default::default()).unwrap());
    run("bce_sigmoid_fwd_bwd_4M", &|| {
        F::binary_cross_entropy(&F::sigmoid(&x).unwrap(), &y, &F::BceOptions { weight: None, reduction: mean }).unwrap()
    });
    run("mse_fwd_bwd_4M", &|| F::mse_loss(&x, &y, &Default::default()).unwrap());
    run("l1_fwd_bwd_4M", &|| F::l1_loss(&x, &y, &Default::default()).unwrap());
    run("smooth_l1_fwd_bwd_4M", &|| F::smooth_l1_loss(&x, &y, &Default::default()).unwrap());
}

/// `n` labels ±1, as f32.
fn signs(n: usize, r: &mut StdRng) -> Tensor {
    use rand::RngExt;
    let v: Vec<f32> = (0..n).map(|_| if r.random_range(0..2) == 0 { -1.0 } else { 1.0 }).collect();
    Tensor::from_vec(v, &[n]).unwrap()
}

/// The divergence, likelihood and margin losses (the PyTorch side's "second part").
fn divergence_margin_losses(c: &mut Criterion) {
    const N: usize = 1 << 22;
    let mut r = rng();
    let x = Tensor::randn(&[N], DType::F32, &mut r).requires_grad();
    let y = Tensor::rand(&[N], DType::F32, &mut r);
    let sign = signs(N, &mut r);
    let counts = {
        use rand_distr::{Distribution, Poisson};
        let rates = Tensor::rand(&[N], DType::F32, &mut r).to_vec::<f32>().unwrap();
        let v: Vec<f32> = rates.iter().map(|&l| Poisson::new(4.0 * l.max(1e-6)).unwrap().sample(&mut r)).collect();
        Tensor::from_vec(v, &[N]).unwrap()
    };
    let mut run = |name: &str, f: &dyn Fn() -> Tensor| {
        c.bench_function(name, |b| {
            b.iter(|| {
                x.zero_grad();
                f().backward().unwrap();
            })
        });
    };
    let batchmean = F::KlDivOptions { reduction: Reduction::BatchMean, log_target: false };
    run("kl_div_fwd_bwd_4M", &|| F::kl_div(&x, &y, &batchmean).unwrap());
    run("poisson_nll_fwd_bwd_4M", &|| F::poisson_nll_loss(&x, &counts, &Default::default()).unwrap());
    run("soft_margin_fwd_bwd_4M", &|| F::soft_margin_loss(&x, &sign, &Default::default()).unwrap());
    run("hinge_embedding_fwd_bwd_4M", &|| F::hinge_embedding_loss(&x, &sign, &Default::default()).unwrap());

    let mu = Tensor::randn(&[N], DType::F32, &mut r).requires_grad();
    let target = Tensor::randn(&[N], DType::F32, &mut r);
    let var = Tensor::rand(&[N], DType::F32, &mut r).add_scalar(0.1).unwrap().requires_grad();
    c.bench_function("gaussian_nll_fwd_bwd_4M", |b| {
        b.iter(|| {
            mu.zero_grad();
            var.zero_grad();
            F::gaussian_nll_loss(&mu, &target, &var, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let a = Tensor::randn(&[N], DType::F32, &mut r).requires_grad();
    let bb = Tensor::randn(&[N], DType::F32, &mut r).requires_grad();
    let sign = signs(N, &mut r);
    let opts = F::MarginRankingOptions { margin: 0.1, ..Default::default() };
    c.bench_function("margin_ranking_fwd_bwd_4M", |b| {
        b.iter(|| {
            a.zero_grad();
            bb.zero_grad();
            F::margin_ranking_loss(&a, &bb, &sign, &opts).unwrap().backward().unwrap();
        })
    });

    let x = Tensor::randn(&[2048, 1000], DType::F32, &mut r).requires_grad();
    let multi = Tensor::from_vec(
        signs(2048 * 1000, &mut r).add_scalar(1.0).unwrap().mul_scalar(0.5).unwrap().to_vec::<f32>().unwrap(),
        &[2048, 1000],
    )
    .unwrap();
    c.bench_function("multilabel_soft_margin_fwd_bwd_2048x1000", |b| {
        b.iter(|| {
            x.zero_grad();
            F::multilabel_soft_margin_loss(&x, &multi, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let x1 = Tensor::randn(&[4096, 512], DType::F32, &mut r).requires_grad();
    let x2 = Tensor::randn(&[4096, 512], DType::F32, &mut r).requires_grad();
    let sign = signs(4096, &mut r);
    c.bench_function("cosine_embedding_fwd_bwd_4096x512", |b| {
        b.iter(|| {
            x1.zero_grad();
            x2.zero_grad();
            F::cosine_embedding_loss(&x1, &x2, &sign, &Default::default()).unwrap().backward().unwrap();
        })
    });
}

fn overhead(c: &mut Criterion) {
    let a = Tensor::scalar(0.5f32).requires_grad();
    let bb = Tensor::scalar(-1.5f32).requires_grad();
    c.bench_function("scalar_chain_1000ops", |b| {
        b.iter(|| {
            a.zero_grad();
            bb.zero_grad();
            let mut y = a.clone();
            for _ in 0..250 {
                y = y.mul(&bb).unwrap().add(&a).unwrap().tanh();
            }
            y.backward().unwrap();
        })
    });
}

fn layers(c: &mut Criterion) {
    let mut r = rng();
    let m = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(784, 256, &mut r)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(256, 10, &mut r)),
    ]);
    let mut opt = optim::Sgd::new(m.parameters(), 0.01);
    let x = Tensor::randn(&[128, 784], DType::F32, &mut r);
    let t = Tensor::randint(0, 10, &[128], &mut r);
    c.bench_function("mlp_train_step_b128", |b| {
        b.iter(|| {
            opt.zero_grad();
            F::cross_entropy(&m.forward(&x).unwrap(), &t, &Default::default()).unwrap().backward().unwrap();
            opt.step().unwrap();
        })
    });

    // WGAN-GP style: the gradient of the critic in its input, taken with
    // create_graph, then a penalty on its norm back-propagated to the weights
    let critic = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(256, 256, &mut r)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::Linear::new(256, 1, &mut r)),
    ]);
    let xg = Tensor::randn(&[128, 256], DType::F32, &mut r).requires_grad();
    let penalty_opts = tapegrad::autograd::GradOptions { create_graph: true, ..Default::default() };
    c.bench_function("gradient_penalty_step_mlp_b128", |b| {
        b.iter(|| {
            critic.parameters().iter().for_each(|p| p.zero_grad());
            xg.zero_grad();
            let out = critic.forward(&xg).unwrap().sum_all();
            let g = tapegrad::autograd::grad(&[out], std::slice::from_ref(&xg), &penalty_opts).unwrap();
            let g = g[0].as_ref().unwrap();
            let norm = g.mul(g).unwrap().sum(1, false).unwrap().sqrt();
            norm.sub_scalar(1.0).unwrap().pow(2.0).unwrap().mean_all().backward().unwrap();
        })
    });

    let conv = nn::Conv2d::new(16, 4, (3, 3), &mut r);
    let data = Tensor::randn(&[5, 16, 10, 10], DType::F32, &mut r);
    let t = Tensor::randint(0, 4, &[5, 8, 8], &mut r);
    c.bench_function("conv_seed_example", |b| {
        b.iter(|| {
            conv.parameters().iter().for_each(Tensor::zero_grad);
            let out = F::log_softmax(&conv.forward(&data).unwrap(), 1).unwrap();
            F::nll_loss(&out, &t, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let pad = F::Conv2dOptions { padding: (1, 1), ..Default::default() };
    let conv = nn::Conv2d::new(16, 32, (3, 3), &mut r).options(pad);
    let data = Tensor::randn(&[32, 16, 32, 32], DType::F32, &mut r);
    let t = Tensor::randint(0, 32, &[32, 32, 32], &mut r);
    c.bench_function("conv_train_step_32x16x32x32", |b| {
        b.iter(|| {
            conv.parameters().iter().for_each(Tensor::zero_grad);
            F::cross_entropy(&conv.forward(&data).unwrap(), &t, &Default::default()).unwrap().backward().unwrap();
        })
    });
}

/// The digits CNN (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Conv2d, BatchNorm2d,
/// ReLU, AvgPool2d, Flatten, Linear, Tanh, LayerNorm, Dropout, Linear) on a
/// batch of 64 images of 1×8×8: forward, cross_entropy, backward, Adam step.
fn cnn_digits(c: &mut Criterion) {
    let mut r = rng();
    let pad = F::Conv2dOptions { padding: (1, 1), ..Default::default() };
    let m = nn::Sequential::new(vec![
        Box::new(nn::Conv2d::new(1, 8, (3, 3), &mut r).options(pad.clone())),
        Box::new(nn::BatchNorm2d::new(8)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::MaxPool2d::new((2, 2))),
        Box::new(nn::Conv2d::new(8, 16, (3, 3), &mut r).options(pad)),
        Box::new(nn::BatchNorm2d::new(16)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::AvgPool2d::new((2, 2))),
        Box::new(nn::Flatten::new(1, -1)),
        Box::new(nn::Linear::new(64, 32, &mut r)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::LayerNorm::new(&[32])),
        Box::new(nn::Dropout::new(0.1).seed(0)),
        Box::new(nn::Linear::new(32, 10, &mut r)),
    ]);
    let mut opt = optim::Adam::new(m.parameters(), 1e-3);
    let x = Tensor::randn(&[64, 1, 8, 8], DType::F32, &mut r);
    let t = Tensor::randint(0, 10, &[64], &mut r);
    c.bench_function("cnn_digits_train_step_b64", |b| {
        b.iter(|| {
            opt.zero_grad();
            F::cross_entropy(&m.forward(&x).unwrap(), &t, &Default::default()).unwrap().backward().unwrap();
            opt.step().unwrap();
        })
    });
}

/// The floor of a memory-bound loss: one copy of the 64 MiB of logits of
/// `ce_*_2048x8192`, on all cores (as PyTorch's `copy_`, which the baseline
/// script times as its floor).
fn memcpy(c: &mut Criterion) {
    use rayon::prelude::*;
    let src = vec![1.0f32; 2048 * 8192];
    let mut dst = vec![0.0f32; 2048 * 8192];
    let chunk = src.len() / rayon::current_num_threads().max(1);
    c.bench_function("memcpy_64MiB", |b| {
        b.iter(|| {
            dst.par_chunks_mut(chunk).zip(black_box(&src).par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
            black_box(&mut dst);
        })
    });
}

/// PyTorch's `save_file(sd, path); load_file(path)` on 16 f32 tensors of
/// 16 MiB each (256 MiB), in a fresh temporary directory.
fn save_load(c: &mut Criterion) {
    let nbytes = 256usize << 20;
    let mut rng = rng();
    let mut sd = nn::StateDict::new();
    for i in 0..16 {
        sd.insert(format!("layer{i}.weight"), Tensor::randn(&[nbytes / 4 / 16], DType::F32, &mut rng));
    }
    let dir = std::env::temp_dir().join(format!("tapegrad-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    c.bench_function("safetensors_save_load_256MiB", |b| {
        b.iter(|| {
            io::save_safetensors(&sd, &path).unwrap();
            black_box(io::load_safetensors(&path).unwrap());
        })
    });
    std::fs::remove_dir_all(&dir).ok();
}

fn margin_sequence_losses(c: &mut Criterion) {
    let mut r = rng();
    let x = Tensor::randn(&[2048, 1000], DType::F32, &mut r).requires_grad();
    let t = Tensor::randint(0, 1000, &[2048], &mut r);
    c.bench_function("multi_margin_fwd_bwd_2048x1000", |b| {
        b.iter(|| {
            x.zero_grad();
            F::multi_margin_loss(&x, &t, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let xs: Vec<Tensor> = (0..3).map(|_| Tensor::randn(&[4096, 512], DType::F32, &mut r).requires_grad()).collect();
    c.bench_function("triplet_margin_fwd_bwd_4096x512", |b| {
        b.iter(|| {
            xs.iter().for_each(Tensor::zero_grad);
            F::triplet_margin_loss(&xs[0], &xs[1], &xs[2], &Default::default()).unwrap().backward().unwrap();
        })
    });

    let (tt, n, k, s) = (100, 16, 32, 30);
    let lp = F::log_softmax(&Tensor::randn(&[tt, n, k], DType::F32, &mut r), 2).unwrap().detach().requires_grad();
    let tg = Tensor::randint(1, k as i64, &[n, s], &mut r);
    let il = Tensor::from_vec(vec![tt as i64; n], &[n]).unwrap();
    let tl = Tensor::randint(10, s as i64 + 1, &[n], &mut r);
    c.bench_function("ctc_fwd_bwd_T100_N16_C32_S30", |b| {
        b.iter(|| {
            lp.zero_grad();
            F::ctc_loss(&lp, &tg, &il, &tl, &Default::default()).unwrap().backward().unwrap();
        })
    });

    let x = Tensor::randn(&[2048, 256], DType::F32, &mut r).requires_grad();
    let w = Tensor::randn(&[32768, 256], DType::F32, &mut r).mul_scalar(0.05).unwrap().requires_grad();
    let t = Tensor::randint(0, 32768, &[2048], &mut r);
    c.bench_function("linear_ce_fwd_bwd_2048x256x32768", |b| {
        b.iter(|| {
            x.zero_grad();
            w.zero_grad();
            F::linear_cross_entropy(&x, &w, &t, None, &Default::default()).unwrap().backward().unwrap();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = cross_entropy, elementwise, divergence_margin_losses, margin_sequence_losses, overhead, layers, cnn_digits, memcpy, save_load
}
criterion_main!(benches);
