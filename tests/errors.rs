//! Every kind of bad input returns an `Err` naming the op, the argument and the value.

use tapegrad::{DType, Error, Tensor};

fn f32s(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn assert_err(r: tapegrad::Result<Tensor>, op: &str, needles: &[&str]) -> Error {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{op}: ")), "message does not name {op}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "message lacks {n:?}: {msg}");
    }
    e
}

#[test]
fn shape_mismatch_in_from_vec() {
    assert_err(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]), "from_vec", &["5 elements", "[2, 3]", "6"]);
}

#[test]
fn non_broadcastable_shapes() {
    let e = assert_err(f32s(&[0.0; 6], &[2, 3]).add(&f32s(&[0.0; 2], &[2])), "add", &["[2, 3]", "[2]"]);
    assert!(matches!(e, Error::Shape { .. }));
}

#[test]
fn dim_out_of_range() {
    let x = f32s(&[0.0; 6], &[2, 3]);
    let e = assert_err(x.sum(2, false), "sum", &["dim = 2", "[-2, 1]"]);
    assert!(matches!(e, Error::Index { .. }));
    assert_err(x.transpose(0, -3), "transpose", &["dim = -3"]);
}

#[test]
fn dtype_mismatch_is_not_promoted() {
    let a = f32s(&[1.0], &[1]);
    let b = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
    let e = assert_err(a.mul(&b), "mul", &["F64", "F32"]);
    assert!(matches!(e, Error::DType { .. }));
    let i = Tensor::from_vec(vec![1i64], &[1]).unwrap();
    assert_err(i.add(&i), "add", &["I64"]);
}

#[test]
fn backward_on_non_scalar() {
    let x = f32s(&[1.0, 2.0], &[2]).requires_grad();
    let y = x.mul_scalar(2.0).unwrap();
    let e = y.backward().unwrap_err();
    assert!(e.to_string().starts_with("backward: ") && e.to_string().contains("[2]"), "{e}");
    assert!(matches!(e, Error::Autograd { .. }));
    // and on a tensor that tracks nothing
    let c = f32s(&[1.0], &[]);
    assert!(c.backward().unwrap_err().to_string().contains("does not track gradients"));
}

#[test]
fn item_on_many_elements() {
    let e = f32s(&[1.0, 2.0], &[2]).item::<f32>().unwrap_err();
    assert!(e.to_string().starts_with("item: ") && e.to_string().contains("2 elements"), "{e}");
}

#[test]
fn to_vec_of_the_wrong_type() {
    let e = Tensor::zeros(&[2], DType::F64).to_vec::<f32>().unwrap_err();
    assert!(e.to_string().contains("F64") && e.to_string().contains("F32"), "{e}");
}

#[test]
fn reshape_and_matmul_shapes() {
    let x = f32s(&[0.0; 6], &[2, 3]);
    assert_err(x.reshape(&[4, -1]), "reshape", &["[4, -1]", "6"]);
    assert_err(x.reshape(&[-1, -1]), "reshape", &["only one dim can be -1"]);
    assert_err(x.matmul(&f32s(&[0.0; 8], &[4, 2])), "matmul", &["2x3", "4x2"]);
}

#[test]
fn gather_index_out_of_range() {
    let x = f32s(&[0.0; 6], &[2, 3]);
    let idx = Tensor::from_vec(vec![0i64, 3], &[2, 1]).unwrap();
    let e = assert_err(x.gather(1, &idx), "gather", &["index[1, 0] = 3", "size 3"]);
    assert!(matches!(e, Error::Index { .. }));
    let neg = Tensor::from_vec(vec![-1i64], &[1]).unwrap();
    assert_err(x.index_select(0, &neg), "index_select", &["index[0] = -1"]);
}

#[test]
fn errors_are_std_errors_and_thread_safe() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();
}
