//! `nn::BatchNorm1d` / `nn::BatchNorm2d` against PyTorch's layers
//! (`tests/golden/batch_norm.json`, `running_stats`, made by
//! `tools/batchnorm_reference.py`): the running statistics and
//! `num_batches_tracked` after k training steps, the eval-mode output that
//! uses them, the state dict's names and dtypes, and its restoration.

mod common;

use common::{assert_close, load, tensor};
use serde_json::Value;
use tapegrad::nn::{self, Module};
use tapegrad::{DType, Tensor};

fn layer(run: &Value) -> Box<dyn Module> {
    let n = run["num_features"].as_u64().unwrap() as usize;
    let (m, e) = (run["momentum"].as_f64().unwrap(), run["eps"].as_f64().unwrap());
    let mut l: Box<dyn Module> = match run["layer"].as_str().unwrap() {
        "BatchNorm1d" => Box::new(nn::BatchNorm1d::new(n).momentum(m).eps(e)),
        _ => Box::new(nn::BatchNorm2d::new(n).momentum(m).eps(e)),
    };
    // PyTorch's weight and bias for this run
    let mut state = l.state_dict();
    state.insert("weight".into(), tensor(&run["weight"]));
    state.insert("bias".into(), tensor(&run["bias"]));
    l.load_state_dict(&state, true).unwrap();
    l
}

fn check(id: &str, r: Result<(), String>) {
    if let Err(e) = r {
        panic!("{id}: {e}");
    }
}

#[test]
fn running_statistics_match_pytorch_after_k_steps_and_eval_uses_them() {
    let file = load("batch_norm");
    let runs = file["running_stats"].as_array().unwrap();
    assert!(!runs.is_empty());
    for run in runs {
        let id = run["id"].as_str().unwrap();
        let mut l = layer(run);
        assert!(l.is_training());
        for x in run["steps"].as_array().unwrap() {
            l.forward(&tensor(x)).unwrap();
        }
        let state = l.state_dict();
        check(id, assert_close("running_mean", &state["running_mean"], &run["running_mean"]));
        check(id, assert_close("running_var", &state["running_var"], &run["running_var"]));
        let expected = tensor(&run["num_batches_tracked"]).item::<i64>().unwrap();
        assert_eq!(state["num_batches_tracked"].item::<i64>().unwrap(), expected, "{id}");
        l.train(false);
        assert!(!l.is_training());
        let y = l.forward(&tensor(&run["eval_input"])).unwrap();
        check(id, assert_close("eval output", &y, &run["eval_output"]));
        // eval mode leaves the statistics alone
        assert_eq!(l.state_dict()["num_batches_tracked"].item::<i64>().unwrap(), expected, "{id}");
        let names: Vec<String> = l.named_buffers().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["running_mean", "running_var", "num_batches_tracked"]);
        // names, dtypes and shapes of the state dict are PyTorch's
        let torch_state = run["state_dict"].as_object().unwrap();
        assert_eq!(state.len(), 5);
        for (k, v) in torch_state {
            let t = &state[k];
            assert_eq!(t.dtype().to_string().to_lowercase(), v["dtype"].as_str().unwrap(), "{id}: {k}");
            let shape: Vec<usize> =
                v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(t.shape(), &shape[..], "{id}: {k}");
        }
    }
}

#[test]
fn load_state_dict_restores_statistics_and_counter() {
    let file = load("batch_norm");
    let run = &file["running_stats"][0];
    let trained = layer(run);
    for x in run["steps"].as_array().unwrap() {
        trained.forward(&tensor(x)).unwrap();
    }
    let saved = trained.state_dict();
    let mut fresh = layer(run);
    let params = fresh.parameters();
    let report = fresh.load_state_dict(&saved, true).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    let state = fresh.state_dict();
    for k in ["weight", "bias", "running_mean", "running_var"] {
        assert_eq!(state[k].to_vec::<f32>().unwrap(), saved[k].to_vec::<f32>().unwrap(), "{k}");
    }
    assert_eq!(
        state["num_batches_tracked"].item::<i64>().unwrap(),
        saved["num_batches_tracked"].item::<i64>().unwrap()
    );
    // the optimizer's tensors are the same tensors and see the new values
    assert_eq!(params[0].to_vec::<f32>().unwrap(), saved["weight"].to_vec::<f32>().unwrap());
    // inside a Sequential, the counter is restored too
    let mut seq = nn::Sequential::new(vec![Box::new(nn::BatchNorm1d::new(4)), Box::new(nn::ReLU::new())]);
    let prefixed = saved.iter().map(|(k, v)| (format!("0.{k}"), v.clone())).collect();
    seq.load_state_dict(&prefixed, true).unwrap();
    assert_eq!(
        seq.state_dict()["0.num_batches_tracked"].item::<i64>().unwrap(),
        saved["num_batches_tracked"].item::<i64>().unwrap()
    );
    // a wrong dtype for the counter is an error, and changes nothing
    let mut bad = saved.clone();
    bad.insert("num_batches_tracked".into(), Tensor::scalar(1.0f32));
    bad.insert("running_mean".into(), Tensor::zeros(&[4], DType::F32));
    assert!(fresh.load_state_dict(&bad, true).is_err());
    assert_eq!(
        fresh.state_dict()["running_mean"].to_vec::<f32>().unwrap(),
        saved["running_mean"].to_vec::<f32>().unwrap()
    );
}

#[test]
fn rejected_inputs_are_errors_naming_the_layer() {
    let bn2 = nn::BatchNorm2d::new(3);
    let e = bn2.forward(&Tensor::zeros(&[2, 3, 4], DType::F32)).unwrap_err();
    assert!(e.to_string().contains("BatchNorm2d"), "{e}");
    let bn1 = nn::BatchNorm1d::new(3);
    let e = bn1.forward(&Tensor::zeros(&[4, 5], DType::F32)).unwrap_err();
    assert!(e.to_string().contains("num_features"), "{e}");
    let e = bn1.forward(&Tensor::zeros(&[1, 3], DType::F32)).unwrap_err();
    assert!(e.to_string().contains("more than 1 value per channel"), "{e}");
    // a rejected batch counts nothing
    assert_eq!(bn1.num_batches_tracked(), 0);
}
