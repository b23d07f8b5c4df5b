//! `nn.Embedding`.

use super::Module;
use crate::functional::embedding::{embedding_impl, padding_row};
use crate::tensor::DType;
use crate::{Error, Result, Tensor};
use rand::Rng;

/// A lookup table of `num_embeddings` vectors of size `embedding_dim`
/// (`nn.Embedding(num_embeddings, embedding_dim)`): integer indices of any
/// shape in, `input.shape + (embedding_dim,)` vectors out. See
/// [`F::embedding`](crate::functional::embedding) for the maths.
///
/// Parameter `"weight"` of shape `(num_embeddings, embedding_dim)`,
/// initialised with N(0, 1) samples (f32, trainable), as PyTorch does.
/// An index outside `[0, num_embeddings)` is an `Err` naming `Embedding`,
/// the position and the value.
///
/// ```
/// use tapegrad::{nn, DType, Tensor};
/// let mut rng = rand::rng();
/// let emb = nn::Embedding::new(10, 3, &mut rng);
/// let tokens = Tensor::from_vec(vec![1i64, 2, 4, 5, 4, 3, 2, 9], &[2, 4])?;
/// let v = emb.forward(&tokens)?;
/// assert_eq!(v.shape(), &[2, 4, 3]);
/// v.sum_all().backward()?;
/// assert_eq!(emb.weight().grad().unwrap().shape(), &[10, 3]);
/// let e = emb.forward(&Tensor::from_vec(vec![10i64], &[1])?).unwrap_err();
/// assert!(e.to_string().contains("Embedding") && e.to_string().contains("10"));
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    weight: Tensor,
    padding_idx: Option<i64>,
}

impl Embedding {
    /// A table of `num_embeddings` rows of `embedding_dim` N(0, 1) samples
    /// (PyTorch's initialisation), f32, trainable.
    pub fn new(num_embeddings: usize, embedding_dim: usize, rng: &mut impl Rng) -> Embedding {
        Embedding {
            weight: Tensor::randn(&[num_embeddings, embedding_dim], DType::F32, rng).requires_grad(),
            padding_idx: None,
        }
    }

    /// A layer over the given table `(num_embeddings, embedding_dim)`, made a
    /// trainable leaf (PyTorch's `Embedding.from_pretrained(w, freeze=False)`).
    /// Errors unless `weight` is a 2-D float tensor.
    pub fn from_parts(weight: Tensor) -> Result<Embedding> {
        weight.require_float("Embedding::from_parts", "weight")?;
        if weight.ndim() != 2 {
            return Err(Error::shape(
                "Embedding::from_parts",
                format!("weight has shape {:?}; expected (num_embeddings, embedding_dim)", weight.shape()),
            ));
        }
        Ok(Embedding { weight: weight.requires_grad(), padding_idx: None })
    }

    /// Makes row `padding_idx` a padding row (PyTorch's `padding_idx=`): it is
    /// set to zeros now and never receives gradient; a negative value counts
    /// from the end. A value outside `[-num_embeddings, num_embeddings)` makes
    /// every `forward` an `Err` naming it.
    pub fn padding_idx(mut self, padding_idx: i64) -> Embedding {
        self.padding_idx = Some(padding_idx);
        let (num, dim) = (self.weight.shape()[0], self.weight.shape()[1]);
        if let Ok(Some(row)) = padding_row("Embedding", Some(padding_idx), num) {
            let mask: Vec<bool> = (0..num * dim).map(|i| i / dim.max(1) == row).collect();
            let zero = Tensor::full(&[], 0.0, self.weight.dtype());
            let zeroed = Tensor::from_vec(mask, self.weight.shape())
                .and_then(|m| Tensor::where_cond(&m, &zero, &self.weight.detach()));
            // same shape and dtype, written into a trainable leaf: cannot fail
            if let Ok(w) = zeroed {
                let _ = self.weight.set_data(&w);
            }
        }
        self
    }

    /// Looks up the rows of `input` (I64 of any shape); the output has shape
    /// `input.shape + (embedding_dim,)` (also available through [`Module`],
    /// no import needed).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        embedding_impl("Embedding", input, &self.weight, self.padding_idx)
    }

    /// The table, `(num_embeddings, embedding_dim)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The trainable tensors (`[weight]`), as [`Module::parameters`], callable
    /// without importing the trait.
    pub fn parameters(&self) -> Vec<Tensor> {
        vec![self.weight.clone()]
    }
}

impl Module for Embedding {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Embedding::forward(self, input)
    }
    fn parameters(&self) -> Vec<Tensor> {
        Embedding::parameters(self)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
