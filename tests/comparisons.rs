//! Bool tensors: comparisons (broadcasting, mixed dtypes, NaN), `argmax` /
//! `argmin` (ties, NaN), conversions to and from Bool, `where_cond` with a
//! Bool mask, counting with `sum_all`, printing and saving. Expected values
//! are PyTorch's (`torch.eq` & co., `torch.argmax`, `x.to(torch.bool)`).

use tapegrad::{DType, Tensor, io, nn::StateDict};

fn t32(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn bools(t: &Tensor) -> Vec<bool> {
    assert_eq!(t.dtype(), DType::Bool);
    t.to_vec::<bool>().unwrap()
}

#[test]
fn each_comparison_elementwise() {
    let a = t32(&[1.0, 2.0, 3.0], &[3]);
    let b = t32(&[2.0, 2.0, 2.0], &[3]);
    assert_eq!(bools(&a.eq(&b).unwrap()), [false, true, false]);
    assert_eq!(bools(&a.ne(&b).unwrap()), [true, false, true]);
    assert_eq!(bools(&a.lt(&b).unwrap()), [true, false, false]);
    assert_eq!(bools(&a.le(&b).unwrap()), [true, true, false]);
    assert_eq!(bools(&a.gt(&b).unwrap()), [false, false, true]);
    assert_eq!(bools(&a.ge(&b).unwrap()), [false, true, true]);
    assert_eq!(bools(&a.eq_scalar(2.0).unwrap()), [false, true, false]);
    assert_eq!(bools(&a.ne_scalar(2.0).unwrap()), [true, false, true]);
    assert_eq!(bools(&a.lt_scalar(2.0).unwrap()), [true, false, false]);
    assert_eq!(bools(&a.le_scalar(2.0).unwrap()), [true, true, false]);
    assert_eq!(bools(&a.gt_scalar(2.0).unwrap()), [false, false, true]);
    assert_eq!(bools(&a.ge_scalar(2.0).unwrap()), [false, true, true]);
}

#[test]
fn comparisons_broadcast() {
    let a = t32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let col = t32(&[2.0, 5.0], &[2, 1]);
    let r = a.gt(&col).unwrap();
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(bools(&r), [false, false, true, false, false, true]);
    // (3,) against (2, 1): (2, 3)
    let row = t32(&[1.0, 2.0, 3.0], &[3]);
    assert_eq!(bools(&row.le(&col).unwrap()), [true, true, false, true, true, true]);
    // a 0-d operand
    assert_eq!(bools(&a.eq(&Tensor::scalar(4.0f32)).unwrap()), [false, false, false, true, false, false]);
    // shapes that do not broadcast: an error naming the op
    let e = a.lt(&t32(&[1.0, 2.0], &[2])).unwrap_err().to_string();
    assert!(e.contains("lt"), "{e}");
}

#[test]
fn comparisons_promote_mixed_dtypes_as_pytorch() {
    // I64 against a float 0-d tensor: compared in the float dtype (1 < 2.5)
    let i = Tensor::from_vec(vec![1i64, 2, 3], &[3]).unwrap();
    assert_eq!(bools(&i.lt(&Tensor::scalar(2.5f64)).unwrap()), [true, true, false]);
    // F32 against a 0-d F64: compared in F32, so 0.1f32 == 0.1 (PyTorch: True)
    let x = t32(&[0.1], &[1]);
    assert_eq!(bools(&x.eq(&Tensor::scalar(0.1f64)).unwrap()), [true]);
    // F32 against F64 with dims: compared in F64, so 0.1f32 != 0.1 (PyTorch: False)
    assert_eq!(bools(&x.eq(&Tensor::from_vec(vec![0.1f64], &[1]).unwrap()).unwrap()), [false]);
    // the scalar forms follow the same rule: 0.1 rounded to f32 first
    assert_eq!(bools(&x.eq_scalar(0.1).unwrap()), [true]);
    assert_eq!(bools(&Tensor::from_vec(vec![0.1f64], &[1]).unwrap().eq_scalar(0.1f32 as f64).unwrap()), [false]);
    // Bool against I64: true == 1
    let m = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
    let k = Tensor::from_vec(vec![1i64, 0, 2], &[3]).unwrap();
    assert_eq!(bools(&m.eq(&k).unwrap()), [true, true, false]);
    // Bool against Bool: false < true
    let n = Tensor::from_vec(vec![false, false, true], &[3]).unwrap();
    assert_eq!(bools(&n.lt(&m).unwrap()), [true, false, false]);
    assert_eq!(bools(&m.gt(&n).unwrap()), [true, false, false]);
    assert_eq!(bools(&m.ge_scalar(1.0).unwrap()), [true, false, true]);
    // I64 against a scalar
    assert_eq!(bools(&k.gt_scalar(0.5).unwrap()), [true, false, true]);
}

#[test]
fn nan_compares_false_except_ne() {
    let x = t32(&[f32::NAN, 1.0], &[2]);
    let y = t32(&[f32::NAN, f32::NAN], &[2]);
    assert_eq!(bools(&x.eq(&y).unwrap()), [false, false]);
    assert_eq!(bools(&x.ne(&y).unwrap()), [true, true]);
    for r in [x.lt(&y), x.le(&y), x.gt(&y), x.ge(&y)] {
        assert_eq!(bools(&r.unwrap()), [false, false]);
    }
    assert_eq!(bools(&x.eq_scalar(f64::NAN).unwrap()), [false, false]);
    assert_eq!(bools(&x.ne_scalar(f64::NAN).unwrap()), [true, true]);
    assert_eq!(bools(&x.ge_scalar(1.0).unwrap()), [false, true]);
}

#[test]
fn comparisons_never_track_gradients() {
    let x = t32(&[1.0, -1.0], &[2]).requires_grad();
    let y = x.mul_scalar(2.0).unwrap();
    assert!(y.tracks_grad());
    for r in [x.gt(&y).unwrap(), y.eq_scalar(2.0).unwrap(), x.argmax(0, false).unwrap()] {
        assert!(!r.tracks_grad());
        assert!(r.backward().is_err());
    }
}

#[test]
fn argmax_argmin_take_the_first_at_ties() {
    let x = t32(&[1.0, 5.0, 5.0, 7.0, 7.0, 0.0, 2.0, 2.0, 2.0], &[3, 3]);
    assert_eq!(x.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), [1, 0, 0]);
    assert_eq!(x.argmin(1, false).unwrap().to_vec::<i64>().unwrap(), [0, 2, 0]);
    assert_eq!(x.argmax(0, false).unwrap().to_vec::<i64>().unwrap(), [1, 1, 0]);
    assert_eq!(x.argmin(0, true).unwrap().to_vec::<i64>().unwrap(), [0, 2, 1]);
    assert_eq!(x.argmin(0, true).unwrap().shape(), &[1, 3]);
    assert_eq!(x.argmax(-1, true).unwrap().shape(), &[3, 1]);
    assert_eq!(x.argmax(1, false).unwrap().dtype(), DType::I64);
    // I64 input, and a 3-d input over its middle dim
    let i = Tensor::from_vec(vec![3i64, 9, 9, -1], &[4]).unwrap();
    assert_eq!(i.argmax(0, false).unwrap().item::<i64>().unwrap(), 1);
    assert_eq!(i.argmin(0, false).unwrap().item::<i64>().unwrap(), 3);
    let c = Tensor::from_vec((0..12).map(|v| ((v * 7) % 5) as f64).collect(), &[2, 3, 2]).unwrap();
    // values 0,2 / 4,1 / 3,0 and 2,4 / 1,3 / 0,2 along dim 1
    assert_eq!(c.argmax(1, false).unwrap().to_vec::<i64>().unwrap(), [1, 0, 0, 0]);
    assert_eq!(c.argmin(1, false).unwrap().to_vec::<i64>().unwrap(), [0, 2, 2, 2]);
}

#[test]
fn argmax_argmin_treat_nan_as_the_extreme() {
    // PyTorch: argmax and argmin of [1, nan, 0, nan] are both 1 (the first NaN)
    let x = t32(&[1.0, f32::NAN, 0.0, f32::NAN], &[4]);
    assert_eq!(x.argmax(0, false).unwrap().item::<i64>().unwrap(), 1);
    assert_eq!(x.argmin(0, false).unwrap().item::<i64>().unwrap(), 1);
    let y = Tensor::from_vec(vec![f64::NAN, 3.0], &[2]).unwrap();
    assert_eq!(y.argmax(0, false).unwrap().item::<i64>().unwrap(), 0);
    assert_eq!(y.argmin(0, false).unwrap().item::<i64>().unwrap(), 0);
}

#[test]
fn argmax_errors() {
    let x = t32(&[1.0, 2.0], &[2]);
    assert!(x.argmax(1, false).unwrap_err().to_string().contains("argmax"));
    assert!(x.argmin(-2, false).unwrap_err().to_string().contains("argmin"));
    let empty = Tensor::zeros(&[2, 0], DType::F32);
    assert!(empty.argmax(1, false).is_err());
    let m = Tensor::from_vec(vec![true, false], &[2]).unwrap();
    let e = m.argmax(0, false).unwrap_err().to_string();
    assert!(e.contains("argmax") && e.contains("Bool"), "{e}");
}

#[test]
fn bool_converts_to_and_from_every_dtype() {
    let m = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
    assert_eq!(m.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(), [1.0, 0.0, 1.0]);
    assert_eq!(m.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(), [1.0, 0.0, 1.0]);
    assert_eq!(m.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(), [1, 0, 1]);
    assert_eq!(bools(&m.to_dtype(DType::Bool).unwrap()), [true, false, true]);
    // non-zero is true, NaN and -0.0 included / excluded as PyTorch
    let x = t32(&[0.0, -0.0, 0.25, f32::NAN, f32::NEG_INFINITY], &[5]);
    assert_eq!(bools(&x.to_dtype(DType::Bool).unwrap()), [false, false, true, true, true]);
    let f = Tensor::from_vec(vec![0.0f64, 1e-300], &[2]).unwrap();
    assert_eq!(bools(&f.to_dtype(DType::Bool).unwrap()), [false, true]);
    let i = Tensor::from_vec(vec![0i64, -3, i64::MAX], &[3]).unwrap();
    assert_eq!(bools(&i.to_dtype(DType::Bool).unwrap()), [false, true, true]);
    // a Bool tensor from a tracked float one is not tracked
    let w = t32(&[1.0], &[1]).requires_grad();
    assert!(!w.to_dtype(DType::Bool).unwrap().tracks_grad());
    // creation with Bool
    assert_eq!(bools(&Tensor::ones(&[2], DType::Bool)), [true, true]);
    assert_eq!(bools(&Tensor::zeros(&[1], DType::Bool)), [false]);
    assert_eq!(bools(&Tensor::full(&[1], 0.5, DType::Bool)), [true]);
    assert!(Tensor::scalar(true).item::<bool>().unwrap());
    assert!(m.to_vec::<f32>().is_err());
}

#[test]
fn sum_all_of_bool_counts() {
    let x = t32(&[0.2, 0.9, 0.7, 0.1, 0.6], &[5]);
    let n = x.gt_scalar(0.5).unwrap().sum_all();
    assert_eq!(n.dtype(), DType::I64);
    assert_eq!(n.item::<i64>().unwrap(), 3);
    assert_eq!(Tensor::zeros(&[0], DType::Bool).sum_all().item::<i64>().unwrap(), 0);
    // the mean of a mask is the fraction of true
    assert_eq!(x.gt_scalar(0.5).unwrap().mean_all().item::<f64>().unwrap(), 0.6);
}

#[test]
fn where_cond_takes_a_bool_mask_and_still_a_numeric_one() {
    let x = Tensor::from_vec(vec![-1.0f64, 2.0, -3.0, 4.0], &[4]).unwrap().requires_grad();
    let zero = Tensor::scalar(0.0f64);
    let mask = x.gt_scalar(0.0).unwrap();
    let y = Tensor::where_cond(&mask, &x, &zero).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [0.0, 2.0, 0.0, 4.0]);
    y.sum_all().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), [0.0, 1.0, 0.0, 1.0]);
    // a broadcast Bool mask (2, 1) against (2, 2) values
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let m = Tensor::from_vec(vec![true, false], &[2, 1]).unwrap();
    let r = Tensor::where_cond(&m, &a, &a.neg()).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap(), [1.0, 2.0, -3.0, -4.0]);
    // a float mask, read as non-zero, as before
    let fm = Tensor::from_vec(vec![0.0f32, 2.0], &[2, 1]).unwrap();
    assert_eq!(Tensor::where_cond(&fm, &a, &a.neg()).unwrap().to_vec::<f32>().unwrap(), [-1.0, -2.0, 3.0, 4.0]);
}

#[test]
fn arithmetic_on_bool_is_an_error_naming_the_op() {
    let m = Tensor::from_vec(vec![true, false], &[2]).unwrap();
    for (op, r) in [
        ("add", m.add(&m)),
        ("mul", m.mul(&m)),
        ("sub", m.sub_scalar(1.0)),
        ("matmul", m.matmul(&m)),
        ("sum", m.sum(0, false)),
        ("softmax", tapegrad::functional::softmax(&m, 0)),
    ] {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(op) && e.contains("Bool"), "{op}: {e}");
    }
    // the infallible elementwise functions compute in F32, as PyTorch promotes bool
    assert_eq!(m.exp().dtype(), DType::F32);
    assert_eq!(m.exp().to_vec::<f32>().unwrap(), [std::f32::consts::E, 1.0]);
}

#[test]
fn bool_tensors_print_as_pytorch() {
    let m = Tensor::from_vec(vec![true, false], &[2]).unwrap();
    assert_eq!(m.to_string(), "tensor([ True, False])");
    let c = Tensor::from_vec(vec![true, false], &[2, 1]).unwrap();
    assert_eq!(c.to_string(), "tensor([[ True],\n        [False]])");
    assert_eq!(Tensor::zeros(&[0], DType::Bool).to_string(), "tensor([], dtype=torch.bool)");
    assert_eq!(Tensor::scalar(true).to_string(), "tensor(True)");
}

#[test]
fn bool_tensors_round_trip_through_safetensors() {
    let path = std::env::temp_dir().join(format!("tapegrad-bool-{}.safetensors", std::process::id()));
    let mut state = StateDict::new();
    let mask = Tensor::from_vec(vec![true, false, false, true, true, false], &[2, 3]).unwrap();
    state.insert("mask".into(), mask.clone());
    state.insert("w".into(), t32(&[1.5], &[1]));
    io::save_safetensors(&state, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let back = io::load_safetensors(&path).unwrap();
    std::fs::remove_file(&path).ok();
    // the header names PyTorch's dtype, and each element is one byte 0 or 1
    assert!(String::from_utf8_lossy(&bytes).contains("\"BOOL\""));
    assert_eq!(back["mask"].shape(), &[2, 3]);
    assert_eq!(bools(&back["mask"]), bools(&mask));
    assert_eq!(back["w"].to_vec::<f32>().unwrap(), [1.5]);
}
