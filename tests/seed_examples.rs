//! The article's examples (`tests/golden/seed_examples.json`), each pipeline
//! rebuilt with the crate's `nn` API as the article writes it in PyTorch, and
//! checked against PyTorch's loss and gradients.

mod common;

use common::{assert_close, load, tensors};
use serde_json::Value;
use std::collections::BTreeMap;
use tapegrad::nn;
use tapegrad::{Reduction, Result, Tensor};

/// Runs a pipeline; returns the loss and the tensors whose gradients are compared, by name.
fn pipeline(name: &str, t: &BTreeMap<String, Tensor>) -> Result<(Tensor, BTreeMap<String, Tensor>)> {
    let leaf = |k: &str| t[k].clone().requires_grad();
    let mut leaves = BTreeMap::new();
    let loss = match name {
        "log_softmax_nll" => {
            let input = leaf("input");
            leaves.insert("input".to_string(), input.clone());
            let m = nn::LogSoftmax::new(1);
            nn::NllLoss::new().forward(&m.forward(&input)?, &t["target"])?
        }
        "conv2d_log_softmax_nll" => {
            let conv =
                nn::Conv2d::from_parts(t["conv_weight"].clone(), Some(t["conv_bias"].clone()), Default::default())?;
            leaves.insert("conv_weight".to_string(), conv.weight().clone());
            leaves.insert("conv_bias".to_string(), conv.bias().unwrap().clone());
            let output = nn::LogSoftmax::new(1).forward(&conv.forward(&t["data"])?)?;
            nn::NllLoss::new().forward(&output, &t["target"])?
        }
        "pointcloud_linear_nll" => {
            let fc1 = nn::Linear::from_parts(t["fc1_weight"].clone(), Some(t["fc1_bias"].clone()))?;
            let fc2 = nn::Linear::from_parts(t["fc2_weight"].clone(), Some(t["fc2_bias"].clone()))?;
            for (k, p) in [("fc1_weight", fc1.weight()), ("fc1_bias", fc1.bias().unwrap())] {
                leaves.insert(k.to_string(), p.clone());
            }
            for (k, p) in [("fc2_weight", fc2.weight()), ("fc2_bias", fc2.bias().unwrap())] {
                leaves.insert(k.to_string(), p.clone());
            }
            let c = fc2.weight().shape()[0] as isize;
            let output = nn::LogSoftmax::new(-1).forward(&fc2.forward(&fc1.forward(&t["pcl"])?)?)?;
            nn::NllLoss::new().forward(&output.view(&[-1, c])?, &t["target"].view(&[-1])?)?
        }
        _ => {
            let input = leaf("input");
            leaves.insert("input".to_string(), input.clone());
            let target = &t["target"];
            match name {
                "cross_entropy" => nn::CrossEntropyLoss::new().forward(&input, target)?,
                "sigmoid_bce" => nn::BceLoss::new().forward(&nn::Sigmoid::new().forward(&input)?, target)?,
                "bce_with_logits" => nn::BceWithLogitsLoss::new().forward(&input, target)?,
                "smooth_l1_loss_mean" => nn::SmoothL1Loss::new().forward(&input, target)?,
                "mse_loss_mean" => nn::MseLoss::new().forward(&input, target)?,
                "mse_loss_sum" => nn::MseLoss::new().reduction(Reduction::Sum).forward(&input, target)?,
                "l1_loss_mean" => nn::L1Loss::new().forward(&input, target)?,
                "l1_loss_sum" => nn::L1Loss::new().reduction(Reduction::Sum).forward(&input, target)?,
                other => panic!("unknown pipeline {other}"),
            }
        }
    };
    Ok((loss, leaves))
}

#[test]
fn every_seed_example_matches_pytorch() {
    let file = load("seed_examples");
    let cases = file["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let t = tensors(&case["inputs"]);
        let run = || -> std::result::Result<(), String> {
            let (loss, leaves) = pipeline(case["pipeline"].as_str().unwrap(), &t).map_err(|e| e.to_string())?;
            assert_close(&format!("{id}: loss"), &loss, &case["output"])?;
            loss.backward().map_err(|e| e.to_string())?;
            let grads = case["grads"].as_object().unwrap();
            let wanted: Vec<&str> =
                case["requires_grad"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            assert_eq!(grads.len(), wanted.len());
            for k in wanted {
                let g = leaves[k].grad().ok_or_else(|| format!("{id}: no gradient for {k}"))?;
                assert_close(&format!("{id}: grad {k}"), &g, &grads[k])?;
            }
            Ok(())
        };
        if let Err(e) = run() {
            failures.push(e);
        }
    }
    println!("seed examples: {} of {} pipelines match PyTorch", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
