//! Data-parallel helpers: work is split across rayon's threads only above a
//! size threshold, so small tensors pay no thread overhead.

use rayon::prelude::*;
use std::ops::Range;

/// Below this many elements a kernel runs on the calling thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 15;

/// Splits `0..n` into chunks of about `chunk` elements and runs
/// `f(range, out_a, out_b, out_c)` on each, in parallel when `n` is large,
/// where `out_*` are the matching sub-slices of `a`, `b`, `c` (each either of
/// length `n`, or empty to mean "not wanted"). Returns the results in order.
pub(crate) fn chunks3<T: Send, R: Send>(
    n: usize,
    chunk: usize,
    a: &mut [T],
    b: &mut [T],
    c: &mut [T],
    f: impl Fn(Range<usize>, &mut [T], &mut [T], &mut [T]) -> R + Sync,
) -> Vec<R> {
    debug_assert!([a.len(), b.len(), c.len()].iter().all(|&l| l == 0 || l == n));
    if n < PAR_THRESHOLD {
        return vec![f(0..n, a, b, c)];
    }
    let chunk = chunk.max(1);
    let mut parts = Vec::with_capacity(n.div_ceil(chunk));
    let (mut a, mut b, mut c) = (a, b, c);
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        parts.push((start..start + len, take(&mut a, len), take(&mut b, len), take(&mut c, len)));
        start += len;
    }
    parts.into_par_iter().map(|(r, a, b, c)| f(r, a, b, c)).collect()
}

/// Splits the first `len` elements off `s` (nothing off an empty slice).
fn take<'a, T>(s: &mut &'a mut [T], len: usize) -> &'a mut [T] {
    if s.is_empty() {
        return &mut [];
    }
    let (head, tail) = std::mem::take(s).split_at_mut(len);
    *s = tail;
    head
}
