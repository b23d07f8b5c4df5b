//! Creation functions: from data, constants, and random tensors.

use super::{DType, Element, Storage, Tensor, shape};
use crate::{Error, Result};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

impl Tensor {
    /// A tensor owning `data`, read in row-major order into `shape`.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])?;
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert!(Tensor::from_vec(vec![1.0f32; 3], &[2, 2]).is_err());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel("from_vec", shape)?;
        if n != data.len() {
            return Err(Error::shape(
                "from_vec",
                format!("data has {} elements but shape {shape:?} holds {n}", data.len()),
            ));
        }
        Ok(Tensor::from_storage(T::wrap(data), shape))
    }

    /// A tensor holding a copy of `data`, read in row-major order into `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel("from_slice", shape)?;
        if n != data.len() {
            return Err(Error::shape(
                "from_slice",
                format!("data has {} elements but shape {shape:?} holds {n}", data.len()),
            ));
        }
        Ok(Tensor::from_storage(T::wrap(data.to_vec()), shape))
    }

    /// A 0-d tensor holding `value`.
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_storage(T::wrap(vec![value]), &[])
    }

    /// A tensor of zeros (`torch.zeros`).
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }

    /// A tensor of ones (`torch.ones`).
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 1.0, dtype)
    }

    /// A tensor filled with `value` converted to `dtype` (`torch.full`);
    /// into I64 the value is rounded toward zero.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        Tensor::from_storage(Storage::filled(shape::numel(shape), value, dtype), shape)
    }

    /// Samples of the standard normal distribution (`torch.randn`). For I64,
    /// the samples are rounded toward zero.
    ///
    /// ```
    /// # use tapegrad::{DType, Tensor};
    /// let mut rng = rand::rng();
    /// let x = Tensor::randn(&[2, 3], DType::F32, &mut rng);
    /// assert_eq!(x.shape(), &[2, 3]);
    /// ```
    pub fn randn(shape: &[usize], dtype: DType, rng: &mut impl Rng) -> Tensor {
        let n = shape::numel(shape);
        let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        Tensor::from_storage(Storage::F64(v).convert(dtype), shape)
    }

    /// Samples of the uniform distribution on [0, 1) (`torch.rand`). For I64 and Bool, zeros (`false`).
    pub fn rand(shape: &[usize], dtype: DType, rng: &mut impl Rng) -> Tensor {
        let n = shape::numel(shape);
        let storage = match dtype {
            DType::F32 => Storage::F32((0..n).map(|_| rng.random::<f32>()).collect()),
            DType::F64 => Storage::F64((0..n).map(|_| rng.random::<f64>()).collect()),
            DType::I64 => Storage::I64(vec![0; n]),
            DType::Bool => Storage::Bool(vec![false; n]),
        };
        Tensor::from_storage(storage, shape)
    }

    /// Uniform random integers in `[low, high)` as I64 (`torch.randint`).
    /// An empty range (`high <= low`) yields `low` everywhere.
    pub fn randint(low: i64, high: i64, shape: &[usize], rng: &mut impl Rng) -> Tensor {
        let n = shape::numel(shape);
        let v: Vec<i64> = if high > low { (0..n).map(|_| rng.random_range(low..high)).collect() } else { vec![low; n] };
        Tensor::from_storage(Storage::I64(v), shape)
    }

    /// A tensor of the same shape and dtype as `self`, filled with `value`.
    pub fn full_like(&self, value: f64) -> Tensor {
        Tensor::full(self.shape(), value, self.dtype())
    }

    /// `[0, 1, ..., n-1]` as I64 (`torch.arange`).
    pub fn arange(n: usize) -> Tensor {
        Tensor::from_storage(Storage::I64((0..n as i64).collect()), &[n])
    }
}

fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::shape(op, format!("shape {shape:?} has more elements than fit in memory")))
}
