//! Element types: the [`DType`] tag, the [`Element`] trait for the Rust types
//! that can be stored, and the storage enum holding the data.

use std::fmt;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float (`torch.float32`), the default for models.
    F32,
    /// 64-bit float (`torch.float64`).
    F64,
    /// 64-bit signed integer (`torch.int64`), used for class indices.
    I64,
    /// Boolean (`torch.bool`): what comparisons return; masks for
    /// [`where_cond`](crate::Tensor::where_cond). Arithmetic on it is an error
    /// (convert with [`to_dtype`](crate::Tensor::to_dtype) first).
    Bool,
}

impl DType {
    /// True for `F32` and `F64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::I64 => "I64",
            DType::Bool => "Bool",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for bool {}
}

/// A Rust type a tensor can hold: `f32`, `f64`, `i64` or `bool`. Sealed.
pub trait Element:
    Copy + Send + Sync + fmt::Debug + fmt::Display + PartialOrd + Default + 'static + sealed::Sealed
{
    /// The dtype tag of this type.
    const DTYPE: DType;
    #[doc(hidden)]
    fn slice(s: &Storage) -> Option<&[Self]>;
    #[doc(hidden)]
    fn wrap(v: Vec<Self>) -> Storage;
    #[doc(hidden)]
    fn capacity(s: &Storage) -> Option<usize>;
    #[doc(hidden)]
    fn take_vec(s: &mut Storage) -> Option<Vec<Self>>;
    #[doc(hidden)]
    fn to_f64(self) -> f64;
    #[doc(hidden)]
    fn from_f64(v: f64) -> Self;
}

/// The float element types (`f32`, `f64`): what every differentiable kernel is generic over.
pub trait Float: Element + num_traits::Float + num_traits::FloatConst + num_traits::NumAssign + std::iter::Sum {
    /// `eˣ`, vectorisable for f32 (within 2 ulp), `std` for f64.
    #[doc(hidden)]
    fn exp_fast(self) -> Self;
    /// As [`exp_fast`](Float::exp_fast) for `x ≤ 88.7` (f32; no overflow
    /// branch): shifted softmax exponentials and `exp(−|x|)`.
    #[doc(hidden)]
    fn exp_capped(self) -> Self;
    /// `ln x`, vectorisable for f32 (within 2 ulp), `std` for f64.
    #[doc(hidden)]
    fn ln_fast(self) -> Self;
    /// `ln(1 + x)`, vectorisable for f32, `std` for f64.
    #[doc(hidden)]
    fn ln_1p_fast(self) -> Self;
    /// `tanh x`, vectorisable for f32 (within 1 ulp), `std` for f64.
    #[doc(hidden)]
    fn tanh_fast(self) -> Self;
    /// `max(ln x, −100)` for `x` in `[0, 1]` (BCE's clamped log of a
    /// probability): the bits of `x.ln_fast().max(−100)` there, with fewer
    /// operations for f32.
    #[doc(hidden)]
    fn ln_unit_floor(self) -> Self {
        self.ln_fast().max(Self::from_f64(-100.0))
    }
    /// The slice as f32, for f32 (for kernels with an f32-only path, such as
    /// the AVX-512 target gather); none for other types.
    #[doc(hidden)]
    fn as_f32(_s: &[Self]) -> Option<&[f32]> {
        None
    }
    /// As [`as_f32`](Float::as_f32), mutable.
    #[doc(hidden)]
    fn as_f32_mut(_s: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
}

impl Float for f32 {
    #[inline(always)]
    fn exp_fast(self) -> Self {
        crate::cpu::simd::exp_f32(self)
    }
    #[inline(always)]
    fn exp_capped(self) -> Self {
        crate::cpu::simd::exp_f32_capped(self)
    }
    #[inline(always)]
    fn ln_fast(self) -> Self {
        crate::cpu::simd::ln_f32(self)
    }
    #[inline(always)]
    fn ln_1p_fast(self) -> Self {
        crate::cpu::simd::ln_1p_f32(self)
    }
    #[inline(always)]
    fn tanh_fast(self) -> Self {
        crate::cpu::simd::tanh_f32(self)
    }
    #[inline(always)]
    fn ln_unit_floor(self) -> Self {
        crate::cpu::simd::ln_f32_unit_floor(self)
    }
    #[inline(always)]
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
    #[inline(always)]
    fn as_f32_mut(s: &mut [f32]) -> Option<&mut [f32]> {
        Some(s)
    }
}

impl Float for f64 {
    #[inline(always)]
    fn exp_fast(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn exp_capped(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn ln_fast(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn ln_1p_fast(self) -> Self {
        self.ln_1p()
    }
    #[inline(always)]
    fn tanh_fast(self) -> Self {
        self.tanh()
    }
}

macro_rules! impl_element {
    ($t:ty, $variant:ident) => {
        impl_element!($t, $variant, |x| x as f64, |v| v as $t);
    };
    ($t:ty, $variant:ident, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(s: &Storage) -> Option<&[Self]> {
                match s {
                    Storage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Storage {
                Storage::$variant(v)
            }
            fn capacity(s: &Storage) -> Option<usize> {
                match s {
                    Storage::$variant(v) => Some(v.capacity()),
                    _ => None,
                }
            }
            fn take_vec(s: &mut Storage) -> Option<Vec<Self>> {
                match s {
                    Storage::$variant(v) => Some(std::mem::take(v)),
                    _ => None,
                }
            }
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            fn from_f64($v: f64) -> Self {
                $from
            }
        }
    };
}
impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(i64, I64);
// `true` is 1; any non-zero value (NaN included) is `true`, as in PyTorch
impl_element!(bool, Bool, |x| if x { 1.0 } else { 0.0 }, |v| v != 0.0);

/// The flat, row-major data of a tensor.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Storage {
    /// f32 data
    F32(Vec<f32>),
    /// f64 data
    F64(Vec<f64>),
    /// i64 data
    I64(Vec<i64>),
    /// bool data
    Bool(Vec<bool>),
}

impl Drop for Storage {
    /// Large buffers go back to the buffer cache (see `tensor::alloc`).
    fn drop(&mut self) {
        crate::cpu::alloc::recycle(self);
    }
}

impl Storage {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
            Storage::I64(_) => DType::I64,
            Storage::Bool(_) => DType::Bool,
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
            Storage::I64(v) => v.len(),
            Storage::Bool(v) => v.len(),
        }
    }
    /// A storage of `n` copies of `value` converted to `dtype`.
    pub(crate) fn filled(n: usize, value: f64, dtype: DType) -> Storage {
        match dtype {
            DType::F32 => Storage::F32(vec![value as f32; n]),
            DType::F64 => Storage::F64(vec![value; n]),
            DType::I64 => Storage::I64(vec![value as i64; n]),
            DType::Bool => Storage::Bool(vec![value != 0.0; n]),
        }
    }
    /// Element `i` as f64 (for printing and checks).
    pub(crate) fn get_f64(&self, i: usize) -> f64 {
        match self {
            Storage::F32(v) => v[i] as f64,
            Storage::F64(v) => v[i],
            Storage::I64(v) => v[i] as f64,
            Storage::Bool(v) => f64::from(u8::from(v[i])),
        }
    }
    /// Every element converted to `dtype` (rounding toward zero into I64, like
    /// `as`; non-zero into Bool is `true`, NaN included, as PyTorch).
    pub(crate) fn convert(&self, dtype: DType) -> Storage {
        fn conv<A: Element, B: Element>(v: &[A]) -> Storage {
            B::wrap(v.iter().map(|&x| B::from_f64(x.to_f64())).collect())
        }
        fn to<A: Element>(v: &[A], dtype: DType) -> Storage {
            match dtype {
                DType::F32 => conv::<A, f32>(v),
                DType::F64 => conv::<A, f64>(v),
                DType::I64 => conv::<A, i64>(v),
                DType::Bool => conv::<A, bool>(v),
            }
        }
        if self.dtype() == dtype {
            return self.clone();
        }
        match self {
            Storage::F32(v) => to(v, dtype),
            Storage::F64(v) => to(v, dtype),
            // i64 → f64 → i64/bool is exact for |x| < 2^53; larger values only matter for Bool (non-zero stays non-zero)
            Storage::I64(v) => match dtype {
                DType::Bool => Storage::Bool(v.iter().map(|&x| x != 0).collect()),
                _ => to(v, dtype),
            },
            Storage::Bool(v) => to(v, dtype),
        }
    }
}
