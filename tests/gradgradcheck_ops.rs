//! gradgradcheck (finite differences of the analytic gradient, f64) for every
//! differentiable op, on the shapes gradcheck uses: the gradient taken with
//! `create_graph` is differentiated again and compared.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::autograd::gradgradcheck;
use tapegrad::{DType, Result, Tensor};

const EPS: f64 = 1e-6;
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, DType::F64, &mut StdRng::seed_from_u64(seed))
}

/// Values in [lo, hi), away from kinks.
fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    let u = Tensor::rand(shape, DType::F64, &mut StdRng::seed_from_u64(seed));
    u.mul_scalar(hi - lo).unwrap().add_scalar(lo).unwrap()
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let r = gradgradcheck(f, inputs, EPS, ATOL, RTOL).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(r.passed, "{name}: {r:?}");
}

const SHAPES: &[&[usize]] = &[&[], &[1], &[5], &[3, 4], &[2, 1, 3], &[2, 0, 3]];

#[test]
fn unary_ops() {
    for (k, &s) in SHAPES.iter().enumerate() {
        let x = randn(s, k as u64);
        let pos = uniform(s, 0.2, 3.0, k as u64);
        check("neg", |t| Ok(t[0].neg()), std::slice::from_ref(&x));
        check("exp", |t| Ok(t[0].exp()), std::slice::from_ref(&x));
        check("tanh", |t| Ok(t[0].tanh()), std::slice::from_ref(&x));
        check("sigmoid", |t| Ok(t[0].sigmoid()), std::slice::from_ref(&x));
        check("log", |t| Ok(t[0].log()), std::slice::from_ref(&pos));
        check("log1p", |t| Ok(t[0].log1p()), std::slice::from_ref(&pos));
        check("sqrt", |t| Ok(t[0].sqrt()), std::slice::from_ref(&pos));
        check("abs", |t| Ok(t[0].abs()), std::slice::from_ref(&pos.sub_scalar(1.6).unwrap()));
        check("relu", |t| Ok(t[0].relu()), std::slice::from_ref(&pos.sub_scalar(1.6).unwrap()));
        check("pow 3", |t| t[0].pow(3.0), std::slice::from_ref(&x));
        check("pow -0.5", |t| t[0].pow(-0.5), std::slice::from_ref(&pos));
        check("clamp", |t| t[0].clamp(Some(-0.5), Some(0.7)), std::slice::from_ref(&uniform(s, -2.0, 2.0, 9)));
        check("to_dtype", |t| t[0].to_dtype(DType::F64), std::slice::from_ref(&x));
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    let pairs: &[(&[usize], &[usize])] = &[
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[3, 1], &[1, 4]),
        (&[2, 3, 4], &[3, 1]),
        (&[], &[2, 2]),
        (&[1], &[5]),
        (&[0, 3], &[3]),
    ];
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let x = randn(a, 10 + k as u64);
        let y = randn(b, 20 + k as u64);
        let ypos = uniform(b, 0.5, 2.0, 30 + k as u64);
        let inputs = [x.clone(), y.clone()];
        check("add", |t| t[0].add(&t[1]), &inputs);
        check("sub", |t| t[0].sub(&t[1]), &inputs);
        check("mul", |t| t[0].mul(&t[1]), &inputs);
        check("div", |t| t[0].div(&t[1]), &[x.clone(), ypos]);
        check("maximum", |t| t[0].maximum(&t[1]), &inputs);
        check("minimum", |t| t[0].minimum(&t[1]), &inputs);
        check("operators", |t| ((&t[0] * 2.0)? - (&t[1] / 3.0)?)?.add(&t[1]), &inputs);
    }
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 1);
    for dim in [-3isize, -1, 0, 1, 2] {
        for keep in [false, true] {
            check("sum", |t| t[0].sum(dim, keep), std::slice::from_ref(&x));
            check("mean", |t| t[0].mean(dim, keep), std::slice::from_ref(&x));
            check("max", |t| t[0].max(dim, keep), std::slice::from_ref(&x));
            check("logsumexp", |t| t[0].logsumexp(dim, keep), std::slice::from_ref(&x));
        }
    }
    check("sum_all", |t| Ok(t[0].sum_all()), std::slice::from_ref(&x));
    check("mean_all", |t| Ok(t[0].mean_all()), std::slice::from_ref(&x));
    let z = randn(&[2, 0, 3], 2);
    check("sum empty dim", |t| t[0].sum(1, false), std::slice::from_ref(&z));
    check("sum over nonempty dim of empty", |t| t[0].sum(0, true), std::slice::from_ref(&z));
    check("scalar sum", |t| t[0].sum(0, false), &[randn(&[], 3)]);
}

#[test]
fn shape_ops() {
    let x = randn(&[2, 3, 4], 4);
    check("reshape", |t| t[0].reshape(&[4, -1])?.mul(&t[0].reshape(&[4, 6])?), std::slice::from_ref(&x));
    check("transpose", |t| t[0].transpose(0, 2), std::slice::from_ref(&x));
    check("permute", |t| t[0].permute(&[1, 2, 0]), std::slice::from_ref(&x));
    check("unsqueeze+squeeze", |t| t[0].unsqueeze(1)?.squeeze(1)?.unsqueeze(-1), std::slice::from_ref(&x));
    check("flatten", |t| t[0].flatten(1, 2), std::slice::from_ref(&x));
    check("broadcast_to", |t| t[0].broadcast_to(&[5, 3, 1]), &[randn(&[3, 1], 5)]);
}

#[test]
fn indexing_ops() {
    let x = randn(&[3, 5], 6);
    let idx = Tensor::from_vec(vec![4i64, 0, 0, 2, 1, 1], &[3, 2]).unwrap();
    check("gather dim 1", |t| t[0].gather(1, &t[1]), &[x.clone(), idx]);
    let idx0 = Tensor::from_vec(vec![2i64, 0, 1, 2, 2], &[1, 5]).unwrap();
    check("gather dim 0", |t| t[0].gather(0, &t[1]), &[x.clone(), idx0]);
    let sel = Tensor::from_vec(vec![4i64, 4, 0], &[3]).unwrap();
    check("index_select", |t| t[0].index_select(1, &t[1]), &[x.clone(), sel]);
    let mask = Tensor::from_vec(vec![1i64, 0, 1, 1, 0], &[5]).unwrap();
    check("where", |t| Tensor::where_cond(&mask, &t[0], &t[1]), &[x, randn(&[1], 7)]);
}

#[test]
fn matmul_shapes() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 4], &[4, 5]),
        (&[4], &[4]),
        (&[4], &[4, 2]),
        (&[3, 4], &[4]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[2, 1, 3, 4], &[3, 4, 2]),
        (&[0, 4], &[4, 3]),
        (&[3, 0], &[0, 2]),
    ];
    for (k, &(a, b)) in cases.iter().enumerate() {
        check("matmul", |t| t[0].matmul(&t[1]), &[randn(a, 40 + k as u64), randn(b, 50 + k as u64)]);
    }
}

#[test]
fn gradgradcheck_catches_a_wrong_second_derivative() {
    // x.detach() * x has gradient x.detach(), whose derivative is 0, not 2: gradgradcheck must notice
    let x = randn(&[4], 8);
    let r = gradgradcheck(|t| t[0].detach().mul(&t[0]), &[x], EPS, ATOL, RTOL).unwrap();
    assert!(!r.passed, "{r:?}");
}

#[test]
fn layer_activations_and_layer_norm() {
    use tapegrad::functional as F;
    for (k, &s) in SHAPES.iter().enumerate() {
        let x = randn(s, 40 + k as u64).mul_scalar(2.0).unwrap();
        check("gelu", |t| F::gelu(&t[0]), std::slice::from_ref(&x));
        // away from the kink at 0
        let away = uniform(s, 0.2, 3.0, 50 + k as u64).sub_scalar(1.6).unwrap();
        check("leaky_relu", |t| F::leaky_relu(&t[0], 0.2), std::slice::from_ref(&away));
    }
    for (shape, ns) in [(&[4, 5][..], &[5][..]), (&[2, 3, 4], &[3, 4]), (&[6], &[6]), (&[3, 1], &[1])] {
        let x = randn(shape, 70);
        let w = randn(ns, 71).add_scalar(1.0).unwrap();
        let b = randn(ns, 72);
        check("layer_norm", |t| F::layer_norm(&t[0], ns, Some(&t[1]), Some(&t[2]), 1e-5), &[x.clone(), w, b]);
        check("layer_norm without affine", |t| F::layer_norm(&t[0], ns, None, None, 1e-3), &[x]);
    }
}

#[test]
fn pooling() {
    use tapegrad::functional as F;
    type Pair = (usize, usize);
    let geoms: &[(&[usize], Pair, Pair, Pair)] = &[
        (&[2, 2, 4, 4], (2, 2), (2, 2), (0, 0)),
        (&[1, 2, 5, 6], (3, 3), (2, 1), (1, 1)),
        (&[2, 1, 4, 5], (2, 3), (1, 2), (1, 0)),
        (&[3, 5, 4], (2, 2), (1, 1), (1, 1)),
        (&[0, 2, 4, 4], (2, 2), (2, 2), (0, 0)),
    ];
    for (k, &(shape, kernel, stride, padding)) in geoms.iter().enumerate() {
        let x = randn(shape, 90 + k as u64);
        check("avg_pool2d", |t| F::avg_pool2d(&t[0], kernel, stride, padding), std::slice::from_ref(&x));
        // distinct values at least 0.01 apart: no ties, and the finite-difference
        // step never changes which element is a window's maximum
        let n = x.numel();
        let mut perm: Vec<usize> = (0..n).collect();
        perm.sort_by_key(|&i| (i * 7919 + k) % n.max(1));
        let spread = Tensor::from_vec(perm.iter().map(|&i| i as f64 * 0.01).collect(), shape).unwrap();
        check("max_pool2d", |t| F::max_pool2d(&t[0], kernel, stride, padding), &[spread]);
    }
}

#[test]
fn linear_conv2d_batch_norm_and_dropout() {
    use rand::SeedableRng;
    use tapegrad::functional as F;
    for (k, xs) in [&[3usize, 4][..], &[2, 3, 4], &[4]].iter().enumerate() {
        let x = randn(xs, 200 + k as u64);
        let w = randn(&[2, 4], 210 + k as u64);
        let b = randn(&[2], 220 + k as u64);
        check("linear", |t| F::linear(&t[0], &t[1], Some(&t[2])), &[x.clone(), w.clone(), b]);
        check("linear without bias, tanh", |t| Ok(F::linear(&t[0], &t[1], None)?.tanh()), &[x, w]);
    }
    let convs: &[(&[usize], &[usize], F::Conv2dOptions)] = &[
        (&[1, 2, 5, 5], &[3, 2, 3, 3], F::Conv2dOptions { padding: (1, 1), ..Default::default() }),
        (
            &[2, 4, 6, 5],
            &[4, 2, 2, 3],
            F::Conv2dOptions { stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2 },
        ),
        (&[3, 5, 4], &[2, 3, 2, 2], F::Conv2dOptions::default()),
    ];
    for (k, (xs, ws, opts)) in convs.iter().enumerate() {
        let x = randn(xs, 230 + k as u64);
        let w = randn(ws, 240 + k as u64);
        let b = randn(&[ws[0]], 250 + k as u64);
        // squared so that the second derivative in the input is not zero
        check("conv2d", |t| F::conv2d(&t[0], &t[1], Some(&t[2]), opts)?.pow(2.0), &[x, w, b]);
    }
    for (k, shape) in [&[4usize, 3][..], &[3, 2, 4], &[2, 3, 2, 2]].iter().enumerate() {
        let x = randn(shape, 260 + k as u64);
        let w = randn(&[shape[1]], 270).add_scalar(1.0).unwrap();
        let b = randn(&[shape[1]], 280);
        check(
            "batch_norm (training)",
            |t| Ok(F::batch_norm(&t[0], None, None, Some(&t[1]), Some(&t[2]), true, 0.1, 1e-5)?.tanh()),
            &[x.clone(), w.clone(), b.clone()],
        );
        let rm = randn(&[shape[1]], 290);
        let rv = uniform(&[shape[1]], 0.5, 2.0, 291);
        check(
            "batch_norm (eval)",
            |t| Ok(F::batch_norm(&t[0], Some(&rm), Some(&rv), Some(&t[1]), Some(&t[2]), false, 0.1, 1e-5)?.tanh()),
            &[x, w, b],
        );
    }
    let x = randn(&[4, 5], 300);
    check(
        "dropout",
        |t| Ok(F::dropout(&t[0], 0.3, true, &mut StdRng::seed_from_u64(1))?.tanh()),
        std::slice::from_ref(&x),
    );
    for dim in [-1isize, 0] {
        check("softmax", |t| F::softmax(&t[0], dim), std::slice::from_ref(&x));
        check("log_softmax", |t| F::log_softmax(&t[0], dim), std::slice::from_ref(&x));
    }
}
