//! Picking the target's log-probability at each position of a plane:
//! `nll_loss(log_softmax(x, 1))` over a `(N, C, d…)` input reads, at every
//! position `j`, the logit of its target class, `C` strides of `inner` apart
//! from position to position. One position at a time that is a bounds-checked
//! scalar load each; with AVX-512 one gather reads 16 positions' targets
//! (`cpu::x86_64::gather`).

use crate::cpu::arch;

/// A plane of `c × inner` logits (one sample of an `(N, C, inner)` input),
/// and the first position `j0` that a pick starts at.
#[derive(Clone, Copy)]
pub(crate) struct Plane<'a, T> {
    /// The `c × inner` logits, class-major.
    pub z: &'a [T],
    /// Classes.
    pub c: usize,
    /// Positions per class.
    pub inner: usize,
    /// The position of the first target.
    pub j0: usize,
}

/// Per position `i`: its target `t[i]` (or `ignore`), and its softmax
/// statistics, the maximum `m[i]` and `ls[i] = log Σ exp(z − m)`.
#[derive(Clone, Copy)]
pub(crate) struct Picks<'a, T> {
    /// Target classes, one per position.
    pub t: &'a [i64],
    /// The target value that is ignored.
    pub ignore: i64,
    /// Per-position maxima.
    pub m: &'a [T],
    /// Per-position `log Σ exp(z − m)`.
    pub ls: &'a [T],
}

/// `picked[i] = (z[t[i]·inner + j0 + i] − m[i]) − ls[i]` for `i < t.len()`, and
/// `+0` where `t[i] == ignore`: the scalar loop's values, bit for bit (the
/// same two subtractions). The targets are in `[0, c)` or `ignore` (a lane
/// holding anything else is set to 0 too). Returns false, having done
/// nothing, unless an accelerated gather runs here and every index fits an
/// `i32`; the caller then loops.
#[inline]
pub(crate) fn pick_plane_f32(plane: Plane<'_, f32>, p: Picks<'_, f32>, picked: &mut [f32]) -> bool {
    arch::gather::pick(plane, p, picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop the gather replaces (targets in `[0, c)` or `ignore`; others 0).
    fn scalar(plane: Plane<'_, f32>, p: Picks<'_, f32>) -> Vec<f32> {
        let (Plane { z, c, inner, j0 }, Picks { t, ignore, m, ls }) = (plane, p);
        let counts = |v: i64| v != ignore && (0..c as i64).contains(&v);
        (0..t.len())
            .map(|i| if counts(t[i]) { (z[t[i] as usize * inner + j0 + i] - m[i]) - ls[i] } else { 0.0 })
            .collect()
    }

    /// The gather gives the scalar loop's bits at every length (the masked
    /// tails), start and class count, with `ignore` inside and outside
    /// `[0, c)`, and with NaN and infinite logits; it declines (returns
    /// false, writing nothing) only without AVX-512 or when a bound fails.
    #[test]
    fn gathered_picks_equal_the_scalar_loop() {
        let mut u = crate::tensor::test_values::uniform(3);
        let avx512 = crate::cpu::arch::has_avx512();
        for (c, inner) in [(1usize, 40usize), (3, 37), (21, 300)] {
            let mut z: Vec<f32> = (0..c * inner).map(|_| u() * 8.0 - 4.0).collect();
            z[inner - 1] = f32::NAN;
            z[(c - 1) * inner + 2] = f32::INFINITY;
            for ignore in [-100i64, 0, 2] {
                for j0 in [0usize, 1, 5] {
                    for n in 0..(inner - j0).min(35) {
                        let t: Vec<i64> = (0..n)
                            .map(|i| if i % 6 == 5 { ignore } else { (u() * c as f32) as i64 % c as i64 })
                            .collect();
                        let (m, ls): (Vec<f32>, Vec<f32>) = (0..n).map(|_| (u(), u() * 3.0)).unzip();
                        let mut got = vec![7.0f32; n + 1];
                        let done = pick_plane_f32(
                            Plane { z: &z, c, inner, j0 },
                            Picks { t: &t, ignore, m: &m, ls: &ls },
                            &mut got,
                        );
                        assert_eq!(done, avx512, "ran exactly where AVX-512 runs");
                        if !done {
                            assert!(got.iter().all(|&v| v == 7.0), "nothing written when declining");
                            continue;
                        }
                        let want = scalar(Plane { z: &z, c, inner, j0 }, Picks { t: &t, ignore, m: &m, ls: &ls });
                        let (g, w): (Vec<u32>, Vec<u32>) =
                            got[..n].iter().zip(&want).map(|(a, b)| (a.to_bits(), b.to_bits())).unzip();
                        assert_eq!(g, w, "c {c} inner {inner} ignore {ignore} j0 {j0} n {n}");
                        assert_eq!(got[n], 7.0, "nothing written past the targets");
                    }
                }
            }
        }
        // bounds that do not hold: declined, nothing written
        let (z, t, m) = (vec![1.0f32; 6], vec![1i64; 4], vec![0.0f32; 4]);
        let mut out = vec![7.0f32; 4];
        assert!(
            !pick_plane_f32(
                Plane { z: &z, c: 2, inner: 3, j0: 0 },
                Picks { t: &t, ignore: -100, m: &m, ls: &m },
                &mut out
            ),
            "j0 + n > inner"
        );
        assert!(
            !pick_plane_f32(
                Plane { z: &z, c: 4, inner: 3, j0: 0 },
                Picks { t: &t[..3], ignore: -100, m: &m, ls: &m },
                &mut out
            ),
            "c·inner > z.len()"
        );
        assert!(
            !pick_plane_f32(
                Plane { z: &z, c: 2, inner: 3, j0: 0 },
                Picks { t: &t[..3], ignore: -100, m: &m[..2], ls: &m },
                &mut out
            ),
            "m too short"
        );
        assert!(out.iter().all(|&v| v == 7.0));
    }
}
