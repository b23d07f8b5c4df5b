//! Random loss configurations shared by the property tests and gradcheck:
//! a loss, its shapes, data and options, all drawn from one seed.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Result, Tensor};

pub const LOSSES: [&str; 8] = ["nll", "ce_index", "ce_prob", "bce", "bce_logits", "smooth_l1", "huber", "mse"];
pub const ALL_LOSSES: [&str; 9] =
    ["nll", "ce_index", "ce_prob", "bce", "bce_logits", "smooth_l1", "huber", "mse", "l1"];

/// One loss call: input, target, and every option the loss has.
#[derive(Clone, Debug)]
pub struct Case {
    pub loss: &'static str,
    pub input: Tensor,
    pub target: Tensor,
    pub weight: Option<Tensor>,
    pub pos_weight: Option<Tensor>,
    pub reduction: Reduction,
    pub ignore_index: i64,
    pub label_smoothing: f64,
    pub beta: f64,
    pub delta: f64,
}

fn reduction(rng: &mut StdRng) -> Reduction {
    [Reduction::None, Reduction::Mean, Reduction::Sum][rng.random_range(0..3)]
}

/// A random case of `loss` in `dtype`; `min_size` 1 avoids empty tensors (for gradcheck).
pub fn random_case(loss: &'static str, dtype: DType, seed: u64, min_size: usize) -> Case {
    let mut rng = StdRng::seed_from_u64(seed);
    let red = reduction(&mut rng);
    let mut case = Case {
        loss,
        input: Tensor::zeros(&[1], dtype),
        target: Tensor::zeros(&[1], dtype),
        weight: None,
        pos_weight: None,
        reduction: red,
        ignore_index: -100,
        label_smoothing: 0.0,
        beta: 1.0,
        delta: 1.0,
    };
    match loss {
        "nll" | "ce_index" | "ce_prob" => {
            let n = rng.random_range(min_size..4);
            let c = rng.random_range(1.max(min_size)..6);
            let spatial: Vec<usize> =
                (0..rng.random_range(0..3)).map(|_| rng.random_range(min_size.max(1)..4)).collect();
            let unbatched = rng.random_range(0..4) == 0;
            let mut shape = if unbatched { vec![c] } else { vec![n, c] };
            if !unbatched {
                shape.extend(&spatial);
            }
            case.input = Tensor::randn(&shape, dtype, &mut rng);
            let mut tshape = shape.clone();
            tshape.remove(if unbatched { 0 } else { 1 });
            if loss == "ce_prob" {
                let raw = Tensor::rand(&shape, dtype, &mut rng);
                let dim = if unbatched { 0 } else { 1 };
                case.target = raw.div(&raw.sum(dim, true).unwrap().add_scalar(1e-3).unwrap()).unwrap();
            } else {
                case.target = Tensor::randint(0, c as i64, &tshape, &mut rng);
                if rng.random_range(0..2) == 0 {
                    case.ignore_index = rng.random_range(-1..c as i64);
                }
            }
            if rng.random_range(0..2) == 0 {
                case.weight = Some(Tensor::rand(&[c], dtype, &mut rng).add_scalar(0.5).unwrap());
            }
            if loss != "nll" && rng.random_range(0..2) == 0 {
                case.label_smoothing = rng.random_range(0.0..1.0);
            }
        }
        _ => {
            let shape: Vec<usize> = (0..rng.random_range(0..4)).map(|_| rng.random_range(min_size..4)).collect();
            let x = Tensor::randn(&shape, dtype, &mut rng);
            case.target = Tensor::randn(&shape, dtype, &mut rng);
            case.input = x.clone();
            match loss {
                "bce" => {
                    // probabilities away from 0 and 1
                    case.input = x.sigmoid().mul_scalar(0.9).unwrap().add_scalar(0.05).unwrap();
                    case.target = Tensor::rand(&shape, dtype, &mut rng);
                }
                "bce_logits" => {
                    case.target = Tensor::rand(&shape, dtype, &mut rng);
                    if rng.random_range(0..2) == 0 && !shape.is_empty() {
                        let last = *shape.last().unwrap();
                        case.pos_weight = Some(Tensor::rand(&[last], dtype, &mut rng).mul_scalar(3.0).unwrap());
                    }
                }
                "smooth_l1" => case.beta = [0.0, 0.5, 1.0, 2.0][rng.random_range(0..4)],
                "huber" => case.delta = [0.5, 1.0, 2.0][rng.random_range(0..3)],
                _ => {}
            }
            if loss != "smooth_l1" && rng.random_range(0..2) == 0 {
                case.weight = Some(Tensor::rand(&shape, dtype, &mut rng).add_scalar(0.1).unwrap());
            }
        }
    }
    case
}

impl Case {
    /// The loss through `functional`.
    pub fn functional(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        let (w, r) = (self.weight.clone(), self.reduction);
        match self.loss {
            "nll" => F::nll_loss(
                input,
                target,
                &F::NllLossOptions { weight: w, ignore_index: self.ignore_index, reduction: r },
            ),
            "ce_index" | "ce_prob" => F::cross_entropy(
                input,
                target,
                &F::CrossEntropyOptions {
                    weight: w,
                    ignore_index: self.ignore_index,
                    reduction: r,
                    label_smoothing: self.label_smoothing,
                },
            ),
            "bce" => F::binary_cross_entropy(input, target, &F::BceOptions { weight: w, reduction: r }),
            "bce_logits" => F::binary_cross_entropy_with_logits(
                input,
                target,
                &F::BceWithLogitsOptions { weight: w, pos_weight: self.pos_weight.clone(), reduction: r },
            ),
            "smooth_l1" => F::smooth_l1_loss(input, target, &F::SmoothL1Options { reduction: r, beta: self.beta }),
            "huber" => F::huber_loss(input, target, &F::HuberOptions { reduction: r, delta: self.delta, weight: w }),
            "mse" => F::mse_loss(input, target, &F::MseOptions { reduction: r, weight: w }),
            "l1" => F::l1_loss(input, target, &F::L1Options { reduction: r, weight: w }),
            other => panic!("unknown loss {other}"),
        }
    }

    /// The same loss through its `nn` module, configured with the builders.
    pub fn module(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        let r = self.reduction;
        macro_rules! weighted {
            ($m:expr) => {
                match &self.weight {
                    Some(w) => $m.weight(w.clone()),
                    None => $m,
                }
            };
        }
        match self.loss {
            "nll" => weighted!(nn::NllLoss::new().ignore_index(self.ignore_index).reduction(r)).forward(input, target),
            "ce_index" | "ce_prob" => weighted!(
                nn::CrossEntropyLoss::new()
                    .ignore_index(self.ignore_index)
                    .reduction(r)
                    .label_smoothing(self.label_smoothing)
            )
            .forward(input, target),
            "bce" => weighted!(nn::BceLoss::new().reduction(r)).forward(input, target),
            "bce_logits" => {
                let m = weighted!(nn::BceWithLogitsLoss::new().reduction(r));
                match &self.pos_weight {
                    Some(p) => m.pos_weight(p.clone()),
                    None => m,
                }
                .forward(input, target)
            }
            "smooth_l1" => nn::SmoothL1Loss::new().beta(self.beta).reduction(r).forward(input, target),
            "huber" => weighted!(nn::HuberLoss::new().delta(self.delta).reduction(r)).forward(input, target),
            "mse" => weighted!(nn::MseLoss::new().reduction(r)).forward(input, target),
            "l1" => weighted!(nn::L1Loss::new().reduction(r)).forward(input, target),
            other => panic!("unknown loss {other}"),
        }
    }

    /// True if the target is differentiable for this loss.
    pub fn target_has_grad(&self) -> bool {
        !matches!(self.loss, "nll" | "ce_index")
    }
}
