//! The targets without an accelerated path: the same items as
//! `cpu::x86_64`, where [`dispatch!`] builds the portable kernel only and
//! every accelerated kernel declines, so the callers' portable loops run.

/// Defines `fn $name(args) -> ret` running `$body` (one portable build).
macro_rules! dispatch_portable {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[inline]
        $vis fn $name $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? $body
    };
}
pub(crate) use dispatch_portable as dispatch;

/// No AVX-512 kernels here (the tests ask, to know which path must have run).
#[cfg(test)]
pub(crate) fn has_avx512() -> bool {
    false
}

/// A prefetch hint: nothing here.
#[inline(always)]
pub(crate) fn prefetch_l2<T>(s: &[T], i: usize) {
    let _ = (s, i);
}

/// No gather instruction: the caller picks position by position.
pub(crate) mod gather {
    use crate::cpu::gather::{Picks, Plane};

    /// Declines (see [`crate::cpu::gather::pick_plane_f32`]).
    #[inline(always)]
    pub(crate) fn pick(plane: Plane<'_, f32>, p: Picks<'_, f32>, picked: &mut [f32]) -> bool {
        let _ = (plane, p, picked);
        false
    }
}

/// No register-tiled products: the caller runs the plain loops.
pub(crate) mod offset_gemm {
    use crate::cpu::offset_gemm::{Out, Rows};

    /// The kernels never run here.
    #[inline(always)]
    pub(crate) fn fast() -> bool {
        false
    }

    /// Declines (see [`crate::cpu::offset_gemm::gemm_offsets`]).
    #[inline(always)]
    pub(crate) fn gemm(a: Rows<'_>, b: Rows<'_>, n: usize, out: &mut Out<'_>) -> bool {
        let _ = (a, b, n, out);
        false
    }

    /// Declines (see [`crate::cpu::offset_gemm::gemm_dots_offsets`]).
    #[inline(always)]
    pub(crate) fn dots(a: Rows<'_>, b: Rows<'_>, k: usize, out: &mut Out<'_>) -> bool {
        let _ = (a, b, k, out);
        false
    }
}

/// No aligned vector walk: the caller walks the row.
pub(crate) mod prob_row {
    use crate::cpu::prob_row::{RowLanes, RowWalk};

    /// Declines (see [`crate::cpu::prob_row::row_lanes`]).
    #[inline(always)]
    pub(crate) fn row_lanes(walk: RowWalk<'_>, e: Option<&mut [f32]>) -> Option<RowLanes> {
        let _ = (walk, e);
        None
    }
}
