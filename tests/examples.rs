//! Each example's training on a few epochs: the loss decreases and the metric
//! beats chance; and the main job reaches its accuracy bar. Each example file
//! is included as a module and its `train` function called.

// Each example declares its own `mod common`, so the shared code is compiled
// once per example here.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/train_digits.rs"]
#[allow(dead_code)]
mod train_digits;

#[path = "../examples/train_digits_cnn.rs"]
#[allow(dead_code)]
mod train_digits_cnn;

#[path = "../examples/distillation.rs"]
#[allow(dead_code)]
mod distillation;

#[path = "../examples/train_breast_cancer.rs"]
#[allow(dead_code)]
mod train_breast_cancer;

#[path = "../examples/train_diabetes.rs"]
#[allow(dead_code)]
mod train_diabetes;

#[path = "../examples/segmentation_2d.rs"]
#[allow(dead_code)]
mod segmentation_2d;

#[path = "../examples/pointcloud.rs"]
#[allow(dead_code)]
mod pointcloud;

#[path = "../examples/triplet_embedding.rs"]
#[allow(dead_code)]
mod triplet_embedding;

#[path = "../examples/ctc_toy.rs"]
#[allow(dead_code)]
mod ctc_toy;

#[path = "../examples/gradient_penalty.rs"]
#[allow(dead_code)]
mod gradient_penalty;

#[path = "../examples/hessian.rs"]
#[allow(dead_code)]
mod hessian;

#[path = "../examples/physics_informed.rs"]
#[allow(dead_code)]
mod physics_informed;

#[test]
fn train_digits_reaches_96_percent() {
    for seed in [0, 1] {
        let mut log = Vec::new();
        let acc = train_digits::train(30, seed, &mut |e| log.push(e.clone())).unwrap();
        assert!(acc >= 0.96, "seed {seed}: test accuracy {acc}");
        assert!(log.last().unwrap().train_loss < log[0].train_loss / 5.0, "{log:?}");
    }
}

/// The example's own run (seed 0) prints 99.2%; across eight splits the
/// recipe averages 98.9% (PyTorch, same recipe and splits: 99.1%), so the
/// bar here leaves room for the last bits of the SIMD path chosen at run
/// time, which change a few borderline digits.
#[test]
fn train_digits_cnn_reaches_98_percent() {
    let mut log = Vec::new();
    let acc = train_digits_cnn::train(train_digits_cnn::EPOCHS, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(acc >= 0.98, "test accuracy {acc}");
    assert!(log.last().unwrap().train_loss < log[0].train_loss / 2.0, "{log:?}");
}

#[test]
fn distillation_beats_the_few_labels() {
    let r = distillation::run(0).unwrap();
    assert!(r.teacher >= 0.96, "{r:?}");
    assert!(r.student_distilled >= 0.93 && r.student_distilled >= r.student_labels + 0.05, "{r:?}");
}

#[test]
fn train_digits_saved_model_predicts_the_same() {
    use rand::SeedableRng;
    use tapegrad::nn::Module;
    let (acc, model) = train_digits::train_model(2, 3, &mut |_| {}).unwrap();
    let path = std::env::temp_dir().join(format!("tapegrad-examples-{}-digits.safetensors", std::process::id()));
    tapegrad::io::save_safetensors(&model.state_dict(), &path).unwrap();
    let mut loaded = train_digits::mlp(&mut rand::rngs::StdRng::seed_from_u64(7));
    loaded.load_state_dict(&tapegrad::io::load_safetensors(&path).unwrap(), true).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(train_digits::test_accuracy(&loaded, 3).unwrap(), acc);
}

#[test]
fn train_breast_cancer_learns() {
    let mut log = Vec::new();
    let acc = train_breast_cancer::train(10, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(acc > 0.9, "accuracy {acc}");
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}

#[test]
fn train_diabetes_learns_with_every_loss() {
    for kind in train_diabetes::Regression::ALL {
        let mut log = Vec::new();
        let mae = train_diabetes::train(kind, 15, 0, &mut |e| log.push(e.clone())).unwrap();
        // predicting the mean gives an MAE of about 66 on this data set
        assert!(mae < 60.0, "{kind:?}: test MAE {mae}");
        assert!(log.last().unwrap().train_loss < log[0].train_loss, "{kind:?}");
    }
}

#[test]
fn segmentation_pixel_accuracy_rises() {
    let mut log = Vec::new();
    let acc = segmentation_2d::train(25, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(acc > 0.85 && acc > log[0].metric, "pixel accuracy {} -> {acc}", log[0].metric);
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}

#[test]
fn pointcloud_point_accuracy_rises() {
    let mut log = Vec::new();
    let acc = pointcloud::train(60, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(acc > 0.6 && acc > log[0].metric, "point accuracy {} -> {acc}", log[0].metric);
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}

#[test]
fn triplet_embedding_orders_test_triplets() {
    let mut log = Vec::new();
    let ordered = triplet_embedding::train(150, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(ordered > 0.9, "ordered test triplets {ordered}");
    assert!(ordered > log[0].metric, "{} -> {ordered}", log[0].metric);
    let tail: f64 = log[log.len() - 10..].iter().map(|e| e.train_loss).sum::<f64>() / 10.0;
    assert!(tail < log[0].train_loss / 2.0, "loss {} -> {tail}", log[0].train_loss);
}

#[test]
fn ctc_toy_learns_to_read_sequences() {
    let mut log = Vec::new();
    let exact = ctc_toy::train(300, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(exact > 0.8, "test sequences read exactly {exact}");
    assert!(log.last().unwrap().train_loss < log[0].train_loss / 4.0, "{:?} -> {:?}", log[0], log.last());
}

#[test]
fn gradient_penalty_falls() {
    let (first, last) = gradient_penalty::train(300, 0, &mut |_| {}).unwrap();
    assert!(last < first / 4.0, "gradient penalty {first} -> {last}");
}

#[test]
fn hessian_vector_products_match_finite_differences() {
    for seed in 0..3 {
        let (norm, err) = hessian::check(seed).unwrap();
        assert!(norm > 0.1, "seed {seed}: |H·v| = {norm}");
        assert!(err < 1e-6, "seed {seed}: relative difference {err}");
    }
}

#[test]
fn physics_informed_network_solves_the_ode() {
    let mut log = Vec::new();
    let err = physics_informed::train(1500, 0, &mut |e| log.push(e.clone())).unwrap();
    assert!(err < 1e-2, "max|u − e^−t| = {err}");
    assert!(log.last().unwrap().train_loss < log[0].train_loss / 100.0);
}
