//! Buffer allocation for kernel outputs, with a small cache of large buffers.
//!
//! A freshly mapped large buffer costs a page fault per 4 KiB page on first
//! write: for the 16 MiB buffers of a 4M-element loss, or the 64 MiB gradient
//! of a 2048 × 8192 cross-entropy, more time than the kernel itself. So large
//! buffers (at least [`MIN_CACHED`] bytes) are kept when their storage is freed,
//! up to [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] in all (the oldest evicted
//! first), and handed out again.
//! [`empty_cache`] gives them back to the system.

use crate::tensor::{Element, Float, Storage};
use std::sync::Mutex;

/// Buffers smaller than this are left to the allocator (glibc's default
/// threshold for mapping a buffer rather than reusing heap memory).
pub(crate) const MIN_CACHED: usize = 128 << 10;
/// At most this many buffers are kept.
pub(crate) const MAX_BUFFERS: usize = 64;
/// At most this many bytes are kept.
pub(crate) const MAX_BYTES: usize = 512 << 20;

static CACHE: Mutex<Vec<Storage>> = Mutex::new(Vec::new());

fn bytes(s: &Storage) -> usize {
    match s {
        Storage::F32(v) => v.capacity() * 4,
        Storage::F64(v) => v.capacity() * 8,
        Storage::I64(v) => v.capacity() * 8,
        Storage::Bool(v) => v.capacity(),
    }
}

/// Buffers of at least this many elements are zero-filled on all cores.
const PAR_FILL: usize = 1 << 18;

/// A vector of `n` zeros, from the cache when a large enough buffer is there.
pub(crate) fn zeros<T: Float>(n: usize) -> Vec<T> {
    let mut v = scratch::<T>(n);
    if n >= PAR_FILL {
        super::par::for_each_claimed(v.chunks_mut(1 << 16).collect(), |c| c.fill(T::zero()));
    } else {
        v.fill(T::zero());
    }
    v
}

/// A vector of `n` initialised elements whose values are unspecified (left
/// over from a recycled buffer, or zeros): for kernels that write every
/// element, so that no time goes into filling it first.
pub(crate) fn scratch<T: Element>(n: usize) -> Vec<T> {
    let mut v = take::<T>(n).unwrap_or_default();
    v.truncate(n);
    v.resize(n, T::default());
    v
}

/// Hands a buffer from [`scratch`] or [`zeros`] back to the cache, as when a
/// tensor's storage is freed: the next buffer of its size then costs no fresh
/// pages (a kernel's large temporaries would otherwise be new memory each call).
pub(crate) fn give_back<T: Element>(v: Vec<T>) {
    drop(T::wrap(v));
}

/// A cached buffer of `T` with room for `n` (but not more than twice that).
fn take<T: Element>(n: usize) -> Option<Vec<T>> {
    if n * std::mem::size_of::<T>() < MIN_CACHED {
        return None;
    }
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let at = cache.iter().position(|s| T::capacity(s).is_some_and(|cap| cap >= n && cap <= 2 * n))?;
    let mut s = cache.swap_remove(at);
    drop(cache);
    T::take_vec(&mut s)
}

/// Keeps the buffer of a storage being freed, if it is large, evicting the
/// oldest buffers when the cache would exceed its limits.
pub(crate) fn recycle(s: &mut Storage) {
    let size = bytes(s);
    if !(MIN_CACHED..=MAX_BYTES).contains(&size) {
        return;
    }
    let kept = match s {
        Storage::F32(v) => Storage::F32(std::mem::take(v)),
        Storage::F64(v) => Storage::F64(std::mem::take(v)),
        Storage::I64(v) => Storage::I64(std::mem::take(v)),
        Storage::Bool(v) => Storage::Bool(std::mem::take(v)),
    };
    let mut evicted = Vec::new();
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let mut held: usize = cache.iter().map(bytes).sum();
        while !cache.is_empty() && (cache.len() >= MAX_BUFFERS || held + size > MAX_BYTES) {
            let old = cache.remove(0);
            held -= bytes(&old);
            evicted.push(old);
        }
        cache.push(kept);
    }
    // freed outside the lock, and not recycled again (see `release`)
    evicted.into_iter().for_each(release);
}

/// Frees a storage's buffer without offering it to the cache.
fn release(mut s: Storage) {
    match &mut s {
        Storage::F32(v) => drop(std::mem::take(v)),
        Storage::F64(v) => drop(std::mem::take(v)),
        Storage::I64(v) => drop(std::mem::take(v)),
        Storage::Bool(v) => drop(std::mem::take(v)),
    }
}

/// Returns every buffer the cache holds to the system (the CPU counterpart
/// of `torch.cuda.empty_cache`).
///
/// ```
/// tapegrad::tensor::empty_cache();
/// assert_eq!(tapegrad::tensor::cached_bytes(), 0);
/// ```
pub fn empty_cache() {
    let drained: Vec<Storage> = std::mem::take(&mut *CACHE.lock().unwrap_or_else(|e| e.into_inner()));
    drained.into_iter().for_each(release);
}

/// Bytes of freed buffers the cache currently holds for reuse.
pub fn cached_bytes() -> usize {
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).iter().map(bytes).sum()
}
