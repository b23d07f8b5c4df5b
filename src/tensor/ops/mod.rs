//! Tensor operations. Each op defines its forward (a method on [`Tensor`](crate::Tensor))
//! and its backward (a [`Backward`](crate::autograd::Backward) impl) side by side.

/// Runs `$body` with `$v` bound to the float data of `$t` and the type alias `T`
/// naming its element type; an I64 or Bool tensor returns a dtype error from the caller.
macro_rules! float_op {
    ($op:expr, $arg:expr, $t:expr, |$v:ident| $body:expr) => {
        match &*$t.storage() {
            $crate::tensor::Storage::F32($v) => {
                #[allow(unused_imports)]
                use {
                    num_traits::Float as _, num_traits::One as _, num_traits::Zero as _, $crate::tensor::Element as _,
                };
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            $crate::tensor::Storage::F64($v) => {
                #[allow(unused_imports)]
                use {
                    num_traits::Float as _, num_traits::One as _, num_traits::Zero as _, $crate::tensor::Element as _,
                };
                #[allow(dead_code)]
                type T = f64;
                $body
            }
            other => {
                return Err($crate::Error::dtype(
                    $op,
                    format!(
                        "{} has dtype {}, expected a float tensor (F32 or F64); convert with to_dtype",
                        $arg,
                        other.dtype()
                    ),
                ));
            }
        }
    };
}

/// Like `float_op!` for two tensors that must share one float dtype.
macro_rules! float_op2 {
    ($op:expr, $a:expr, $b:expr, $barg:expr, |$x:ident, $y:ident| $body:expr) => {
        match (&*$a.storage(), &*$b.storage()) {
            ($crate::tensor::Storage::F32($x), $crate::tensor::Storage::F32($y)) => {
                #[allow(unused_imports)]
                use {
                    num_traits::Float as _, num_traits::One as _, num_traits::Zero as _, $crate::tensor::Element as _,
                };
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            ($crate::tensor::Storage::F64($x), $crate::tensor::Storage::F64($y)) => {
                #[allow(unused_imports)]
                use {
                    num_traits::Float as _, num_traits::One as _, num_traits::Zero as _, $crate::tensor::Element as _,
                };
                #[allow(dead_code)]
                type T = f64;
                $body
            }
            _ => {
                $a.require_float($op, "input")?;
                $b.require_float($op, $barg)?;
                $a.require_same_dtype($b, $op, $barg)?;
                unreachable!("float_op2: dtypes checked above")
            }
        }
    };
}

pub(crate) mod arith;
pub(crate) mod binary;
pub(crate) mod compare;
pub(crate) mod index;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod shape_ops;
pub(crate) mod unary;

pub(crate) use {float_op, float_op2};
