//! The register-tiled AVX-512 kernels of `crate::cpu::offset_gemm` (see there
//! for what they compute): up to 24 accumulators of 16 lanes per tile.

use crate::cpu::offset_gemm::{KC, Out, Rows};
use std::arch::x86_64::*;

/// True when the AVX-512 kernels run here (and SIMD is not switched off).
#[inline]
pub(crate) fn fast() -> bool {
    super::has_avx512()
}

/// [`crate::cpu::offset_gemm::gemm_offsets`] with AVX-512: false, having done
/// nothing, unless AVX-512 runs here (true, having done nothing, for an empty
/// product).
///
/// Panics (an internal invariant, checked before any memory is read) if an
/// offset reaches past its buffer.
pub(crate) fn gemm(a: Rows<'_>, b: Rows<'_>, n: usize, out: &mut Out<'_>) -> bool {
    let (m, k) = (a.offsets.len(), b.offsets.len());
    if m == 0 || n == 0 {
        return true; // nothing to compute (and the bound on c below needs a row)
    }
    // the bounds that make the kernel's raw reads and writes sound
    assert!(a.offsets.iter().all(|&o| o + k <= a.data.len()), "gemm_offsets: a row out of bounds");
    assert!(b.offsets.iter().all(|&o| o + n <= b.data.len()), "gemm_offsets: b row out of bounds");
    assert!((m - 1) * out.ldc + n <= out.c.len() && out.ldc >= n, "gemm_offsets: c out of bounds");
    if !super::has_avx512() {
        return false;
    }
    // SAFETY: avx512f was detected just above; every row of a, b and c that
    // the kernel touches lies inside its slice (asserted above), and c is a
    // distinct &mut borrow, so it aliases neither a nor b.
    unsafe { gemm_avx512(a, b, n, out.c.as_mut_ptr(), out.ldc, out.accumulate) };
    true
}

/// [`crate::cpu::offset_gemm::gemm_dots_offsets`] with AVX-512: false, having
/// done nothing, unless AVX-512 runs here (true, having done nothing, for an
/// empty product).
///
/// Panics (an internal invariant, checked before any memory is read) if an
/// offset reaches past its buffer.
pub(crate) fn dots(a: Rows<'_>, b: Rows<'_>, k: usize, out: &mut Out<'_>) -> bool {
    let (m, n) = (a.offsets.len(), b.offsets.len());
    if m == 0 || n == 0 {
        return true; // nothing to compute (and the bound on c below needs a row)
    }
    assert!(a.offsets.iter().all(|&o| o + k <= a.data.len()), "gemm_dots_offsets: a row out of bounds");
    assert!(b.offsets.iter().all(|&o| o + k <= b.data.len()), "gemm_dots_offsets: b row out of bounds");
    assert!((m - 1) * out.ldc + n <= out.c.len() && out.ldc >= n, "gemm_dots_offsets: c out of bounds");
    if !super::has_avx512() {
        return false;
    }
    // SAFETY: avx512f was detected just above; every row of a and b that the
    // kernel reads holds k entries inside its slice, and every row of c n
    // entries (asserted above); c is a distinct &mut borrow.
    unsafe { dots_avx512(a, b, k, out.c.as_mut_ptr(), out.ldc, out.accumulate) };
    true
}

/// The output as the kernels write it.
#[derive(Clone, Copy)]
struct OutPtr {
    /// Where row 0 of the output starts.
    c: *mut f32,
    /// The distance between the starts of consecutive rows, in elements.
    ldc: usize,
    /// Whether the sums are added onto the output (rather than stored).
    accumulate: bool,
}

/// One tile's rows: `MR` rows of `a` and of the output, of which the first
/// `rows` are written (the callers repeat the last row in the unused slots, so
/// that every pointer is one the caller may read).
#[derive(Clone, Copy)]
struct TileRows<const MR: usize> {
    /// Where row `r`'s reduction positions start in `a`.
    a: [*const f32; MR],
    /// Where row `r`'s columns start in the output.
    c: [*mut f32; MR],
    /// How many of the rows are written.
    rows: usize,
}

/// The part of the product one [`panel`] covers: the reduction positions
/// `p0..p0 + kc` (one block of at most [`KC`]) and the output columns `j0..j0 + w`.
#[derive(Clone, Copy)]
struct Part {
    /// The first reduction position.
    p0: usize,
    /// Reduction positions in the block.
    kc: usize,
    /// The first column.
    j0: usize,
    /// Columns in the panel (at most 48, three vectors).
    w: usize,
}

/// The mask of the first `w` (≤ 16) lanes.
#[inline(always)]
fn lanes(w: usize) -> __mmask16 {
    ((1u32 << w.min(16)) - 1) as __mmask16
}

/// One tile: the rows of `t` (row `r` read from `t.a[r]`, written to
/// `t.c[r]` for `r < t.rows`) × `w ≤ 16·NV` columns, over the `k` rows of `b`
/// at `b + off[p]`; sums added onto the output when `accumulate`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile<const MR: usize, const NV: usize>(
    (b, off): (*const f32, *const usize),
    k: usize,
    t: TileRows<MR>,
    w: usize,
    accumulate: bool,
) {
    let TileRows { a, c, rows } = t;
    let last = lanes(w - 16 * (NV - 1));
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..k {
        // SAFETY (the whole tile): the caller checked that row p of b holds
        // w columns from b + off[p], that row r of a holds k entries from
        // a[r], and that c[r] has w writable entries; the last vector of a
        // row is loaded and stored with a mask of its valid lanes only.
        let bp = unsafe { b.add(*off.add(p)) };
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, slot) in bv.iter_mut().enumerate() {
            let mask = if v + 1 == NV { last } else { 0xffff };
            *slot = unsafe { _mm512_maskz_loadu_ps(mask, bp.add(16 * v)) };
        }
        for r in 0..MR {
            let av = _mm512_set1_ps(unsafe { *a[r].add(p) });
            for v in 0..NV {
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
            }
        }
    }
    for (cr, acc_r) in c.iter().zip(&acc).take(rows) {
        for (v, &sum) in acc_r.iter().enumerate() {
            let mask = if v + 1 == NV { last } else { 0xffff };
            // SAFETY: c[r] has w writable entries and only the valid lanes of
            // the last vector are enabled (see above)
            let cp = unsafe { cr.add(16 * v) };
            let out = if accumulate { _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(mask, cp) }, sum) } else { sum };
            unsafe { _mm512_mask_storeu_ps(cp, mask, out) };
        }
    }
}

/// All row tiles of one column panel and reduction block (`part`).
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn panel<const MR: usize, const NV: usize>(a: Rows<'_>, b: Rows<'_>, part: Part, out: OutPtr) {
    let Part { p0, kc, j0, w } = part;
    let (a_ptr, a_off, c, ldc) = (a.data.as_ptr(), a.offsets, out.c, out.ldc);
    let m = a_off.len();
    for i in (0..m).step_by(MR) {
        let rows = MR.min(m - i);
        let at = |r: usize| i + r.min(rows - 1);
        // SAFETY: rows i..i + rows exist (at() stays below m); see `tile`
        let ar: [*const f32; MR] = std::array::from_fn(|r| unsafe { a_ptr.add(a_off[at(r)] + p0) });
        // SAFETY: as for `ar`, rows of the output that exist
        let cr: [*mut f32; MR] = std::array::from_fn(|r| unsafe { c.add(at(r) * ldc + j0) });
        let t = TileRows { a: ar, c: cr, rows };
        // SAFETY: rows kc of b from p0 exist, and their columns j0..j0 + w
        // (the caller's panel); see `tile`
        unsafe { tile::<MR, NV>((b.data.as_ptr().add(j0), b.offsets[p0..p0 + kc].as_ptr()), kc, t, w, out.accumulate) };
    }
}

/// See [`crate::cpu::offset_gemm::gemm_offsets`]; the output is row `i` at
/// `c + i·ldc`, added onto when `accumulate`. (The output comes as three
/// arguments rather than an [`OutPtr`]: passed in registers, they leave the
/// compiler no aggregate in memory to read them from.)
///
/// # Safety
/// AVX-512F; every row of `a` holds `b.offsets.len()` entries inside `a.data`,
/// every row of `b` `n` entries inside `b.data`, and the `a.offsets.len()`
/// rows of `n` entries at `c + i·ldc` are writable and alias neither.
#[target_feature(enable = "avx512f")]
unsafe fn gemm_avx512(a: Rows<'_>, b: Rows<'_>, n: usize, c: *mut f32, ldc: usize, accumulate: bool) {
    let out = OutPtr { c, ldc, accumulate };
    let (m, k) = (a.offsets.len(), b.offsets.len());
    for p0 in (0..k.max(1)).step_by(KC) {
        let kc = KC.min(k - p0);
        let o = OutPtr { accumulate: out.accumulate || p0 > 0, ..out };
        let mut j0 = 0;
        while j0 < n {
            let w = (n - j0).min(48);
            let part = Part { p0, kc, j0, w };
            // SAFETY: see `tile`; the panel's columns j0..j0 + w are inside n
            unsafe {
                // at most 24 accumulators; 4-row tiles when there are only a few rows
                match (w.div_ceil(16), m) {
                    (3, ..=4) => panel::<4, 3>(a, b, part, o),
                    (3, _) => panel::<8, 3>(a, b, part, o),
                    (2, ..=4) => panel::<4, 2>(a, b, part, o),
                    (2, _) if m.is_multiple_of(12) => panel::<12, 2>(a, b, part, o),
                    (2, _) => panel::<8, 2>(a, b, part, o),
                    (_, ..=4) => panel::<4, 1>(a, b, part, o),
                    _ => panel::<8, 1>(a, b, part, o),
                }
            }
            j0 += w;
        }
    }
}

/// Rows of `a` against rows of `b` per tile.
const DI: usize = 4;
const DJ: usize = 6;

/// One tile of dot products: rows `a[0..DI]` against rows `b[0..DJ]` (the
/// callers repeat the last row in unused slots), `rows × cols` results
/// written to `out.c + i·out.ldc + r`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dots_tile(k: usize, a: [*const f32; DI], b: [*const f32; DJ], out: OutPtr, (rows, cols): (usize, usize)) {
    let OutPtr { c, ldc, accumulate } = out;
    let mut acc = [[_mm512_setzero_ps(); DJ]; DI];
    for q in (0..k).step_by(16) {
        // SAFETY (the whole tile): the caller checked that every row of a
        // and b holds k entries from its pointer and that c has rows × cols
        // writable results; the last chunk is loaded with a mask of its
        // valid lanes only.
        let mask = lanes(k - q);
        let bv: [__m512; DJ] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask, b[v].add(q)) });
        for (acc_r, &ar) in acc.iter_mut().zip(&a) {
            let av = unsafe { _mm512_maskz_loadu_ps(mask, ar.add(q)) };
            for (s, &bw) in acc_r.iter_mut().zip(&bv) {
                *s = _mm512_fmadd_ps(av, bw, *s);
            }
        }
    }
    for (i, acc_r) in acc.iter().enumerate().take(rows) {
        for (r, &s) in acc_r.iter().enumerate().take(cols) {
            let sum = _mm512_reduce_add_ps(s);
            // SAFETY: result (i, r) is one of the rows × cols writable ones (see above)
            let cp = unsafe { c.add(i * ldc + r) };
            unsafe { *cp = if accumulate { *cp + sum } else { sum } };
        }
    }
}

/// See [`crate::cpu::offset_gemm::gemm_dots_offsets`]; the output is row `i`
/// at `c + i·ldc`, added onto when `accumulate` (three arguments, as for
/// [`gemm_avx512`]).
///
/// # Safety
/// AVX-512F; every row of `a` and of `b` holds `k` entries inside its
/// buffer, and the `a.offsets.len()` rows of `b.offsets.len()` entries at
/// `c + i·ldc` are writable and alias neither.
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512(a: Rows<'_>, b: Rows<'_>, k: usize, c: *mut f32, ldc: usize, accumulate: bool) {
    let (Rows { data: a, offsets: a_off }, Rows { data: b, offsets: b_off }) = (a, b);
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let (m, n) = (a_off.len(), b_off.len());
    for r0 in (0..n).step_by(DJ) {
        let cols = DJ.min(n - r0);
        // SAFETY: rows r0..r0 + cols and i..i + rows exist; see `dots_tile`
        let br: [*const f32; DJ] = std::array::from_fn(|v| unsafe { b.add(b_off[r0 + v.min(cols - 1)]) });
        for i in (0..m).step_by(DI) {
            let rows = DI.min(m - i);
            // SAFETY: as for `br`
            let ar: [*const f32; DI] = std::array::from_fn(|u| unsafe { a.add(a_off[i + u.min(rows - 1)]) });
            // SAFETY: row i of the output, from column r0, holds the tile's results; see `dots_tile`
            let o = OutPtr { c: unsafe { c.add(i * ldc + r0) }, ldc, accumulate };
            // SAFETY: see `dots_tile`
            unsafe { dots_tile(k, ar, br, o, (rows, cols)) };
        }
    }
}
