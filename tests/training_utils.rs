//! Learning-rate schedules, gradient clipping and optimizer checkpoints
//! against PyTorch: the schedules' rates and the clipped gradients come from
//! `tests/golden/training_utils.json` (made by `tools/training_utils_reference.py`
//! with PyTorch); resuming from an optimizer's state dict is checked bit for bit.

use serde_json::Value;
use tapegrad::nn;
use tapegrad::optim::lr_scheduler::{CosineAnnealingLr, ExponentialLr, StepLr};
use tapegrad::optim::{self, Optimizer};
use tapegrad::{DType, Tensor};

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/training_utils.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// One schedule's `step`.
type Step = dyn FnMut(&mut dyn Optimizer) -> tapegrad::Result<()>;

/// Every schedule gives PyTorch's rates, bit for bit (the same recursive
/// formulas in f64).
#[test]
fn schedules_give_pytorchs_rates() {
    let g = golden();
    for case in g["schedules"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        let args = &case["args"];
        let param = Tensor::zeros(&[1], DType::F64).requires_grad();
        let mut opt = optim::Sgd::new(vec![param], case["lr"].as_f64().unwrap());
        let want = floats(&case["lrs"]);
        let mut got = Vec::new();
        let arg = |k: &str| args[k].as_f64().unwrap();
        let mut step: Box<Step> = match kind {
            "StepLr" => {
                let mut s = StepLr::new(args["step_size"].as_u64().unwrap(), arg("gamma"));
                Box::new(move |o| s.step(o))
            }
            "ExponentialLr" => {
                let mut s = ExponentialLr::new(arg("gamma"));
                Box::new(move |o| s.step(o))
            }
            "CosineAnnealingLr" => {
                let mut s = CosineAnnealingLr::new(args["t_max"].as_u64().unwrap(), arg("eta_min"));
                Box::new(move |o| s.step(o))
            }
            other => panic!("unknown schedule {other}"),
        };
        for _ in 0..want.len() {
            step(&mut opt).unwrap();
            got.push(Optimizer::lr(&opt));
        }
        assert_eq!(got, want, "{kind} {args}");
    }
}

#[test]
fn schedules_reject_bad_settings() {
    let mut opt = optim::Sgd::new(vec![Tensor::zeros(&[1], DType::F32).requires_grad()], 0.1);
    let e = StepLr::new(0, 0.5).step(&mut opt).unwrap_err().to_string();
    assert!(e.contains("StepLr") && e.contains("step_size"), "{e}");
    let e = ExponentialLr::new(f64::NAN).step(&mut opt).unwrap_err().to_string();
    assert!(e.contains("gamma") && e.contains("NaN"), "{e}");
    let e = CosineAnnealingLr::new(0, 0.0).step(&mut opt).unwrap_err().to_string();
    assert!(e.contains("t_max"), "{e}");
    assert_eq!(Optimizer::lr(&opt), 0.1, "a rejected step changes nothing");
}

/// `clip_grad_norm` returns PyTorch's total norm and leaves PyTorch's
/// gradients (f64; the norms are summed in another order, so within 1e-14).
#[test]
fn clip_grad_norm_matches_pytorch() {
    let g = golden();
    for case in g["clip_grad_norm"].as_array().unwrap() {
        let shapes: Vec<Vec<usize>> = case["shapes"].as_array().unwrap().iter().map(shape).collect();
        let params: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(s, DType::F64).requires_grad()).collect();
        for (p, gv) in params.iter().zip(case["grads"].as_array().unwrap()) {
            p.set_grad(Some(Tensor::from_vec(floats(gv), p.shape()).unwrap())).unwrap();
        }
        let norm_type = match &case["norm_type"] {
            Value::String(s) if s == "inf" => f64::INFINITY,
            v => v.as_f64().unwrap(),
        };
        let total = nn::utils::clip_grad_norm(&params, case["max_norm"].as_f64().unwrap(), norm_type).unwrap();
        let want = case["total"].as_f64().unwrap();
        assert!((total - want).abs() <= 1e-14 * want.abs().max(1.0), "total {total} vs {want} ({norm_type})");
        for (p, cv) in params.iter().zip(case["clipped"].as_array().unwrap()) {
            let got = p.grad().unwrap().to_vec::<f64>().unwrap();
            for (a, b) in got.iter().zip(floats(cv)) {
                assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a} vs {b} ({norm_type})");
            }
        }
    }
}

#[test]
fn clip_grad_value_matches_pytorch() {
    let g = golden();
    let case = &g["clip_grad_value"][0];
    let shapes: Vec<Vec<usize>> = case["shapes"].as_array().unwrap().iter().map(shape).collect();
    let params: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(s, DType::F64).requires_grad()).collect();
    for (p, gv) in params.iter().zip(case["grads"].as_array().unwrap()) {
        p.set_grad(Some(Tensor::from_vec(floats(gv), p.shape()).unwrap())).unwrap();
    }
    nn::utils::clip_grad_value(&params, case["clip_value"].as_f64().unwrap()).unwrap();
    for (p, cv) in params.iter().zip(case["clipped"].as_array().unwrap()) {
        assert_eq!(p.grad().unwrap().to_vec::<f64>().unwrap(), floats(cv));
    }
}

#[test]
fn clipping_rejects_bad_settings_and_skips_params_without_grad() {
    let p = Tensor::zeros(&[2], DType::F32).requires_grad();
    let e = nn::utils::clip_grad_norm(std::slice::from_ref(&p), -1.0, 2.0).unwrap_err().to_string();
    assert!(e.contains("clip_grad_norm") && e.contains("max_norm = -1"), "{e}");
    let e = nn::utils::clip_grad_norm(std::slice::from_ref(&p), 1.0, 0.0).unwrap_err().to_string();
    assert!(e.contains("norm_type = 0"), "{e}");
    assert!(nn::utils::clip_grad_value(std::slice::from_ref(&p), f64::NAN).is_err());
    assert_eq!(nn::utils::clip_grad_norm(std::slice::from_ref(&p), 1.0, 2.0).unwrap(), 0.0);
    assert!(p.grad().is_none(), "a parameter without a gradient keeps none");
    let e = p.set_grad(Some(Tensor::zeros(&[3], DType::F32))).unwrap_err().to_string();
    assert!(e.contains("set_grad") && e.contains("[3]"), "{e}");
}

/// The model, data and loss of the resume test.
fn setup(seed: u64) -> (nn::Sequential, Tensor, Tensor) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let model = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(4, 8, &mut rng)),
        Box::new(nn::ReLU::new()),
        Box::new(nn::Linear::new(8, 3, &mut rng)),
    ]);
    let x = Tensor::randn(&[16, 4], DType::F32, &mut rng);
    let t = Tensor::randint(0, 3, &[16], &mut rng);
    (model, x, t)
}

fn train(model: &nn::Sequential, opt: &mut dyn Optimizer, x: &Tensor, t: &Tensor, steps: usize) {
    for _ in 0..steps {
        opt.zero_grad();
        nn::CrossEntropyLoss::new().forward(&model.forward(x).unwrap(), t).unwrap().backward().unwrap();
        opt.step().unwrap();
    }
}

fn bits(model: &nn::Sequential) -> Vec<u32> {
    model.parameters().iter().flat_map(|p| p.to_vec::<f32>().unwrap()).map(f32::to_bits).collect()
}

/// N steps, the optimizer's state saved and loaded into a fresh optimizer,
/// M more steps: the same bits as N + M steps without stopping (Adam and SGD
/// with momentum), and with a changed rate the rate is restored too.
#[test]
fn optimizer_state_dict_resumes_exactly() {
    type Make = fn(Vec<Tensor>) -> Box<dyn Optimizer>;
    let makers: [Make; 2] = [
        |p| Box::new(optim::Adam::new(p, 1e-2).weight_decay(1e-3)),
        |p| Box::new(optim::Sgd::new(p, 5e-2).momentum(0.9).nesterov(true)),
    ];
    for make in makers {
        let (model, x, t) = setup(7);
        let mut opt = make(model.parameters());
        train(&model, opt.as_mut(), &x, &t, 5);
        let want = bits(&model);

        let (model2, x2, t2) = setup(7);
        let mut opt2 = make(model2.parameters());
        train(&model2, opt2.as_mut(), &x2, &t2, 3);
        opt2.set_lr(opt2.lr());
        let state = opt2.state_dict();
        let mut resumed = make(model2.parameters());
        resumed.set_lr(123.0);
        resumed.load_state_dict(&state).unwrap();
        assert_eq!(resumed.lr(), opt2.lr(), "the rate comes back");
        drop(opt2);
        train(&model2, resumed.as_mut(), &x2, &t2, 2);
        assert_eq!(bits(&model2), want, "resumed training is bit-identical");
    }
}

#[test]
fn optimizer_state_dict_rejects_mismatches() {
    let (model, x, t) = setup(1);
    let mut opt = optim::Adam::new(model.parameters(), 1e-2);
    train(&model, &mut opt, &x, &t, 1);
    let state = opt.state_dict();
    assert!(state.contains_key("state.3.exp_avg_sq") && state.contains_key("state.0.step"));
    // into an optimizer over other parameters: a shape that does not fit
    let other = nn::Linear::new(8, 3, &mut rand::rng());
    let mut wrong = optim::Adam::new(other.parameters(), 1e-2);
    let e = wrong.load_state_dict(&state).unwrap_err().to_string();
    assert!(e.contains("Adam::load_state_dict") && e.contains("state."), "{e}");
    let mut bad = state.clone();
    bad.insert("state.0.velocity".into(), Tensor::zeros(&[8, 4], DType::F32));
    let e = opt.load_state_dict(&bad).unwrap_err().to_string();
    assert!(e.contains("unexpected state key") && e.contains("velocity"), "{e}");
}

/// An optimizer given a tensor that cannot be trained says so at `step`,
/// naming the parameter, and changes nothing.
#[test]
fn optimizers_refuse_parameters_that_do_not_require_grad() {
    let w = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap().requires_grad();
    let frozen = Tensor::from_vec(vec![3.0f32], &[1]).unwrap();
    let computed = w.mul_scalar(2.0).unwrap();
    w.mul(&w).unwrap().sum_all().backward().unwrap();
    for (name, params, index) in [("frozen", vec![w.clone(), frozen], 1), ("computed", vec![computed, w.clone()], 0)] {
        let mut opts: Vec<(&str, Box<dyn Optimizer>)> = vec![
            ("Sgd::step", Box::new(optim::Sgd::new(params.clone(), 0.1))),
            ("Adam::step", Box::new(optim::Adam::new(params, 0.1))),
        ];
        for (op, opt) in &mut opts {
            let e = opt.step().unwrap_err().to_string();
            assert!(e.contains(*op) && e.contains(&format!("params[{index}]")), "{name}: {e}");
            assert_eq!(w.to_vec::<f32>().unwrap(), [1.0, 2.0], "{name}: {op} changed a parameter before failing");
        }
    }
    let e = optim::Sgd::new(vec![], 0.1).step().unwrap_err().to_string();
    assert!(e.contains("Sgd::step") && e.contains("empty"), "{e}");
    // trainable leaves without a gradient yet are skipped, as in PyTorch
    let v = Tensor::from_vec(vec![1.0f64], &[1]).unwrap().requires_grad();
    optim::Adam::new(vec![v.clone()], 0.1).step().unwrap();
    assert_eq!(v.to_vec::<f64>().unwrap(), [1.0]);
}

/// A schedule over an optimizer without parameters is an error naming the schedule.
#[test]
fn schedules_refuse_an_optimizer_without_parameters() {
    let mut opt = optim::Sgd::new(vec![], 0.1);
    let mut steps: Vec<(&str, Box<Step>)> = vec![
        (
            "StepLr::step",
            Box::new({
                let mut s = StepLr::new(1, 0.5);
                move |o: &mut dyn Optimizer| s.step(o)
            }),
        ),
        (
            "ExponentialLr::step",
            Box::new({
                let mut s = ExponentialLr::new(0.5);
                move |o: &mut dyn Optimizer| s.step(o)
            }),
        ),
        (
            "CosineAnnealingLr::step",
            Box::new({
                let mut s = CosineAnnealingLr::new(3, 0.0);
                move |o: &mut dyn Optimizer| s.step(o)
            }),
        ),
    ];
    for (name, step) in &mut steps {
        let e = step(&mut opt).unwrap_err().to_string();
        assert!(e.contains(*name) && e.contains("no parameters"), "{e}");
        assert_eq!(opt.lr(), 0.1);
    }
    assert_eq!(optim::Adam::new(vec![], 0.1).num_params(), Some(0));
}
