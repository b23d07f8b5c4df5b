//! `data::Batches`: every sample once per pass, in order or shuffled, the
//! last batch kept or dropped, rows taken from tensors of any dtype.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::Batches;
use tapegrad::{DType, Tensor};

#[test]
fn in_order_batches_cover_every_sample_once() {
    let b: Vec<Vec<usize>> = Batches::new(10, 4).unwrap().map(|b| b.indices().to_vec()).collect();
    assert_eq!(b, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let b: Vec<Vec<usize>> = Batches::new(10, 4).unwrap().drop_last(true).map(|b| b.indices().to_vec()).collect();
    assert_eq!(b, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    assert_eq!(Batches::new(10, 4).unwrap().len(), 3);
    assert_eq!(Batches::new(10, 4).unwrap().drop_last(true).num_batches(), 2);
    assert_eq!(Batches::new(8, 4).unwrap().drop_last(true).count(), 2);
    assert_eq!(Batches::new(0, 4).unwrap().count(), 0);
    assert_eq!(Batches::new(3, 4).unwrap().drop_last(true).count(), 0);
    let sub: Vec<Vec<usize>> = Batches::over(vec![7, 3, 5], 2).unwrap().map(|b| b.indices().to_vec()).collect();
    assert_eq!(sub, vec![vec![7, 3], vec![5]]);
}

#[test]
fn shuffled_batches_are_a_permutation_that_changes_each_epoch() {
    let mut rng = StdRng::seed_from_u64(1);
    let epoch = |rng: &mut StdRng| -> Vec<usize> {
        Batches::new(100, 16).unwrap().shuffle(rng).flat_map(|b| b.indices().to_vec()).collect()
    };
    let (a, b) = (epoch(&mut rng), epoch(&mut rng));
    for order in [&a, &b] {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
    assert_ne!(a, (0..100).collect::<Vec<_>>());
    assert_ne!(a, b);
    // the same seed gives the same order
    assert_eq!(epoch(&mut StdRng::seed_from_u64(1)), a);
}

#[test]
fn select_takes_the_rows_of_any_tensor() {
    let x = Tensor::from_vec((0..12).map(|v| v as f64).collect(), &[4, 3]).unwrap().requires_grad();
    let y = Tensor::from_vec(vec![10i64, 11, 12, 13], &[4]).unwrap();
    let m = Tensor::from_vec(vec![true, false, true, false], &[4]).unwrap();
    let batch = Batches::over(vec![2, 0], 2).unwrap().next().unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.index().to_vec::<i64>().unwrap(), [2, 0]);
    let xb = batch.select(&x).unwrap();
    assert_eq!(xb.to_vec::<f64>().unwrap(), [6.0, 7.0, 8.0, 0.0, 1.0, 2.0]);
    assert_eq!(batch.select(&y).unwrap().to_vec::<i64>().unwrap(), [12, 10]);
    assert_eq!(batch.select(&m).unwrap().to_vec::<bool>().unwrap(), [true, true]);
    // differentiable: the gradient lands on the selected rows
    xb.sum_all().backward().unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec::<f64>().unwrap(),
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn batching_errors() {
    let e = Batches::new(10, 0).unwrap_err().to_string();
    assert!(e.contains("batch_size = 0"), "{e}");
    let batch = Batches::over(vec![5], 1).unwrap().next().unwrap();
    let e = batch.select(&Tensor::zeros(&[3, 2], DType::F32)).unwrap_err().to_string();
    assert!(e.contains('5'), "{e}");
    assert!(batch.select(&Tensor::scalar(1.0f32)).unwrap_err().to_string().contains("Batch::select"));
}
