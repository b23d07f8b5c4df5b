//! The chunked linear cross-entropy holds at most 32 MiB of logits and logit
//! gradients at a time on the `2048 × 256 → 32768` workload, where the
//! unfused `cross_entropy(linear(x, W))` holds 512 MiB (the `(N, C)` logits
//! and their gradient). Measured with a counting allocator: the peak of the
//! bytes allocated during forward and backward, above what was allocated
//! before, less the gradients of `x` and `W` (which both must make). Alone
//! in its binary: the allocator is global.

use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tapegrad::tensor::empty_cache;
use tapegrad::{DType, Tensor, functional as F};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak bytes allocated while `f` runs, above the bytes allocated before.
fn peak_during(f: impl FnOnce()) -> usize {
    empty_cache();
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

const MIB: usize = 1 << 20;

#[test]
fn the_chunked_loss_holds_at_most_32_mib_of_logits() {
    let (n, d, c) = (2048, 256, 32768);
    let mut r = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[n, d], DType::F32, &mut r).requires_grad();
    let w = Tensor::randn(&[c, d], DType::F32, &mut r).mul_scalar(0.05).unwrap().requires_grad();
    let t = Tensor::randint(0, c as i64, &[n], &mut r);
    let grads = (n * d + c * d) * 4;

    let mut fused = 0.0;
    let chunked = peak_during(|| {
        let loss = F::linear_cross_entropy(&x, &w, &t, None, &Default::default()).unwrap();
        loss.backward().unwrap();
        fused = loss.item::<f32>().unwrap();
    });
    let (gx, gw) = (x.grad().unwrap(), w.grad().unwrap());
    x.zero_grad();
    w.zero_grad();

    let mut plain = 0.0;
    let unfused = peak_during(|| {
        let logits = F::linear(&x, &w, None).unwrap();
        let loss = F::cross_entropy(&logits, &t, &Default::default()).unwrap();
        loss.backward().unwrap();
        plain = loss.item::<f32>().unwrap();
    });
    let chunk_bytes = chunked.saturating_sub(grads);
    let plain_bytes = unfused.saturating_sub(grads);
    println!(
        "logits and logit gradients alive at once: chunked {:.1} MiB, unfused {:.1} MiB",
        chunk_bytes as f64 / MIB as f64,
        plain_bytes as f64 / MIB as f64
    );
    assert!(chunk_bytes <= 32 * MIB, "chunked: {chunk_bytes} bytes beyond the gradients");
    assert!(plain_bytes >= 512 * MIB, "the unfused path holds the (N, C) logits and their gradient");
    // and the two computed the same thing
    assert!((fused - plain).abs() <= 1e-5 * plain.abs(), "loss {fused} vs {plain}");
    let close = |a: &Tensor, b: &Tensor| {
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 1e-4 * scale)
    };
    assert!(close(&gx, &x.grad().unwrap()), "grad of x");
    assert!(close(&gw, &w.grad().unwrap()), "grad of W");
}
