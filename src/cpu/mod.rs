//! Everything about the CPU rather than about tensors: the thread team
//! ([`par`]), the buffer cache ([`alloc`]), sums ([`sum`]), SIMD `exp` / `ln`
//! and the run-time dispatch of kernels ([`simd`]), matrix products
//! ([`small_gemm`], [`offset_gemm`]), and the accelerated gather and row walk
//! ([`gather`], [`prob_row`]).
//!
//! Target specifics live in one place: `arch` is `x86_64` on x86-64 (the
//! only module with `#[target_feature]`, intrinsics and feature detection)
//! and `portable` elsewhere, with the same items, where every accelerated
//! path declines and the portable loops run.

pub(crate) mod alloc;
pub(crate) mod gather;
pub(crate) mod offset_gemm;
pub(crate) mod par;
pub(crate) mod prob_row;
pub(crate) mod simd;
pub(crate) mod small_gemm;
pub(crate) mod sum;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) mod portable;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use portable as arch;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64 as arch;

pub(crate) use arch::prefetch_l2;

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefetch is only a hint: any index, far past the slice or at the
    /// end of the address space, neither faults nor changes the data.
    #[test]
    fn a_prefetch_past_the_slice_is_harmless() {
        let v = vec![1.5f32; 40];
        for i in [0, 39, 40, 1 << 20, 1 << 40, usize::MAX / 8, usize::MAX] {
            prefetch_l2(&v, i);
        }
        prefetch_l2::<f32>(&[], 3);
        assert!(v.iter().all(|&x| x == 1.5));
    }
}
