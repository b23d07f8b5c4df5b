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
    match o.get("reduction").and_then(Value::as_str) {
        None => Reduction::Mean,
        Some("batchmean") => Reduction::Sum, // divided by the batch size below
        Some(s) => s.parse().unwrap(),
    }
}
fn f(o: &Value, k: &str, default: f64) -> f64 {
    o.get(k).and_then(Value::as_f64).unwrap_or(default)
}
fn pair(o: &Value, k: &str, default: usize) -> (usize, usize) {
    o.get(k)
        .and_then(Value::as_array)
        .map_or((default, default), |a| (a[0].as_u64().unwrap() as usize, a[1].as_u64().unwrap() as usize))
}
fn reduce(v: Tensor, r: Reduction) -> Result<Tensor> {
    Ok(match r {
        Reduction::None => v,
        Reduction::Sum => v.sum_all(),
        Reduction::Mean => v.mean_all(),
    })
}
/// `softplus(x) = max(x, 0) + log1p(e^−|x|)`.
fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu().add(&x.abs().neg().exp().log1p())
}
/// `‖x1 − x2 + eps‖₂` over the last dim.
fn pairwise_distance(x1: &Tensor, x2: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(x1.sub(x2)?.add_scalar(eps)?.pow(2.0)?.sum(-1, false)?.sqrt())
}

/// Calls the op a case names. The losses `kl_div`, `gaussian_nll_loss`,
/// `poisson_nll_loss`, `soft_margin_loss`, `cosine_embedding_loss`,
/// `triplet_margin_loss`, `multilabel_soft_margin_loss`, `pairwise_distance`
/// and `cosine_similarity` are written here from their PyTorch definitions in
/// recorded tensor ops, which is what their double backward differentiates.
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
        "kl_div" => {
            // target·(log target − input), summed; "batchmean" divides by the batch size
            let (x, t) = (x.unwrap(), y.unwrap());
            let v = t.mul(&t.log().sub(x)?)?;
            let total = reduce(v, reduction(o))?;
            if o.get("reduction").and_then(Value::as_str) == Some("batchmean") {
                total.div_scalar(x.shape()[0] as f64)
            } else {
                Ok(total)
            }
        }
        "gaussian_nll_loss" => {
            // 0.5·(log var + (input − target)²/var); var is clamped to eps
            // without a gradient through the clamp, as in PyTorch
            let (x, t, var) = (x.unwrap(), y.unwrap(), &t["var"]);
            let eps = f(o, "eps", 1e-6);
            let lifted = var.detach().clamp(Some(eps), None)?.sub(&var.detach())?;
            let var = var.add(&lifted)?;
            let v = var.log().add(&x.sub(t)?.pow(2.0)?.div(&var)?)?.mul_scalar(0.5)?;
            reduce(v, reduction(o))
        }
        // log_input: exp(input) − target·input
        "poisson_nll_loss" => reduce(x.unwrap().exp().sub(&y.unwrap().mul(x.unwrap())?)?, reduction(o)),
        // log(1 + exp(−y·x))
        "soft_margin_loss" => reduce(softplus(&y.unwrap().mul(x.unwrap())?.neg())?, reduction(o)),
        "multilabel_soft_margin_loss" => {
            // −(y·logσ(x) + (1 − y)·logσ(−x)), averaged over classes
            let (x, t) = (x.unwrap(), y.unwrap());
            let v = t.mul(&softplus(&x.neg())?)?.add(&t.neg().add_scalar(1.0)?.mul(&softplus(x)?)?)?;
            reduce(v.mean(-1, false)?, reduction(o))
        }
        "cosine_embedding_loss" => {
            // 1 − cos for y = 1, max(0, cos − margin) for y = −1; cos as PyTorch
            // computes it: Σx1·x2 / √((Σx1² + 1e-12)·(Σx2² + 1e-12))
            let (a, b, t) = (&t["input1"], &t["input2"], &t["target"]);
            let m1 = a.mul(a)?.sum(-1, false)?.add_scalar(1e-12)?;
            let m2 = b.mul(b)?.sum(-1, false)?.add_scalar(1e-12)?;
            let cos = a.mul(b)?.sum(-1, false)?.div(&m1.mul(&m2)?.sqrt())?;
            let pos = Tensor::where_cond(
                &t.add_scalar(-1.0)?.abs().neg().add_scalar(1.0)?.relu(),
                &Tensor::scalar(1.0f64).to_dtype(a.dtype())?,
                &Tensor::scalar(0.0f64).to_dtype(a.dtype())?,
            )?;
            let margin = f(o, "margin", 0.0);
            let v = Tensor::where_cond(&pos, &cos.neg().add_scalar(1.0)?, &cos.sub_scalar(margin)?.relu())?;
            reduce(v, reduction(o))
        }
        "triplet_margin_loss" => {
            let (a, p, n) = (&t["anchor"], &t["positive"], &t["negative"]);
            let eps = f(o, "eps", 1e-6);
            let v = pairwise_distance(a, p, eps)?
                .sub(&pairwise_distance(a, n, eps)?)?
                .add_scalar(f(o, "margin", 1.0))?
                .relu();
            reduce(v, reduction(o))
        }
        "pairwise_distance" => pairwise_distance(&t["x1"], &t["x2"], f(o, "eps", 1e-6)),
        "cosine_similarity" => {
            // Σ (x1/max(‖x1‖, eps))·(x2/max(‖x2‖, eps)) over dim
            let (a, b) = (&t["x1"], &t["x2"]);
            let dim = o.get("dim").and_then(Value::as_i64).unwrap_or(1) as isize;
            let eps = f(o, "eps", 1e-8);
            let n1 = a.mul(a)?.sum(dim, true)?.sqrt().clamp(Some(eps), None)?;
            let n2 = b.mul(b)?.sum(dim, true)?.sqrt().clamp(Some(eps), None)?;
            a.div(&n1)?.mul(&b.div(&n2)?)?.sum(dim, false)
        }
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
