//! Elementwise binary ops with NumPy/PyTorch broadcasting. Each op is a value
//! `f(a, b)` and its partial derivatives; the backward accumulates
//! `g · ∂f/∂a` straight into the (un-broadcast) shape of `a`, in one pass.

use crate::autograd::Backward;
use crate::tensor::shape::{broadcast_shapes, broadcast_strides, for_each_offset2};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

impl Binary {
    fn op_name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
        }
    }

    #[inline]
    fn f<T: Float>(self, a: T, b: T) -> T {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Maximum => {
                if a.is_nan() || b.is_nan() {
                    a + b
                } else {
                    a.max(b)
                }
            }
            Binary::Minimum => {
                if a.is_nan() || b.is_nan() {
                    a + b
                } else {
                    a.min(b)
                }
            }
        }
    }

    /// `(∂f/∂a, ∂f/∂b)`. At ties, maximum/minimum split the gradient evenly, as PyTorch.
    #[inline]
    fn df<T: Float>(self, a: T, b: T) -> (T, T) {
        let (one, zero, half) = (T::one(), T::zero(), T::from_f64(0.5));
        match self {
            Binary::Add => (one, one),
            Binary::Sub => (one, -one),
            Binary::Mul => (b, a),
            Binary::Div => (one / b, -a / (b * b)),
            Binary::Maximum | Binary::Minimum => {
                let first = if matches!(self, Binary::Maximum) { a > b } else { a < b };
                if a == b {
                    (half, half)
                } else if first {
                    (one, zero)
                } else {
                    (zero, one)
                }
            }
        }
    }
}

struct BinaryBackward {
    kind: Binary,
}

impl Backward for BinaryBackward {
    fn name(&self) -> &'static str {
        match self.kind {
            Binary::Add => "AddBackward0",
            Binary::Sub => "SubBackward0",
            Binary::Mul => "MulBackward0",
            Binary::Div => "DivBackward0",
            Binary::Maximum => "MaximumBackward0",
            Binary::Minimum => "MinimumBackward0",
        }
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let kind = self.kind;
        let out: Shape = grad.0.shape.clone();
        let (need_a, need_b) = (a.tracks_grad(), b.tracks_grad());
        let (ga, gb) = float_op2!(kind.op_name(), a, b, "other", |x, y| {
            let g = grad.data::<T>(kind.op_name(), "grad")?;
            if a.shape() == b.shape() {
                // no broadcasting: one zipped pass per wanted gradient
                let each = |first: bool| -> Vec<T> {
                    x.iter()
                        .zip(y.iter())
                        .zip(g.iter())
                        .map(|((&p, &q), &gv)| {
                            let (da, db) = kind.df(p, q);
                            gv * if first { da } else { db }
                        })
                        .collect()
                };
                let ga = need_a.then(|| Tensor::from_storage(T::wrap(each(true)), a.shape()));
                let gb = need_b.then(|| Tensor::from_storage(T::wrap(each(false)), b.shape()));
                return Ok(vec![ga, gb]);
            }

            let g: &[T] = &g;
            let sa = broadcast_strides(a.shape(), &out);
            let sb = broadcast_strides(b.shape(), &out);
            let mut ga = crate::cpu::alloc::zeros::<T>(if need_a { x.len() } else { 0 });
            let mut gb = crate::cpu::alloc::zeros::<T>(if need_b { y.len() } else { 0 });
            let mut i = 0;
            for_each_offset2(&out, &sa, &sb, |ia, ib| {
                let (da, db) = kind.df(x[ia], y[ib]);
                if need_a {
                    ga[ia] += g[i] * da;
                }
                if need_b {
                    gb[ib] += g[i] * db;
                }
                i += 1;
            });
            (
                need_a.then(|| Tensor::from_storage(T::wrap(ga), a.shape())),
                need_b.then(|| Tensor::from_storage(T::wrap(gb), b.shape())),
            )
        });
        Ok(vec![ga, gb])
    }
    fn backward_graph(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let g = grad;
        let (ga, gb) = match self.kind {
            Binary::Add => (g.clone(), g.clone()),
            Binary::Sub => (g.clone(), g.neg()),
            Binary::Mul => (g.mul(b)?, g.mul(a)?),
            // ∂(a/b)/∂b = −a/b² = −(a/b)/b
            Binary::Div => (g.div(b)?, if needs[1] { g.mul(&a.div(b)?)?.div(b)?.neg() } else { g.clone() }),
            Binary::Maximum | Binary::Minimum => {
                let (da, db) = self.constant_partials(a, b, g.shape())?;
                (g.mul(&da)?, g.mul(&db)?)
            }
        };
        Ok(vec![
            needs[0].then(|| ga.sum_to(a.shape())).transpose()?,
            needs[1].then(|| gb.sum_to(b.shape())).transpose()?,
        ])
    }
}

impl BinaryBackward {
    /// `(∂f/∂a, ∂f/∂b)` over the broadcast shape `out`, untracked (maximum and
    /// minimum: piecewise constant).
    fn constant_partials(&self, a: &Tensor, b: &Tensor, out: &[usize]) -> Result<(Tensor, Tensor)> {
        let kind = self.kind;
        let (ea, eb) = (a.detach().broadcast_to(out)?, b.detach().broadcast_to(out)?);
        let (da, db) = float_op2!(kind.op_name(), &ea, &eb, "other", |x, y| {
            let (da, db): (Vec<T>, Vec<T>) = x.iter().zip(y.iter()).map(|(&p, &q)| kind.df(p, q)).unzip();
            (T::wrap(da), T::wrap(db))
        });
        Ok((Tensor::from_storage(da, out), Tensor::from_storage(db, out)))
    }
}

pub(crate) fn apply(a: &Tensor, b: &Tensor, kind: Binary) -> Result<Tensor> {
    let op = kind.op_name();
    let out = broadcast_shapes(op, a.shape(), b.shape())?;
    let storage = float_op2!(op, a, b, "other", |x, y| {
        let v: Vec<T> = if a.shape() == b.shape() {
            x.iter().zip(y).map(|(&p, &q)| kind.f(p, q)).collect()
        } else {
            let sa = broadcast_strides(a.shape(), &out);
            let sb = broadcast_strides(b.shape(), &out);
            let mut v = Vec::with_capacity(crate::tensor::shape::numel(&out));
            for_each_offset2(&out, &sa, &sb, |ia, ib| v.push(kind.f(x[ia], y[ib])));
            v
        };
        T::wrap(v)
    });
    Ok(Tensor::from_op(storage, &out, BinaryBackward { kind }, &[a, b]))
}

impl Tensor {
    /// `self + other`, broadcasting (`torch.add`).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![10.0f32, 20.0], &[2])?;
    /// assert_eq!(a.add(&b)?.to_vec::<f32>()?, vec![11.0, 22.0, 13.0, 24.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Add)
    }
    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Sub)
    }
    /// `self * other`, elementwise, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Mul)
    }
    /// `self / other`, elementwise, broadcasting (IEEE: x/0 = ±inf or NaN).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Div)
    }
    /// Elementwise maximum (`torch.maximum`): NaN propagates; at ties the gradient is split evenly.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Maximum)
    }
    /// Elementwise minimum (`torch.minimum`): NaN propagates; at ties the gradient is split evenly.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        apply(self, other, Binary::Minimum)
    }

    /// A 0-d tensor of `self`'s dtype holding `v`, for scalar arithmetic.
    pub(crate) fn scalar_like(&self, op: &'static str, v: f64) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                op,
                format!("input has dtype {}, expected a float tensor; convert with to_dtype", self.dtype()),
            ));
        }
        Ok(Tensor::full(&[], v, self.dtype()))
    }

    /// `self + v` for a scalar `v`.
    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&self.scalar_like("add", v)?)
    }
    /// `self - v` for a scalar `v`.
    pub fn sub_scalar(&self, v: f64) -> Result<Tensor> {
        self.sub(&self.scalar_like("sub", v)?)
    }
    /// `self * v` for a scalar `v`.
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&self.scalar_like("mul", v)?)
    }
    /// `self / v` for a scalar `v`.
    pub fn div_scalar(&self, v: f64) -> Result<Tensor> {
        self.div(&self.scalar_like("div", v)?)
    }
}
