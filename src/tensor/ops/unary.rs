//! Elementwise unary ops, each a value function `f` and its derivative `df`
//! (dfdx style): the backward multiplies the incoming gradient by `df(x, y)`.

use crate::autograd::Backward;
use crate::tensor::{DType, Float, Storage, Tensor};
use crate::{Error, Result};
use std::sync::Arc;

/// An elementwise function with its derivative.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Sqrt,
    Abs,
    Tanh,
    Relu,
    Sigmoid,
    /// `x^p` for a scalar `p`.
    Pow(f64),
    /// `min(max(x, lo), hi)`; an absent bound is ±inf.
    Clamp(f64, f64),
}

/// Numerically stable logistic function: never computes `exp` of a large positive number.
#[inline]
pub(crate) fn stable_sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// sign(x) with sign(0) = 0, as PyTorch's `sgn` (NaN stays NaN).
#[inline]
pub(crate) fn sign0<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        x * T::zero()
    }
}

impl Unary {
    fn name(self) -> &'static str {
        match self {
            Unary::Neg => "NegBackward0",
            Unary::Exp => "ExpBackward0",
            Unary::Log => "LogBackward0",
            Unary::Log1p => "Log1PBackward0",
            Unary::Sqrt => "SqrtBackward0",
            Unary::Abs => "AbsBackward0",
            Unary::Tanh => "TanhBackward0",
            Unary::Relu => "ReluBackward0",
            Unary::Sigmoid => "SigmoidBackward0",
            Unary::Pow(_) => "PowBackward0",
            Unary::Clamp(..) => "ClampBackward1",
        }
    }

    /// The value `y = f(x)`.
    #[inline]
    fn f<T: Float>(self, x: T) -> T {
        match self {
            Unary::Neg => -x,
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Log1p => x.ln_1p(),
            Unary::Sqrt => x.sqrt(),
            Unary::Abs => x.abs(),
            Unary::Tanh => x.tanh(),
            Unary::Relu => {
                if x > T::zero() {
                    x
                } else {
                    x * T::zero() // 0, or NaN for NaN
                }
            }
            Unary::Sigmoid => stable_sigmoid(x),
            Unary::Pow(p) => x.powf(T::from_f64(p)),
            Unary::Clamp(lo, hi) => {
                if x.is_nan() {
                    x
                } else {
                    x.max(T::from_f64(lo)).min(T::from_f64(hi))
                }
            }
        }
    }

    /// The derivative `dy/dx`, given `x` and `y = f(x)`.
    #[inline]
    fn df<T: Float>(self, x: T, y: T) -> T {
        let one = T::one();
        match self {
            Unary::Neg => -one,
            Unary::Exp => y,
            Unary::Log => one / x,
            Unary::Log1p => one / (one + x),
            Unary::Sqrt => T::from_f64(0.5) / y,
            Unary::Abs => sign0(x),
            Unary::Tanh => one - y * y,
            Unary::Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            Unary::Sigmoid => y * (one - y),
            Unary::Pow(p) => {
                if p == 0.0 {
                    T::zero()
                } else {
                    T::from_f64(p) * x.powf(T::from_f64(p - 1.0))
                }
            }
            Unary::Clamp(lo, hi) => {
                if x >= T::from_f64(lo) && x <= T::from_f64(hi) {
                    one
                } else {
                    T::zero()
                }
            }
        }
    }
}

struct UnaryBackward {
    kind: Unary,
    out: Arc<Storage>,
}

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let kind = self.kind;
        let g = float_op!(kind.name(), "grad", grad, |g| {
            let xs = x.data::<T>(kind.name(), "input")?;
            let xs: &[T] = &xs;
            let ys = T::slice(&self.out).unwrap_or_default();
            let v: Vec<T> = g
                .iter()
                .zip(xs)
                .zip(ys)
                .map(|((&g, &x), &y)| g * kind.df(x, y))
                .collect();
            T::wrap(v)
        });
        Ok(vec![Some(Tensor::from_storage(g, x.shape()))])
    }
}

pub(crate) fn apply(x: &Tensor, kind: Unary, op: &'static str) -> Result<Tensor> {
    let out = float_op!(op, "input", x, |v| T::wrap(
        v.iter().map(|&a| kind.f(a)).collect()
    ));
    let out = Arc::new(out);
    Ok(Tensor::from_op_shared(
        out.clone(),
        x.0.shape.clone(),
        UnaryBackward { kind, out },
        &[x],
    ))
}

/// Applies `kind` to a float tensor; on I64 input the result is an I64 copy
/// computed through f64 (for `abs` and `neg`, which make sense on integers).
fn apply_any(x: &Tensor, kind: Unary, op: &'static str) -> Tensor {
    match apply(x, kind, op) {
        Ok(t) => t,
        Err(_) => {
            let v = x.storage().convert(DType::F64);
            let Storage::F64(v) = v else {
                unreachable!("convert(F64) yields F64")
            };
            let r: Vec<f64> = v.into_iter().map(|a| kind.f(a)).collect();
            Tensor::from_storage(Storage::F64(r).convert(x.dtype()), x.shape())
        }
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $kind:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Tensor {
                    apply_any(self, $kind, stringify!($name))
                }
            )*
        }
    };
}

unary_methods! {
    /// `-x`.
    neg => Unary::Neg;
    /// `eˣ`, elementwise.
    exp => Unary::Exp;
    /// Natural logarithm, elementwise (`-inf` at 0, NaN below).
    log => Unary::Log;
    /// `ln(1 + x)`, accurate near 0.
    log1p => Unary::Log1p;
    /// Square root, elementwise.
    sqrt => Unary::Sqrt;
    /// `|x|`; its gradient at 0 is 0, as in PyTorch.
    abs => Unary::Abs;
    /// Hyperbolic tangent.
    tanh => Unary::Tanh;
    /// `max(x, 0)`; its gradient at 0 is 0, as in PyTorch.
    relu => Unary::Relu;
    /// The logistic function `1 / (1 + e⁻ˣ)`, computed stably.
    sigmoid => Unary::Sigmoid;
}

impl Tensor {
    /// `xᵖ` for a scalar exponent `p` (`torch.pow(x, p)`).
    pub fn pow(&self, p: f64) -> Result<Tensor> {
        apply(self, Unary::Pow(p), "pow")
    }

    /// Clamps into `[min, max]`; either bound may be absent (`torch.clamp`).
    /// The gradient is 1 where `min <= x <= max`, 0 elsewhere.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let lo = min.unwrap_or(f64::NEG_INFINITY);
        let hi = max.unwrap_or(f64::INFINITY);
        if lo.is_nan() || hi.is_nan() {
            return Err(Error::value(
                "clamp",
                format!("min = {lo}, max = {hi}: a bound is NaN"),
            ));
        }
        apply(self, Unary::Clamp(lo, hi), "clamp")
    }
}

struct ToDtypeBackward {
    from: DType,
}

impl Backward for ToDtypeBackward {
    fn name(&self) -> &'static str {
        "ToCopyBackward0"
    }
    fn backward(&self, inputs: &[Tensor], grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::from_storage(
            grad.storage().convert(self.from),
            inputs[0].shape(),
        ))])
    }
}

pub(crate) fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = x.storage().convert(dtype);
    if x.dtype().is_float() && dtype.is_float() {
        Ok(Tensor::from_op(
            out,
            x.shape(),
            ToDtypeBackward { from: x.dtype() },
            &[x],
        ))
    } else {
        Ok(Tensor::from_storage(out, x.shape()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(stable_sigmoid(-1000.0f64), 0.0);
        assert_eq!(stable_sigmoid(1000.0f64), 1.0);
        assert!((stable_sigmoid(0.0f32) - 0.5).abs() < 1e-7);
    }
}
