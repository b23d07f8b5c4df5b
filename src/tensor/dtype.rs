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
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
}

/// A Rust type a tensor can hold: `f32`, `f64` or `i64`. Sealed.
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
}

macro_rules! impl_element {
    ($t:ty, $variant:ident) => {
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
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(i64, I64);

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
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
            Storage::I64(v) => v.len(),
        }
    }
    /// A storage of `n` copies of `value` converted to `dtype`.
    pub(crate) fn filled(n: usize, value: f64, dtype: DType) -> Storage {
        match dtype {
            DType::F32 => Storage::F32(vec![value as f32; n]),
            DType::F64 => Storage::F64(vec![value; n]),
            DType::I64 => Storage::I64(vec![value as i64; n]),
        }
    }
    /// Element `i` as f64 (for printing and checks).
    pub(crate) fn get_f64(&self, i: usize) -> f64 {
        match self {
            Storage::F32(v) => v[i] as f64,
            Storage::F64(v) => v[i],
            Storage::I64(v) => v[i] as f64,
        }
    }
    /// Every element converted to `dtype` (rounding toward zero into I64, like `as`).
    pub(crate) fn convert(&self, dtype: DType) -> Storage {
        fn conv<A: Element, B: Element>(v: &[A]) -> Vec<B> {
            v.iter().map(|&x| B::from_f64(x.to_f64())).collect()
        }
        match (self, dtype) {
            (s, d) if s.dtype() == d => s.clone(),
            (Storage::F32(v), DType::F64) => Storage::F64(conv(v)),
            (Storage::F32(v), DType::I64) => Storage::I64(conv(v)),
            (Storage::F64(v), DType::F32) => Storage::F32(conv(v)),
            (Storage::F64(v), DType::I64) => Storage::I64(conv(v)),
            (Storage::I64(v), DType::F32) => Storage::F32(conv(v)),
            (Storage::I64(v), DType::F64) => Storage::F64(conv(v)),
            _ => unreachable!("every dtype pair is covered above"),
        }
    }
}
