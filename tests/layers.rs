//! Layer semantics the golden cases do not spell out: unbatched `(C, H, W)`
//! conv2d, `linear` over any leading dims, PyTorch's default initialisation.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Tensor};

#[test]
fn unbatched_conv2d_is_the_batch_of_one_without_its_dim() {
    let mut r = StdRng::seed_from_u64(1);
    let x = Tensor::randn(&[3, 9, 8], DType::F64, &mut r).requires_grad();
    let w = Tensor::randn(&[4, 3, 3, 2], DType::F64, &mut r);
    let opts = F::Conv2dOptions { padding: (1, 0), stride: (2, 1), ..Default::default() };
    let y = F::conv2d(&x, &w, None, &opts).unwrap();
    let yb = F::conv2d(&x.detach().unsqueeze(0).unwrap(), &w, None, &opts).unwrap();
    assert_eq!(y.shape(), &yb.shape()[1..]);
    assert_eq!(y.to_vec::<f64>().unwrap(), yb.to_vec::<f64>().unwrap());
    y.sum_all().backward().unwrap();
    assert_eq!(x.grad().unwrap().shape(), &[3, 9, 8]);
}

#[test]
fn linear_applies_to_the_last_dim_of_any_shape() {
    let mut r = StdRng::seed_from_u64(2);
    let fc = nn::Linear::new(3, 5, &mut r);
    let x = Tensor::randn(&[2, 4, 3], DType::F32, &mut r);
    let y = fc.forward(&x).unwrap();
    assert_eq!(y.shape(), &[2, 4, 5]);
    let flat = fc.forward(&x.reshape(&[-1, 3]).unwrap()).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), flat.to_vec::<f32>().unwrap());
    // a 1-D input is one sample
    assert_eq!(fc.forward(&Tensor::zeros(&[3], DType::F32)).unwrap().shape(), &[5]);
}

#[test]
fn default_initialisation_is_pytorchs_uniform_bound() {
    let mut r = StdRng::seed_from_u64(3);
    let fc = nn::Linear::new(64, 128, &mut r);
    let bound = 1.0 / 64f32.sqrt();
    for p in fc.parameters() {
        let v = p.to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.abs() <= bound), "linear: outside ±1/sqrt(fan_in)");
        assert!(v.iter().any(|x| x.abs() > bound * 0.9), "linear: does not fill its range");
    }
    let conv = nn::Conv2d::new(16, 4, (3, 3), &mut r);
    let bound = 1.0 / (16.0f32 * 9.0).sqrt();
    for p in conv.parameters() {
        assert!(p.to_vec::<f32>().unwrap().iter().all(|x| x.abs() <= bound), "conv: outside ±1/sqrt(fan_in)");
    }
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Asserts that a convolution's output `y` is its bias `b` alone (broadcast
/// over every sample and position: no input reaches it), then back-propagates
/// `Σ y` and asserts that `b` gets one unit of gradient per sample and position.
fn assert_bias_alone(y: &Tensor, b: &Tensor, what: &str) {
    let (bv, yv) = (f64s(b), f64s(y));
    let plane = y.shape()[2] * y.shape()[3];
    assert!(yv.iter().enumerate().all(|(i, &v)| v == bv[i / plane % bv.len()]), "{what}: output is not the bias");
    y.sum_all().backward().unwrap();
    assert_eq!(f64s(&b.grad().unwrap()), vec![(y.shape()[0] * plane) as f64; bv.len()], "{what}: bias gradient");
}

/// A convolution over zero input channels is its bias: every path (direct and
/// im2col, per-sample and batched, f32 and f64) must still give the bias its
/// gradient from every sample.
#[test]
fn conv2d_with_no_input_channels_still_has_a_bias_gradient() {
    let mut rng = StdRng::seed_from_u64(3);
    for dtype in [DType::F32, DType::F64] {
        for (n, stride) in [(2usize, (1usize, 1usize)), (40, (1, 1)), (3, (2, 1)), (40, (2, 2))] {
            let x = Tensor::randn(&[n, 0, 40, 40], dtype, &mut rng).requires_grad();
            let w = Tensor::randn(&[3, 0, 3, 3], dtype, &mut rng).requires_grad();
            let b = Tensor::randn(&[3], dtype, &mut rng).requires_grad();
            let opts = F::Conv2dOptions { stride, ..Default::default() };
            let y = F::conv2d(&x, &w, Some(&b), &opts).unwrap();
            assert_bias_alone(&y, &b, &format!("{dtype:?} n {n} stride {stride:?}"));
            // (the input's gradient, when made, is empty and of its shape)
            assert!(x.grad().is_none_or(|g| g.shape() == [n, 0, 40, 40]));
        }
    }
}

/// An empty image with padding convolves to the bias alone (every output
/// position sees only padding), on every path; its input gradient is empty.
#[test]
fn conv2d_of_an_empty_image_with_padding_is_the_bias() {
    let mut rng = StdRng::seed_from_u64(4);
    for dtype in [DType::F32, DType::F64] {
        for (n, h, w, padding) in [(2usize, 0usize, 5usize, (1usize, 0usize)), (3, 4, 0, (0, 2)), (40, 0, 40, (2, 1))] {
            let x = Tensor::randn(&[n, 3, h, w], dtype, &mut rng).requires_grad();
            let wt = Tensor::randn(&[4, 3, 1, 1], dtype, &mut rng).requires_grad();
            let b = Tensor::randn(&[4], dtype, &mut rng).requires_grad();
            let opts = F::Conv2dOptions { padding, ..Default::default() };
            let y = F::conv2d(&x, &wt, Some(&b), &opts).unwrap();
            assert_eq!(y.shape(), &[n, 4, h + 2 * padding.0, w + 2 * padding.1]);
            assert_bias_alone(&y, &b, &format!("{dtype:?} {:?} padding {padding:?}", x.shape()));
            assert!(f64s(&wt.grad().unwrap()).iter().all(|&v| v == 0.0), "{dtype:?}: the weight sees only zeros");
        }
    }
}

/// A closure layer records its ops (the gradient is the hand-written
/// chain's) and takes no place in the state dict's numbering but its own.
#[test]
fn lambda_layer_is_differentiable_and_numbered_like_pytorch() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let first = nn::Linear::new(3, 4, &mut rng);
    let last = nn::Linear::new(4, 1, &mut rng);
    let model = nn::Sequential::new(vec![
        Box::new(first.clone()),
        Box::new(nn::Lambda::new(|x: &Tensor| x.tanh().mul_scalar(2.0))),
        Box::new(last.clone()),
    ]);
    let names: Vec<String> = nn::Module::state_dict(&model).keys().cloned().collect();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    let x = Tensor::randn(&[5, 3], DType::F32, &mut rng).requires_grad();
    model.forward(&x).unwrap().sum_all().backward().unwrap();
    let via_model = x.grad().unwrap().to_vec::<f32>().unwrap();
    x.zero_grad();
    let by_hand = last.forward(&first.forward(&x).unwrap().tanh().mul_scalar(2.0).unwrap()).unwrap();
    by_hand.sum_all().backward().unwrap();
    assert_eq!(via_model, x.grad().unwrap().to_vec::<f32>().unwrap());
    assert!(model.forward(&Tensor::zeros(&[2, 5], DType::F32)).is_err());
}
