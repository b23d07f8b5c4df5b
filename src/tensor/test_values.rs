//! Reproducible test inputs for the kernels' unit tests.

/// Uniform values in `[0, 1)` from a linear congruential generator seeded
/// with `seed`: the same sequence on every machine.
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    }
}
