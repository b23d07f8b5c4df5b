//! A program written only against the crate's public signatures, checked
//! against gradients worked out by hand (what PyTorch computes).

use approx::assert_relative_eq;
use tapegrad::{DType, Tensor, no_grad};

#[test]
fn creation_and_inspection() -> tapegrad::Result<()> {
    let mut rng = rand::rng();
    let x = Tensor::randn(&[2, 3], DType::F32, &mut rng);
    assert_eq!((x.shape(), x.dtype(), x.numel(), x.ndim()), (&[2usize, 3][..], DType::F32, 6, 2));
    let u = Tensor::rand(&[1000], DType::F64, &mut rng).to_vec::<f64>()?;
    assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
    let r = Tensor::randint(0, 5, &[100], &mut rng).to_vec::<i64>()?;
    assert!(r.iter().all(|&v| (0..5).contains(&v)));
    assert_eq!(Tensor::full(&[2], 2.5, DType::F64).to_vec::<f64>()?, vec![2.5, 2.5]);
    assert_eq!(Tensor::ones(&[1, 2], DType::I64).to_vec::<i64>()?, vec![1, 1]);
    assert_eq!(Tensor::zeros(&[0, 3], DType::F32).numel(), 0);
    assert_eq!(Tensor::scalar(3i64).item::<i64>()?, 3);
    let c = Tensor::from_slice(&[1.5f32, -2.0], &[2])?.to_dtype(DType::F64)?;
    assert_eq!(c.to_vec::<f64>()?, vec![1.5, -2.0]);
    Ok(())
}

#[test]
fn gradients_match_pytorch() -> tapegrad::Result<()> {
    // torch: a = [[1,2],[3,4]] (requires_grad), b = [0.5, -1] (requires_grad)
    // y = ((a * b + 1).tanh() / 2).sum(); y.backward()
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2])?.requires_grad();
    let b = Tensor::from_vec(vec![0.5f64, -1.0], &[2])?.requires_grad();
    let y = ((((&a * &b)? + 1.0)?.tanh()) / 2.0)?.sum_all();
    y.backward()?;
    let (av, bv) = ([1.0, 2.0, 3.0, 4.0], [0.5, -1.0]);
    let mut ga = [0.0; 4];
    let mut gb = [0.0; 2];
    for i in 0..2 {
        for j in 0..2 {
            let z: f64 = av[i * 2 + j] * bv[j] + 1.0;
            let d = 0.5 * (1.0 - z.tanh().powi(2));
            ga[i * 2 + j] = d * bv[j];
            gb[j] += d * av[i * 2 + j];
        }
    }
    let got_a = a.grad().unwrap().to_vec::<f64>()?;
    let got_b = b.grad().unwrap().to_vec::<f64>()?;
    for (g, e) in got_a.iter().zip(ga).chain(got_b.iter().zip(gb)) {
        assert_relative_eq!(*g, e, epsilon = 1e-12);
    }
    // matmul + relu + mean
    let w = Tensor::from_vec(vec![1.0f32, -1.0, 2.0, 0.5], &[2, 2])?.requires_grad();
    let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
    let out = x.matmul(&w)?.relu().mean_all(); // x@w = [5, 0] -> relu -> [5, 0]
    assert_eq!(out.item::<f32>()?, 2.5);
    out.backward()?;
    // d/dw = x^T * [0.5, 0] (relu'(0) = 0)
    assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![0.5, 0.0, 1.0, 0.0]);
    let z = no_grad(|| &w * 2.0)?;
    assert!(!z.tracks_grad());
    Ok(())
}

#[test]
fn reductions_and_views() -> tapegrad::Result<()> {
    let x = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4])?;
    assert_eq!(x.sum(1, false)?.shape(), &[2, 4]);
    assert_eq!(x.mean(-1, true)?.shape(), &[2, 3, 1]);
    assert_eq!(x.max(2, false)?.to_vec::<f32>()?, vec![3.0, 7.0, 11.0, 15.0, 19.0, 23.0]);
    assert_eq!(x.transpose(0, 2)?.shape(), &[4, 3, 2]);
    assert_eq!(x.transpose(0, 2)?.to_vec::<f32>()?[..3], [0.0, 12.0, 4.0]);
    assert_eq!(x.reshape(&[-1])?.shape(), &[24]);
    assert_eq!(x.sum_all().item::<f32>()?, 276.0);
    assert!(Tensor::zeros(&[0], DType::F32).mean_all().item::<f32>()?.is_nan());
    let lse = Tensor::from_vec(vec![1000.0f32, 1000.0], &[2])?.logsumexp(0, false)?;
    assert_relative_eq!(lse.item::<f32>()?, 1000.0 + 2f32.ln());
    Ok(())
}

#[test]
fn display_is_pytorch_like() -> tapegrad::Result<()> {
    let x = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 4.0], &[2, 2])?;
    assert_eq!(x.to_string(), "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]])");
    let l = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?.requires_grad();
    assert_eq!(l.to_string(), "tensor([1., 2.], dtype=torch.float64, requires_grad=True)");
    assert_eq!(l.mul(&l)?.to_string(), "tensor([1., 4.], dtype=torch.float64, grad_fn=<MulBackward0>)");
    assert_eq!(Tensor::scalar(7i64).to_string(), "tensor(7)");
    let big = Tensor::zeros(&[2000], DType::F32);
    assert!(big.to_string().contains("..."));
    Ok(())
}
