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
}

impl FromStr for Reduction {
    type Err = Error;
    /// Parses `"none"`, `"mean"` or `"sum"`, as PyTorch spells them.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(Error::value(
                "Reduction::from_str",
                format!("reduction = {other:?} is not one of \"none\", \"mean\", \"sum\""),
            )),
        }
    }
}
