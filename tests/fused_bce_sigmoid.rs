//! `binary_cross_entropy(sigmoid(x), y)` runs as one pass over `x`; its
//! results are those of the two ops run apart (the probabilities made, then
//! the loss of them, then sigmoid's backward): bit for bit for the loss and
//! for `loss.backward()`, within one rounding of the gradient under another
//! upstream gradient (which the fused op multiplies in last).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::functional::{self as F, BceOptions};
use tapegrad::{Reduction, Tensor};

/// Logits across the range, saturated ones included (σ rounds to 0 or 1 in
/// f32 past about ±17 and ±88), with their targets and weights.
fn case(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut r = StdRng::seed_from_u64(seed);
    let specials = [0.0f32, -0.0, 17.0, -17.0, 40.0, -40.0, 100.0, -100.0, 1e-30, f32::INFINITY, f32::NEG_INFINITY];
    let x = (0..n)
        .map(|i| if i % 97 == 0 { specials[(i / 97) % specials.len()] } else { r.random_range(-12.0..12.0) })
        .collect();
    let t = (0..n).map(|i| if i % 3 == 0 { (i % 2) as f32 } else { r.random_range(0.0..1.0) }).collect();
    let w = (0..n).map(|_| r.random_range(0.5..2.0)).collect();
    (x, t, w)
}

/// The two ops apart: the loss of a leaf holding σ(x), and the gradient of x
/// as sigmoid's backward makes it from the loss's gradient of that leaf.
fn apart(x: &Tensor, t: &Tensor, opts: &BceOptions, upstream: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let y = F::sigmoid(&x.detach()).unwrap().to_vec::<f32>().unwrap();
    let p = Tensor::from_vec(y.clone(), x.shape()).unwrap().requires_grad();
    let loss = F::binary_cross_entropy(&p, t, opts).unwrap();
    loss.backward_with(upstream).unwrap();
    let gp = p.grad().unwrap().to_vec::<f32>().unwrap();
    let gx = gp.iter().zip(&y).map(|(&g, &y)| g * (y * (1.0 - y))).collect();
    (loss.to_vec::<f32>().unwrap(), gx)
}

fn fused(x: &Tensor, t: &Tensor, opts: &BceOptions, upstream: &Tensor) -> (Vec<f32>, Vec<f32>) {
    x.zero_grad();
    let loss = F::binary_cross_entropy(&F::sigmoid(x).unwrap(), t, opts).unwrap();
    loss.backward_with(upstream).unwrap();
    (loss.to_vec::<f32>().unwrap(), x.grad().unwrap().to_vec::<f32>().unwrap())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|a| a.to_bits()).collect()
}

#[test]
fn fused_loss_and_gradient_are_the_two_ops_bit_for_bit() {
    // large enough for several parallel chunks and a ragged tail
    let n = 300_007;
    let (xv, tv, wv) = case(n, 1);
    let x = Tensor::from_vec(xv, &[n]).unwrap().requires_grad();
    let t = Tensor::from_vec(tv, &[n]).unwrap();
    let w = Tensor::from_vec(wv, &[n]).unwrap();
    for reduction in [Reduction::Mean, Reduction::Sum] {
        for weight in [None, Some(w.clone())] {
            let opts = BceOptions { weight, reduction };
            let one = Tensor::scalar(1.0f32);
            let (la, ga) = apart(&x, &t, &opts, &one);
            let (lf, gf) = fused(&x, &t, &opts, &one);
            assert_eq!(bits(&lf), bits(&la), "{reduction:?} loss");
            assert_eq!(bits(&gf), bits(&ga), "{reduction:?} gradient");
        }
    }
}

#[test]
fn other_upstream_gradients_agree_within_one_rounding() {
    let n = 4099;
    let (xv, tv, wv) = case(n, 2);
    let x = Tensor::from_vec(xv, &[n]).unwrap().requires_grad();
    let t = Tensor::from_vec(tv, &[n]).unwrap();
    let w = Tensor::from_vec(wv, &[n]).unwrap();
    let g: Vec<f32> = (0..n).map(|i| 0.25 + (i % 7) as f32).collect();
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let opts = BceOptions { weight: Some(w.clone()), reduction };
        let upstream = match reduction {
            Reduction::None => Tensor::from_vec(g.clone(), &[n]).unwrap(),
            _ => Tensor::scalar(2.5f32),
        };
        let (la, ga) = apart(&x, &t, &opts, &upstream);
        let (lf, gf) = fused(&x, &t, &opts, &upstream);
        assert_eq!(bits(&lf), bits(&la), "{reduction:?} loss");
        for (k, (a, b)) in ga.iter().zip(&gf).enumerate() {
            assert!((a - b).abs() <= 2.0 * f32::EPSILON * a.abs(), "{reduction:?} [{k}]: {a} vs {b}");
        }
    }
}
