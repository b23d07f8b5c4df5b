//! The full-vector part of `cross_entropy`'s probability-target row walk in
//! f32, on 64-byte boundaries (the AVX-512 walk is in `cpu::x86_64::prob_row`).
//!
//! Tensor buffers are only 16-byte aligned (large ones come from the system
//! allocator at 16 bytes past a page), and rows of 1000 classes start 16 or
//! 48 bytes past a cache line: every 64-byte load and store of the portable
//! walk touched two lines. This walk starts at the first 64-byte boundary of
//! the row it writes (or reads, when not keeping), so its loads and stores
//! of the row, its targets and its exponentials are whole lines (the next
//! row's, read for its maximum, are as aligned as the row stride makes them).
//!
//! Its sums are the portable walk's bits: lane `q` of each sum takes the
//! elements `i ≡ q (mod 16)` below the last full vector, in order, as there.
//! Here the vectors start `h` elements early (`h − 16` from the row's start,
//! the lanes before it masked off), so a vector's lane `l` holds element
//! `i ≡ l + h`, the same lane of every vector; the lanes are rotated back at
//! the end. The result therefore does not depend on the buffers' addresses.
//!
//! The alignment matters for rows that are in cache; rows streamed from
//! memory wait on memory, not on their loads' alignment.

/// Per lane (as the portable walk's `[T; 16]` accumulators): `Σ exp(z − shift)`,
/// `Σ p'`, `Σ p'·(z − shift)` and the next row's maximum (NaNs skipped), over
/// the elements below `16·⌊c/16⌋`.
#[derive(Debug)]
pub(crate) struct RowLanes {
    /// `Σ exp(z − shift)`.
    pub acc: [f32; 16],
    /// `Σ p'`.
    pub tacc: [f32; 16],
    /// `Σ p'·(z − shift)`.
    pub zacc: [f32; 16],
    /// The next row's maximum.
    pub nm: [f32; 16],
}

/// One row of the walk: `c = row.len()` logits, their targets, the next
/// row (read for its maximum), the class weights, and the scalars.
#[derive(Clone, Copy)]
pub(crate) struct RowWalk<'a> {
    /// The row's logits.
    pub row: &'a [f32],
    /// The row's target probabilities.
    pub t: &'a [f32],
    /// The next row's logits.
    pub next: &'a [f32],
    /// Class weights, if any.
    pub w: Option<&'a [f32]>,
    /// `1 − ε`, the share of the targets kept by label smoothing.
    pub kept: f32,
    /// `ε / C`, the uniform share.
    pub uniform: f32,
    /// The row's shift (its maximum).
    pub shift: f32,
}

/// The row walk's full vectors for one row with its shift: `e = exp(row −
/// shift)` when `e` is given, `p' = t` (`w` none) or `w·(kept·t + uniform)`,
/// and the lanes of [`RowLanes`]. `None`, having done nothing, unless an
/// accelerated walk runs here and `t`, `next`, `w` and `e` hold the row's full
/// vectors; the caller then walks the row itself.
#[inline]
pub(crate) fn row_lanes(walk: RowWalk<'_>, e: Option<&mut [f32]>) -> Option<RowLanes> {
    crate::cpu::arch::prob_row::row_lanes(walk, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::simd::exp_f32_capped;

    /// The portable walk's lanes (as `prob_row_ahead` makes them).
    fn portable(walk: RowWalk<'_>) -> (RowLanes, Vec<f32>) {
        let RowWalk { row, t, next, w, kept, uniform, shift } = walk;
        let full = row.len() / 16 * 16;
        let mut l = RowLanes { acc: [0.0; 16], tacc: [0.0; 16], zacc: [0.0; 16], nm: [f32::NEG_INFINITY; 16] };
        let mut e = vec![0.0; full];
        for i in 0..full {
            let d = row[i] - shift;
            e[i] = exp_f32_capped(d);
            l.acc[i % 16] += e[i];
            let tp = w.map_or(t[i], |w| w[i] * (kept * t[i] + uniform));
            l.tacc[i % 16] += tp;
            l.zacc[i % 16] += tp * d;
            if next[i] > l.nm[i % 16] {
                l.nm[i % 16] = next[i];
            }
        }
        (l, e)
    }

    fn bits(l: &RowLanes) -> Vec<u32> {
        [l.acc, l.tacc, l.zacc, l.nm].iter().flatten().map(|v| v.to_bits()).collect()
    }

    /// Every row length, every alignment of the written row (and of the
    /// read one, not keeping), with and without weights: the portable walk's
    /// lanes and exponentials, bit for bit, and nothing written past the full
    /// vectors; with NaN, infinite and signed-zero values in the rows.
    #[test]
    fn aligned_lanes_equal_the_portable_walk() {
        let avx512 = crate::cpu::arch::has_avx512();
        let mut u = crate::tensor::test_values::uniform(11);
        let n = 1100;
        let mut z: Vec<f32> = (0..n + n / 3 + 32).map(|_| u() * 30.0 - 20.0).collect();
        z[40] = f32::NAN;
        z[77] = -0.0;
        z[78] = 0.0;
        z[90] = f32::NEG_INFINITY;
        z[1030] = f32::NAN;
        let t: Vec<f32> = (0..n + 32).map(|_| u()).collect();
        let w: Vec<f32> = (0..n + 32).map(|_| u() * 2.0).collect();
        for c in [0usize, 1, 15, 16, 17, 31, 48, 70, 100, 1000] {
            for off in 0..16 {
                for weighted in [false, true] {
                    let (row, next) = (&z[off..off + c], &z[off + c / 3..off + c / 3 + c]);
                    let (tr, wr) = (&t[off..off + c], weighted.then(|| &w[off..off + c]));
                    let walk = RowWalk { row, t: tr, next, w: wr, kept: 0.9, uniform: 0.01, shift: -1.5 };
                    let (want, want_e) = portable(walk);
                    // written rows at every alignment too
                    let mut ebuf = vec![7.0f32; c + 32];
                    let eoff = (off * 5) % 16;
                    let got = row_lanes(walk, Some(&mut ebuf[eoff..eoff + c]));
                    let plain = row_lanes(walk, None);
                    assert_eq!(got.is_some(), avx512, "runs exactly where AVX-512 runs");
                    let (Some(got), Some(plain)) = (got, plain) else { continue };
                    let ctx = format!("c {c} off {off} weighted {weighted}");
                    assert_eq!(bits(&got), bits(&want), "{ctx}");
                    assert_eq!(bits(&plain), bits(&want), "{ctx}, not keeping");
                    let full = c / 16 * 16;
                    let e: Vec<u32> = ebuf[eoff..eoff + full].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(e, want_e.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{ctx}: exponentials");
                    assert!(
                        ebuf[..eoff].iter().chain(&ebuf[eoff + full..]).all(|&v| v == 7.0),
                        "{ctx}: nothing else written"
                    );
                }
            }
        }
        // a short target row: declined, nothing written
        let mut e = vec![7.0f32; 32];
        assert!(
            row_lanes(
                RowWalk { row: &z[..32], t: &t[..31], next: &z[..32], w: None, kept: 1.0, uniform: 0.0, shift: 0.0 },
                Some(&mut e)
            )
            .is_none()
        );
        assert!(e.iter().all(|&v| v == 7.0));
    }
}
