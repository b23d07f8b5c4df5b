//! PyTorch's double backward (`tests/golden/double_backward.json`, PyTorch
//! 2.15): for every case the output, the gradients of
//! `sum(output * grad_output)` taken with `create_graph`, and the gradients
//! of `Σᵢ ⟨gradsᵢ, gg_vectorsᵢ⟩` (second derivatives), at PyTorch's
//! tolerances. No case is skipped.

mod common;

use common::{assert_close, load, tensor, tensors};
use serde_json::Value;
use std::collections::BTreeMap;
use tapegrad::autograd::{GradOptions, grad};
use tapegrad::functional as F;
use tapegrad::{Reduction, Result, Tensor};

fn opt_tensor(o: &Value, k: &str) -> Option<Tensor> {
    o.get(k).filter(|v| !v.is_null()).map(tensor)
}
fn reduction(o: &Value) -> Reduction {
    o.get("reduction").and_then(Value::as_str).map_or(Reduction::Mean, |s| s.parse().unwrap())
}
fn f(o: &Value, k: &str, default: f64) -> f64 {
    o.get(k).and_then(Value::as_f64).unwrap_or(default)
}
fn pair(o: &Value, k: &str, default: usize) -> (usize, usize) {
    o.get(k)
        .and_then(Value::as_array)
        .map_or((default, default), |a| (a[0].as_u64().unwrap() as usize, a[1].as_u64().unwrap() as usize))
}
/// Calls the op a case names: every case calls the crate's function.
fn run(op: &str, t: &BTreeMap<String, Tensor>, o: &Value) -> Result<Tensor> {
    let x = t.get("input");
    let y = t.get("target");
    match op {
        "nll_loss" => F::nll_loss(
            x.unwrap(),
            y.unwrap(),
            &F::NllLossOptions {
                weight: opt_tensor(o, "weight"),
                ignore_index: o.get("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(o),
            },
        ),
        "cross_entropy" => F::cross_entropy(
            x.unwrap(),
            y.unwrap(),
            &F::CrossEntropyOptions {
                weight: opt_tensor(o, "weight"),
                ignore_index: o.get("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(o),
                label_smoothing: f(o, "label_smoothing", 0.0),
            },
        ),
        "binary_cross_entropy" => F::binary_cross_entropy(
            x.unwrap(),
            y.unwrap(),
            &F::BceOptions { weight: opt_tensor(o, "weight"), reduction: reduction(o) },
        ),
        "binary_cross_entropy_with_logits" => F::binary_cross_entropy_with_logits(
            x.unwrap(),
            y.unwrap(),
            &F::BceWithLogitsOptions {
                weight: opt_tensor(o, "weight"),
                pos_weight: opt_tensor(o, "pos_weight"),
                reduction: reduction(o),
            },
        ),
        "smooth_l1_loss" => F::smooth_l1_loss(
            x.unwrap(),
            y.unwrap(),
            &F::SmoothL1Options { reduction: reduction(o), beta: f(o, "beta", 1.0) },
        ),
        "huber_loss" => F::huber_loss(
            x.unwrap(),
            y.unwrap(),
            &F::HuberOptions { reduction: reduction(o), delta: f(o, "delta", 1.0), weight: opt_tensor(o, "weight") },
        ),
        "mse_loss" => F::mse_loss(
            x.unwrap(),
            y.unwrap(),
            &F::MseOptions { reduction: reduction(o), weight: opt_tensor(o, "weight") },
        ),
        "l1_loss" => F::l1_loss(
            x.unwrap(),
            y.unwrap(),
            &F::L1Options { reduction: reduction(o), weight: opt_tensor(o, "weight") },
        ),
        "log_softmax" => F::log_softmax(x.unwrap(), o["dim"].as_i64().unwrap() as isize),
        "softmax" => F::softmax(x.unwrap(), o["dim"].as_i64().unwrap() as isize),
        "sigmoid" => F::sigmoid(x.unwrap()),
        "tanh" => Ok(x.unwrap().tanh()),
        "exp" => Ok(x.unwrap().exp()),
        "log" => Ok(x.unwrap().log()),
        "matmul" => x.unwrap().matmul(&t["other"]),
        "div" => x.unwrap().div(&t["other"]),
        "linear" => F::linear(x.unwrap(), &t["weight"], t.get("bias")),
        "conv2d" => F::conv2d(
            x.unwrap(),
            &t["weight"],
            t.get("bias"),
            &F::Conv2dOptions {
                stride: pair(o, "stride", 1),
                padding: pair(o, "padding", 0),
                dilation: pair(o, "dilation", 1),
                groups: o.get("groups").and_then(Value::as_u64).unwrap_or(1) as usize,
            },
        ),
        "kl_div" => F::kl_div(
            x.unwrap(),
            y.unwrap(),
            &F::KlDivOptions {
                reduction: reduction(o),
                log_target: o.get("log_target").and_then(Value::as_bool).unwrap_or(false),
            },
        ),
        "gaussian_nll_loss" => F::gaussian_nll_loss(
            x.unwrap(),
            y.unwrap(),
            &t["var"],
            &F::GaussianNllOptions {
                full: o.get("full").and_then(Value::as_bool).unwrap_or(false),
                eps: f(o, "eps", 1e-6),
                reduction: reduction(o),
            },
        ),
        "poisson_nll_loss" => F::poisson_nll_loss(
            x.unwrap(),
            y.unwrap(),
            &F::PoissonNllOptions {
                log_input: o.get("log_input").and_then(Value::as_bool).unwrap_or(true),
                full: o.get("full").and_then(Value::as_bool).unwrap_or(false),
                eps: f(o, "eps", 1e-8),
                reduction: reduction(o),
            },
        ),
        "soft_margin_loss" => {
            F::soft_margin_loss(x.unwrap(), y.unwrap(), &F::SoftMarginOptions { reduction: reduction(o) })
        }
        "multilabel_soft_margin_loss" => F::multilabel_soft_margin_loss(
            x.unwrap(),
            y.unwrap(),
            &F::MultilabelSoftMarginOptions { weight: opt_tensor(o, "weight"), reduction: reduction(o) },
        ),
        "cosine_embedding_loss" => F::cosine_embedding_loss(
            &t["input1"],
            &t["input2"],
            &t["target"],
            &F::CosineEmbeddingOptions { margin: f(o, "margin", 0.0), reduction: reduction(o) },
        ),
        "triplet_margin_loss" => F::triplet_margin_loss(
            &t["anchor"],
            &t["positive"],
            &t["negative"],
            &F::TripletMarginOptions {
                margin: f(o, "margin", 1.0),
                p: f(o, "p", 2.0),
                eps: f(o, "eps", 1e-6),
                swap: o.get("swap").and_then(Value::as_bool).unwrap_or(false),
                reduction: reduction(o),
            },
        ),
        "pairwise_distance" => F::pairwise_distance(
            &t["x1"],
            &t["x2"],
            f(o, "p", 2.0),
            f(o, "eps", 1e-6),
            o.get("keepdim").and_then(Value::as_bool).unwrap_or(false),
        ),
        "cosine_similarity" => F::cosine_similarity(
            &t["x1"],
            &t["x2"],
            o.get("dim").and_then(Value::as_i64).unwrap_or(1) as isize,
            f(o, "eps", 1e-8),
        ),
        other => panic!("unknown op {other}"),
    }
}

/// Runs one case; `Err(description)` on any mismatch.
fn check_case(case: &Value) -> std::result::Result<(), String> {
    let id = case["id"].as_str().unwrap();
    let op = case["op"].as_str().unwrap();
    let o = &case["options"];
    let grads = case["grads"].as_object().unwrap();
    let mut t = tensors(&case["inputs"]);
    let names: Vec<String> = grads.keys().cloned().collect();
    for k in &names {
        let leaf = t.remove(k).unwrap().requires_grad();
        t.insert(k.clone(), leaf);
    }
    let out = run(op, &t, o).map_err(|e| format!("{id}: {e}"))?;
    assert_close(&format!("{id}: output"), &out, &case["output"])?;
    let leaves: Vec<Tensor> = names.iter().map(|k| t[k].clone()).collect();
    let go = tensor(&case["grad_output"]);
    let opts = GradOptions { grad_outputs: Some(vec![go]), create_graph: true, allow_unused: false };
    let gs = grad(&[out], &leaves, &opts).map_err(|e| format!("{id}: grad: {e}"))?;
    let mut total: Option<Tensor> = None;
    for (k, g) in names.iter().zip(&gs) {
        let g = g.as_ref().ok_or_else(|| format!("{id}: no gradient for {k}"))?;
        assert_close(&format!("{id}: grad {k}"), g, &grads[k])?;
        if !g.tracks_grad() {
            return Err(format!("{id}: the gradient for {k} taken with create_graph does not track gradients"));
        }
        let v = tensor(&case["gg_vectors"][k]);
        let term = g.mul(&v).map_err(|e| e.to_string())?.sum_all();
        total = Some(match total {
            Some(s) => s.add(&term).map_err(|e| e.to_string())?,
            None => term,
        });
    }
    let total = total.ok_or_else(|| format!("{id}: no gradients"))?;
    let opts = GradOptions { allow_unused: true, ..Default::default() };
    let ggs = grad(&[total], &leaves, &opts).map_err(|e| format!("{id}: second grad: {e}"))?;
    for ((k, gg), x) in names.iter().zip(ggs).zip(&leaves) {
        let gg = gg.unwrap_or_else(|| x.detach().full_like(0.0));
        assert_close(&format!("{id}: gradgrad {k}"), &gg, &case["gradgrads"][k])?;
    }
    Ok(())
}

#[test]
fn every_double_backward_case_matches_pytorch() {
    let file = load("double_backward");
    let cases = file["cases"].as_array().unwrap();
    let failures: Vec<String> = cases.iter().filter_map(|c| check_case(c).err()).collect();
    println!("double_backward: {} of {} golden cases pass", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(cases.len(), 62);
}
