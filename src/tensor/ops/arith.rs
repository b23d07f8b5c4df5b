//! Operators `+ - * /` between tensors (owned, borrowed, or the `Result` of
//! an earlier op) and with numbers, so that chains such as `&a * &b + &c` and
//! `(x.matmul(&w) + &b)?.relu()` read as in PyTorch. Every operator returns
//! `Result<Tensor>`, because shapes or dtypes may not fit; an `Err` operand
//! passes through unchanged.
//!
//! Numbers are `f64` or `i32` (what a literal such as `2.0` or `2` is),
//! applied in the tensor's float dtype.
//!
//! What Rust's coherence rules allow: a `Result<Tensor>` may stand on either
//! side of a tensor, but not next to another `Result` or a number (neither
//! type is this crate's): write `(r1? + r2)` or `(r? * 2.0)` there.

use crate::{Result, Tensor};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The tensor-with-tensor impls of one operator, for every pairing of
/// `Tensor`, `&Tensor` and `Result<Tensor>` that coherence permits.
macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $tensor_fn:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self, &rhs)
            }
        }
        impl $trait<Result<Tensor>> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Result<Tensor>) -> Result<Tensor> {
                Tensor::$tensor_fn(self, &rhs?)
            }
        }
        impl $trait<Result<Tensor>> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Result<Tensor>) -> Result<Tensor> {
                Tensor::$tensor_fn(&self, &rhs?)
            }
        }
        impl $trait<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self?, rhs)
            }
        }
        impl $trait<Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self?, &rhs)
            }
        }
    };
}

tensor_operator!(Add, add, add);
tensor_operator!(Sub, sub, sub);
tensor_operator!(Mul, mul, mul);
tensor_operator!(Div, div, div);

/// `tensor ∘ number` and `number ∘ tensor` for one number type (taken as
/// `f64`, then as the tensor's dtype; the tensor must be a float tensor).
macro_rules! scalar_operators {
    ($($s:ty),*) => {$(
        impl Add<$s> for &Tensor {
            type Output = Result<Tensor>;
            fn add(self, rhs: $s) -> Result<Tensor> {
                self.add_scalar(rhs as f64)
            }
        }
        impl Sub<$s> for &Tensor {
            type Output = Result<Tensor>;
            fn sub(self, rhs: $s) -> Result<Tensor> {
                self.sub_scalar(rhs as f64)
            }
        }
        impl Mul<$s> for &Tensor {
            type Output = Result<Tensor>;
            fn mul(self, rhs: $s) -> Result<Tensor> {
                self.mul_scalar(rhs as f64)
            }
        }
        impl Div<$s> for &Tensor {
            type Output = Result<Tensor>;
            fn div(self, rhs: $s) -> Result<Tensor> {
                self.div_scalar(rhs as f64)
            }
        }
        impl Add<$s> for Tensor {
            type Output = Result<Tensor>;
            fn add(self, rhs: $s) -> Result<Tensor> {
                &self + rhs
            }
        }
        impl Sub<$s> for Tensor {
            type Output = Result<Tensor>;
            fn sub(self, rhs: $s) -> Result<Tensor> {
                &self - rhs
            }
        }
        impl Mul<$s> for Tensor {
            type Output = Result<Tensor>;
            fn mul(self, rhs: $s) -> Result<Tensor> {
                &self * rhs
            }
        }
        impl Div<$s> for Tensor {
            type Output = Result<Tensor>;
            fn div(self, rhs: $s) -> Result<Tensor> {
                &self / rhs
            }
        }
        impl Add<&Tensor> for $s {
            type Output = Result<Tensor>;
            fn add(self, rhs: &Tensor) -> Result<Tensor> {
                rhs.add_scalar(self as f64)
            }
        }
        impl Sub<&Tensor> for $s {
            type Output = Result<Tensor>;
            fn sub(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::sub(&rhs.scalar_like("sub", self as f64)?, rhs)
            }
        }
        impl Mul<&Tensor> for $s {
            type Output = Result<Tensor>;
            fn mul(self, rhs: &Tensor) -> Result<Tensor> {
                rhs.mul_scalar(self as f64)
            }
        }
        impl Div<&Tensor> for $s {
            type Output = Result<Tensor>;
            fn div(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::div(&rhs.scalar_like("div", self as f64)?, rhs)
            }
        }
        impl Add<Tensor> for $s {
            type Output = Result<Tensor>;
            fn add(self, rhs: Tensor) -> Result<Tensor> {
                self + &rhs
            }
        }
        impl Sub<Tensor> for $s {
            type Output = Result<Tensor>;
            fn sub(self, rhs: Tensor) -> Result<Tensor> {
                self - &rhs
            }
        }
        impl Mul<Tensor> for $s {
            type Output = Result<Tensor>;
            fn mul(self, rhs: Tensor) -> Result<Tensor> {
                self * &rhs
            }
        }
        impl Div<Tensor> for $s {
            type Output = Result<Tensor>;
            fn div(self, rhs: Tensor) -> Result<Tensor> {
                self / &rhs
            }
        }
    )*};
}

// One float and one integer type, so that a literal (`x * 2.0`, `1 - p`)
// picks its impl at once: with two candidates (f32 and f64, i32 and i64) a
// chain like `(x + 1.0)?` would need a type annotation. Other number types
// convert with `as f64`.
scalar_operators!(f64, i32);

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
