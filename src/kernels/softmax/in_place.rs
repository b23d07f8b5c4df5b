//! Cross-entropy rows whose logits become their own gradient: for a caller
//! that needs only the loss and the logits' gradient (the chunks of
//! `linear_cross_entropy`), one buffer instead of two, so that twice the rows
//! fit the same memory.

use super::*;

/// Each row of `z` (`c` logits) with target `t[r]` (class weight `w[t]`, 1
/// without weights): its loss `w[t]·(ls + m − z_t)`, and the row replaced by
/// that loss's gradient `w[t]·(softmax(z) − onehot(t))`, with `m` the row's
/// maximum and `ls = ln Σ exp(z − m)`; a row whose target is `ignore` has loss
/// 0 and gradient 0. Rows go to the threads in blocks. Returns the rows'
/// losses. Targets must be `ignore` or in `0..c` (checked by the caller).
pub(crate) fn ce_rows_in_place<T: Float>(z: &mut [T], c: usize, t: &[i64], w: Option<&[T]>, ignore: i64) -> Vec<T> {
    // rows per block handed to a thread
    const ROWS: usize = 8;
    let mut losses = vec![T::zero(); t.len()];
    let work: Vec<_> = z.chunks_mut(c * ROWS).zip(losses.chunks_mut(ROWS)).zip(t.chunks(ROWS)).collect();
    for_each_claimed(work, |((z, l), t)| {
        for ((row, loss), &tr) in z.chunks_mut(c).zip(l.iter_mut()).zip(t) {
            *loss = if tr == ignore {
                row.fill(T::zero());
                T::zero()
            } else {
                let k = tr as usize;
                row_in_place(row, k, w.map_or(T::one(), |w| w[k]))
            };
        }
    });
    losses
}

dispatch! {
    /// One row of [`ce_rows_in_place`] with target `k` and weight `a`: its
    /// maximum, then `exp(z − m)` written over it while summed (16 lanes),
    /// then each scaled by `a·exp(−ls)` and `a` taken from the target's.
    fn row_in_place<T: Float>(row: &mut [T], k: usize, a: T) -> T {
        let zk = row[k];
        let (head, tail) = row.as_chunks::<16>();
        let mut mx = [T::neg_infinity(); 16];
        for ch in head {
            for i in 0..16 {
                // NaN-blind, as the row kernels' maximum: a NaN reaches the sum below
                mx[i] = if ch[i] > mx[i] { ch[i] } else { mx[i] };
            }
        }
        let m = tail.iter().fold(lanes_reduce(mx, |a, b| if b > a { b } else { a }), |a, &b| if b > a { b } else { a });
        let (head, tail) = row.as_chunks_mut::<16>();
        let mut s = [T::zero(); 16];
        for ch in head {
            for i in 0..16 {
                let e = (ch[i] - m).exp_capped();
                ch[i] = e;
                s[i] += e;
            }
        }
        let mut rest = T::zero();
        for v in tail.iter_mut() {
            let e = (*v - m).exp_capped();
            *v = e;
            rest += e;
        }
        let ls = (lanes_sum(s) + rest).ln_fast();
        let scale = a * (-ls).exp_fast();
        for v in row.iter_mut() {
            *v *= scale;
        }
        row[k] -= a;
        a * ((m - zk) + ls)
    }
}

#[cfg(test)]
mod tests {
    use super::ce_rows_in_place;

    /// Losses and gradients against an f64 reference, with class weights, an
    /// ignored row and rows of 37 (a 16-lane head and a tail), on more rows
    /// than one thread's block.
    #[test]
    fn rows_become_their_gradient() {
        let (c, rows) = (37, 21);
        let z: Vec<f32> = (0..rows * c).map(|i| ((i * 7919) % 113) as f32 / 9.0 - 6.0).collect();
        let t: Vec<i64> = (0..rows as i64).map(|r| if r == 5 { -100 } else { (r * 11) % c as i64 }).collect();
        let w: Vec<f32> = (0..c).map(|k| 0.5 + k as f32 / 20.0).collect();
        let mut g = z.clone();
        let losses = ce_rows_in_place(&mut g, c, &t, Some(&w), -100);
        for r in 0..rows {
            let row: Vec<f64> = z[r * c..(r + 1) * c].iter().map(|&v| f64::from(v)).collect();
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let ls = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let (want_loss, a) = match t[r] {
                -100 => (0.0, 0.0),
                k => (f64::from(w[k as usize]) * (ls + m - row[k as usize]), f64::from(w[k as usize])),
            };
            assert!((f64::from(losses[r]) - want_loss).abs() <= 1e-6 * (1.0 + want_loss.abs()), "loss of row {r}");
            for (j, v) in row.iter().enumerate() {
                let hot = if t[r] == j as i64 { 1.0 } else { 0.0 };
                let want = a * ((v - m - ls).exp() - hot);
                let got = f64::from(g[r * c + j]);
                assert!((got - want).abs() <= 1e-6, "gradient [{r}, {j}]: {got} vs {want}");
            }
        }
    }
}
