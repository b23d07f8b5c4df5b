//! Each example's core path on a few iterations: the loss decreases and the
//! metric beats chance; and the main job reaches its accuracy bar.

#[path = "../examples/common/mod.rs"]
mod common;

use common::tasks::{self, Epoch, Regression};

fn record(log: &mut Vec<Epoch>) -> impl FnMut(&Epoch) + '_ {
    move |e| log.push(e.clone())
}

#[test]
fn train_digits_reaches_96_percent() {
    for seed in [0, 1] {
        let mut log = Vec::new();
        let acc = tasks::digits(30, seed, &mut record(&mut log)).unwrap();
        assert!(acc >= 0.96, "seed {seed}: test accuracy {acc}");
        assert!(log.last().unwrap().train_loss < log[0].train_loss / 5.0, "{log:?}");
    }
}

#[test]
fn train_breast_cancer_learns() {
    let mut log = Vec::new();
    let acc = tasks::breast_cancer(10, 0, &mut record(&mut log)).unwrap();
    assert!(acc > 0.9, "accuracy {acc}");
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}

#[test]
fn train_diabetes_learns_with_every_loss() {
    for kind in Regression::ALL {
        let mut log = Vec::new();
        let mae = tasks::diabetes(kind, 15, 0, &mut record(&mut log)).unwrap();
        // predicting the mean gives an MAE of about 66 on this data set
        assert!(mae < 60.0, "{kind:?}: test MAE {mae}");
        assert!(log.last().unwrap().train_loss < log[0].train_loss, "{kind:?}");
    }
}

#[test]
fn segmentation_pixel_accuracy_rises() {
    let mut log = Vec::new();
    let acc = tasks::segmentation(25, 0, &mut record(&mut log)).unwrap();
    assert!(acc > 0.85 && acc > log[0].metric, "pixel accuracy {} -> {acc}", log[0].metric);
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}

#[test]
fn pointcloud_point_accuracy_rises() {
    let mut log = Vec::new();
    let acc = tasks::pointcloud(60, 0, &mut record(&mut log)).unwrap();
    assert!(acc > 0.6 && acc > log[0].metric, "point accuracy {} -> {acc}", log[0].metric);
    assert!(log.last().unwrap().train_loss < log[0].train_loss);
}
