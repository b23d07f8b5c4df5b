//! Every PyTorch reference case in `tests/golden/` (copied from the shared
//! golden set, PyTorch 2.15): the value, every listed gradient of
//! `sum(output * grad_output)`, and an `Err` (never a panic) where PyTorch
//! rejects the input. No case is skipped.

mod common;

use common::{assert_close, load, tensor, tensors};
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tapegrad::functional as F;
use tapegrad::nn;
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

fn flag(o: &Value, k: &str, default: bool) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(default)
}

/// The divergence, likelihood, margin and distance losses and helpers
/// (`kl_div` … `cosine_similarity`); `None` for any other op.
fn run_divergence_margin(op: &str, t: &BTreeMap<String, Tensor>, o: &Value) -> Option<Result<Tensor>> {
    let r = reduction(o);
    Some(match op {
        "kl_div" => F::kl_div(
            &t["input"],
            &t["target"],
            &F::KlDivOptions { reduction: r, log_target: flag(o, "log_target", false) },
        ),
        "poisson_nll_loss" => F::poisson_nll_loss(
            &t["input"],
            &t["target"],
            &F::PoissonNllOptions {
                log_input: flag(o, "log_input", true),
                full: flag(o, "full", false),
                eps: f(o, "eps", 1e-8),
                reduction: r,
            },
        ),
        "gaussian_nll_loss" => F::gaussian_nll_loss(
            &t["input"],
            &t["target"],
            &t["var"],
            &F::GaussianNllOptions { full: flag(o, "full", false), eps: f(o, "eps", 1e-6), reduction: r },
        ),
        "margin_ranking_loss" => F::margin_ranking_loss(
            &t["input1"],
            &t["input2"],
            &t["target"],
            &F::MarginRankingOptions { margin: f(o, "margin", 0.0), reduction: r },
        ),
        "hinge_embedding_loss" => F::hinge_embedding_loss(
            &t["input"],
            &t["target"],
            &F::HingeEmbeddingOptions { margin: f(o, "margin", 1.0), reduction: r },
        ),
        "soft_margin_loss" => F::soft_margin_loss(&t["input"], &t["target"], &F::SoftMarginOptions { reduction: r }),
        "multilabel_soft_margin_loss" => F::multilabel_soft_margin_loss(
            &t["input"],
            &t["target"],
            &F::MultilabelSoftMarginOptions { weight: opt_tensor(o, "weight"), reduction: r },
        ),
        "cosine_embedding_loss" => F::cosine_embedding_loss(
            &t["input1"],
            &t["input2"],
            &t["target"],
            &F::CosineEmbeddingOptions { margin: f(o, "margin", 0.0), reduction: r },
        ),
        "pairwise_distance" => {
            F::pairwise_distance(&t["x1"], &t["x2"], f(o, "p", 2.0), f(o, "eps", 1e-6), flag(o, "keepdim", false))
        }
        "cosine_similarity" => F::cosine_similarity(
            &t["x1"],
            &t["x2"],
            o.get("dim").and_then(Value::as_i64).unwrap_or(1) as isize,
            f(o, "eps", 1e-8),
        ),
        _ => return None,
    })
}

/// Calls the functional op a golden case names, with its options.
pub fn run(op: &str, t: &BTreeMap<String, Tensor>, o: &Value) -> Result<Tensor> {
    if let Some(result) = run_divergence_margin(op, t, o) {
        return result;
    }
    let (x, y) = (&t["input"], t.get("target"));
    match op {
        "nll_loss" => F::nll_loss(
            x,
            y.unwrap(),
            &F::NllLossOptions {
                weight: opt_tensor(o, "weight"),
                ignore_index: o.get("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(o),
            },
        ),
        "cross_entropy" => F::cross_entropy(
            x,
            y.unwrap(),
            &F::CrossEntropyOptions {
                weight: opt_tensor(o, "weight"),
                ignore_index: o.get("ignore_index").and_then(Value::as_i64).unwrap_or(-100),
                reduction: reduction(o),
                label_smoothing: f(o, "label_smoothing", 0.0),
            },
        ),
        "binary_cross_entropy" => F::binary_cross_entropy(
            x,
            y.unwrap(),
            &F::BceOptions { weight: opt_tensor(o, "weight"), reduction: reduction(o) },
        ),
        "binary_cross_entropy_with_logits" => F::binary_cross_entropy_with_logits(
            x,
            y.unwrap(),
            &F::BceWithLogitsOptions {
                weight: opt_tensor(o, "weight"),
                pos_weight: opt_tensor(o, "pos_weight"),
                reduction: reduction(o),
            },
        ),
        "smooth_l1_loss" => {
            F::smooth_l1_loss(x, y.unwrap(), &F::SmoothL1Options { reduction: reduction(o), beta: f(o, "beta", 1.0) })
        }
        "huber_loss" => F::huber_loss(
            x,
            y.unwrap(),
            &F::HuberOptions { reduction: reduction(o), delta: f(o, "delta", 1.0), weight: opt_tensor(o, "weight") },
        ),
        "mse_loss" => {
            F::mse_loss(x, y.unwrap(), &F::MseOptions { reduction: reduction(o), weight: opt_tensor(o, "weight") })
        }
        "l1_loss" => {
            F::l1_loss(x, y.unwrap(), &F::L1Options { reduction: reduction(o), weight: opt_tensor(o, "weight") })
        }
        "log_softmax" => F::log_softmax(x, o["dim"].as_i64().unwrap() as isize),
        "softmax" => F::softmax(x, o["dim"].as_i64().unwrap() as isize),
        "sigmoid" => F::sigmoid(x),
        "linear" => F::linear(x, &t["weight"], t.get("bias")),
        "conv2d" => F::conv2d(
            x,
            &t["weight"],
            t.get("bias"),
            &F::Conv2dOptions {
                stride: pair(o, "stride", 1),
                padding: pair(o, "padding", 0),
                dilation: pair(o, "dilation", 1),
                groups: o.get("groups").and_then(Value::as_u64).unwrap_or(1) as usize,
            },
        ),
        "flatten" => {
            nn::Flatten::new(o["start_dim"].as_i64().unwrap() as isize, o["end_dim"].as_i64().unwrap() as isize)
                .forward(x)
        }
        "tanh" => nn::Tanh::new().forward(x),
        "gelu" => F::gelu(x),
        "leaky_relu" => F::leaky_relu(x, f(o, "negative_slope", 0.01)),
        "layer_norm" => {
            let ns: Vec<usize> =
                o["normalized_shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            F::layer_norm(x, &ns, t.get("weight"), t.get("bias"), f(o, "eps", 1e-5))
        }
        "max_pool2d" => F::max_pool2d(x, pair(o, "kernel_size", 1), pair(o, "stride", 1), pair(o, "padding", 0)),
        "avg_pool2d" => F::avg_pool2d(x, pair(o, "kernel_size", 1), pair(o, "stride", 1), pair(o, "padding", 0)),
        "batch_norm" => {
            // running statistics updated in place must be replaceable leaves
            let stat = |k: &str| t.get(k).map(|v| v.detach().requires_grad());
            let (rm, rv) = (stat("running_mean"), stat("running_var"));
            F::batch_norm(
                x,
                rm.as_ref(),
                rv.as_ref(),
                t.get("weight"),
                t.get("bias"),
                o["training"].as_bool().unwrap(),
                f(o, "momentum", 0.1),
                f(o, "eps", 1e-5),
            )
        }
        "batch_norm1d" | "batch_norm2d" => {
            let n = o["num_features"].as_u64().unwrap() as usize;
            let training = o["training"].as_bool().unwrap();
            if op == "batch_norm1d" {
                let mut m = nn::BatchNorm1d::new(n);
                nn::Module::train(&mut m, training);
                m.forward(x)
            } else {
                let mut m = nn::BatchNorm2d::new(n);
                nn::Module::train(&mut m, training);
                m.forward(x)
            }
        }
        "embedding" => match o["padding_idx"].as_i64() {
            Some(p) => F::embedding_with_padding(x, &t["weight"], p),
            None => F::embedding(x, &t["weight"]),
        },
        other => panic!("unknown op {other}"),
    }
}

/// Runs one case; `Err(description)` on any mismatch.
fn check_case(case: &Value) -> std::result::Result<(), String> {
    let id = case["id"].as_str().unwrap();
    let op = case["op"].as_str().unwrap();
    let o = &case["options"];
    let grads = case.get("grads").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut t = tensors(&case["inputs"]);
    for k in grads.keys() {
        let leaf = t.remove(k).unwrap().requires_grad();
        t.insert(k.clone(), leaf);
    }
    let result = catch_unwind(AssertUnwindSafe(|| run(op, &t, o)))
        .map_err(|_| format!("{id}: panicked (must return Ok or Err)"))?;
    if let Some(err) = case.get("error") {
        return match result {
            Err(_) => Ok(()),
            Ok(out) => Err(format!("{id}: PyTorch rejects this ({err}), we returned {out}")),
        };
    }
    let out = result.map_err(|e| format!("{id}: unexpected error: {e}"))?;
    assert_close(&format!("{id}: output"), &out, &case["output"])?;
    if !grads.is_empty() {
        let go = tensor(&case["grad_output"]);
        out.backward_with(&go).map_err(|e| format!("{id}: backward: {e}"))?;
        for (k, g) in &grads {
            let got = t[k].grad().ok_or_else(|| format!("{id}: no gradient for {k}"))?;
            assert_close(&format!("{id}: grad {k}"), &got, g)?;
        }
    }
    Ok(())
}

fn run_file(name: &str) {
    let file = load(name);
    let cases = file["cases"].as_array().unwrap();
    let failures: Vec<String> = cases.iter().filter_map(|c| check_case(c).err()).collect();
    println!("{name}: {} of {} golden cases pass", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{name}: {} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

macro_rules! golden {
    ($($name:ident),*) => { $( #[test] fn $name() { run_file(stringify!($name)); } )* };
}

golden!(
    nll_loss,
    cross_entropy,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    smooth_l1_loss,
    huber_loss,
    mse_loss,
    l1_loss,
    log_softmax,
    softmax,
    sigmoid,
    linear,
    conv2d,
    layers,
    pooling,
    batch_norm,
    embedding
);

golden!(
    kl_div,
    poisson_nll_loss,
    gaussian_nll_loss,
    margin_ranking_loss,
    hinge_embedding_loss,
    soft_margin_loss,
    multilabel_soft_margin_loss,
    cosine_embedding_loss,
    pairwise_distance,
    cosine_similarity,
    linear_weight_1d
);

/// The harness itself: a value or a gradient nudged past the tolerance must fail.
#[test]
fn harness_detects_wrong_values_and_gradients() {
    let file = load("cross_entropy");
    let case = file["cases"].as_array().unwrap().iter().find(|c| c.get("error").is_none()).unwrap().clone();
    assert!(check_case(&case).is_ok());
    let nudge = |v: &mut Value| {
        let x = v["data"][0].as_f64().unwrap();
        v["data"][0] = Value::from(x * (1.0 + 1e-5) + 1e-5);
    };
    let mut wrong_value = case.clone();
    nudge(&mut wrong_value["output"]);
    assert!(check_case(&wrong_value).is_err());
    let mut wrong_grad = case.clone();
    nudge(&mut wrong_grad["grads"]["input"]);
    assert!(check_case(&wrong_grad).is_err());
    let mut expects_error = case;
    expects_error["error"] = Value::from("PyTorch would reject this");
    assert!(check_case(&expects_error).is_err(), "an accepted input where PyTorch errs must fail");
}
