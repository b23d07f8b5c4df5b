//! `nn::Embedding` and `F::embedding` beyond the PyTorch reference cases
//! (`tests/golden/embedding.json`, run by `tests/golden.rs`): initialisation,
//! names, padding rows, error messages, and a gradcheck.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::gradcheck;
use tapegrad::functional as F;
use tapegrad::nn::{self, Module};
use tapegrad::{DType, Tensor};

#[test]
fn embedding_gradcheck() {
    let mut rng = StdRng::seed_from_u64(5);
    let w = Tensor::randn(&[6, 4], DType::F64, &mut rng);
    let idx = Tensor::from_vec(vec![5i64, 0, 3, 3, 5, 1], &[2, 3]).unwrap();
    // (padding_idx is left out: by design its row's gradient is 0, not the derivative)
    let r = gradcheck(|t| F::embedding(&t[0], &t[1]), &[idx, w], 1e-6, 1e-6, 1e-4).unwrap();
    assert!(r.passed, "{r:?}");
}

#[test]
fn nn_embedding_is_pytorchs_layer() {
    let mut rng = StdRng::seed_from_u64(9);
    let emb = nn::Embedding::new(1000, 16, &mut rng);
    let w = emb.weight().to_vec::<f32>().unwrap();
    assert_eq!(emb.weight().shape(), &[1000, 16]);
    assert_eq!(emb.weight().dtype(), DType::F32);
    // N(0, 1): mean near 0, variance near 1 over 16,000 samples
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
    let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    let names: Vec<String> = emb.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight"]);
    assert_eq!(Module::parameters(&emb).len(), 1);
    // nn ≡ functional
    let idx = Tensor::from_vec(vec![3i64, 999, 0, 3], &[2, 2]).unwrap();
    let a = emb.forward(&idx).unwrap();
    let b = F::embedding(&idx, emb.weight()).unwrap();
    assert_eq!(a.shape(), &[2, 2, 16]);
    assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(&a.to_vec::<f32>().unwrap()[..16], &w[3 * 16..4 * 16]);
    // a 0-d index gives one vector
    assert_eq!(emb.forward(&Tensor::scalar(7i64)).unwrap().shape(), &[16]);
}

#[test]
fn padding_idx_zeroes_its_row_and_keeps_it_out_of_training() {
    let mut rng = StdRng::seed_from_u64(10);
    let emb = nn::Embedding::new(5, 3, &mut rng).padding_idx(-1);
    let w = emb.weight().to_vec::<f32>().unwrap();
    assert_eq!(&w[12..15], &[0.0, 0.0, 0.0]);
    assert!(w[..12].iter().any(|&v| v != 0.0));
    let y = emb.forward(&Tensor::from_vec(vec![4i64, 1, 4], &[3]).unwrap()).unwrap();
    y.sum_all().backward().unwrap();
    let g = emb.weight().grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&g[12..15], &[0.0, 0.0, 0.0]);
    assert_eq!(&g[3..6], &[1.0, 1.0, 1.0]);
    // a padding index out of range: every forward says so
    let bad = nn::Embedding::new(5, 3, &mut rng).padding_idx(5);
    let e = bad.forward(&Tensor::from_vec(vec![0i64], &[1]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("Embedding") && e.contains("padding_idx = 5"), "{e}");
}

#[test]
fn embedding_errors_name_the_layer_the_argument_and_the_value() {
    let mut rng = StdRng::seed_from_u64(11);
    let emb = nn::Embedding::new(4, 2, &mut rng);
    let e = emb.forward(&Tensor::from_vec(vec![0i64, 1, 2, 7], &[2, 2]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("Embedding") && e.contains("input[1, 1] = 7") && e.contains("num_embeddings = 4"), "{e}");
    let e = emb.forward(&Tensor::from_vec(vec![-1i64], &[1]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("-1"), "{e}");
    let e = emb.forward(&Tensor::from_vec(vec![0.0f32], &[1]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("Embedding") && e.contains("input") && e.contains("F32"), "{e}");
    assert!(nn::Embedding::from_parts(Tensor::zeros(&[4], DType::F32)).is_err());
    assert!(nn::Embedding::from_parts(Tensor::zeros(&[4, 2], DType::I64)).is_err());
    let e = F::embedding(&Tensor::from_vec(vec![true], &[1]).unwrap(), emb.weight()).unwrap_err().to_string();
    assert!(e.contains("Bool"), "{e}");
}
