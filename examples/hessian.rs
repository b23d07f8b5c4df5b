//! Hessian-vector products of a small model's loss: `H·v` is the gradient of
//! `⟨∇L(θ), v⟩`, with `∇L` taken by `autograd::grad` with `create_graph`
//! (two backward passes, never the Hessian itself). Each product is checked
//! against central finite differences of the gradient,
//! `(∇L(θ + h·v) − ∇L(θ − h·v)) / 2h`.
//!
//! Run: `cargo run --release --example hessian`

mod common;

use common::Res;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{GradOptions, grad};
use tapegrad::functional as F;
use tapegrad::{DType, Tensor};

fn main() -> Res<()> {
    println!("tapegrad: Hessian-vector products of an MLP's cross-entropy, 3 → 8 → 4 classes, f64");
    for seed in 0..4 {
        let (norm, err) = check(seed)?;
        println!("direction {seed}: |H·v| = {norm:.6}, max relative difference to finite differences {err:.2e}");
    }
    Ok(())
}

/// The model's loss at parameters `p` (w1, b1, w2, b2) on fixed data.
fn loss(p: &[Tensor], x: &Tensor, t: &Tensor) -> tapegrad::Result<Tensor> {
    let h = F::linear(x, &p[0], Some(&p[1]))?.tanh();
    F::cross_entropy(&F::linear(&h, &p[2], Some(&p[3]))?, t, &Default::default())
}

/// `∇L(p)`, first order.
fn gradient(p: &[Tensor], x: &Tensor, t: &Tensor) -> Res<Vec<Tensor>> {
    let leaves: Vec<Tensor> = p.iter().map(|q| q.detach().requires_grad()).collect();
    let g = grad(&[loss(&leaves, x, t)?], &leaves, &GradOptions::default())?;
    Ok(g.into_iter().map(|g| g.expect("every parameter is used")).collect())
}

/// For a random model, data and direction `v` (from `seed`): `|H·v|` and the
/// largest difference between `H·v` and its finite-difference estimate,
/// relative to `max |H·v|`.
pub fn check(seed: u64) -> Res<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let shapes: [&[usize]; 4] = [&[8, 3], &[8], &[4, 8], &[4]];
    let params: Vec<Tensor> = shapes.iter().map(|s| Tensor::randn(s, DType::F64, &mut rng).requires_grad()).collect();
    let v: Vec<Tensor> = shapes.iter().map(|s| Tensor::randn(s, DType::F64, &mut rng)).collect();
    let x = Tensor::randn(&[16, 3], DType::F64, &mut rng);
    let t = Tensor::randint(0, 4, &[16], &mut rng);

    // H·v = ∂⟨∇L, v⟩/∂θ
    let opts = GradOptions { create_graph: true, ..Default::default() };
    let g = grad(&[loss(&params, &x, &t)?], &params, &opts)?;
    let mut gv = Tensor::scalar(0.0f64);
    for (g, v) in g.iter().zip(&v) {
        gv = gv.add(&g.as_ref().ok_or("unused parameter")?.mul(v)?.sum_all())?;
    }
    let hv = grad(&[gv], &params, &GradOptions::default())?;

    // (∇L(θ + h·v) − ∇L(θ − h·v)) / 2h
    let h = 1e-5;
    let shifted = |s: f64| -> Res<Vec<Tensor>> {
        params.iter().zip(&v).map(|(p, v)| Ok(p.detach().add(&v.mul_scalar(s)?)?)).collect()
    };
    let (up, down) = (gradient(&shifted(h)?, &x, &t)?, gradient(&shifted(-h)?, &x, &t)?);
    let (mut worst, mut scale, mut sq) = (0.0f64, 0.0f64, 0.0f64);
    for ((hv, up), down) in hv.iter().zip(&up).zip(&down) {
        let hv = hv.as_ref().ok_or("unused parameter")?.to_vec::<f64>()?;
        let fd = up.sub(down)?.div_scalar(2.0 * h)?.to_vec::<f64>()?;
        for (a, b) in hv.iter().zip(&fd) {
            worst = worst.max((a - b).abs());
            scale = scale.max(a.abs());
            sq += a * a;
        }
    }
    Ok((sq.sqrt(), worst / scale))
}
