//! Sums that are about the CPU rather than about tensors: pairwise sums (O(log n)
//! error, parts summed by separate threads combined exactly as one sum), and
//! 16-lane sums inlined into the caller so that they compile at its SIMD level.

use crate::cpu::simd::dispatch;

/// Elements per leaf of [`pairwise_sum`].
const LEAF: usize = 256;

dispatch! {
    /// Pairwise summation: error grows as O(log n) rather than O(n). Leaves of
    /// [`LEAF`] elements are summed with 32 independent accumulators (eight
    /// elements each), and the leaf sums combined as a binary tree: a sum of
    /// 2ᵏ leaves is added to the previous one of the same size as soon as
    /// both exist (a binary counter, so no recursion), the unequal ones at the end.
    pub(crate) fn pairwise_sum<T: crate::tensor::Float>(x: &[T]) -> T {
        Counter::of_leaves(x).finish()
    }
}

dispatch! {
    /// [`pairwise_sum`] of `x` as one part of a longer sum: when `x` is 2ᵏ
    /// whole leaves, the root of its tree `(sum, k)`, which
    /// [`pairwise_of_parts`] combines with the other parts' exactly as
    /// [`pairwise_sum`] would over them all; else `None`. Lets each thread sum
    /// its part while it is in cache.
    pub(crate) fn pairwise_part<T: crate::tensor::Float>(x: &[T]) -> Option<(T, u32)> {
        if !pairwise_part_len(x.len()) {
            return None;
        }
        Counter::of_leaves(x).root()
    }
}

/// Whether [`pairwise_part`] has a root for `n` elements: 2ᵏ whole leaves.
pub(crate) fn pairwise_part_len(n: usize) -> bool {
    n > 0 && n.is_multiple_of(LEAF) && (n / LEAF).is_power_of_two()
}

/// [`pairwise_sum`] of consecutive parts of one size, given by their
/// [`pairwise_part`] roots: the same bits as [`pairwise_sum`] over the parts
/// laid end to end (a part's tree is a subtree of theirs).
pub(crate) fn pairwise_of_parts<T: crate::tensor::Float>(parts: &[(T, u32)]) -> T {
    debug_assert!(parts.windows(2).all(|p| p[0].1 == p[1].1), "pairwise_of_parts: parts of different sizes");
    let mut c = Counter::new();
    for &(s, level) in parts {
        c.push(s, level);
    }
    c.finish()
}

/// [`pairwise_sum`]'s binary counter: `(sum, level)` entries, a level-k sum
/// covering 2ᵏ leaves, levels strictly decreasing up the stack.
struct Counter<T> {
    stack: [(T, u32); 64],
    depth: usize,
}

impl<T: crate::tensor::Float> Counter<T> {
    #[inline(always)]
    fn new() -> Self {
        Counter { stack: [(T::zero(), 0); 64], depth: 0 }
    }

    /// The counter after every leaf of `x`, in order.
    #[inline(always)]
    fn of_leaves(x: &[T]) -> Self {
        let mut c = Counter::new();
        for chunk in x.chunks(LEAF) {
            c.push(leaf_sum(chunk), 0);
        }
        c
    }

    /// Adds a sum of 2^`level` leaves: to the previous one of its level as
    /// soon as both exist, and so on up.
    #[inline(always)]
    fn push(&mut self, mut s: T, mut level: u32) {
        while self.depth > 0 && self.stack[self.depth - 1].1 == level {
            s = self.stack[self.depth - 1].0 + s;
            self.depth -= 1;
            level += 1;
        }
        self.stack[self.depth] = (s, level);
        self.depth += 1;
    }

    /// The total: the unequal subtrees added from the smallest.
    #[inline(always)]
    fn finish(&self) -> T {
        self.stack[..self.depth].iter().rev().fold(T::zero(), |acc, &(s, _)| s + acc)
    }

    /// The one complete tree, if that is what the counter holds.
    #[inline(always)]
    fn root(&self) -> Option<(T, u32)> {
        (self.depth == 1).then_some(self.stack[0])
    }
}

/// The sum of up to [`LEAF`] elements with 32 independent accumulators,
/// reduced by halving.
#[inline(always)]
fn leaf_sum<T: crate::tensor::Float>(x: &[T]) -> T {
    let mut acc = [T::zero(); 32];
    let (xc, xr) = x.as_chunks::<32>();
    for ch in xc {
        for k in 0..32 {
            acc[k] += ch[k];
        }
    }
    xr.iter().fold(lanes_sum(acc), |s, &v| s + v)
}

/// `Σ f(x_i)` with 16 independent lanes over fixed-size blocks and a halving
/// reduction, inlined into the caller (so that it is compiled for the caller's
/// SIMD level): it vectorises, and is more accurate than one running sum.
#[inline(always)]
pub(crate) fn sum1<T: crate::tensor::Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::zero(); 16];
    let (xc, xr) = x.as_chunks::<16>();
    for ch in xc {
        for i in 0..16 {
            acc[i] += f(ch[i]);
        }
    }
    lanes_sum(acc) + xr.iter().fold(T::zero(), |s, &v| s + f(v))
}

/// `Σ f(x_i, y_i)` over two slices of one length, as [`sum1`].
#[inline(always)]
pub(crate) fn sum2<T: crate::tensor::Float>(x: &[T], y: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::zero(); 16];
    let ((xc, xr), (yc, yr)) = (x.as_chunks::<16>(), y.as_chunks::<16>());
    for (a16, b16) in xc.iter().zip(yc) {
        for i in 0..16 {
            acc[i] += f(a16[i], b16[i]);
        }
    }
    lanes_sum(acc) + xr.iter().zip(yr).fold(T::zero(), |s, (&u, &v)| s + f(u, v))
}

/// `Σ f(x_i, y_i, z_i)` over three slices of one length, as [`sum1`].
#[inline(always)]
pub(crate) fn sum3<T: crate::tensor::Float>(x: &[T], y: &[T], z: &[T], f: impl Fn(T, T, T) -> T) -> T {
    let mut acc = [T::zero(); 16];
    let ((xc, xr), (yc, yr), (zc, zr)) = (x.as_chunks::<16>(), y.as_chunks::<16>(), z.as_chunks::<16>());
    for ((a16, b16), c16) in xc.iter().zip(yc).zip(zc) {
        for i in 0..16 {
            acc[i] += f(a16[i], b16[i], c16[i]);
        }
    }
    lanes_sum(acc) + xr.iter().zip(yr).zip(zr).fold(T::zero(), |s, ((&u, &v), &w)| s + f(u, v, w))
}

/// `N` accumulator lanes combined by halving (lane `i` with lane `i + h`, for
/// `h` = N/2, …, 2, 1; N a power of two) with `op`: a fixed tree, which the
/// compiler keeps in vector registers.
#[inline(always)]
pub(crate) fn lanes_reduce<T: Copy, const N: usize>(mut acc: [T; N], op: impl Fn(T, T) -> T) -> T {
    let mut h = N / 2;
    while h > 0 {
        for i in 0..h {
            acc[i] = op(acc[i], acc[i + h]);
        }
        h /= 2;
    }
    acc[0]
}

/// The sum of `N` accumulator lanes by halving ([`lanes_reduce`]): as accurate
/// as a pairwise sum.
#[inline(always)]
pub(crate) fn lanes_sum<T: crate::tensor::Float, const N: usize>(acc: [T; N]) -> T {
    lanes_reduce(acc, |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [−1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut u = crate::tensor::test_values::uniform(seed);
        (0..n).map(|_| u() * 2.0 - 1.0).collect()
    }

    #[test]
    fn pairwise_sum_is_exact_on_integers_at_every_length() {
        // every length up to past four leaves (partial leaves, unequal subtrees)
        for n in (0..1100).chain([4096, 4097, 65_535, 131_073]) {
            let x: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 - 50.0).collect();
            let exact: f64 = (0..n).map(|i| ((i * 37) % 101) as i64 - 50).sum::<i64>() as f64;
            assert_eq!(pairwise_sum(&x), exact, "n = {n}");
        }
    }

    /// Parts of 2ᵏ leaves summed on their own and combined give the bits of
    /// one sum over them all, for any number of parts; other lengths have no part root.
    #[test]
    fn pairwise_parts_combine_to_the_whole_sum() {
        for leaves in [1usize, 2, 4, 64] {
            for parts in 1..10 {
                let x = values(parts * leaves * LEAF, (leaves * 31 + parts) as u64);
                let roots: Vec<(f32, u32)> =
                    x.chunks(leaves * LEAF).map(|p| pairwise_part(p).expect("a whole tree")).collect();
                let (whole, combined) = (pairwise_sum(&x), pairwise_of_parts(&roots));
                assert_eq!(whole.to_bits(), combined.to_bits(), "{parts} parts of {leaves} leaves");
            }
        }
        for n in [0, 1, 255, 257, 3 * LEAF, 5 * LEAF] {
            assert!(pairwise_part(&vec![1f32; n]).is_none(), "n = {n}");
        }
    }

    #[test]
    fn pairwise_sum_of_f32_stays_accurate_and_same_without_simd() {
        for n in [1, 255, 256, 257, 1000, 100_003, 3_000_000] {
            let x = values(n, n as u64);
            let exact: f64 = x.iter().map(|&v| v as f64).sum();
            let abs: f64 = x.iter().map(|&v| v.abs() as f64).sum();
            let got = pairwise_sum(&x);
            // a running f32 sum drifts by about n·ε·Σ|x|; pairwise by (8 + log2(n/256))·ε·Σ|x|
            let bound = 24.0 * f32::EPSILON as f64 * abs;
            assert!((got as f64 - exact).abs() <= bound, "n = {n}: {got} vs {exact}");
            crate::cpu::simd::set_simd(false);
            let portable = pairwise_sum(&x);
            crate::cpu::simd::set_simd(true);
            assert_eq!(got.to_bits(), portable.to_bits(), "n = {n}");
        }
        // ten million copies of 0.1: a running f32 sum is off by several percent
        let x = vec![0.1f32; 10_000_000];
        let got = pairwise_sum(&x) as f64;
        assert!((got - 1e6).abs() < 1e6 * 1e-6, "{got}");
    }
}
