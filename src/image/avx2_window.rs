//! The AVX2 form of the turned crops' windows (see `avx512`): eight pixels a step whose taps
//! lie within three source rows and 16 bytes of each. Each row is broadcast to both 128-bit
//! halves of a register so that `vpshufb` can pick any of its bytes for any lane; a lane's top
//! row (the window's first or second) is chosen by a blend. Bit for bit the chunked AVX2 path.

use super::avx512::Plane;
use super::warp::avx2::{self, high_half};
use super::warp::{Axis, Channel, EXACT_SHIFT, WEIGHT_BITS, WEIGHT_ONE};
use std::arch::x86_64::*;

/// Pixels per step.
pub(crate) const STEP: usize = 8;

/// Three rows of 16 bytes of a plane from the sample at (`left`, `top`), each in both halves of
/// a register.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    rows: [__m256i; 3],
    left: i32,
    top: i32,
}

/// The window of `plane` holding the taps of slots 0..m of the axes, for samples of `step`
/// bytes, if they fit three rows of 16 bytes ([`Plane::place`]).
///
/// # Safety
/// AVX2; `0 < m <= 8`.
#[inline(always)]
pub(crate) unsafe fn window(
    plane: &Plane<'_>,
    [x, y]: [&Axis; 2],
    m: usize,
    step: usize,
) -> Option<Window> {
    let (at, left, top) = plane.place([x, y], m, step, (16, 3))?;
    let s = plane.stride;
    super::avx512::taken(true);
    // SAFETY: the caller's AVX2; three reads of 16 bytes from at + k·s, which end inside the
    // plane's bytes (`place` checked).
    unsafe {
        let p = plane.data.as_ptr().add(at);
        let row = |k: usize| _mm256_broadcastsi128_si256(_mm_loadu_si128(p.add(k * s).cast()));
        Some(Window {
            rows: [row(0), row(1), row(2)],
            left,
            top,
        })
    }
}

/// The rounded positions of an axis's eight first slots, in lanes (`Axis::value` of each).
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn positions(axis: &Axis) -> __m256i {
    let (q, step_q, r, step_r, shift) = axis.parts();
    // SAFETY: the caller's AVX2.
    unsafe {
        let k = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let q = _mm256_add_epi32(
            _mm256_set1_epi32(q),
            _mm256_mullo_epi32(k, _mm256_set1_epi32(step_q)),
        );
        let r = _mm256_add_epi32(
            _mm256_set1_epi32(r as i32),
            _mm256_mullo_epi32(k, _mm256_set1_epi32(step_r as i32)),
        );
        _mm256_add_epi32(q, _mm256_srl_epi32(r, _mm_cvtsi32_si128(shift as i32)))
    }
}

/// Each lane's source index (its position without the weight's bits).
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn index_of(position: __m256i) -> __m256i {
    // SAFETY: the caller's AVX2.
    unsafe { _mm256_srai_epi32::<{ WEIGHT_BITS as i32 }>(position) }
}

/// `(4096 − w) | w << 16` of each lane's weight (the low 12 bits of its position), and the
/// weight as it is.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn lane_weights(position: __m256i) -> (__m256i, __m256i) {
    // SAFETY: the caller's AVX2.
    unsafe {
        let w = _mm256_and_si256(position, _mm256_set1_epi32(WEIGHT_ONE as i32 - 1));
        let w0 = _mm256_sub_epi32(_mm256_set1_epi32(WEIGHT_ONE as i32), w);
        (_mm256_or_si256(w0, _mm256_slli_epi32::<16>(w)), w)
    }
}

/// Each lane's taps in `window` (source indices `xi`, `yi`; samples of `step` bytes): the
/// column byte of its left tap in bytes 0 and 2 of the lane, bytes 1 and 3 set to zero what
/// `vpshufb` picks there; and whether its top row is the window's first (else its second).
/// Lanes outside the window get garbage: a shuffle reads only its registers.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn window_taps(
    window: &Window,
    xi: __m256i,
    yi: __m256i,
    step: i32,
) -> (__m256i, __m256i) {
    // SAFETY: the caller's AVX2.
    unsafe {
        let column = _mm256_mullo_epi32(
            _mm256_sub_epi32(xi, _mm256_set1_epi32(window.left)),
            _mm256_set1_epi32(step),
        );
        let taps = _mm256_or_si256(
            _mm256_or_si256(column, _mm256_slli_epi32::<16>(column)),
            _mm256_set1_epi32(0x8000_8000u32 as i32),
        );
        let first = _mm256_cmpeq_epi32(yi, _mm256_set1_epi32(window.top));
        (taps, first)
    }
}

/// The horizontal blends (8.7, rounded) of a sample's two rows for eight pixels, picked out of
/// `window` at `taps` plus `(left, right)` bytes; `wx`: the x weight pairs.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn window_rows(
    window: &Window,
    (taps, first): (__m256i, __m256i),
    (left, right): (usize, usize),
    wx: __m256i,
) -> (__m256i, __m256i) {
    // SAFETY: the caller's AVX2.
    unsafe {
        let half = _mm256_set1_epi32(16);
        let at = _mm256_add_epi32(taps, _mm256_set1_epi32((left | right << 16) as i32));
        let [r0, r1, r2] = window.rows;
        let (p0, p1, p2) = (
            _mm256_shuffle_epi8(r0, at),
            _mm256_shuffle_epi8(r1, at),
            _mm256_shuffle_epi8(r2, at),
        );
        let top = _mm256_blendv_epi8(p1, p0, first);
        let bottom = _mm256_blendv_epi8(p2, p1, first);
        // a·(1 − w) + b·w per lane, exact (samples <= 255, weights <= 4096).
        let top = _mm256_srai_epi32::<5>(_mm256_add_epi32(_mm256_madd_epi16(top, wx), half));
        let bottom = _mm256_srai_epi32::<5>(_mm256_add_epi32(_mm256_madd_epi16(bottom, wx), half));
        (top, bottom)
    }
}

/// The exact vertical blend (the packed path's rule) of eight pixels' rows (8.7) with the y
/// weight pairs, rounded once to a byte.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn exact_rows((top, bottom): (__m256i, __m256i), wy: __m256i) -> __m256i {
    // SAFETY: the caller's AVX2.
    unsafe {
        // Rows <= 32640, weights <= 4096: sums < 2^31.
        let v = _mm256_madd_epi16(_mm256_or_si256(top, _mm256_slli_epi32::<16>(bottom)), wy);
        let half = _mm256_set1_epi32(1 << (EXACT_SHIFT - 1));
        _mm256_srai_epi32::<{ EXACT_SHIFT as i32 }>(_mm256_add_epi32(v, half))
    }
}

/// The vertical blend of the upright YUV path: the high halves of (row·2) and (weight·8),
/// added, 8.7; `wy`: the raw y weights.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(crate) unsafe fn rounded_rows((top, bottom): (__m256i, __m256i), wy: __m256i) -> __m256i {
    // SAFETY: the caller's AVX2.
    unsafe {
        let one = _mm256_set1_epi32(WEIGHT_ONE as i32);
        let wa = _mm256_slli_epi32::<3>(_mm256_sub_epi32(one, wy));
        let wb = _mm256_slli_epi32::<3>(wy);
        _mm256_add_epi32(high_half(top, wa), high_half(bottom, wb))
    }
}

/// Eight pixels' R, G, B (i32 lanes) as the interleaved bytes of the first `m` at `at` in
/// `out`: one 28-byte store whose 4 spare bytes land on pixels written after these, or, where
/// `out` ends within those 28 bytes, through a local buffer so that nothing lands past it.
///
/// # Safety
/// AVX2; `0 < m <= 8`, `at + 3·m <= out.len()`.
#[inline(always)]
pub(crate) unsafe fn store_rgb([r, g, b]: [__m256i; 3], out: &mut [u8], at: usize, m: usize) {
    // SAFETY: the caller's AVX2; 28 bytes from `at` inside `out`, or a local buffer.
    unsafe {
        if at + 28 <= out.len() {
            avx2::store_rgb(r, g, b, out.as_mut_ptr().add(at));
        } else {
            let mut last = [0u8; 28];
            avx2::store_rgb(r, g, b, last.as_mut_ptr());
            out[at..at + 3 * m].copy_from_slice(&last[..3 * m]);
        }
    }
}

/// Eight pixels of the packed turned crop whose slot 0 sits at the axes' first positions (x,
/// y), if the taps of the first `m` fit a [`window`]: their R, G, B as bytes in i32 lanes.
///
/// # Safety
/// AVX2; `BPP` is 3 or 4; `0 < m <= 8`.
#[inline(always)]
pub(crate) unsafe fn group_rgb<const BPP: usize>(
    plane: &Plane<'_>,
    [x, y]: [&Axis; 2],
    m: usize,
    [r, g, b]: [Channel; 3],
) -> Option<[__m256i; 3]> {
    // SAFETY: the caller's AVX2; `window` checks its loads.
    unsafe {
        let w = window(plane, [x, y], m, BPP)?;
        let (qx, qy) = (positions(x), positions(y));
        let taps = window_taps(&w, index_of(qx), index_of(qy), BPP as i32);
        let ((wx, _), (wy, _)) = (lane_weights(qx), lane_weights(qy));
        Some([
            exact_rows(window_rows(&w, taps, (r.left, r.right), wx), wy),
            exact_rows(window_rows(&w, taps, (g.left, g.right), wx), wy),
            exact_rows(window_rows(&w, taps, (b.left, b.right), wx), wy),
        ])
    }
}
