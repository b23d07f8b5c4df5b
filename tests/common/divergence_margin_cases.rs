//! Random configurations of the divergence, likelihood and margin losses
//! (`kl_div` … `cosine_embedding_loss`), shared by the property tests and
//! gradcheck: shapes, data and options drawn from one seed.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::functional as F;
use tapegrad::nn;
use tapegrad::{DType, Reduction, Result, Tensor};

pub const DM_LOSSES: [&str; 8] = [
    "kl_div",
    "poisson_nll",
    "gaussian_nll",
    "margin_ranking",
    "hinge_embedding",
    "soft_margin",
    "multilabel_soft_margin",
    "cosine_embedding",
];

/// One loss call: its tensors (in the functional's order) and every option.
#[derive(Clone, Debug)]
pub struct DmCase {
    pub loss: &'static str,
    pub inputs: Vec<Tensor>,
    /// which of `inputs` the loss is differentiable in
    pub differentiable: Vec<bool>,
    pub reduction: Reduction,
    pub log_target: bool,
    pub log_input: bool,
    pub full: bool,
    pub eps: f64,
    pub margin: f64,
    pub weight: Option<Tensor>,
}

fn shape(rng: &mut StdRng, min_size: usize, min_dims: usize) -> Vec<usize> {
    (0..rng.random_range(min_dims..4)).map(|_| rng.random_range(min_size..4)).collect()
}

fn signs(rng: &mut StdRng, shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| if rng.random_range(0..2) == 0 { -1.0 } else { 1.0 }).collect();
    Tensor::from_vec(v, shape).unwrap().to_dtype(dtype).unwrap()
}

/// A random case of `loss` in `dtype`; `min_size` 1 avoids empty tensors (for gradcheck).
pub fn random_dm_case(loss: &'static str, dtype: DType, seed: u64, min_size: usize) -> DmCase {
    let mut rng = StdRng::seed_from_u64(seed);
    let r = &mut rng;
    let reduction = [Reduction::None, Reduction::Mean, Reduction::Sum][r.random_range(0..3)];
    let mut c = DmCase {
        loss,
        inputs: vec![],
        differentiable: vec![true, true, true],
        reduction,
        log_target: r.random_range(0..2) == 0,
        log_input: r.random_range(0..2) == 0,
        full: r.random_range(0..2) == 0,
        eps: [1e-8, 1e-6, 1e-3][r.random_range(0..3)],
        margin: [0.0, 0.3, 1.0, -0.2][r.random_range(0..4)],
        weight: None,
    };
    let s = shape(r, min_size, 0);
    let randn = |r: &mut StdRng, s: &[usize]| Tensor::randn(s, dtype, r);
    // values away from 0 (positive data: rates, probabilities, variances)
    let pos = |r: &mut StdRng, s: &[usize]| Tensor::rand(s, dtype, r).add_scalar(0.1).unwrap();
    match loss {
        "kl_div" => {
            if r.random_range(0..4) == 0 {
                c.reduction = Reduction::BatchMean;
            }
            let t = if c.log_target { randn(r, &s) } else { pos(r, &s) };
            c.inputs = vec![randn(r, &s), t];
        }
        "poisson_nll" => {
            let x = if c.log_input { randn(r, &s) } else { pos(r, &s) };
            c.inputs = vec![x, Tensor::rand(&s, dtype, r).mul_scalar(4.0).unwrap()];
        }
        "gaussian_nll" => {
            let s = shape(r, min_size, 1);
            let vs = match r.random_range(0..3) {
                0 => s.clone(),
                1 => s[..s.len() - 1].to_vec(),
                _ => [&s[..s.len() - 1], &[1]].concat(),
            };
            c.inputs = vec![randn(r, &s), randn(r, &s), pos(r, &vs)];
        }
        "margin_ranking" => c.inputs = vec![randn(r, &s), randn(r, &s), signs(r, &s, dtype)],
        "hinge_embedding" => {
            c.inputs = vec![randn(r, &s), signs(r, &s, dtype)];
            c.differentiable = vec![true, false];
        }
        "soft_margin" => c.inputs = vec![randn(r, &s), signs(r, &s, dtype)],
        "multilabel_soft_margin" => {
            let s = shape(r, min_size.max(1), 1);
            let target = Tensor::rand(&s, dtype, r);
            if r.random_range(0..2) == 0 {
                c.weight = Some(pos(r, &[s[s.len() - 1]]));
            }
            c.inputs = vec![randn(r, &s), target];
        }
        "cosine_embedding" => {
            let n = r.random_range(min_size.max(1)..5);
            let d = r.random_range(1..6);
            let (is, ts): (Vec<usize>, Vec<usize>) =
                if r.random_range(0..3) == 0 { (vec![d], vec![]) } else { (vec![n, d], vec![n]) };
            c.inputs = vec![randn(r, &is), randn(r, &is), signs(r, &ts, dtype)];
            c.differentiable = vec![true, true, false];
        }
        other => panic!("unknown loss {other}"),
    }
    c.differentiable.truncate(c.inputs.len());
    c
}

impl DmCase {
    /// The loss through `functional`.
    pub fn functional(&self, t: &[Tensor]) -> Result<Tensor> {
        let r = self.reduction;
        match self.loss {
            "kl_div" => F::kl_div(&t[0], &t[1], &F::KlDivOptions { reduction: r, log_target: self.log_target }),
            "poisson_nll" => F::poisson_nll_loss(
                &t[0],
                &t[1],
                &F::PoissonNllOptions { log_input: self.log_input, full: self.full, eps: self.eps, reduction: r },
            ),
            "gaussian_nll" => F::gaussian_nll_loss(
                &t[0],
                &t[1],
                &t[2],
                &F::GaussianNllOptions { full: self.full, eps: self.eps, reduction: r },
            ),
            "margin_ranking" => F::margin_ranking_loss(
                &t[0],
                &t[1],
                &t[2],
                &F::MarginRankingOptions { margin: self.margin, reduction: r },
            ),
            "hinge_embedding" => {
                F::hinge_embedding_loss(&t[0], &t[1], &F::HingeEmbeddingOptions { margin: self.margin, reduction: r })
            }
            "soft_margin" => F::soft_margin_loss(&t[0], &t[1], &F::SoftMarginOptions { reduction: r }),
            "multilabel_soft_margin" => F::multilabel_soft_margin_loss(
                &t[0],
                &t[1],
                &F::MultilabelSoftMarginOptions { weight: self.weight.clone(), reduction: r },
            ),
            "cosine_embedding" => F::cosine_embedding_loss(
                &t[0],
                &t[1],
                &t[2],
                &F::CosineEmbeddingOptions { margin: self.margin, reduction: r },
            ),
            other => panic!("unknown loss {other}"),
        }
    }

    /// The same loss through its `nn` module, configured with the builders.
    pub fn module(&self, t: &[Tensor]) -> Result<Tensor> {
        let r = self.reduction;
        match self.loss {
            "kl_div" => nn::KlDivLoss::new().log_target(self.log_target).reduction(r).forward(&t[0], &t[1]),
            "poisson_nll" => nn::PoissonNllLoss::new()
                .log_input(self.log_input)
                .full(self.full)
                .eps(self.eps)
                .reduction(r)
                .forward(&t[0], &t[1]),
            "gaussian_nll" => {
                nn::GaussianNllLoss::new().full(self.full).eps(self.eps).reduction(r).forward(&t[0], &t[1], &t[2])
            }
            "margin_ranking" => {
                nn::MarginRankingLoss::new().margin(self.margin).reduction(r).forward(&t[0], &t[1], &t[2])
            }
            "hinge_embedding" => nn::HingeEmbeddingLoss::new().margin(self.margin).reduction(r).forward(&t[0], &t[1]),
            "soft_margin" => nn::SoftMarginLoss::new().reduction(r).forward(&t[0], &t[1]),
            "multilabel_soft_margin" => {
                let m = nn::MultiLabelSoftMarginLoss::new().reduction(r);
                match &self.weight {
                    Some(w) => m.weight(w.clone()),
                    None => m,
                }
                .forward(&t[0], &t[1])
            }
            "cosine_embedding" => {
                nn::CosineEmbeddingLoss::new().margin(self.margin).reduction(r).forward(&t[0], &t[1], &t[2])
            }
            other => panic!("unknown loss {other}"),
        }
    }
}
