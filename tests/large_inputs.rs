//! The parallel and vectorised paths, which the (small) golden cases never
//! reach: inputs above every parallel threshold, with odd sizes (rows that
//! start unaligned, vector tails), checked against plain-loop f64 references.
//!
//! Run in f64, the kernels must agree with the reference to 1e-12: any bug in
//! how work is split into units or how planes are strided shows up exactly.
//! Run in f32 (the fast polynomial `exp` / `ln` path) they must agree to
//! rtol 2e-5 / atol 1e-6: the reference is exact arithmetic on the same inputs,
//! and f32 rounding over sums of up to a thousand terms reaches a few 1e-6.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::functional as F;
use tapegrad::{DType, Reduction, Tensor};

fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}[{i}]: {g} vs {w}");
    }
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Cross-entropy with class indices, weights, ignore_index and label smoothing,
/// reduction none, and its gradient for an upstream gradient of ones: PyTorch's
/// formulas in plain loops. `z` is `(n, c, inner)`.
#[allow(clippy::too_many_arguments)]
fn ce_reference(
    z: &[f64],
    t: &[i64],
    w: &[f64],
    n: usize,
    c: usize,
    inner: usize,
    ignore: i64,
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let at = |s: usize, k: usize, i: usize| (s * c + k) * inner + i;
    let wsum: f64 = w.iter().sum();
    let mut loss = vec![0.0; n * inner];
    let mut grad = vec![0.0; z.len()];
    for s in 0..n {
        for i in 0..inner {
            let j = s * inner + i;
            if t[j] == ignore {
                continue;
            }
            let m = (0..c).map(|k| z[at(s, k, i)]).fold(f64::NEG_INFINITY, f64::max);
            let lse = m + (0..c).map(|k| (z[at(s, k, i)] - m).exp()).sum::<f64>().ln();
            let tj = t[j] as usize;
            let smooth: f64 = (0..c).map(|k| w[k] * (lse - z[at(s, k, i)])).sum();
            loss[j] = (1.0 - eps) * w[tj] * (lse - z[at(s, tj, i)]) + eps / c as f64 * smooth;
            for k in 0..c {
                let p = (z[at(s, k, i)] - lse).exp();
                let hit = if k == tj { 1.0 } else { 0.0 };
                grad[at(s, k, i)] = (1.0 - eps) * w[tj] * (p - hit) + eps / c as f64 * (wsum * p - w[k]);
            }
        }
    }
    (loss, grad)
}

fn ce_case(n: usize, c: usize, spatial: &[usize], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let inner: usize = spatial.iter().product();
    let mut shape = vec![n, c];
    shape.extend(spatial);
    let mut tshape = vec![n];
    tshape.extend(spatial);
    let z64: Vec<f64> = (0..n * c * inner).map(|_| rng.random_range(-8.0..8.0)).collect();
    let t: Vec<i64> = (0..n * inner).map(|_| rng.random_range(-1..c as i64)).collect(); // -1 is ignored
    let w64: Vec<f64> = (0..c).map(|_| rng.random_range(0.5..1.5)).collect();
    let eps = 0.1;
    let (loss_ref, grad_ref) = ce_reference(&z64, &t, &w64, n, c, inner, -1, eps);
    for (dtype, rtol, atol) in [(DType::F64, 1e-12, 1e-12), (DType::F32, 2e-5, 1e-6)] {
        let z = Tensor::from_vec(z64.clone(), &shape).unwrap().to_dtype(dtype).unwrap().requires_grad();
        let target = Tensor::from_vec(t.clone(), &tshape).unwrap();
        let weight = Tensor::from_vec(w64.clone(), &[c]).unwrap().to_dtype(dtype).unwrap();
        let opts = F::CrossEntropyOptions {
            weight: Some(weight),
            ignore_index: -1,
            reduction: Reduction::None,
            label_smoothing: eps,
        };
        let loss = F::cross_entropy(&z, &target, &opts).unwrap();
        loss.backward_with(&loss.full_like(1.0)).unwrap();
        let name = format!("cross_entropy {shape:?} {dtype:?}");
        close(&format!("{name} loss"), &f64s(&loss), &loss_ref, rtol, atol);
        close(&format!("{name} grad"), &f64s(&z.grad().unwrap()), &grad_ref, rtol, atol);
    }
}

#[test]
fn cross_entropy_rows_and_planes() {
    ce_case(301, 1001, &[], 1); // rows: 301 × 1001, rows start unaligned
    ce_case(3, 7, &[53, 61], 2); // K-dim planes, odd spatial size
    ce_case(1, 5, &[40_007], 3); // one sample, a long plane
}

#[test]
fn log_softmax_and_softmax_on_large_planes() {
    let mut rng = StdRng::seed_from_u64(4);
    let (n, c, inner) = (5, 9, 2_003);
    let x64: Vec<f64> = (0..n * c * inner).map(|_| rng.random_range(-20.0..20.0)).collect();
    let mut want = vec![0.0; x64.len()];
    for s in 0..n {
        for i in 0..inner {
            let idx = |k: usize| (s * c + k) * inner + i;
            let m = (0..c).map(|k| x64[idx(k)]).fold(f64::NEG_INFINITY, f64::max);
            let lse = m + (0..c).map(|k| (x64[idx(k)] - m).exp()).sum::<f64>().ln();
            for k in 0..c {
                want[idx(k)] = x64[idx(k)] - lse;
            }
        }
    }
    for (dtype, rtol, atol) in [(DType::F64, 1e-12, 1e-12), (DType::F32, 2e-5, 1e-5)] {
        let x = Tensor::from_vec(x64.clone(), &[n, c, inner]).unwrap().to_dtype(dtype).unwrap();
        close(&format!("log_softmax {dtype:?}"), &f64s(&F::log_softmax(&x, 1).unwrap()), &want, rtol, atol);
        let p: Vec<f64> = want.iter().map(|v| v.exp()).collect();
        close(&format!("softmax {dtype:?}"), &f64s(&F::softmax(&x, 1).unwrap()), &p, rtol, atol);
    }
}

#[test]
fn elementwise_losses_and_unary_ops_at_scale() {
    let mut rng = StdRng::seed_from_u64(5);
    let n = 200_003; // not a multiple of any vector width
    let x64: Vec<f64> = (0..n).map(|_| rng.random_range(-30.0..30.0)).collect();
    let y64: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..1.0)).collect();
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    // bce_with_logits, reduction none, and d/dx
    let loss_ref: Vec<f64> =
        x64.iter().zip(&y64).map(|(&x, &y)| x.max(0.0) - x * y + (-x.abs()).exp().ln_1p()).collect();
    let grad_ref: Vec<f64> = x64.iter().zip(&y64).map(|(&x, &y)| sig(x) - y).collect();
    for (dtype, rtol, atol) in [(DType::F64, 1e-12, 1e-12), (DType::F32, 2e-5, 1e-6)] {
        let x = Tensor::from_vec(x64.clone(), &[n]).unwrap().to_dtype(dtype).unwrap().requires_grad();
        let y = Tensor::from_vec(y64.clone(), &[n]).unwrap().to_dtype(dtype).unwrap();
        let opts = F::BceWithLogitsOptions { reduction: Reduction::None, ..Default::default() };
        let l = F::binary_cross_entropy_with_logits(&x, &y, &opts).unwrap();
        l.backward_with(&l.full_like(1.0)).unwrap();
        close(&format!("bce_with_logits {dtype:?}"), &f64s(&l), &loss_ref, rtol, atol);
        close(&format!("bce_with_logits grad {dtype:?}"), &f64s(&x.grad().unwrap()), &grad_ref, rtol, atol);
        let e: Vec<f64> = x64.iter().map(|v| v.exp()).collect();
        close(&format!("exp {dtype:?}"), &f64s(&x.exp()), &e, rtol, atol);
        let s: Vec<f64> = x64.iter().map(|&v| sig(v)).collect();
        close(&format!("sigmoid {dtype:?}"), &f64s(&x.sigmoid()), &s, rtol, atol);
        // mean reduction over 200K elements: cascade summation keeps f32 close
        let mse = F::mse_loss(&x, &y, &Default::default()).unwrap();
        let want = x64.iter().zip(&y64).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n as f64;
        close(&format!("mse mean {dtype:?}"), &f64s(&mse), &[want], rtol, atol);
    }
}

/// A convolution large enough for the parallel path (one sample per part)
/// must agree with the same convolution run sample by sample (the batched
/// path), outputs and gradients, in f64.
#[test]
fn conv2d_parallel_path_matches_sample_by_sample() {
    let mut rng = StdRng::seed_from_u64(6);
    let (n, c, h, w, o) = (16, 8, 24, 23, 16);
    let opts = F::Conv2dOptions { stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2 };
    let x = Tensor::randn(&[n, c, h, w], DType::F64, &mut rng).requires_grad();
    let wt = Tensor::randn(&[o, c / 2, 3, 3], DType::F64, &mut rng).requires_grad();
    let b = Tensor::randn(&[o], DType::F64, &mut rng).requires_grad();
    let y = F::conv2d(&x, &wt, Some(&b), &opts).unwrap();
    let gy = Tensor::randn(y.shape(), DType::F64, &mut rng);
    y.backward_with(&gy).unwrap();
    let (gx, gw, gb) = (f64s(&x.grad().unwrap()), f64s(&wt.grad().unwrap()), f64s(&b.grad().unwrap()));
    let (mut ys, mut gxs) = (Vec::new(), Vec::new());
    let (mut gws, mut gbs) = (vec![0.0; gw.len()], vec![0.0; gb.len()]);
    for s in 0..n {
        let xs = x.detach().index_select(0, &Tensor::from_vec(vec![s as i64], &[1]).unwrap()).unwrap().requires_grad();
        let (w1, b1) = (wt.detach().requires_grad(), b.detach().requires_grad());
        let y1 = F::conv2d(&xs, &w1, Some(&b1), &opts).unwrap();
        let g1 = gy.index_select(0, &Tensor::from_vec(vec![s as i64], &[1]).unwrap()).unwrap();
        y1.backward_with(&g1).unwrap();
        ys.extend(f64s(&y1));
        gxs.extend(f64s(&xs.grad().unwrap()));
        gws.iter_mut().zip(f64s(&w1.grad().unwrap())).for_each(|(a, v)| *a += v);
        gbs.iter_mut().zip(f64s(&b1.grad().unwrap())).for_each(|(a, v)| *a += v);
    }
    close("conv2d output", &f64s(&y), &ys, 1e-12, 1e-12);
    close("conv2d dx", &gx, &gxs, 1e-12, 1e-12);
    // dW and db sum over the samples in another order than the loop above: 1e-10
    close("conv2d dW", &gw, &gws, 1e-10, 1e-10);
    close("conv2d db", &gb, &gbs, 1e-10, 1e-10);
}

/// Large stride-1 f32 convolutions (on AVX-512 they are computed without a
/// column matrix, reading the padded input in place) against the same
/// convolution in f64 (the im2col path): outputs and all three gradients, for
/// square and non-square kernels, paddings below, at and above `k − 1`, odd
/// widths (masked column tails) and channel counts that leave row tails.
#[test]
fn conv2d_stride_one_f32_matches_f64() {
    let mut rng = StdRng::seed_from_u64(9);
    for (n, c, h, w, o, k, padding) in [
        (4usize, 16usize, 32usize, 32usize, 32usize, (3usize, 3usize), (1usize, 1usize)),
        (8, 5, 19, 23, 7, (3, 5), (0, 2)),
        (6, 4, 17, 61, 13, (5, 3), (3, 0)),
        (6, 32, 40, 33, 24, (1, 1), (0, 0)),
        (5, 6, 21, 50, 12, (2, 2), (2, 1)),
    ] {
        let opts = F::Conv2dOptions { padding, ..Default::default() };
        let x64 = Tensor::randn(&[n, c, h, w], DType::F64, &mut rng);
        let w64 = Tensor::randn(&[o, c, k.0, k.1], DType::F64, &mut rng);
        let b64 = Tensor::randn(&[o], DType::F64, &mut rng);
        let run = |dtype: DType| {
            let x = x64.to_dtype(dtype).unwrap().requires_grad();
            let wt = w64.to_dtype(dtype).unwrap().requires_grad();
            let b = b64.to_dtype(dtype).unwrap().requires_grad();
            let y = F::conv2d(&x, &wt, Some(&b), &opts).unwrap();
            // a gradient that differs per element: (y · y) / 2 summed
            y.mul(&y).unwrap().sum_all().mul_scalar(0.5).unwrap().backward().unwrap();
            [f64s(&y), f64s(&x.grad().unwrap()), f64s(&wt.grad().unwrap()), f64s(&b.grad().unwrap())]
        };
        let (got, want) = (run(DType::F32), run(DType::F64));
        // f32 sums of up to c·kh·kw (forward, dx) or n·Ho·Wo (dW, db) products of
        // unit-size terms: relative 1e-4 of the result's scale
        for (name, (g, wv)) in ["output", "dx", "dW", "db"].iter().zip(got.iter().zip(&want)) {
            let scale = wv.iter().fold(1.0f64, |a, v| a.max(v.abs()));
            close(&format!("conv2d {name} {:?} k {k:?} padding {padding:?}", [n, c, h, w]), g, wv, 0.0, 1e-4 * scale);
        }
    }
}

/// Cross-entropy with class-probability targets, weights and label smoothing,
/// reduction none: loss, ∂/∂logits and ∂/∂targets against plain f64 loops.
#[test]
fn cross_entropy_probability_targets_rows_and_planes() {
    for (n, c, spatial, seed) in [(301usize, 1001usize, vec![], 7u64), (3, 7, vec![53usize, 61], 8)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let inner: usize = spatial.iter().product();
        let mut shape = vec![n, c];
        shape.extend(&spatial);
        let at = |s: usize, k: usize, i: usize| (s * c + k) * inner + i;
        let z64: Vec<f64> = (0..n * c * inner).map(|_| rng.random_range(-8.0..8.0)).collect();
        let t64: Vec<f64> = (0..n * c * inner).map(|_| rng.random_range(0.0..1.0)).collect();
        let w64: Vec<f64> = (0..c).map(|_| rng.random_range(0.5..1.5)).collect();
        let eps = 0.1;
        let (mut loss, mut gz, mut gt) = (vec![0.0; n * inner], vec![0.0; z64.len()], vec![0.0; z64.len()]);
        for s in 0..n {
            for i in 0..inner {
                let m = (0..c).map(|k| z64[at(s, k, i)]).fold(f64::NEG_INFINITY, f64::max);
                let lse = m + (0..c).map(|k| (z64[at(s, k, i)] - m).exp()).sum::<f64>().ln();
                let tp = |k: usize| (1.0 - eps) * t64[at(s, k, i)] + eps / c as f64;
                let tw: f64 = (0..c).map(|k| w64[k] * tp(k)).sum();
                loss[s * inner + i] = (0..c).map(|k| -w64[k] * tp(k) * (z64[at(s, k, i)] - lse)).sum();
                for k in 0..c {
                    let logp = z64[at(s, k, i)] - lse;
                    gz[at(s, k, i)] = logp.exp() * tw - w64[k] * tp(k);
                    gt[at(s, k, i)] = -(1.0 - eps) * w64[k] * logp;
                }
            }
        }
        for (dtype, rtol, atol) in [(DType::F64, 1e-12, 1e-12), (DType::F32, 2e-5, 1e-5)] {
            let z = Tensor::from_vec(z64.clone(), &shape).unwrap().to_dtype(dtype).unwrap().requires_grad();
            let t = Tensor::from_vec(t64.clone(), &shape).unwrap().to_dtype(dtype).unwrap().requires_grad();
            let weight = Tensor::from_vec(w64.clone(), &[c]).unwrap().to_dtype(dtype).unwrap();
            let opts = F::CrossEntropyOptions {
                weight: Some(weight),
                reduction: Reduction::None,
                label_smoothing: eps,
                ..Default::default()
            };
            let l = F::cross_entropy(&z, &t, &opts).unwrap();
            l.backward_with(&l.full_like(1.0)).unwrap();
            let name = format!("cross_entropy (probabilities) {shape:?} {dtype:?}");
            // each loss sums 1001 weighted terms of size up to ~16: in f32 the
            // rounding of that sum reaches ~1e-5 absolute, hence atol × 10 there
            close(&format!("{name} loss"), &f64s(&l), &loss, rtol, atol * 10.0);
            close(&format!("{name} d/dz"), &f64s(&z.grad().unwrap()), &gz, rtol, atol);
            close(&format!("{name} d/dt"), &f64s(&t.grad().unwrap()), &gt, rtol, atol);
        }
    }
}

/// `nll_loss(log_softmax(x))` is computed from `x` in one fused pass (the
/// log-probabilities are never made): on planes and rows above every block and
/// parallel threshold, with weights and ignored targets, its loss must equal
/// the unfused chain bit for bit (the same log-probabilities, gathered) and
/// its gradient agree to 1e-12 in f64. The unfused chain is forced by a
/// `* 1.0` between the two, which hides the log_softmax from nll_loss.
#[test]
fn nll_over_log_softmax_fused_matches_unfused_on_large_inputs() {
    let mut rng = StdRng::seed_from_u64(7);
    // (3, 5, 32, 32): planes of 2ᵏ × 256 positions, whose losses each unit
    // sums on its own (the parts must combine to the bits of one sum)
    let shapes = [
        (&[3usize, 5, 37, 29][..], &[3usize, 37, 29][..]),
        (&[3, 5, 32, 32][..], &[3, 32, 32][..]),
        (&[300, 7][..], &[300][..]),
    ];
    for (shape, tshape) in shapes {
        let c = shape[1];
        for dtype in [DType::F64, DType::F32] {
            let x = Tensor::randn(shape, dtype, &mut rng).mul_scalar(3.0).unwrap().requires_grad();
            let t: Vec<i64> = (0..tshape.iter().product::<usize>())
                .map(|i| if i % 11 == 3 { -1 } else { (i * 7 % c) as i64 })
                .collect();
            let t = Tensor::from_vec(t, tshape).unwrap();
            let w = Tensor::rand(&[c], dtype, &mut rng).add_scalar(0.5).unwrap();
            for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
                let opts = F::NllLossOptions { weight: Some(w.clone()), ignore_index: -1, reduction };
                let run = |fused: bool| {
                    x.zero_grad();
                    let y = F::log_softmax(&x, 1).unwrap();
                    let y = if fused { y } else { y.mul_scalar(1.0).unwrap() };
                    let loss = F::nll_loss(&y, &t, &opts).unwrap();
                    loss.sum_all().backward().unwrap();
                    (f64s(&loss), f64s(&x.grad().unwrap()))
                };
                let ((lf, gf), (lu, gu)) = (run(true), run(false));
                assert_eq!(lf, lu, "{shape:?} {dtype:?} {reduction:?}: loss");
                let tol = if dtype == DType::F64 { 1e-12 } else { 1e-6 };
                close(&format!("{shape:?} {dtype:?} {reduction:?}: grad"), &gf, &gu, tol, tol);
            }
        }
    }
}

/// The output of `log_softmax` is computed when first read, from the input's
/// data as it was at the call: an optimizer step on the input in between must
/// not change it.
#[test]
fn log_softmax_output_reads_the_input_as_it_was_at_the_call() {
    let p = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 0.5], &[2, 2]).unwrap().requires_grad();
    let y = F::log_softmax(&p, 1).unwrap();
    let before = F::log_softmax(&p.detach(), 1).unwrap().to_vec::<f64>().unwrap();
    p.set_data(&Tensor::zeros(&[2, 2], DType::F64)).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), before);
    let after = F::log_softmax(&p, 1).unwrap().to_vec::<f64>().unwrap();
    assert!(after.iter().all(|&v| (v + 2f64.ln()).abs() < 1e-15));
}
