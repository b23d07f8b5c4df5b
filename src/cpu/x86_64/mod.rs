//! Everything specific to x86-64: run-time feature detection, the AVX2 and
//! AVX-512 builds of [`dispatch!`], and the kernels written with intrinsics.
//! The rest of the crate reaches this module only as `crate::cpu::arch`;
//! `cpu/portable.rs` has the same items for other targets, where every
//! accelerated path declines and the callers' portable loops run.

pub(crate) mod exp;
pub(crate) mod gather;
pub(crate) mod offset_gemm;
pub(crate) mod prob_row;

/// True when the AVX-512 kernels run here: the CPU has AVX-512F and SIMD is
/// not switched off ([`crate::cpu::simd::set_simd`]).
#[inline]
pub(crate) fn has_avx512() -> bool {
    crate::cpu::simd::simd_enabled() && std::is_x86_feature_detected!("avx512f")
}

/// Defines `fn $name(args) -> ret` that runs `$body` compiled for AVX-512,
/// or AVX2 + FMA, when the CPU has them (checked at run time), and a portable
/// build otherwise.
macro_rules! dispatch_x86 {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? $body
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512 $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn avx2 $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                let simd = $crate::cpu::simd::simd_enabled();
                if simd
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                {
                    // SAFETY: `avx512` only needs the CPU features avx512f, avx2
                    // and fma, which were all detected on this CPU just above.
                    return unsafe { avx512($($arg),*) };
                }
                if simd && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: `avx2` only needs the CPU features avx2 and fma,
                    // which were detected on this CPU just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use dispatch_x86 as dispatch;

/// Asks for the cache line holding `s[i]` to be brought into L2 (x86-64
/// `prefetcht1`); a hint only, for any `i` (past the end of `s` it prefetches
/// whatever lies there, which cannot fault).
/// Unchecked so that a kernel's loop carries no bounds check for it (four
/// per class in the plane walk).
#[inline(always)]
pub(crate) fn prefetch_l2<T>(s: &[T], i: usize) {
    use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
    // SAFETY: `wrapping_add` makes the address without requiring it to be
    // in `s` (it is never dereferenced); a prefetch neither reads nor
    // writes memory visibly and cannot fault, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T1>(s.as_ptr().wrapping_add(i).cast()) }
}
