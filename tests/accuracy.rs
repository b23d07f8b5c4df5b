//! The f32 results of large reductions are at least as close to the f64 truth
//! as PyTorch's f32 results. PyTorch's numbers and the truth were recorded by
//! `tools/accuracy_reference.py` (PyTorch 2.15) in `tests/golden/accuracy.json`;
//! the inputs are regenerated here from the same integer LCG.

mod common;

use tapegrad::functional as F;
use tapegrad::{DType, Tensor};

fn lcg(n: usize, seed: u32) -> Vec<u32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s
        })
        .collect()
}

/// `k / 1000` for `k` in [-10000, 10000], rounded to f32 as PyTorch rounds Python floats.
fn values(n: usize, seed: u32) -> Vec<f32> {
    lcg(n, seed).into_iter().map(|s| (((s >> 8) % 20001) as f64 - 10000.0) / 1000.0).map(|v| v as f32).collect()
}

#[test]
fn large_f32_reductions_are_at_least_as_accurate_as_pytorch() {
    let file = common::load("accuracy");
    for case in file["cases"].as_array().unwrap() {
        let op = case["op"].as_str().unwrap();
        let seed = |k: &str| case[k].as_u64().unwrap() as u32;
        let ours = match op {
            "mse_loss" | "l1_loss" => {
                let n = case["n"].as_u64().unwrap() as usize;
                let x = Tensor::from_vec(values(n, seed("seed_input")), &[n]).unwrap();
                let y = Tensor::from_vec(values(n, seed("seed_target")), &[n]).unwrap();
                if op == "mse_loss" {
                    F::mse_loss(&x, &y, &Default::default())
                } else {
                    F::l1_loss(&x, &y, &Default::default())
                }
            }
            _ => {
                let (rows, classes) =
                    (case["rows"].as_u64().unwrap() as usize, case["classes"].as_u64().unwrap() as usize);
                let z = Tensor::from_vec(values(rows * classes, seed("seed_input")), &[rows, classes]).unwrap();
                let t: Vec<i64> =
                    lcg(rows, seed("seed_target")).into_iter().map(|s| (s % classes as u32) as i64).collect();
                F::cross_entropy(&z, &Tensor::from_vec(t, &[rows]).unwrap(), &Default::default())
            }
        }
        .unwrap();
        assert_eq!(ours.dtype(), DType::F32);
        let ours = ours.item::<f32>().unwrap() as f64;
        let (torch, truth) = (case["pytorch_f32"].as_f64().unwrap(), case["truth_f64"].as_f64().unwrap());
        let (e_ours, e_torch) = ((ours - truth).abs(), (torch - truth).abs());
        println!("{op}: ours {ours} (error {e_ours:.3e}), PyTorch {torch} (error {e_torch:.3e}), truth {truth}");
        assert!(e_ours <= e_torch, "{op}: our f32 error {e_ours:e} exceeds PyTorch's {e_torch:e}");
    }
}

/// The distance from `x` to the next f32 away from zero: one unit in the
/// last place at `x`'s magnitude.
fn ulp(x: f64) -> f64 {
    let f = x.abs() as f32;
    (f32::from_bits(f.to_bits() + 1) - f) as f64
}

/// Reduced over 4M elements, an f32 elementwise loss is within one unit in
/// the last place of the same loss computed in f64 (its sums are carried in
/// f64 and rounded once).
#[test]
fn elementwise_f32_means_over_4m_elements_are_within_one_ulp() {
    type Loss = fn(&Tensor, &Tensor) -> tapegrad::Result<Tensor>;
    let losses: [(&str, Loss); 4] = [
        ("l1_loss", |x, y| F::l1_loss(x, y, &Default::default())),
        ("mse_loss", |x, y| F::mse_loss(x, y, &Default::default())),
        ("smooth_l1_loss", |x, y| F::smooth_l1_loss(x, y, &Default::default())),
        ("huber_loss", |x, y| F::huber_loss(x, y, &Default::default())),
    ];
    use rand::SeedableRng;
    let n = 1 << 22;
    for seed in 0..4 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let x32 = Tensor::randn(&[n], DType::F32, &mut rng);
        let y32 = Tensor::randn(&[n], DType::F32, &mut rng);
        let (x64, y64) = (x32.to_dtype(DType::F64).unwrap(), y32.to_dtype(DType::F64).unwrap());
        for (name, loss) in losses {
            let ours = loss(&x32, &y32).unwrap().item::<f32>().unwrap() as f64;
            let truth = loss(&x64, &y64).unwrap().item::<f64>().unwrap();
            assert!((ours - truth).abs() <= ulp(truth), "{name} (seed {seed}): {ours} vs truth {truth}");
        }
    }
}
