//! 2,000 gradient-penalty steps (a gradient taken with `create_graph`, then
//! the penalty on its norm back-propagated and an optimizer step): after every
//! step the live tensors and graph nodes are back at the same level, so the
//! graph of the gradient is freed with it. Alone in its binary: the counters
//! are global (one test, so that nothing runs beside it).

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::{GradOptions, grad, live_nodes};
use tapegrad::nn;
use tapegrad::optim;
use tapegrad::tensor::live_tensors;
use tapegrad::{DType, Tensor};

#[test]
fn two_thousand_gradient_penalty_steps_hold_no_more_memory_than_one() {
    let mut rng = StdRng::seed_from_u64(3);
    let critic = nn::Sequential::new(vec![
        Box::new(nn::Linear::new(4, 16, &mut rng)),
        Box::new(nn::Tanh::new()),
        Box::new(nn::Linear::new(16, 1, &mut rng)),
    ]);
    let mut opt = optim::Adam::new(critic.parameters(), 1e-2);
    let x = Tensor::randn(&[32, 4], DType::F32, &mut rng).requires_grad();
    let opts = GradOptions { create_graph: true, ..Default::default() };
    let mut levels = None;
    let (mut first, mut last) = (None, 0.0);
    for step in 0..2_000 {
        opt.zero_grad();
        x.zero_grad();
        let out = critic.forward(&x).unwrap().sum_all();
        let g = grad(&[out], std::slice::from_ref(&x), &opts).unwrap().remove(0).unwrap();
        let penalty =
            g.mul(&g).unwrap().sum(1, false).unwrap().sqrt().sub_scalar(1.0).unwrap().pow(2.0).unwrap().mean_all();
        penalty.backward().unwrap();
        opt.step().unwrap();
        last = penalty.item::<f32>().unwrap();
        first.get_or_insert(last);
        drop((g, penalty));
        x.zero_grad();
        let level = (live_tensors(), live_nodes());
        match levels {
            None => levels = Some(level),
            Some(l) => assert_eq!(level, l, "step {step}: (tensors, nodes) moved from {l:?}"),
        }
    }
    assert_eq!(levels.unwrap().1, 0, "no graph node outlives its step");
    assert!(last < first.unwrap() / 10.0, "the penalty fell: {first:?} -> {last}");

    // gradients accumulated with create_graph hold their graph until cleared
    let x = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], &[3]).unwrap().requires_grad();
    let before = live_nodes();
    for _ in 0..100 {
        x.tanh().mul(&x).unwrap().sum_all().backward_with_graph().unwrap();
        assert!(x.grad().unwrap().tracks_grad());
        x.zero_grad();
        assert_eq!(live_nodes(), before);
    }
}
