//! The thread team: how kernels split work across threads.
//!
//! # Contract
//!
//! - **Who works.** A parallel section is a [`team`]: the calling thread
//!   works from the start, and up to one fewer helpers than rayon's pool has
//!   threads (`RAYON_NUM_THREADS`) join it. Work is shared out by atomic
//!   counters, not by assignment, so a helper that starts late finds less,
//!   or nothing, to do, and a section never waits for a thread that has not
//!   started. Below [`PAR_THRESHOLD`] elements a kernel runs on the caller
//!   alone: small tensors pay no thread overhead.
//! - **Where helpers come from.** From outside rayon's pools, from a pool of
//!   its own (one thread fewer than rayon's global pool, so that caller and
//!   helpers fill the cores without waking a third runnable thread); inside
//!   a pool's task, they are tasks of that pool.
//! - **How long helpers spin.** The caller waits for its helpers by spinning
//!   (a few thousand turns, then it sleeps as rayon does): their last pieces
//!   of work are short. After a section, helpers stay awake spinning for up
//!   to [`LINGER`] and take the next section at once; a sleeping thread
//!   takes tens of microseconds to wake, a sizeable part of a sub-millisecond
//!   section. OpenMP's threads wait the same way (`OMP_WAIT_POLICY`).
//! - **Nesting.** A section started from inside a section (a convolution's
//!   matrix product, say) runs on its thread alone ([`in_section`]): the other
//!   threads are busy with the outer one.
//! - **Determinism.** Which thread does which item never changes a result:
//!   every item writes its own outputs, and reductions combine per-item
//!   results in item order. Results are the same bits on any thread count.
//!
//! With the cargo feature `plain-rayon`, sections run as plain rayon scopes
//! on rayon's global pool: the caller still works and shares items the same
//! way, but there is no helper pool, no spinning and no lingering (a
//! simpler, more conservative schedule for hosts that share their cores).

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
    map_claimed(parts, |(r, a, b, c)| f(r, a, b, c))
}

/// Runs `worker` on the calling thread and, at the same time, on up to
/// `helpers` other threads (one fewer than the pool has: the caller is one
/// of the team); returns when every copy has returned. The copies share out
/// the work themselves (atomic counters of the caller's making), so a helper
/// that starts late finds less, or nothing, to do.
///
/// The caller works from the start instead of injecting a task and sleeping
/// until the pool's threads have run it (waking it would cost more than a
/// short section's work). From outside rayon's pools the helpers come
/// from [`helper_pool`] and the caller waits for them by spinning a while
/// (their last pieces of work are short); inside a pool they are tasks of
/// that pool and the caller waits as rayon does, running other tasks
/// meanwhile (a spinning worker could be the one holding the helpers' tasks).
///
/// A team's calling thread is outside rayon's pools but busy in a parallel
/// section: a section started from its work (a convolution's matrix
/// product, say) runs on it alone, as one started from a pool's task would
/// (see [`in_section`]).
pub(crate) fn team(helpers: usize, worker: impl Fn() + Sync) {
    let outside = rayon::current_thread_index().is_none();
    let helpers = helpers.min(rayon::current_num_threads().saturating_sub(1));
    let pool = if outside { helper_pool() } else { None };
    // the caller's own copy runs marked as in a section (alone too), the
    // mark put back as it was even if the copy unwinds
    struct Mark(bool);
    impl Drop for Mark {
        fn drop(&mut self) {
            IN_TEAM.set(self.0);
        }
    }
    let worker = || {
        let _mark = outside.then(|| Mark(IN_TEAM.replace(true)));
        worker();
    };
    if helpers == 0 || (outside && IN_TEAM.get()) {
        worker();
        return;
    }
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let (finished, worker) = (&finished, &worker);
    match pool {
        Some(pool) => {
            let section = SECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            pool.in_place_scope(|s| team_in(s, helpers, finished, worker, true));
            pool.spawn_broadcast(move |_| linger(section));
        }
        None => rayon::in_place_scope(|s| team_in(s, helpers, finished, worker, false)),
    }
}

/// Sections started from outside rayon's pools so far (see [`linger`]).
static SECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How long a helper stays awake after a section, waiting for the next.
const LINGER: std::time::Duration = std::time::Duration::from_micros(300);

/// A helper's wait after `section`: it spins until another section starts
/// (and then returns at once, to take the new section's task from the pool's
/// queue) or [`LINGER`] has passed, and only then lets rayon put it to
/// sleep. A sleeping helper takes tens of microseconds to join the next
/// section (the wake-up of an idle virtual CPU), while the caller works
/// alone. OpenMP's threads wait the same way (`OMP_WAIT_POLICY`).
fn linger(section: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let start = std::time::Instant::now();
    let mut turns = 0u32;
    while SECTIONS.load(Relaxed) == section {
        std::hint::spin_loop();
        turns = turns.wrapping_add(1);
        if turns.is_multiple_of(64) && start.elapsed() > LINGER {
            return;
        }
    }
}

thread_local! {
    /// Whether this thread is the caller of a [`team`] at work.
    static IN_TEAM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread runs part of a parallel section: a task of one of
/// rayon's pools, or a [`team`]'s caller. Work started there should stay on
/// the thread (the other threads are busy with the section).
pub(crate) fn in_section() -> bool {
    rayon::current_thread_index().is_some() || IN_TEAM.get()
}

/// [`team`]'s body in its scope `s`: spawns the helpers (each counting
/// itself into `finished` when done), works, and with `spin` waits for them
/// ([`spin_until`]); after a few thousand turns (a helper busy elsewhere, or
/// not yet started) it leaves the rest of the wait to the scope, which
/// sleeps.
fn team_in<'s>(
    s: &rayon::Scope<'s>,
    helpers: usize,
    finished: &'s std::sync::atomic::AtomicUsize,
    worker: &'s (impl Fn() + Sync),
    spin: bool,
) {
    for _ in 0..helpers {
        s.spawn(move |_| {
            // counted even if `worker` unwinds (rayon passes the panic on)
            let _done = Done(finished);
            worker();
        });
    }
    worker();
    if spin {
        spin_until(Some(4096), || finished.load(std::sync::atomic::Ordering::Acquire) == helpers);
    }
}

/// Waits for `ready` by spinning, then (after 64 turns) yielding the
/// thread, for at most `turns` turns (`None`: until it is).
fn spin_until(turns: Option<u32>, ready: impl Fn() -> bool) {
    let mut turn = 0u32;
    while !ready() {
        if turns.is_some_and(|n| turn >= n) {
            return;
        }
        if turn < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        turn = turn.saturating_add(1);
    }
}

/// The threads that help a caller from outside rayon's pools: a pool of one
/// thread fewer than rayon's global pool (so its size follows
/// `RAYON_NUM_THREADS`), caller and helpers filling the cores; `None` with
/// a global pool of one thread. Helpers taken from the global pool itself
/// woke its other threads too (rayon keeps one awake to steal work): on two
/// cores a third runnable thread, and sections that ended up to ms late.
#[cfg(not(feature = "plain-rayon"))]
fn helper_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        // called from outside any pool: this is the global pool's size
        let n = rayon::current_num_threads();
        let named = |i| format!("tapegrad-helper-{i}");
        (n >= 2).then(|| rayon::ThreadPoolBuilder::new().num_threads(n - 1).thread_name(named).build().ok())?
    })
    .as_ref()
}

/// With `plain-rayon`: no helper pool, sections run on rayon's global pool.
#[cfg(feature = "plain-rayon")]
fn helper_pool() -> Option<&'static rayon::ThreadPool> {
    None
}

/// `f` of every item of `work`, in order, made on a [`team`] of threads
/// (see [`for_each_claimed`]).
pub(crate) fn map_claimed<W: Send, R: Send>(work: Vec<W>, f: impl Fn(W) -> R + Sync) -> Vec<R> {
    let mut results: Vec<Option<R>> = work.iter().map(|_| None).collect();
    let work: Vec<_> = work.into_iter().zip(results.iter_mut()).collect();
    for_each_claimed(work, |(w, slot)| *slot = Some(f(w)));
    debug_assert!(results.iter().all(Option::is_some));
    results.into_iter().flatten().collect()
}

/// Runs `f` on every item of `work`, each once, on a [`team`] of threads.
/// The items are cut into one run per thread; each thread claims the items
/// of its own run in order (an atomic counter per run), then helps with the
/// others' rest. Each thread thus reads its own stretch of memory in order,
/// as rayon's halving did (items dealt out alternately would interleave the
/// threads' reads and slow a memory-bound kernel).
pub(crate) fn for_each_claimed<W: Send>(work: Vec<W>, f: impl Fn(W) + Sync) {
    if work.len() <= 1 {
        work.into_iter().for_each(f);
        return;
    }
    let runs = Runs::new(work);
    team(runs.bounds.len() - 1, || runs.work(&f));
}

/// Items cut into one run per thread of a team (no more runs than items):
/// see [`for_each_claimed`].
struct Runs<W> {
    items: Vec<std::sync::Mutex<Option<W>>>,
    /// Each run's next item and end.
    bounds: Vec<(std::sync::atomic::AtomicUsize, usize)>,
    /// How many threads have started: a thread starts on run `seat % runs`.
    seat: std::sync::atomic::AtomicUsize,
}

impl<W> Runs<W> {
    fn new(work: Vec<W>) -> Self {
        use std::sync::atomic::AtomicUsize;
        let n = work.len();
        let runs = n.min(rayon::current_num_threads()).max(1);
        Runs {
            items: work.into_iter().map(|w| std::sync::Mutex::new(Some(w))).collect(),
            bounds: (0..runs).map(|r| (AtomicUsize::new(r * n / runs), (r + 1) * n / runs)).collect(),
            seat: AtomicUsize::new(0),
        }
    }

    /// One thread's share: its own run's items in order, then what is left
    /// of the others'.
    fn work(&self, f: impl Fn(W)) {
        use std::sync::atomic::Ordering::Relaxed;
        let (own, runs) = (self.seat.fetch_add(1, Relaxed), self.bounds.len());
        for r in (0..runs).map(|k| (own + k) % runs) {
            let (next, end) = &self.bounds[r];
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= *end {
                    break;
                }
                // a slot is taken once (each index is claimed once); a
                // poisoned lock still holds its item
                let item = self.items[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(w) = item {
                    f(w);
                }
            }
        }
    }
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
/// One wake-up of the thread team serves both phases (a section per phase
/// would pay for two). Each thread claims parts,
/// then items, by an atomic counter, and waits between the phases only for
/// parts already claimed, which their threads finish without waiting on
/// anything: a thread that never starts leaves its share to the others.
pub(crate) fn scan_then<W: Send>(
    parts: usize,
    scan: impl Fn(usize) -> (bool, usize) + Sync,
    work: Vec<W>,
    f: impl Fn(W, usize) + Sync,
) -> (bool, usize) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next_part, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (wrong, count) = (AtomicBool::new(false), AtomicUsize::new(0));
    let items = work.len();
    let runs = Runs::new(work);
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
        // (which never wait themselves, so no limit)
        spin_until(None, || done.load(Ordering::Acquire) >= parts);
        if wrong.load(Ordering::Relaxed) {
            return;
        }
        let total = count.load(Ordering::Relaxed);
        runs.work(|w| f(w, total));
    };
    team(parts.max(items).saturating_sub(1), worker);
    (wrong.load(Ordering::Relaxed), count.load(Ordering::Relaxed))
}

/// Adds one to its counter when dropped: a part of [`scan_then`] done, a
/// helper of [`team`] finished.
struct Done<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn chunks3_gives_each_chunk_its_slices_and_the_results_in_order() {
        let n = PAR_THRESHOLD * 3 + 5;
        let (mut a, mut b) = (vec![0usize; n], vec![0usize; n]);
        let got = chunks3(n, 1000, &mut a, &mut [], &mut b, |r, a, none, b| {
            assert!(none.is_empty() && a.len() == r.len() && b.len() == r.len());
            a.iter_mut().zip(b).zip(r.clone()).for_each(|((a, b), i)| (*a, *b) = (i, 2 * i));
            r.start
        });
        assert_eq!(got, (0..n).step_by(1000).collect::<Vec<_>>());
        assert!(a.iter().enumerate().all(|(i, &v)| v == i) && b.iter().enumerate().all(|(i, &v)| v == 2 * i));
    }

    /// From outside rayon's pools the caller works with the helper pool's
    /// threads (with more than one core): item 0 waits until some other
    /// thread has taken an item.
    #[test]
    fn team_from_outside_works_with_a_helper() {
        let here = std::thread::current().id();
        let others = AtomicUsize::new(0);
        let seen: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        for_each_claimed((0..64).collect(), |i: usize| {
            if std::thread::current().id() != here {
                others.fetch_add(1, Ordering::Relaxed);
            }
            let t = std::time::Instant::now();
            while i == 0 && rayon::current_num_threads() > 1 && others.load(Ordering::Relaxed) == 0 {
                assert!(t.elapsed().as_secs() < 20, "no helper took an item in 20 s");
                std::thread::yield_now();
            }
            seen[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
        assert!(rayon::current_num_threads() == 1 || others.load(Ordering::Relaxed) > 0);
    }

    /// A team's caller counts as in a section while it works (and not after,
    /// even when its work unwinds); a section started there runs on it alone.
    #[test]
    fn a_team_caller_is_in_a_section() {
        assert!(!in_section());
        let here = std::thread::current().id();
        let (count, mine) = (AtomicUsize::new(0), AtomicUsize::new(0));
        for_each_claimed((0..8).collect(), |_: usize| {
            assert!(in_section());
            if std::thread::current().id() == here {
                mine.fetch_add(1, Ordering::Relaxed);
                for_each_claimed((0..8).collect(), |_: usize| {
                    assert_eq!(std::thread::current().id(), here, "a nested section left the caller's thread");
                    count.fetch_add(1, Ordering::Relaxed);
                });
                assert!(in_section(), "the caller's mark lost after a nested section");
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 8 * mine.load(Ordering::Relaxed));
        assert!(!in_section());
        let _ = std::panic::catch_unwind(|| for_each_claimed((0..8).collect(), |_: usize| panic!("item")));
        assert!(!in_section());
    }

    /// Every item once, whatever the number of items against the threads
    /// (runs of one item, runs longer than others, more threads than items).
    #[test]
    fn for_each_claimed_runs_every_item_once() {
        let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        for n in [2, 3, 5, 7, 64, 1001] {
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            let run = || for_each_claimed((0..n).collect(), |i: usize| _ = seen[i].fetch_add(1, Ordering::Relaxed));
            run();
            four.install(run);
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 2), "{n} items");
        }
    }

    /// A lingering helper returns at once when its section is not the last
    /// one, and by itself (after [`LINGER`]) when it is.
    #[test]
    fn a_helper_lingers_for_a_while_only() {
        use std::sync::atomic::Ordering::Relaxed;
        let t = std::time::Instant::now();
        linger(SECTIONS.load(Relaxed).wrapping_sub(1));
        let last = std::thread::spawn(|| linger(SECTIONS.load(Relaxed)));
        while !last.is_finished() {
            assert!(t.elapsed().as_secs() < 5, "still lingering after 5 s");
            std::thread::yield_now();
        }
    }

    /// A panic in any copy of the worker reaches the caller; nothing hangs.
    #[test]
    fn team_passes_a_panic_on() {
        for bad in [0, 5, 63] {
            let r = std::panic::catch_unwind(|| {
                for_each_claimed((0..64).collect(), |i: usize| assert!(i != bad, "item {i}"));
            });
            assert!(r.is_err(), "item {bad}");
        }
    }

    /// Calls from inside a pool's tasks, several at once, each once per item.
    #[test]
    fn for_each_claimed_nested_in_a_pool() {
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let total = AtomicUsize::new(0);
        three.install(|| {
            (0..16).into_par_iter().for_each(|_| {
                for_each_claimed((0..10).collect(), |_: usize| {
                    total.fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        assert_eq!(total.load(Ordering::Relaxed), 160);
    }

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
