//! `exp` with AVX-512 intrinsics, for kernels written with intrinsics.

use std::arch::x86_64::*;

/// [`exp_f32_capped`](crate::cpu::simd::exp_f32_capped) of 16 lanes with AVX-512 intrinsics, the same
/// operations in the same order: the same bits in every lane (tested), for
/// kernels written with intrinsics (callable from functions compiled
/// with AVX-512F).
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn exp_capped_avx512(x: __m512) -> __m512 {
    use crate::cpu::simd::exp_consts::*;
    let f = _mm512_set1_ps;
    // `max(CAP, x)`: x where it is NaN (vmaxps returns its second operand then)
    let x = _mm512_max_ps(f(CAP), x);
    let t = _mm512_fmadd_ps(x, f(LOG2E), f(ROUND));
    let n = _mm512_sub_ps(t, f(ROUND));
    let r = _mm512_fmadd_ps(n, f(-LN2_LO), _mm512_fmadd_ps(n, f(-LN2_HI), x));
    let mut p = _mm512_fmadd_ps(f(Q[0]), r, f(Q[1]));
    for q in [Q[2], Q[3], Q[4], 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, f(q));
    }
    let nb = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(ROUND.to_bits() as i32));
    let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(nb, _mm512_set1_epi32(127)));
    _mm512_mul_ps(p, _mm512_castsi512_ps(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::simd::exp_f32_capped;

    /// The AVX-512 form of the capped `exp` gives the scalar one's bits in
    /// every lane: over the whole range, below the cap, and for NaN, ±inf, ±0.
    #[test]
    fn exp_capped_avx512_equals_the_scalar_bits() {
        if crate::cpu::arch::has_avx512() {
            let mut xs: Vec<f32> = (0..200_000).map(|i| -100.0 + i as f32 * 0.000_95).collect();
            xs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, -87.68, -88.0, -88.1, 88.3, 1e-30]);
            while !xs.len().is_multiple_of(16) {
                xs.push(-1.0);
            }
            for v in xs.chunks_exact(16) {
                let mut got = [0f32; 16];
                // SAFETY: avx512f was detected above; `v` and `got` hold 16 f32s.
                unsafe { _mm512_storeu_ps(got.as_mut_ptr(), exp_capped_avx512(_mm512_loadu_ps(v.as_ptr()))) };
                for (&x, g) in v.iter().zip(got) {
                    assert_eq!(g.to_bits(), exp_f32_capped(x).to_bits(), "x = {x}");
                }
            }
        }
    }
}
