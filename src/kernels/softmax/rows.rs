//! The row walk (`inner == 1`): the classes of a position are contiguous,
//! and the loops vectorise along them. Short rows take a kernel that
//! exponentiates many rows in one pass; long rows are walked one at a time,
//! each row's maximum found while the row before it is exponentiated
//! (PyTorch's last-dim `SoftMaxKernel` path).

use super::*;

dispatch! {
    /// `m` and `ls` of short rows (`c < SHORT`), keeping `e = exp(z − m)`: every
    /// row shifted first, then one long vectorised `exp` pass over all of them,
    /// then each row's sum. Every row kernel takes it for short rows, keeping or
    /// not, so that a row's statistics do not depend on which one ran (the loss
    /// is the same bits with and without recording). A kernel of its own:
    /// inlined into the row kernels, it made LLVM keep their accumulators on the
    /// stack.
    pub(super) fn short_rows<T: Float>(z: &[T], c: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
        let c1 = c.max(1);
        let mut overflow = false;
        for (r, (row, erow)) in z.chunks_exact(c1).zip(e.chunks_exact_mut(c1)).enumerate().take(m.len()) {
            let mx = row.iter().fold(T::neg_infinity(), |a, &b| larger(a, b));
            overflow |= mx == T::infinity();
            let shift = if mx.is_infinite() { T::zero() } else { mx };
            for (o, &v) in erow.iter_mut().zip(row) {
                *o = v - shift;
            }
            m[r] = shift;
        }
        if overflow {
            e.iter_mut().for_each(|v| *v = v.exp_fast());
        } else {
            e.iter_mut().for_each(|v| *v = v.exp_capped());
        }
        for (r, erow) in e.chunks_exact(c1).enumerate().take(ls.len()) {
            ls[r] = sum1(erow, |v| v).ln_fast();
        }
    }
}

dispatch! {
    /// [`short_rows`] without keeping the exponentials: a few thousand elements
    /// at a time through a buffer that stays in L1.
    pub(super) fn short_rows_stats<T: Float>(z: &[T], c: usize, m: &mut [T], ls: &mut [T]) {
        const ELEMS: usize = 2048;
        let c1 = c.max(1);
        let rows = (ELEMS / c1).max(1);
        let mut buf = vec![T::zero(); rows * c1];
        let n = m.len().min(z.len() / c1);
        for r0 in (0..n).step_by(rows) {
            let r1 = (r0 + rows).min(n);
            let e = &mut buf[..(r1 - r0) * c1];
            short_rows(&z[r0 * c1..r1 * c1], c, &mut m[r0..r1], &mut ls[r0..r1], e);
        }
    }
}

/// `m` and `ls` of rows of `c` (`inner == 1`), keeping `e = exp(z − m)` when
/// `KEEP`: [`short_rows`] below [`SHORT`] classes, else the row walk
/// [`fused_rows`]. The one choice every row statistic makes.
#[inline(always)]
pub(super) fn row_stats<T: Float, const KEEP: bool>(z: &[T], c: usize, m: &mut [T], ls: &mut [T], e: &mut [T]) {
    let unit = unit_rows(z, m.len(), c);
    match (c < SHORT, KEEP) {
        (true, true) => short_rows(unit, c, m, ls, e),
        (true, false) => short_rows_stats(unit, c, m, ls),
        (false, _) => fused_rows::<T, 0, KEEP>(z, c, m, ls, e, [], Plain),
    }
}

/// The extra per-row sums that [`fused_rows`] computes with the statistics.
/// (A trait rather than closures: closures are not inlined into the SIMD
/// builds of the kernels, and then run as portable code.)
pub(super) trait RowSums<T: Float, const N: usize> {
    /// `(Σ exp(row − shift)` (kept in `e` when not empty), the `next` row's
    /// maximum, the sums`)`, in one loop.
    fn fast<const KEEP: bool>(&self, r: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; N]);
    /// The sums alone.
    fn general(&self, r: usize, row: &[T], shift: T) -> [T; N];
    /// Once row `r`'s statistics are done: may turn its kept exponentials
    /// `e` into something else in place, from its `ls` and its sums.
    #[inline(always)]
    fn finish(&self, _r: usize, _e: &mut [T], _ls: T, _sums: &[T; N]) {}
}

/// No extra sums: the statistics alone.
pub(super) struct Plain;

impl<T: Float> RowSums<T, 0> for Plain {
    #[inline(always)]
    fn fast<const KEEP: bool>(&self, _: usize, row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T, [T; 0]) {
        let (s, next_max) = if KEEP { plain_row_keep(row, next, shift, e) } else { plain_row(row, next, shift) };
        (s, next_max, [])
    }
    #[inline(always)]
    fn general(&self, _: usize, _: &[T], _: T) -> [T; 0] {
        []
    }
}

dispatch! {
    /// [`plain_row_ahead`] keeping the exponentials, a kernel of its own:
    /// inlined into the row walk, LLVM kept its accumulators on the stack.
    #[inline(never)]
    pub(super) fn plain_row_keep<T: Float>(row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T) {
        plain_row_ahead::<T, true>(row, next, shift, e)
    }
}

dispatch! {
    /// [`plain_row_ahead`] without keeping the exponentials (see [`plain_row_keep`]).
    #[inline(never)]
    pub(super) fn plain_row<T: Float>(row: &[T], next: &[T], shift: T) -> (T, T) {
        plain_row_ahead::<T, false>(row, next, shift, &mut [])
    }
}

/// For one row with its shift known: `Σ exp(z − shift)` (kept in `e` when
/// `KEEP`) and the maximum of the `next` row (of the same length), in one
/// loop, so that the next row's loads from memory overlap this row's `exp`;
/// the sum as [`sum1`] would make it.
#[inline(always)]
pub(super) fn plain_row_ahead<T: Float, const KEEP: bool>(row: &[T], next: &[T], shift: T, e: &mut [T]) -> (T, T) {
    let (mut acc, mut nm) = ([T::zero(); 16], [T::neg_infinity(); 16]);
    let ((xc, xr), (yc, yr)) = (row.as_chunks::<16>(), next.as_chunks::<16>());
    let mut rest = T::zero();
    if KEEP {
        let (ec, erest) = e.as_chunks_mut::<16>();
        for ((e16, a16), b16) in ec.iter_mut().zip(xc).zip(yc) {
            for i in 0..16 {
                e16[i] = (a16[i] - shift).exp_capped();
                acc[i] += e16[i];
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        for (o, &v) in erest.iter_mut().zip(xr) {
            *o = (v - shift).exp_capped();
            rest += *o;
        }
    } else {
        for (a16, b16) in xc.iter().zip(yc) {
            for i in 0..16 {
                acc[i] += (a16[i] - shift).exp_capped();
                nm[i] = larger(nm[i], b16[i]);
            }
        }
        rest = xr.iter().fold(T::zero(), |s, &v| s + (v - shift).exp_capped());
    }
    let next_max = lanes_max_with(nm, yr);
    (lanes_sum(acc) + rest, next_max)
}

/// The row walk of every row statistic (rows of `c`): per row its shift `m`
/// and `ls = log Σ exp(z − m)`, the exponentials kept in `e` when `KEEP` (then
/// `e` holds the unit's elements), and the `N` per-row sums of `sums` written
/// to `out`. Each row's maximum is found while the row before it is
/// exponentiated: rows with a finite maximum and a next row go to
/// [`RowSums::fast`]; the others (`+inf`, the last row) take the general exp
/// here and [`RowSums::general`] for the sums.
#[inline(always)]
pub(super) fn fused_rows<T: Float, const N: usize, const KEEP: bool>(
    z: &[T],
    c: usize,
    m: &mut [T],
    ls: &mut [T],
    e: &mut [T],
    mut out: [&mut [T]; N],
    sums: impl RowSums<T, N>,
) {
    let keep = KEEP;
    let rows = m.len().min(z.len() / c.max(1));
    // `z` may hold a row beyond the unit's (the next unit's first): the last
    // row then overlaps its loads too; only that row's maximum is read
    let row = |r: usize| if c > 0 && (r + 1) * c <= z.len() { &z[r * c..(r + 1) * c] } else { &[] };
    let mut mx = lanes_max(row(0));
    let mut pending = [T::zero(); N];
    for r in 0..rows {
        let (zr, next) = (row(r), row(r + 1));
        let shift = if mx.is_infinite() { T::zero() } else { mx };
        m[r] = shift;
        let er: &mut [T] = if keep { &mut e[r * c..(r + 1) * c] } else { &mut [] };
        let (s, row_sums) = if mx == T::infinity() || next.len() != c {
            // +inf: the general exp; last row: no next row to look at
            let ex = |v: T| if mx == T::infinity() { v.exp_fast() } else { (v - shift).exp_capped() };
            let s = if keep {
                er.iter_mut().zip(zr).for_each(|(o, &v)| *o = ex(v));
                sum1(er, |v| v)
            } else {
                sum1(zr, ex)
            };
            mx = lanes_max(next);
            (s, sums.general(r, zr, shift))
        } else {
            let (s, next_max, row_sums) = sums.fast::<KEEP>(r, zr, next, shift, er);
            mx = next_max;
            (s, row_sums)
        };
        ls[r] = s.ln_fast();
        // the row before's finish, now that its scale (a logarithm and an
        // exponential away from its sums) has long been ready: this row's
        // walk ran while it was computed
        if keep && r > 0 {
            sums.finish(r - 1, &mut e[(r - 1) * c..r * c], ls[r - 1], &pending);
        }
        pending = row_sums;
        for (o, v) in out.iter_mut().zip(row_sums) {
            o[r] = v;
        }
    }
    if keep && rows > 0 {
        sums.finish(rows - 1, &mut e[(rows - 1) * c..rows * c], ls[rows - 1], &pending);
    }
}
