//! Fuzzes the public surface with shapes, dtypes, data and options read from
//! the input bytes: every call must return `Ok` or `Err`, never panic (a panic
//! is a crash for libFuzzer), and so must the backward of every `Ok` result.
//!
//! Run: `cargo +nightly fuzz run api -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Result, Tensor};

/// Reads decisions from the fuzzer's bytes (zeros once they run out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }
    fn dtype(&mut self) -> DType {
        [DType::F32, DType::F64, DType::I64][self.below(3)]
    }
    fn shape(&mut self) -> Vec<usize> {
        (0..self.below(7)).map(|_| self.below(4)).collect()
    }
    fn value(&mut self) -> f64 {
        match self.below(8) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 1e30,
            _ => self.byte() as f64 / 16.0 - 8.0,
        }
    }
    fn tensor(&mut self, shape: &[usize], dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.value()).collect();
        let t = Tensor::from_vec(v, shape).and_then(|t| t.to_dtype(dtype)).unwrap_or_else(|_| Tensor::zeros(&[0], dtype));
        if self.below(2) == 0 { t.requires_grad() } else { t }
    }
    fn any_tensor(&mut self) -> Tensor {
        let (s, d) = (self.shape(), self.dtype());
        self.tensor(&s, d)
    }
    fn option(&mut self) -> Option<Tensor> {
        (self.below(3) == 0).then(|| self.any_tensor())
    }
    fn reduction(&mut self) -> Reduction {
        [Reduction::None, Reduction::Mean, Reduction::Sum][self.below(3)]
    }
}

fn call(b: &mut Bytes) -> Result<Tensor> {
    let x = b.any_tensor();
    let t = b.any_tensor();
    let dim = b.below(16) as isize - 8;
    match b.below(16) {
        0 => F::nll_loss(&x, &t, &F::NllLossOptions { weight: b.option(), ignore_index: b.byte() as i64 - 128, reduction: b.reduction() }),
        1 => F::cross_entropy(
            &x,
            &t,
            &F::CrossEntropyOptions { weight: b.option(), ignore_index: b.byte() as i64 - 128, reduction: b.reduction(), label_smoothing: b.value() },
        ),
        2 => F::binary_cross_entropy(&x, &t, &F::BceOptions { weight: b.option(), reduction: b.reduction() }),
        3 => F::binary_cross_entropy_with_logits(
            &x,
            &t,
            &F::BceWithLogitsOptions { weight: b.option(), pos_weight: b.option(), reduction: b.reduction() },
        ),
        4 => F::smooth_l1_loss(&x, &t, &F::SmoothL1Options { reduction: b.reduction(), beta: b.value() }),
        5 => F::huber_loss(&x, &t, &F::HuberOptions { reduction: b.reduction(), delta: b.value(), weight: b.option() }),
        6 => F::mse_loss(&x, &t, &F::MseOptions { reduction: b.reduction(), weight: b.option() }),
        7 => F::l1_loss(&x, &t, &F::L1Options { reduction: b.reduction(), weight: b.option() }),
        8 => F::log_softmax(&x, dim),
        9 => F::softmax(&x, dim),
        10 => F::linear(&x, &t, b.option().as_ref()),
        11 => {
            let opts = F::Conv2dOptions {
                stride: (b.below(3), b.below(3)),
                padding: (b.below(3), b.below(3)),
                dilation: (b.below(3), b.below(3)),
                groups: b.below(3),
            };
            F::conv2d(&x, &t, b.option().as_ref(), &opts)
        }
        12 => nn::Conv2d::from_parts(t, b.option(), Default::default())?.forward(&x),
        13 => {
            let shape: Vec<isize> = (0..b.below(4)).map(|_| b.below(6) as isize - 2).collect();
            x.reshape(&shape)?.transpose(dim, 0)?.logsumexp(-1, true)
        }
        14 => x.matmul(&t)?.gather(dim, &t),
        // the fused path: nll_loss of a log_softmax
        _ => F::nll_loss(
            &F::log_softmax(&x, dim)?,
            &t,
            &F::NllLossOptions { weight: b.option(), ignore_index: b.byte() as i64 - 128, reduction: b.reduction() },
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    if let Ok(out) = call(&mut b)
        && out.tracks_grad()
        && out.dtype().is_float()
    {
        let _ = out.backward_with(&out.full_like(1.0));
    }
});
