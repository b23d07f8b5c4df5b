//! Vectorisable math for the hot loops, and the CPU-feature dispatch.
//!
//! `exp_f32` and `ln_f32` are branch-free polynomial approximations (the
//! classic Cephes range reductions, within 2 ulp), with special values handled
//! by selects, so that loops calling them auto-vectorise. Their polynomials use
//! fused multiply-adds, one instruction each on CPUs with FMA (the portable
//! build computes the same fused result, more slowly). [`dispatch!`] compiles a
//! kernel three times, portable, AVX2 + FMA and AVX-512, and picks at run time
//! (its x86-64 form is in `cpu::x86_64`, its portable one in `cpu::portable`).

use std::sync::atomic::{AtomicBool, Ordering};

static SIMD: AtomicBool = AtomicBool::new(true);

/// Switches the AVX2 / AVX-512 kernels on (the default) or off, process-wide:
/// off, every kernel runs its portable build. For tests and benchmarks;
/// results are bit-identical either way.
pub fn set_simd(enabled: bool) {
    SIMD.store(enabled, Ordering::Relaxed);
}

/// True unless [`set_simd`] switched the SIMD kernels off.
#[doc(hidden)]
pub fn simd_enabled() -> bool {
    SIMD.load(Ordering::Relaxed)
}

/// `eˣ` for f32 within 2 ulp; 0 below −86.6, `inf` above 88.72, NaN for NaN.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    // NaN compares false, so it passes through and propagates
    let low = x < -86.6;
    let xc = if low { -86.6 } else { x };
    let (p, n_bits) = exp_parts(xc);
    // 2ⁿ as 2ⁿ⁻¹ · 2, so that n = 128 (x near 88.7) stays representable
    let scale = f32::from_bits(n_bits.wrapping_add(126) << 23);
    let y = p * scale * 2.0;
    if x > 88.72 {
        f32::INFINITY
    } else if low {
        0.0
    } else {
        y
    }
}

/// `eˣ` for f32 within 2 ulp for `x ≤ 88.3`, with two operations fewer than
/// [`exp_f32`]: the domain of every shifted softmax exponential `exp(z − max)`
/// and of `exp(−|x|)`. Below −87.68 it is 0 (the scale `2ⁿ` is built as
/// `(n + 127) << 23`, whose bits are zero at `n = −127`); NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_f32_capped(x: f32) -> f32 {
    // one max (NaN compares false and passes through); n ≥ −127 from here on
    let xc = if x < exp_consts::CAP { exp_consts::CAP } else { x };
    let (p, n_bits) = exp_parts(xc);
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// The Cephes reduction for `|x| ≤ 88.8` (or NaN): `eˣ = p · 2ⁿ` with `p`
/// within 2 ulp of `e^r`, `|r| ≤ ln2/2`, and `n` as the bits of an `i32`.
#[inline(always)]
fn exp_parts(x: f32) -> (f32, u32) {
    use exp_consts::*;
    // t = n + 1.5·2²³ holds the integer n in its low mantissa bits (no float-to-int
    // conversion, which would not vectorise)
    let t = x.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    // eʳ ≈ 1 + r + r²·q(r), q of degree 4 fitted to the relative error over
    // |r| ≤ ln2/2 (3.9e-9 at most, a sixteenth of an f32 half-ulp: Cephes'
    // degree 5 is one multiply-add more than f32 needs), all of it by Horner's
    // rule, 1 + r·(1 + r·q(r)): six multiply-adds (worst error 1 ulp, measured
    // over 23M inputs spread across the range)
    let p = Q[0].mul_add(r, Q[1]);
    let p = p.mul_add(r, Q[2]);
    let p = p.mul_add(r, Q[3]);
    let p = p.mul_add(r, Q[4]);
    let p = p.mul_add(r, 1.0).mul_add(r, 1.0);
    (p, t.to_bits().wrapping_sub(ROUND.to_bits()))
}

/// The constants of [`exp_parts`], shared with its AVX-512 form.
pub(crate) mod exp_consts {
    pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
    pub(crate) const LN2_HI: f32 = 0.693_359_4;
    pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
    /// 1.5 · 2²³: adding it rounds to an integer.
    pub(crate) const ROUND: f32 = 12_582_912.0;
    /// `q`'s coefficients, highest degree first.
    pub(crate) const Q: [f32; 5] = [1.381_461_2e-3, 8.368_71e-3, 4.166_839e-2, 0.166_665_21, 0.499_999_94];
    /// [`super::exp_f32_capped`]'s clamp.
    pub(crate) const CAP: f32 = -88.0;
}

/// Natural logarithm for f32 within 2 ulp, for every input: subnormals are
/// rescaled, `ln 0 = −inf`, `ln(inf) = inf`, negative or NaN gives NaN.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    let r = ln_f32_positive(x);
    if x.is_nan() || x < 0.0 {
        f32::NAN
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        r
    }
}

/// `max(ln x, −100)` for `x` in `[0, 1]`, the same bits as
/// `ln_f32(x).max(−100.0)` there (BCE's clamped logarithm of a probability)
/// without `ln_f32`'s special cases: at 0 the polynomial gives about −104,
/// which the clamp takes to −100 as it takes `−inf`. NaN gives −100.
#[inline(always)]
pub(crate) fn ln_f32_unit_floor(x: f32) -> f32 {
    let r = ln_f32_positive(x);
    if r > -100.0 { r } else { -100.0 }
}

/// The logarithm's rescaling and polynomial: `ln x` within 2 ulp for
/// positive finite `x` (subnormals included).
#[inline(always)]
fn ln_f32_positive(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 16_777_216.0 } else { x }; // · 2²⁴
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126 - if sub { 24 } else { 0 };
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // in [0.5, 1)
    let small = m < SQRT_HALF;
    e -= i32::from(small);
    let t = if small { m + m - 1.0 } else { m - 1.0 };
    let ef = e as f32;
    let z = t * t;
    let mut y = 7.037_683_6e-2f32.mul_add(t, -0.115_146_1);
    for c in [0.116_769_98, -0.124_201_41, 0.142_493_23, -0.166_680_57, 0.200_007_15, -0.249_999_94, 0.333_333_3] {
        y = y.mul_add(t, c);
    }
    let mut y = y * t * z;
    y = ef.mul_add(-2.121_944_4e-4, y);
    y = z.mul_add(-0.5, y);
    ef.mul_add(0.693_359_4, t + y)
}

/// `ln(1 + u)`, accurate for small `u` (`ln(w) · u / (w − 1)` with `w = 1 + u`).
#[inline(always)]
pub(crate) fn ln_1p_f32(u: f32) -> f32 {
    let w = 1.0 + u;
    let d = w - 1.0;
    if d == 0.0 {
        u
    } else if w == f32::INFINITY {
        w
    } else {
        ln_f32(w) * (u / d)
    }
}

/// `tanh x` for f32 within 1 ulp, branch-free so that loops calling it vectorise: Cephes'
/// odd polynomial `a + a³·p(a²)` below `|x| = 0.625`, `1 − 2/(e^{2|x|} + 1)`
/// above (1 from `|x| ≈ 44.4`, where the exponential overflows), the sign put
/// back last (`tanh(−0) = −0`); NaN stays NaN.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = a * a;
    let p = (-5.704_988_7e-3f32).mul_add(s, 2.063_909e-2);
    let p = p.mul_add(s, -5.373_971_6e-2);
    let p = p.mul_add(s, 0.133_314_42);
    let p = p.mul_add(s, -0.333_332_8);
    let small = (p * s).mul_add(a, a);
    let large = 1.0 - 2.0 / (exp_f32(a + a) + 1.0);
    // NaN compares false: the exponential's side, which keeps it
    let y = if a < 0.625 { small } else { large };
    y.copysign(x)
}

pub(crate) use crate::cpu::arch::dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        if a == b || (a.is_nan() && b.is_nan()) {
            0
        } else {
            (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs().min(u32::MAX as u64) as u32
        }
    }

    /// Against f64's tanh rounded to f32, over every 61st f32 of
    /// [−50, 50] (subnormals included) and the special values.
    #[test]
    fn tanh_within_one_ulp_and_specials() {
        let mut worst = (0, 0.0f32);
        let top = 50f32.to_bits();
        for bits in (0..=top).step_by(61) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let u = ulps(tanh_f32(x), (x as f64).tanh() as f32);
                if u > worst.0 {
                    worst = (u, x);
                }
            }
        }
        assert!(worst.0 <= 1, "tanh_f32 is {} ulp off at {}", worst.0, worst.1);
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(1e-30), 1e-30);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    #[test]
    fn exp_within_two_ulp_and_specials() {
        let mut worst = 0;
        let mut x = -86.5f32;
        while x < 88.7 {
            worst = worst.max(ulps(exp_f32(x), (x as f64).exp() as f32));
            x += 0.000_731;
        }
        assert!(worst <= 2, "exp: {worst} ulp");
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-100.0) == 0.0 && exp_f32(100.0).is_infinite());
    }

    #[test]
    fn capped_exp_within_two_ulp_and_specials() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.3 {
            let y = exp_f32_capped(x);
            worst = worst.max(ulps(y, (x as f64).exp() as f32));
            // bit for bit the full-range exp wherever neither result is subnormal
            assert!(x < -86.6 || y.to_bits() == exp_f32(x).to_bits(), "exp_capped({x})");
            x += 0.000_731;
        }
        // and every 997th bit pattern in the range (2.3M inputs, every binade)
        for bits in (0u32..=u32::MAX).step_by(997) {
            let x = f32::from_bits(bits);
            if x > -86.5 && x < 88.3 {
                worst = worst.max(ulps(exp_f32_capped(x), (x as f64).exp() as f32));
            }
        }
        assert!(worst <= 2, "exp_capped: {worst} ulp");
        // flushed to zero at and below −87.68 (where eˣ is subnormal), never garbage
        for x in [-87.7f32, -88.0, -100.0, -1e30, f32::NEG_INFINITY] {
            assert_eq!(exp_f32_capped(x), 0.0, "exp_capped({x})");
        }
        assert!(exp_f32_capped(f32::NAN).is_nan());
        assert_eq!(exp_f32_capped(0.0), 1.0);
    }

    #[test]
    fn ln_within_two_ulp_and_specials() {
        let mut worst = 0;
        for i in 0..2_000_000u32 {
            // sweep every binade, subnormals included
            let x = f32::from_bits(1 + i * 1061);
            if x.is_finite() {
                worst = worst.max(ulps(ln_f32(x), (x as f64).ln() as f32));
            }
        }
        assert!(worst <= 2, "ln: {worst} ulp");
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(f32::NAN).is_nan());
        assert_eq!(ln_f32(1.0), 0.0);
        // the clamped form on [0, 1]: the same bits over every f32 there
        for bits in (0..=1f32.to_bits()).step_by(97).chain([0, 1, 1f32.to_bits()]) {
            let x = f32::from_bits(bits);
            assert_eq!(ln_f32_unit_floor(x).to_bits(), ln_f32(x).max(-100.0).to_bits(), "{x:e}");
        }
    }

    #[test]
    fn ln_1p_is_accurate_near_zero() {
        for u in [1e-30f32, 1e-10, 3e-8, 1e-4, 0.5, 1.0] {
            let want = (u as f64).ln_1p() as f32;
            assert!(ulps(ln_1p_f32(u), want) <= 2, "ln_1p({u}) = {} vs {want}", ln_1p_f32(u));
        }
    }

    dispatch! {
        fn sum_exp(x: &[f32]) -> f32 {
            x.iter().map(|&v| exp_f32(v)).sum()
        }
    }

    #[test]
    fn dispatched_kernel_matches_portable() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 50.0).collect();
        let portable: f32 = x.iter().map(|&v| exp_f32(v)).sum();
        assert!((sum_exp(&x) - portable).abs() <= 1e-6 * portable);
    }
}
