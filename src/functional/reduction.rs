//! How a loss reduces its per-element values.

use crate::Error;
use std::str::FromStr;

/// How a loss reduces its per-element values (PyTorch's `reduction=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// No reduction: one loss value per element (or per sample).
    None,
    /// The (weighted) mean; PyTorch's default.
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// The sum divided by the size of the first dim (the batch), the
    /// mathematically correct KL divergence; accepted by
    /// [`kl_div`](crate::functional::kl_div) only (PyTorch's `reduction="batchmean"`).
    /// A 0-d input is summed. Every other loss returns an `Err` for it.
    BatchMean,
}

impl Reduction {
    /// `Err` for [`Reduction::BatchMean`]: the loss `op` does not take it.
    pub(crate) fn reject_batchmean(self, op: &'static str) -> Result<Self, Error> {
        if self == Reduction::BatchMean {
            return Err(Error::value(
                op,
                "reduction = BatchMean is accepted by kl_div only; use Mean, Sum or None".to_string(),
            ));
        }
        Ok(self)
    }
}

impl FromStr for Reduction {
    type Err = Error;
    /// Parses `"none"`, `"mean"`, `"sum"` or `"batchmean"`, as PyTorch spells them.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "batchmean" => Ok(Reduction::BatchMean),
            other => Err(Error::value(
                "Reduction::from_str",
                format!("reduction = {other:?} is not one of \"none\", \"mean\", \"sum\", \"batchmean\""),
            )),
        }
    }
}
