//! Model files written by PyTorch (`tests/interop/`, made with
//! `safetensors.torch.save_file(model.state_dict(), path)`, PyTorch 2.15)
//! load into the same architecture built here and give PyTorch's eval-mode
//! logits; files we write round-trip bit for bit; state dicts load with
//! PyTorch's rules; and corrupt files are errors, never panics. Dropout,
//! which the PyTorch model contains, is tested here too.

mod common;

use common::tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use std::path::PathBuf;
use tapegrad::nn::{self, Module, StateDict};
use tapegrad::{DType, Error, Tensor, functional as F, io, optim};

fn interop_json(name: &str) -> Value {
    let path = format!("{}/tests/interop/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("interop json")).expect("valid json")
}

fn interop_file(name: &str) -> PathBuf {
    PathBuf::from(format!("{}/tests/interop/{name}.safetensors", env!("CARGO_MANIFEST_DIR")))
}

/// A path in the temporary directory, unique to this process and `tag`.
fn temp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tapegrad-interop-{}-{tag}.safetensors", std::process::id()))
}

/// PyTorch's `Sequential(Linear(64,128), ReLU, Dropout(0.1), Linear(128,10))`.
fn digits_mlp(seed: u64) -> nn::Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    nn::Sequential::new(vec![
        Box::new(nn::Linear::new(64, 128, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Dropout::new(0.1).seed(seed)),
        Box::new(nn::Linear::new(128, 10, &mut rng)),
    ])
}

/// The model's logits on the case's inputs, checked against PyTorch's
/// `eval_logits` at f32 tolerances: the two libraries sum dot products,
/// convolutions and normalisations in different orders, so the last bits of
/// each logit may differ. Returns the logits.
fn assert_pytorchs_logits(model: &nn::Sequential, case: &Value) -> Vec<f32> {
    let input = tensor(&case["input"]);
    let expected = tensor(&case["eval_logits"]);
    let got = model.forward(&input).unwrap();
    assert_eq!(got.shape(), expected.shape());
    let (g, e) = (got.to_vec::<f32>().unwrap(), expected.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        assert!((a - b).abs() <= 1e-5 + 1e-5 * b.abs(), "logit {i}: {a} vs PyTorch's {b}");
    }
    g
}

#[test]
fn digits_mlp_gives_pytorchs_eval_logits() {
    let case = interop_json("digits_mlp");
    let state = io::load_safetensors(interop_file("digits_mlp")).unwrap();
    let keys: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(keys, ["0.bias", "0.weight", "3.bias", "3.weight"]);
    for (k, shape) in case["state_dict_keys"].as_object().unwrap() {
        let shape: Vec<usize> = shape.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(state[k].shape(), shape.as_slice(), "{k}");
        assert_eq!(state[k].dtype(), DType::F32, "{k}");
    }

    let mut model = digits_mlp(0);
    let report = model.load_state_dict(&state, true).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    model.train(false);
    assert!(!model.is_training());

    let g = assert_pytorchs_logits(&model, &case);
    // eval mode is deterministic: dropout is the identity
    let input = tensor(&case["input"]);
    assert_eq!(model.forward(&input).unwrap().to_vec::<f32>().unwrap(), g);
}

#[test]
fn round_trip_keeps_every_bit() {
    let f32s = vec![0.0f32, -0.0, 1.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE / 4.0, f32::MAX];
    let f64s = vec![-0.0f64, 1e-310, std::f64::consts::PI, f64::NAN, f64::MIN, 2.5, -7.0, 0.1];
    let i64s = vec![i64::MIN, -1, 0, 1, i64::MAX, 42];
    let mut state = StateDict::new();
    state.insert("a.f32".into(), Tensor::from_vec(f32s.clone(), &[2, 4]).unwrap());
    state.insert("b.f64".into(), Tensor::from_vec(f64s.clone(), &[2, 2, 2]).unwrap());
    state.insert("c.i64".into(), Tensor::from_vec(i64s.clone(), &[6]).unwrap());
    state.insert("scalar".into(), Tensor::scalar(3.25f64));
    state.insert("empty".into(), Tensor::zeros(&[0, 3], DType::F32));
    let path = temp("roundtrip");
    io::save_safetensors(&state, &path).unwrap();
    let back = io::load_safetensors(&path).unwrap();
    std::fs::remove_file(&path).ok();

    assert_eq!(back.keys().collect::<Vec<_>>(), state.keys().collect::<Vec<_>>());
    for (k, t) in &state {
        assert_eq!(back[k].shape(), t.shape(), "{k}");
        assert_eq!(back[k].dtype(), t.dtype(), "{k}");
    }
    let bits32 = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    let bits64 = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
    assert_eq!(bits32(back["a.f32"].to_vec().unwrap()), bits32(f32s));
    assert_eq!(bits64(back["b.f64"].to_vec().unwrap()), bits64(f64s));
    assert_eq!(back["c.i64"].to_vec::<i64>().unwrap(), i64s);
    assert_eq!(back["scalar"].item::<f64>().unwrap(), 3.25);
    assert_eq!(back["empty"].numel(), 0);
}

/// Large tensors are read on first use (on Unix): what they hold is the file
/// as it was loaded, even after another file is saved over its path and that
/// one is removed, for every dtype and for a tensor made trainable.
#[test]
fn large_tensors_read_later_hold_the_loaded_file() {
    let n = 600_000; // past the size read on first use for every dtype
    let f32s: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
    let f64s: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
    let i64s: Vec<i64> = (0..n as i64).map(|i| i * 3 - 11).collect();
    let bools: Vec<bool> = (0..2 * n).map(|i| i % 3 == 0).collect();
    let mut state = StateDict::new();
    state.insert("a".into(), Tensor::from_vec(f32s.clone(), &[n / 1000, 1000]).unwrap());
    state.insert("b".into(), Tensor::from_vec(f64s.clone(), &[n]).unwrap());
    state.insert("c".into(), Tensor::from_vec(i64s.clone(), &[n]).unwrap());
    state.insert("d".into(), Tensor::from_vec(bools.clone(), &[2, n]).unwrap());
    state.insert("small".into(), Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap());
    let path = temp("lazy");
    io::save_safetensors(&state, &path).unwrap();
    let back = io::load_safetensors(&path).unwrap();
    let mut other = StateDict::new();
    other.insert("a".into(), Tensor::zeros(&[n / 1000, 1000], DType::F32));
    io::save_safetensors(&other, &path).unwrap();
    assert_eq!(io::load_safetensors(&path).unwrap()["a"].to_vec::<f32>().unwrap(), vec![0.0; n]);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(back["a"].shape(), [n / 1000, 1000]);
    assert_eq!(back["d"].dtype(), DType::Bool);
    let w = back["a"].clone().requires_grad();
    assert_eq!(w.to_vec::<f32>().unwrap(), f32s);
    assert_eq!(back["a"].to_vec::<f32>().unwrap(), f32s);
    assert_eq!(back["b"].to_vec::<f64>().unwrap(), f64s);
    assert_eq!(back["c"].to_vec::<i64>().unwrap(), i64s);
    assert_eq!(back["d"].to_vec::<bool>().unwrap(), bools);
    assert_eq!(back["small"].to_vec::<f32>().unwrap(), [1.0, 2.0]);
    let y = back["a"].sum_all().item::<f32>().unwrap();
    assert_eq!(y, f32s.iter().map(|&v| v as f64).sum::<f64>() as f32);
}

#[test]
fn saved_model_loads_into_a_fresh_one() {
    let trained = digits_mlp(1);
    let path = temp("fresh");
    io::save_safetensors(&trained.state_dict(), &path).unwrap();
    let mut fresh = digits_mlp(2);
    let x = Tensor::randn(&[5, 64], DType::F32, &mut StdRng::seed_from_u64(3));
    let mut a = trained;
    a.train(false);
    fresh.train(false);
    let before = fresh.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(a.forward(&x).unwrap().to_vec::<f32>().unwrap(), before);
    fresh.load_state_dict(&io::load_safetensors(&path).unwrap(), true).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(a.forward(&x).unwrap().to_vec::<f32>().unwrap(), fresh.forward(&x).unwrap().to_vec::<f32>().unwrap());
}

#[test]
fn loading_keeps_the_optimizers_tensors() {
    let mut model = digits_mlp(4);
    let mut opt = optim::Sgd::new(model.parameters(), 0.1);
    let state = io::load_safetensors(interop_file("digits_mlp")).unwrap();
    model.load_state_dict(&state, true).unwrap();
    // the optimizer's handles see the loaded values
    let held = model.parameters();
    assert_eq!(held[0].to_vec::<f32>().unwrap(), state["0.weight"].to_vec::<f32>().unwrap());
    // and a step through the optimizer moves the model's parameters
    model.train(false);
    let x = Tensor::ones(&[2, 64], DType::F32);
    let loss = model.forward(&x).unwrap().pow(2.0).unwrap().mean_all();
    loss.backward().unwrap();
    opt.step().unwrap();
    assert_ne!(model.parameters()[0].to_vec::<f32>().unwrap(), state["0.weight"].to_vec::<f32>().unwrap());
    // the loaded state itself is untouched (the module holds a copy)
    assert_eq!(
        state["0.weight"].to_vec::<f32>().unwrap(),
        io::load_safetensors(interop_file("digits_mlp")).unwrap()["0.weight"].to_vec::<f32>().unwrap()
    );
}

#[test]
fn non_strict_reports_missing_and_unexpected_keys() {
    let state = io::load_safetensors(interop_file("digits_mlp")).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    // without the Dropout, the second Linear is child 2, not 3
    let mut model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(64, 128, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(128, 10, &mut rng)),
    ]);
    let before = model.state_dict();
    let e = model.load_state_dict(&state, true).unwrap_err();
    assert_eq!(e.op(), "load_state_dict");
    assert!(e.message().contains("2.weight") && e.message().contains("3.weight"), "{e}");
    // a failed load changes nothing
    assert_eq!(model.parameters()[0].to_vec::<f32>().unwrap(), before["0.weight"].to_vec::<f32>().unwrap());

    let report = model.load_state_dict(&state, false).unwrap();
    assert_eq!(report.missing, ["2.bias", "2.weight"]);
    assert_eq!(report.unexpected, ["3.bias", "3.weight"]);
    assert_eq!(model.parameters()[0].to_vec::<f32>().unwrap(), state["0.weight"].to_vec::<f32>().unwrap());
    assert_eq!(model.parameters()[2].to_vec::<f32>().unwrap(), before["2.weight"].to_vec::<f32>().unwrap());
}

#[test]
fn wrong_shape_or_dtype_is_an_error_naming_the_key() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut fc = nn::Linear::new(3, 2, &mut rng);
    let mut state = fc.state_dict();
    state.insert("weight".into(), Tensor::zeros(&[3, 2], DType::F32));
    let e = fc.load_state_dict(&state, false).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }));
    assert!(
        e.message().contains("\"weight\"") && e.message().contains("[3, 2]") && e.message().contains("[2, 3]"),
        "{e}"
    );

    let mut state = fc.state_dict();
    state.insert("bias".into(), Tensor::zeros(&[2], DType::F64));
    let e = fc.load_state_dict(&state, true).unwrap_err();
    assert!(matches!(e, Error::DType { .. }));
    assert!(e.message().contains("\"bias\"") && e.message().contains("F64"), "{e}");

    // conv: weight (out, in, kh, kw) and bias, PyTorch's names
    let conv = nn::Conv2d::new(2, 4, (3, 3), &mut rng);
    let names: Vec<(String, Vec<usize>)> =
        conv.state_dict().into_iter().map(|(k, t)| (k, t.shape().to_vec())).collect();
    assert_eq!(names, [("bias".to_string(), vec![4]), ("weight".to_string(), vec![4, 2, 3, 3])]);
}

/// A small valid file: two tensors of different dtypes.
fn small_file() -> Vec<u8> {
    let mut state = StateDict::new();
    state.insert("w".into(), Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap());
    state.insert("n".into(), Tensor::from_vec(vec![7i64], &[1]).unwrap());
    let path = temp("small");
    io::save_safetensors(&state, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

/// A file with a hand-written header and `data` bytes after it.
fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Loads `bytes` from a file: must be an `Err` naming the operation and the path.
fn load_err(tag: &str, bytes: &[u8]) -> Error {
    let path = temp(tag);
    std::fs::write(&path, bytes).unwrap();
    let r = io::load_safetensors(&path);
    std::fs::remove_file(&path).ok();
    let e = r.expect_err(tag);
    assert_eq!(e.op(), "load_safetensors", "{tag}");
    assert!(matches!(e, Error::Io { .. }), "{tag}");
    assert!(e.to_string().contains(&path.display().to_string()), "{tag}: {e}");
    e
}

#[test]
fn corrupt_files_are_errors() {
    let good = small_file();
    assert!(good.len() > 8);
    for n in 0..good.len() {
        load_err(&format!("trunc{n}"), &good[..n]);
    }
    let mut longer = good.clone();
    longer.push(0);
    load_err("extended", &longer);

    // a header length far beyond the file (never allocated)
    for claim in [u64::MAX, 1 << 40, 1 << 20, good.len() as u64] {
        let mut b = good.clone();
        b[..8].copy_from_slice(&claim.to_le_bytes());
        load_err(&format!("claim{claim}"), &b);
    }
    let data = [0u8; 16];
    let e = load_err("past_end", &with_header(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#, &data));
    assert!(!e.message().is_empty());
    load_err(
        "overlap",
        &with_header(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            &data,
        ),
    );
    load_err("size_mismatch", &with_header(r#"{"a":{"dtype":"F64","shape":[4],"data_offsets":[0,16]}}"#, &data));
    load_err(
        "huge_shape",
        &with_header(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#, &data),
    );
    let e = load_err("f16", &with_header(r#"{"a":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}}"#, &data));
    assert!(e.message().contains("\"a\"") && e.message().contains("F16"), "{e}");
    load_err("unknown_dtype", &with_header(r#"{"a":{"dtype":"Q7","shape":[4],"data_offsets":[0,16]}}"#, &data));
    load_err("bad_json", &with_header(r#"{"a":{"dtype":"F32","shape":[4],"#, &data));
    load_err("not_object", &with_header("[1, 2, 3]", &data));
    load_err(
        "not_utf8",
        &with_header("\u{0}", &data).iter().map(|&b| if b == 0 { 0xff } else { b }).collect::<Vec<_>>(),
    );

    let missing = temp("does-not-exist");
    let e = io::load_safetensors(&missing).unwrap_err();
    assert_eq!(e.op(), "load_safetensors");
    assert!(e.to_string().contains(&missing.display().to_string()));
}

#[test]
fn dropout_masks_values_and_gradients() {
    let mut rng = StdRng::seed_from_u64(8);
    let x = Tensor::randn(&[64, 32], DType::F64, &mut rng).requires_grad();
    let y = F::dropout(&x, 0.3, true, &mut rng).unwrap();
    y.sum_all().backward().unwrap();
    let (xv, yv, g) =
        (x.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap(), x.grad().unwrap().to_vec::<f64>().unwrap());
    let scale = 1.0 / 0.7;
    let mut dropped = 0;
    for i in 0..xv.len() {
        if g[i] == 0.0 {
            dropped += 1;
            assert_eq!(yv[i], 0.0);
        } else {
            assert!((g[i] - scale).abs() < 1e-12);
            assert!((yv[i] - xv[i] * scale).abs() < 1e-12);
        }
    }
    let frac = dropped as f64 / xv.len() as f64;
    assert!((0.25..0.35).contains(&frac), "dropped {frac}");

    // p = 1 zeroes everything, p = 0 and eval mode are the identity
    assert!(F::dropout(&x, 1.0, true, &mut rng).unwrap().to_vec::<f64>().unwrap().iter().all(|&v| v == 0.0));
    assert_eq!(F::dropout(&x, 0.0, true, &mut rng).unwrap().to_vec::<f64>().unwrap(), xv);
    assert_eq!(F::dropout(&x, 0.5, false, &mut rng).unwrap().to_vec::<f64>().unwrap(), xv);

    for p in [-0.1, 1.5, f64::NAN] {
        let e = F::dropout(&x, p, true, &mut rng).unwrap_err();
        assert_eq!(e.op(), "dropout");
        assert!(e.message().contains("p = "), "{e}");
    }
    assert!(nn::Dropout::new(2.0).forward(&x).is_err());
    assert!(F::dropout(&Tensor::zeros(&[2], DType::I64), 0.5, true, &mut rng).is_err());

    // seeded layers repeat their masks
    let x32 = Tensor::ones(&[100], DType::F32);
    let a = nn::Dropout::new(0.5).seed(1).forward(&x32).unwrap().to_vec::<f32>().unwrap();
    let b = nn::Dropout::new(0.5).seed(1).forward(&x32).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(a, b);
}

#[test]
fn train_and_eval_reach_every_child() {
    let mut model = digits_mlp(9);
    assert!(model.is_training());
    let x = Tensor::ones(&[4, 64], DType::F32);
    model.train(false);
    let a = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(a, model.forward(&x).unwrap().to_vec::<f32>().unwrap());
    model.train(true);
    assert!(model.is_training());
    // in training mode the masks differ from call to call
    let outs: Vec<Vec<f32>> = (0..3).map(|_| model.forward(&x).unwrap().to_vec::<f32>().unwrap()).collect();
    assert!(outs.iter().any(|o| *o != a));
    let names: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias"]);
    assert!(model.named_buffers().is_empty());
}

/// The seed of the committed tapegrad-written model.
const TAPEGRAD_MLP_SEED: u64 = 42;

/// A tensor in the interop JSON format (`{"dtype", "shape", "data"}`). Each
/// f32 is written as the f64 of the same value, whose shortest decimal reads
/// back exactly in Python and here.
fn json_tensor_f32(t: &Tensor) -> Value {
    let data: Vec<Value> = t.to_vec::<f32>().unwrap().into_iter().map(|v| Value::from(f64::from(v))).collect();
    serde_json::json!({ "dtype": "f32", "shape": t.shape(), "data": data })
}

/// `tests/interop/tapegrad_mlp.{safetensors,json}` are what tapegrad writes
/// for the digits MLP built from `TAPEGRAD_MLP_SEED`, with its eval-mode
/// logits on the 32 inputs of `digits_mlp.json`; `tools/interop_check.py`
/// loads them into PyTorch. With `TAPEGRAD_WRITE_INTEROP=1` this test
/// (re)writes both files instead of comparing.
#[test]
fn tapegrad_mlp_file_is_what_tapegrad_writes() {
    let mut model = digits_mlp(TAPEGRAD_MLP_SEED);
    model.train(false);
    let input = tensor(&interop_json("digits_mlp")["input"]);
    let logits = model.forward(&input).unwrap();
    let committed = interop_file("tapegrad_mlp");
    let json_path = committed.with_extension("json");

    if std::env::var_os("TAPEGRAD_WRITE_INTEROP").is_some_and(|v| v == "1") {
        io::save_safetensors(&model.state_dict(), &committed).unwrap();
        let keys: serde_json::Map<String, Value> =
            model.state_dict().iter().map(|(k, t)| (k.clone(), Value::from(t.shape().to_vec()))).collect();
        let case = serde_json::json!({
            "format": "tapegrad-interop/1",
            "generator": format!("tapegrad {}", env!("CARGO_PKG_VERSION")),
            "architecture": "Sequential(Linear(64, 128), ReLU, Dropout(0.1), Linear(128, 10))",
            "seed": TAPEGRAD_MLP_SEED,
            "state_dict_keys": keys,
            "input": json_tensor_f32(&input),
            "eval_logits": json_tensor_f32(&logits),
        });
        std::fs::write(&json_path, serde_json::to_string(&case).unwrap() + "\n").unwrap();
    }

    let path = temp("tapegrad_mlp");
    io::save_safetensors(&model.state_dict(), &path).unwrap();
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert!(written == std::fs::read(&committed).unwrap(), "the committed file is not what tapegrad writes");

    let case: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(case["seed"], TAPEGRAD_MLP_SEED);
    assert_eq!(tensor(&case["input"]).to_vec::<f32>().unwrap(), input.to_vec::<f32>().unwrap());
    let expected = tensor(&case["eval_logits"]);
    assert_eq!(logits.shape(), expected.shape());
    // The logits come from this build's kernels, which pick their SIMD width
    // at run time: another machine may sum the dot products in another order
    // and differ in the last bits, so equality is to f32 rounding.
    let (g, e) = (logits.to_vec::<f32>().unwrap(), expected.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        assert!((a - b).abs() <= 1e-6 + 1e-6 * b.abs(), "logit {i}: {a} vs committed {b}");
    }
}

/// PyTorch's digits CNN (`tests/interop/digits_cnn.*`).
fn digits_cnn(seed: u64) -> nn::Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let pad = F::Conv2dOptions { padding: (1, 1), ..Default::default() };
    nn::Sequential::new(vec![
        Box::new(nn::Conv2d::new(1, 8, (3, 3), &mut rng).options(pad.clone())),
        Box::new(nn::BatchNorm2d::new(8)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::MaxPool2d::new((2, 2))),
        Box::new(nn::Conv2d::new(8, 16, (3, 3), &mut rng).options(pad)),
        Box::new(nn::BatchNorm2d::new(16)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::AvgPool2d::new((2, 2))),
        Box::new(nn::Flatten::new(1, -1)),
        Box::new(nn::Linear::new(64, 32, &mut rng)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::LayerNorm::new(&[32])),
        Box::new(nn::Linear::new(32, 10, &mut rng)),
    ])
}

#[test]
fn digits_cnn_gives_pytorchs_eval_logits() {
    let case = interop_json("digits_cnn");
    let state = io::load_safetensors(interop_file("digits_cnn")).unwrap();
    for (k, shape) in case["state_dict_keys"].as_object().unwrap() {
        let shape: Vec<usize> = shape.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(state[k].shape(), shape.as_slice(), "{k}");
    }
    assert_eq!(state["1.num_batches_tracked"].dtype(), DType::I64);
    let mut model = digits_cnn(0);
    let report = model.load_state_dict(&state, true).unwrap();
    assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{report:?}");
    let mut keys: Vec<String> = model.state_dict().into_keys().collect();
    let mut want: Vec<String> = case["state_dict_keys"].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    want.sort();
    assert_eq!(keys, want, "PyTorch's key names");
    model.train(false);
    assert_pytorchs_logits(&model, &case);
}
