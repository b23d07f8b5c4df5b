//! Rows of two matrices side by side: per row the dot product and both
//! squared norms, and gradients of the form `da = p·b + q·a`,
//! `db = p·a + s·b` with per-row coefficients — the kernels behind
//! `cosine_similarity` and `cosine_embedding_loss`.
//!
//! The rows are cut into chunks of a few thousand elements; a chunk's rows
//! are summarised, their coefficients made, and their gradients written
//! while they are still in cache, so the two matrices are read once.

use crate::cpu::par::{PAR_THRESHOLD, map_claimed};
use crate::cpu::simd::dispatch;
use crate::cpu::sum::lanes_sum;
use crate::tensor::Float;

/// Elements per chunk of rows (both matrices' chunks stay in L2).
const CHUNK: usize = 1 << 13;

dispatch! {
    /// `[a·b, a·a, b·b]` of each row of `a` and `b` (rows of length `d`).
    fn row_stats<T: Float>(a: &[T], b: &[T], d: usize, out: &mut [[T; 3]]) {
        for (r, o) in out.iter_mut().enumerate() {
            let (ar, br) = (&a[r * d..(r + 1) * d], &b[r * d..(r + 1) * d]);
            let (mut ab, mut aa, mut bb) = ([T::zero(); 16], [T::zero(); 16], [T::zero(); 16]);
            let ((ac, arest), (bc, brest)) = (ar.as_chunks::<16>(), br.as_chunks::<16>());
            for (x, y) in ac.iter().zip(bc) {
                for i in 0..16 {
                    ab[i] += x[i] * y[i];
                    aa[i] += x[i] * x[i];
                    bb[i] += y[i] * y[i];
                }
            }
            let (mut sab, mut saa, mut sbb) = (lanes_sum(ab), lanes_sum(aa), lanes_sum(bb));
            for (&x, &y) in arest.iter().zip(brest) {
                sab += x * y;
                saa += x * x;
                sbb += y * y;
            }
            *o = [sab, saa, sbb];
        }
    }
}

dispatch! {
    /// `da = p·b + q·a` and `db = p·a + s·b` row by row, for `coefs[r] = [p, q, s]`
    /// (either output empty when not wanted).
    fn row_combine<T: Float>(a: &[T], b: &[T], d: usize, coefs: &[[T; 3]], da: &mut [T], db: &mut [T]) {
        for (r, &[p, q, s]) in coefs.iter().enumerate() {
            let (ar, br) = (&a[r * d..(r + 1) * d], &b[r * d..(r + 1) * d]);
            if !da.is_empty() {
                for ((o, &x), &y) in da[r * d..(r + 1) * d].iter_mut().zip(ar).zip(br) {
                    *o = p * y + q * x;
                }
            }
            if !db.is_empty() {
                for ((o, &x), &y) in db[r * d..(r + 1) * d].iter_mut().zip(ar).zip(br) {
                    *o = p * x + s * y;
                }
            }
        }
    }
}

/// Splits the first `len` elements off `s` (nothing off an empty `s`).
fn take<'a, T>(s: &mut &'a mut [T], len: usize) -> &'a mut [T] {
    if s.is_empty() {
        return &mut [];
    }
    let (head, tail) = std::mem::take(s).split_at_mut(len);
    *s = tail;
    head
}

/// The `[a·b, a·a, b·b]` of each of the `rows` rows (length `d`) of `a` and
/// `b`; when `da` or `db` is wanted (not empty), also the gradients of
/// [`row_combine`] with `coef(row, stats) = [p, q, s]`, written chunk by chunk
/// right after the chunk's statistics.
pub(crate) fn row_pass<T: Float>(
    a: &[T],
    b: &[T],
    rows: usize,
    d: usize,
    coef: impl Fn(usize, [T; 3]) -> [T; 3] + Sync,
    da: &mut [T],
    db: &mut [T],
) -> Vec<[T; 3]> {
    let per = if rows * d < PAR_THRESHOLD { rows.max(1) } else { (CHUNK / d.max(1)).max(1) };
    let mut work = Vec::with_capacity(rows.div_ceil(per));
    let (mut da, mut db) = (da, db);
    let mut r0 = 0;
    while r0 < rows {
        let n = per.min(rows - r0);
        work.push((r0, n, take(&mut da, n * d), take(&mut db, n * d)));
        r0 += n;
    }
    let parts = map_claimed(work, |(r0, n, da, db)| {
        let (ac, bc) = (&a[r0 * d..(r0 + n) * d], &b[r0 * d..(r0 + n) * d]);
        let mut stats = vec![[T::zero(); 3]; n];
        row_stats(ac, bc, d, &mut stats);
        if !da.is_empty() || !db.is_empty() {
            let coefs: Vec<[T; 3]> = stats.iter().enumerate().map(|(k, &st)| coef(r0 + k, st)).collect();
            row_combine(ac, bc, d, &coefs, da, db);
        }
        stats
    });
    parts.concat()
}
