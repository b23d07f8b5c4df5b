//! Operators in chains (`&a * &b + &c`, `(x.matmul(&w) + &b)?`), with
//! numbers on either side, errors passing through, and the shapes `reshape` /
//! `view` accept.

use tapegrad::{DType, Tensor};

fn t(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn vals(r: tapegrad::Result<Tensor>) -> Vec<f64> {
    r.unwrap().to_vec::<f64>().unwrap()
}

#[test]
fn every_pairing_of_owned_borrowed_and_result() {
    let a = t(&[1.0, 2.0], &[2]);
    let b = t(&[3.0, 5.0], &[2]);
    let ok = || Ok::<Tensor, tapegrad::Error>(b.clone());
    assert_eq!(vals(&a + &b), [4.0, 7.0]);
    assert_eq!(vals(&a - b.clone()), [-2.0, -3.0]);
    assert_eq!(vals(a.clone() * &b), [3.0, 10.0]);
    assert_eq!(vals(a.clone() / b.clone()), [1.0 / 3.0, 0.4]);
    assert_eq!(vals(&a + ok()), [4.0, 7.0]);
    assert_eq!(vals(a.clone() - ok()), [-2.0, -3.0]);
    assert_eq!(vals(ok() * &a), [3.0, 10.0]);
    assert_eq!(vals(ok() / a.clone()), [3.0, 2.5]);
}

#[test]
fn chains_read_as_in_pytorch() {
    let a = t(&[1.0, 2.0, 3.0], &[3]);
    let b = t(&[2.0, 2.0, 2.0], &[3]);
    let c = t(&[0.5], &[1]);
    assert_eq!(vals(&a * &b + &c), [2.5, 4.5, 6.5]);
    assert_eq!(vals(&a * &b + &c - &a), [1.5, 2.5, 3.5]);
    assert_eq!(vals(&a - &b * &c), [0.0, 1.0, 2.0]);
    // a linear layer by hand, then an activation
    let x = t(&[1.0, -1.0, 2.0, 0.0], &[2, 2]);
    let w = t(&[1.0, 0.0, 0.0, -1.0], &[2, 2]);
    let bias = t(&[0.0, 1.0], &[2]);
    let h = (x.matmul(&w) + &bias).unwrap().relu();
    assert_eq!(h.to_vec::<f64>().unwrap(), [1.0, 2.0, 2.0, 1.0]);
    // gradients flow through operator chains as through the methods
    let p = t(&[1.0, 2.0], &[2]).requires_grad();
    let q = t(&[3.0, 4.0], &[2]);
    ((&p * &q + &p).unwrap() * 2.0).unwrap().sum_all().backward().unwrap();
    assert_eq!(p.grad().unwrap().to_vec::<f64>().unwrap(), [8.0, 10.0]);
}

#[test]
fn numbers_on_either_side() {
    let x = t(&[1.0, 2.0, 4.0], &[3]);
    assert_eq!(vals(&x + 1.0), [2.0, 3.0, 5.0]);
    assert_eq!(vals(&x * 2), [2.0, 4.0, 8.0]);
    assert_eq!(vals(x.clone() - 1), [0.0, 1.0, 3.0]);
    assert_eq!(vals(x.clone() / 2.0), [0.5, 1.0, 2.0]);
    assert_eq!(vals(1 - &x), [0.0, -1.0, -3.0]);
    assert_eq!(vals(8.0 / &x), [8.0, 4.0, 2.0]);
    assert_eq!(vals(2 * x.clone()), [2.0, 4.0, 8.0]);
    assert_eq!(vals(0.5 + x.clone()), [1.5, 2.5, 4.5]);
    let n = 3usize;
    assert_eq!(vals(&x * n as f64), [3.0, 6.0, 12.0]);
    // in the tensor's dtype
    let f = Tensor::from_vec(vec![1.0f32], &[1]).unwrap();
    assert_eq!((&f + 0.1).unwrap().to_vec::<f32>().unwrap(), [1.1f32]);
    assert_eq!((-(&x)).to_vec::<f64>().unwrap(), [-1.0, -2.0, -4.0]);
    assert_eq!((-x).to_vec::<f64>().unwrap(), [-1.0, -2.0, -4.0]);
}

#[test]
fn errors_pass_through_and_name_the_op() {
    let a = t(&[1.0, 2.0], &[2]);
    let b = t(&[1.0, 2.0, 3.0], &[3]);
    let e = (&a + &b).unwrap_err().to_string();
    assert!(e.contains("add"), "{e}");
    // the first error of a chain is the one reported
    let e = (&a * &b + &a).unwrap_err().to_string();
    assert!(e.contains("mul"), "{e}");
    let e = (&a + (&a / &b)).unwrap_err().to_string();
    assert!(e.contains("div"), "{e}");
    // numbers need a float tensor
    let i = Tensor::from_vec(vec![1i64], &[1]).unwrap();
    assert!((&i * 2).unwrap_err().to_string().contains("mul"));
    assert!((1.0 - &i).unwrap_err().to_string().contains("sub"));
    let m = Tensor::from_vec(vec![true], &[1]).unwrap();
    assert!((&m + &m).unwrap_err().to_string().contains("Bool"));
}

#[test]
fn reshape_and_view_take_every_shape_spelling() {
    let x = Tensor::zeros(&[2, 3, 4], DType::F32);
    let like = Tensor::zeros(&[4, 6], DType::F32);
    assert_eq!(x.reshape(&[-1, 4]).unwrap().shape(), &[6, 4]);
    assert_eq!(x.reshape(&[6usize, 4]).unwrap().shape(), &[6, 4]);
    assert_eq!(x.reshape(like.shape()).unwrap().shape(), &[4, 6]);
    let isz: &[isize] = &[2, -1];
    assert_eq!(x.reshape(isz).unwrap().shape(), &[2, 12]);
    let v: Vec<i64> = vec![-1, 2];
    assert_eq!(x.view(&v).unwrap().shape(), &[12, 2]);
    assert_eq!(x.view(&vec![24usize]).unwrap().shape(), &[24]);
    assert!(x.reshape(&[] as &[usize]).is_err());
    // errors name the op
    let e = x.view(&[5, -1]).unwrap_err().to_string();
    assert!(e.contains("view"), "{e}");
    let e = x.reshape(&[-1, -1]).unwrap_err().to_string();
    assert!(e.contains("reshape") && e.contains("-1"), "{e}");
    assert!(x.reshape(&[-2, 12]).is_err());
    assert!(x.reshape(&[usize::MAX, 2]).is_err());
    assert!(x.reshape(&[0, -1]).is_err());
    // a one-element tensor to 0-d and back
    let s = Tensor::from_vec(vec![3.0f32], &[1, 1]).unwrap();
    assert_eq!(s.reshape(&[] as &[isize]).unwrap().shape(), &[] as &[usize]);
}
