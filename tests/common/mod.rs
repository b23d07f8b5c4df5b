//! Shared by the golden-file tests: reading tensors from the
//! `tapegrad-golden/1` JSON format and comparing at PyTorch's tolerances.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use tapegrad::{DType, Tensor};

/// Loads `tests/golden/<name>.json`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unknown number {other}"),
        },
        _ => v.as_f64().expect("a number"),
    }
}

/// A golden tensor as a `Tensor` of its dtype.
pub fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data = v["data"].as_array().unwrap();
    match v["dtype"].as_str().unwrap() {
        "f32" => Tensor::from_vec(data.iter().map(|x| num(x) as f32).collect(), &shape).unwrap(),
        "f64" => Tensor::from_vec(data.iter().map(num).collect(), &shape).unwrap(),
        "i64" => Tensor::from_vec(data.iter().map(|x| x.as_i64().unwrap()).collect(), &shape).unwrap(),
        d => panic!("unknown dtype {d}"),
    }
}

/// The tensors of a JSON object, by name.
pub fn tensors(v: &Value) -> BTreeMap<String, Tensor> {
    v.as_object().map(|o| o.iter().map(|(k, t)| (k.clone(), tensor(t))).collect()).unwrap_or_default()
}

/// PyTorch's test tolerances: `(rtol, atol)`.
pub fn tolerances(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 => (1.3e-6, 1e-5),
        _ => (1e-7, 1e-7),
    }
}

/// Compares `got` with the expected golden tensor: shape, dtype and every
/// value within `atol + rtol·|expected|` (NaN matches NaN, infinities by sign).
pub fn assert_close(what: &str, got: &Tensor, expected: &Value) -> Result<(), String> {
    let exp = tensor(expected);
    if got.shape() != exp.shape() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.shape(), exp.shape()));
    }
    if got.dtype() != exp.dtype() {
        return Err(format!("{what}: dtype {:?}, expected {:?}", got.dtype(), exp.dtype()));
    }
    let (rtol, atol) = tolerances(exp.dtype());
    let g = got.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    let e = exp.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= atol + rtol * b.abs()
        };
        if !ok {
            return Err(format!("{what}[{i}] = {a:e}, expected {b:e} (|diff| = {:e})", (a - b).abs()));
        }
    }
    Ok(())
}

pub mod cases;
pub mod divergence_margin_cases;
