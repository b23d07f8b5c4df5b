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

/// Two phases in one parallel section: `scan(i)` for every part `i` of
/// `0..parts` (each returning whether it found something wrong, and a count),
/// then, unless some part found something wrong, `f(item, count)` for every
/// item of `work` with the total count. Returns `(wrong, count)`.
///
/// One wake-up of the thread pool serves both phases (a section per phase
/// cost nll_2d ~9%, the scan's reading included). Each thread claims parts,
/// then items, by an atomic counter, and waits between the phases only for
/// parts already claimed, which their threads finish without waiting on
/// anything: a thread that never starts leaves its share to the others.
pub(crate) fn scan_then<W: Send>(
    parts: usize,
    scan: impl Fn(usize) -> (bool, usize) + Sync,
    work: Vec<W>,
    f: impl Fn(W, usize) + Sync,
) -> (bool, usize) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next_part, done, next_item) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let (wrong, count) = (AtomicBool::new(false), AtomicUsize::new(0));
    let items: Vec<Mutex<Option<W>>> = work.into_iter().map(|w| Mutex::new(Some(w))).collect();
    let worker = || {
        loop {
            let i = next_part.fetch_add(1, Ordering::Relaxed);
            if i >= parts {
                break;
            }
            // counted as done even if `scan` unwinds, so that no thread waits
            // for it forever (the panic then reaches the caller)
            let _done = Done(&done);
            let (bad, n) = scan(i);
            wrong.fetch_or(bad, Ordering::Relaxed);
            count.fetch_add(n, Ordering::Relaxed);
        }
        // every part is claimed: wait for the ones other threads are scanning
        let mut spins = 0u32;
        while done.load(Ordering::Acquire) < parts {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if wrong.load(Ordering::Relaxed) {
            return;
        }
        let total = count.load(Ordering::Relaxed);
        loop {
            let i = next_item.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = items.get(i) else { break };
            // a slot is taken once (each index is claimed once); a poisoned
            // lock still holds its item
            let item = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(w) = item {
                f(w, total);
            }
        }
    };
    if items.len() <= 1 && parts <= 1 {
        worker();
    } else {
        (0..rayon::current_num_threads().clamp(1, parts.max(items.len()))).into_par_iter().for_each(|_| worker());
    }
    (wrong.load(Ordering::Relaxed), count.load(Ordering::Relaxed))
}

/// Adds one to its counter when dropped: a part of [`scan_then`] done.
struct Done<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Part `i` counts `i + 1`; part 5 is wrong when asked.
    fn scan(bad: bool) -> impl Fn(usize) -> (bool, usize) + Sync {
        move |i| (bad && i == 5, i + 1)
    }

    #[test]
    fn scan_then_runs_every_item_once_with_the_total() {
        for (parts, items) in [(0, 0), (1, 1), (1, 7), (9, 0), (9, 2), (9, 40)] {
            let seen: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
            let want = parts * (parts + 1) / 2;
            let got = scan_then(parts, scan(false), (0..items).collect(), |i: usize, n| {
                assert_eq!(n, want, "item {i} saw count {n}");
                seen[i].fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(got, (false, want), "{parts} parts");
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "{parts} parts, {items} items");
        }
    }

    #[test]
    fn scan_then_runs_no_item_after_a_wrong_part() {
        let ran = AtomicUsize::new(0);
        let got = scan_then(9, scan(true), (0..40).collect(), |_: usize, _| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(got, (true, 45));
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }

    /// A part that panics is still counted as done: the panic reaches the
    /// caller, and no thread waits for the part forever.
    #[test]
    fn scan_then_passes_a_panicking_part_on() {
        let r = std::panic::catch_unwind(|| {
            scan_then(9, |i| if i == 3 { panic!("part 3") } else { (false, 1) }, (0..40).collect(), |_: usize, _| {})
        });
        assert!(r.is_err());
    }

    /// A pool of one thread (the waiting cannot be on a part nobody runs),
    /// and calls from inside a pool's tasks, several at once.
    #[test]
    fn scan_then_finishes_on_one_thread_and_nested() {
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let got = one.install(|| scan_then(9, scan(false), (0..40).collect(), |_: usize, _| {}));
        assert_eq!(got, (false, 45));
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let total = AtomicUsize::new(0);
        three.install(|| {
            (0..16).into_par_iter().for_each(|_| {
                let (_, n) = scan_then(9, scan(false), (0..10).collect(), |_: usize, _| {
                    total.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(n, 45);
            })
        });
        assert_eq!(total.load(Ordering::Relaxed), 160);
    }
}
