//! Autograd semantics: accumulation, no_grad, detach, graph freeing, threads.

use std::sync::Mutex;
use tapegrad::autograd::live_nodes;
use tapegrad::{DType, Tensor, no_grad};

/// `live_nodes()` counts the whole process, so the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn v(x: &[f32], s: &[usize]) -> Tensor {
    Tensor::from_slice(x, s).unwrap()
}

#[test]
fn gradients_accumulate_across_backward_calls() {
    let _g = serial();
    let x = v(&[1.0, 2.0], &[2]).requires_grad();
    for _ in 0..3 {
        x.mul(&x).unwrap().sum_all().backward().unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![6.0, 12.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn shared_subexpressions_sum_their_gradients() {
    let _g = serial();
    // y = a*b + a  =>  dy/da = b + 1, dy/db = a
    let a = v(&[3.0], &[]).requires_grad();
    let b = v(&[4.0], &[]).requires_grad();
    let y = a.mul(&b).unwrap().add(&a).unwrap();
    y.backward().unwrap();
    assert_eq!(a.grad().unwrap().item::<f32>().unwrap(), 5.0);
    assert_eq!(b.grad().unwrap().item::<f32>().unwrap(), 3.0);
}

#[test]
fn no_grad_and_detach_record_nothing() {
    let _g = serial();
    let w = v(&[1.0, 2.0], &[2]).requires_grad();
    let y = no_grad(|| w.mul(&w).unwrap());
    assert!(!y.tracks_grad());
    assert!(tapegrad::autograd::is_grad_enabled());
    let d = w.detach();
    assert!(!d.tracks_grad());
    assert!(!d.mul(&d).unwrap().tracks_grad());
    // a non-float leaf cannot require grad
    assert!(!Tensor::zeros(&[2], DType::I64).requires_grad().tracks_grad());
}

#[test]
fn no_grad_is_per_thread() {
    let _g = serial();
    no_grad(|| {
        let h = std::thread::spawn(tapegrad::autograd::is_grad_enabled);
        assert!(h.join().unwrap(), "another thread must still record");
        assert!(!tapegrad::autograd::is_grad_enabled());
    });
}

#[test]
fn backward_with_a_vector() {
    let _g = serial();
    let x = v(&[1.0, 2.0, 3.0], &[3]).requires_grad();
    let y = x.mul_scalar(2.0).unwrap();
    y.backward_with(&v(&[1.0, 0.5, -1.0], &[3])).unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![2.0, 1.0, -2.0]);
}

#[test]
fn ten_thousand_training_steps_keep_the_graph_count_flat() {
    let _g = serial();
    let w = v(&[0.1, -0.2, 0.3, 0.05, 0.0, 0.2], &[3, 2]).requires_grad();
    let x = v(&[1.0, 2.0, -1.0, 0.5, 0.0, 1.0, 2.0, 2.0, -2.0], &[3, 3]);
    let target = v(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    let mut w = w;
    let mut counts = Vec::new();
    for step in 0..10_000 {
        let loss = x.matmul(&w).unwrap().tanh().sub(&target).unwrap().pow(2.0).unwrap().mean_all();
        loss.backward().unwrap();
        let g = w.grad().unwrap();
        w = no_grad(|| w.sub(&g.mul_scalar(0.1).unwrap()).unwrap()).requires_grad();
        drop(loss);
        if step % 1000 == 0 {
            counts.push(live_nodes());
        }
    }
    assert!(counts.windows(2).all(|p| p[0] == p[1]), "live nodes grew: {counts:?}");
    assert_eq!(counts[0], 0, "no graph outlives its step");
}

#[test]
fn a_deep_chain_backpropagates_and_drops_without_overflow() {
    let _g = serial();
    let x = v(&[0.5], &[]).requires_grad();
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.mul_scalar(1.0).unwrap();
    }
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().item::<f32>().unwrap(), 1.0);
    drop(y);
    assert_eq!(live_nodes(), 0);
}

#[test]
fn tensors_are_send_and_sync() {
    let _g = serial();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tensor>();
}

/// A reduced class loss writes its input's gradient in the forward for an
/// upstream gradient of 1 and hands it to the first `backward()`; any other
/// upstream gradient, or a second backward, computes it again from the logits.
/// Scaling the upstream gradient by 2 is exact, so every route must give the
/// same numbers: `backward()` once, twice (2×), `backward_with(2)` (2×); and
/// the loss is the same bits with and without recording.
#[test]
fn gradients_written_in_the_forward_equal_those_computed_in_the_backward() {
    use tapegrad::Reduction;
    use tapegrad::functional as F;
    let _g = serial();
    let mut r = rand::rng();
    let two = |dtype| Tensor::full(&[], 2.0, dtype);
    for dtype in [DType::F32, DType::F64] {
        // rows (with an ignored target) and planes (K-dimensional; the last
        // one long enough for the plane walk's blocks and chunks)
        for shape in [vec![5usize, 9], vec![6, 33], vec![3, 70], vec![5, 70], vec![2, 4, 3, 70], vec![2, 5, 40, 30]] {
            let z = Tensor::randn(&shape, dtype, &mut r).requires_grad();
            let mut tshape = shape.clone();
            tshape.remove(1);
            let n: usize = tshape.iter().product();
            let t: Vec<i64> = (0..n).map(|j| if j == 3 { -100 } else { (j * 7 % shape[1]) as i64 }).collect();
            let t = Tensor::from_vec(t, &tshape).unwrap();
            let w = Tensor::rand(&[shape[1]], dtype, &mut r);
            let probs = F::softmax(&Tensor::randn(&shape, dtype, &mut r), 1).unwrap();
            type Loss<'a> = Box<dyn Fn(Reduction) -> Tensor + 'a>;
            let cases: Vec<(&str, Loss)> = vec![
                (
                    "cross_entropy, indices, weights, smoothing",
                    Box::new(|reduction| {
                        let o = F::CrossEntropyOptions {
                            weight: Some(w.clone()),
                            label_smoothing: 0.1,
                            reduction,
                            ..Default::default()
                        };
                        F::cross_entropy(&z, &t, &o).unwrap()
                    }),
                ),
                (
                    "cross_entropy, probabilities",
                    Box::new(|reduction| {
                        let o = F::CrossEntropyOptions { weight: Some(w.clone()), reduction, ..Default::default() };
                        F::cross_entropy(&z, &probs, &o).unwrap()
                    }),
                ),
                (
                    "nll_loss(log_softmax)",
                    Box::new(|reduction| {
                        let o = F::NllLossOptions { weight: Some(w.clone()), reduction, ..Default::default() };
                        F::nll_loss(&F::log_softmax(&z, 1).unwrap(), &t, &o).unwrap()
                    }),
                ),
            ];
            for (what, loss) in &cases {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    let grad = |run: &dyn Fn()| {
                        z.zero_grad();
                        run();
                        z.grad().unwrap().to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
                    };
                    let once = grad(&|| loss(reduction).backward().unwrap());
                    let twice = grad(&|| {
                        let l = loss(reduction);
                        l.backward().unwrap();
                        l.backward().unwrap();
                    });
                    let scaled = grad(&|| loss(reduction).backward_with(&two(dtype)).unwrap());
                    // the loss itself: the same bits whether or not the forward recorded
                    let value = |l: Tensor| l.to_dtype(DType::F64).unwrap().item::<f64>().unwrap();
                    let (recorded, plain) = (value(loss(reduction)), value(no_grad(|| loss(reduction))));
                    let what = format!("{what}, {reduction:?}, {shape:?}, {dtype:?}");
                    assert_eq!(recorded.to_bits(), plain.to_bits(), "{what}: loss with and without recording");
                    assert!(once.iter().any(|&v| v != 0.0), "{what}: a gradient");
                    for ((a, b), c) in once.iter().zip(&twice).zip(&scaled) {
                        assert_eq!(2.0 * a, *b, "{what}: backward twice");
                        assert_eq!(2.0 * a, *c, "{what}: upstream gradient 2");
                    }
                }
            }
        }
    }
}

#[test]
fn a_second_backward_through_kept_buffers_gives_the_same_gradient() {
    // cross_entropy keeps exp(z - m) and conv2d its columns for the first backward;
    // a second backward recomputes them: gradients must accumulate to 2x
    use tapegrad::functional as F;
    let _g = serial();
    let z = Tensor::randn(&[4, 7], DType::F64, &mut rand::rng()).requires_grad();
    let t = Tensor::from_vec(vec![0i64, 3, 6, 2], &[4]).unwrap();
    let probs = F::softmax(&Tensor::randn(&[4, 7], DType::F64, &mut rand::rng()), 1).unwrap();
    for target in [&t, &probs] {
        z.zero_grad();
        let opts = F::CrossEntropyOptions { label_smoothing: 0.2, ..Default::default() };
        let loss = F::cross_entropy(&z, target, &opts).unwrap();
        loss.backward().unwrap();
        let once = z.grad().unwrap().to_vec::<f64>().unwrap();
        loss.backward().unwrap();
        let twice = z.grad().unwrap().to_vec::<f64>().unwrap();
        // the second backward regenerates the exponentials exactly as the forward did
        for (a, b) in once.iter().zip(&twice) {
            assert_eq!(2.0 * a, *b, "cross_entropy ({:?} targets)", target.dtype());
        }
    }
    let x = Tensor::randn(&[2, 3, 6, 6], DType::F64, &mut rand::rng());
    let w = Tensor::randn(&[4, 3, 3, 3], DType::F64, &mut rand::rng()).requires_grad();
    let y = F::conv2d(&x, &w, None, &Default::default()).unwrap().sum_all();
    y.backward().unwrap();
    let once = w.grad().unwrap().to_vec::<f64>().unwrap();
    y.backward().unwrap();
    let twice = w.grad().unwrap().to_vec::<f64>().unwrap();
    for (a, b) in once.iter().zip(&twice) {
        assert!((2.0 * a - b).abs() <= 1e-12 * a.abs().max(1.0), "conv2d: {a} then {b}");
    }
}
