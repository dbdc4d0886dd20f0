//! The rotated crop: every output pixel samples the frame bilinearly at its own turned source
//! point (DESIGN, "Crop with roll θ"). Fixed point, no allocation.

#[cfg(target_arch = "x86_64")]
use super::avx2_window;
#[cfg(target_arch = "x86_64")]
use super::avx512::{self, has_avx512};
use super::crop::{FaceCrop, SampleSize};
use super::frame::{FrameView, PixelFormat};
use super::yuv::interleave;

/// Fraction bits of a source position (index space). 32 bits keep the error of stepping across a
/// 192-pixel row below 1e-7 px.
pub(crate) const POS_BITS: u32 = 32;
/// Fraction bits of a bilinear weight: positions are rounded to 1/4096 px.
pub(crate) const WEIGHT_BITS: u32 = 12;
pub(crate) const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// A position in index space as `POS_BITS` fixed point.
pub(crate) fn to_fixed(v: f64) -> i64 {
    (v * (1u64 << POS_BITS) as f64).round() as i64
}

/// The two taps of a fixed-point position, each clamped into `[0, len)` (edge replication), and
/// the weight of the second.
#[inline(always)]
pub(crate) fn taps_at(pos: i64, len: u32) -> (usize, usize, u32) {
    let rounded = pos + (1i64 << (POS_BITS - WEIGHT_BITS - 1));
    let index = rounded >> POS_BITS;
    let weight = ((rounded >> (POS_BITS - WEIGHT_BITS)) as u32) & (WEIGHT_ONE - 1);
    let last = i64::from(len) - 1;
    (
        index.clamp(0, last) as usize,
        (index + 1).clamp(0, last) as usize,
        weight,
    )
}

/// Rounding offset that takes a fixed-point position to its nearest 1/4096 px.
const ROUND: i64 = 1 << (POS_BITS - WEIGHT_BITS - 1);

/// The taps of a fixed-point position that is known to lie inside (see [`inside`]): no clamping.
#[inline(always)]
fn taps_inside(pos: i64) -> (usize, usize, u32) {
    let rounded = pos + ROUND;
    let index = (rounded >> POS_BITS) as usize;
    let weight = ((rounded >> (POS_BITS - WEIGHT_BITS)) as u32) & (WEIGHT_ONE - 1);
    (index, index + 1, weight)
}

/// Whether both taps of a fixed-point position lie in `[0, len)` without clamping.
#[inline(always)]
pub(crate) fn inside(pos: i64, len: u32) -> bool {
    let index = (pos + ROUND) >> POS_BITS;
    index >= 0 && index + 1 < i64::from(len)
}

/// The taps of a position: clamped into `[0, len)` (edge replication) when `CLAMP`, else as they
/// are (the caller checked [`inside`]); both give the same taps for a position inside.
#[inline(always)]
pub(crate) fn taps<const CLAMP: bool>(pos: i64, len: u32) -> (usize, usize, u32) {
    if CLAMP {
        taps_at(pos, len)
    } else {
        taps_inside(pos)
    }
}

/// One output row of a turned crop: the fixed-point source point of its first pixel and the step
/// from one pixel to the next (the same for every row).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) x: i64,
    pub(crate) y: i64,
    pub(crate) dx: i64,
    pub(crate) dy: i64,
}

impl Row {
    /// The source point of pixel `i`: exact integer steps from the row's first point.
    #[inline(always)]
    pub(crate) fn at(&self, i: usize) -> (i64, i64) {
        (self.x + i as i64 * self.dx, self.y + i as i64 * self.dy)
    }
}

/// The `size.height` rows of the crop sampled at `size`, in order. Each row starts from its
/// exact point and steps along it.
pub(crate) fn rows(crop: &FaceCrop, size: SampleSize) -> impl Iterator<Item = Row> + '_ {
    let (x1, y1) = crop.sample_point(size, 1.0, 0.0);
    let (x0, y0) = crop.sample_point(size, 0.0, 0.0);
    let (dx, dy) = (to_fixed(x1 - x0), to_fixed(y1 - y0));
    (0..size.height).map(move |j| {
        let (x, y) = crop.sample_point(size, 0.0, j as f64);
        Row {
            x: to_fixed(x),
            y: to_fixed(y),
            dx,
            dy,
        }
    })
}

/// Calls `pixel(n, x, y)` for output pixel n (row-major) of the crop sampled at `size` with its
/// source point in fixed-point index space.
#[inline(always)]
pub(crate) fn for_each_source_point(
    crop: &FaceCrop,
    size: SampleSize,
    mut pixel: impl FnMut(usize, i64, i64),
) {
    for (j, row) in rows(crop, size).enumerate() {
        for i in 0..size.width {
            let (x, y) = row.at(i);
            pixel(j * size.width + i, x, y);
        }
    }
}

/// The pixels `[lo, hi)` of a row of `n` whose taps all lie inside their planes (`ok(i)`), given
/// the linear constraints behind `ok` as (fixed-point position of pixel 0, step, plane length)
/// for a first estimate. The pixels where `ok` holds form one interval (each constraint is a
/// monotone position within bounds), so once both ends pass, every pixel between does: the
/// estimate only decides how many pixels take the clamped path, never correctness.
pub(crate) fn interior(
    n: usize,
    constraints: &[(i64, i64, u32)],
    ok: impl Fn(usize) -> bool,
) -> (usize, usize) {
    // The usual case, a face away from the frame's edges: both ends inside, so all of the row.
    if n > 0 && ok(0) && ok(n - 1) {
        return (0, n);
    }
    let (mut lo, mut hi) = (0.0f64, n as f64);
    for &(pos, step, len) in constraints {
        let (pos, step) = ((pos + ROUND) as f64, step as f64);
        let limit = ((i64::from(len) - 1) << POS_BITS) as f64;
        if step == 0.0 {
            if !(0.0..limit).contains(&pos) {
                return (0, 0);
            }
            continue;
        }
        let (a, b) = (-pos / step, (limit - pos) / step);
        lo = lo.max(a.min(b));
        hi = hi.min(a.max(b));
    }
    if lo.is_nan() || hi.is_nan() || hi < lo {
        return (0, 0);
    }
    let mut lo = (lo.ceil() as usize).min(n);
    let mut hi = ((hi.floor() as usize).saturating_add(1)).clamp(lo, n);
    while lo < hi && !ok(lo) {
        lo += 1;
    }
    while lo < hi && !ok(hi - 1) {
        hi -= 1;
    }
    (lo, hi)
}

/// Output pixels handled per pass of the turned paths: their taps live in arrays on the stack
/// (no allocation, no per-call tables), then the arithmetic runs eight lanes at a time.
pub(crate) const CHUNK: usize = 64;

/// The taps of each pixel of a chunk as little-endian words of bytes, one word for the top source
/// row and one for the bottom: each channel's left tap at one byte, its right tap at another
/// (see [`Channel`]). Whole words are what the interior reads (two neighbours in one load), and
/// eight of them transpose into lanes in a few shuffles.
#[derive(Clone, Copy)]
pub(crate) struct Words {
    pub(crate) top: [u64; CHUNK],
    pub(crate) bottom: [u64; CHUNK],
}

impl Default for Words {
    fn default() -> Self {
        Words {
            top: [0; CHUNK],
            bottom: [0; CHUNK],
        }
    }
}

/// Where one channel's taps lie in the [`Words`]: the bytes of its left and right taps, and
/// which [`Weights`] it blends with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Channel {
    pub(crate) left: usize,
    pub(crate) right: usize,
    pub(crate) weights: usize,
}

/// The 12-bit weights of the right and bottom taps of each pixel of a chunk.
#[derive(Clone, Copy)]
pub(crate) struct Weights {
    pub(crate) x: [u16; CHUNK],
    pub(crate) y: [u16; CHUNK],
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            x: [0; CHUNK],
            y: [0; CHUNK],
        }
    }
}

/// Splits the chunk `[start, end)` around the row's interior `[lo, hi)`: the pixels before it,
/// inside it, and after it.
pub(crate) fn split_chunk(
    start: usize,
    end: usize,
    (lo, hi): (usize, usize),
) -> [std::ops::Range<usize>; 3] {
    let a = lo.clamp(start, end);
    let b = hi.clamp(a, end);
    [start..a, a..b, b..end]
}

/// A plane the turned paths read without bounds checks: it exists only when every sample of
/// its `width × height` grid of `pixel_bytes`-wide pixels lies inside `data`.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    data: &'a [u8],
    pub(crate) stride: usize,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl<'a> Source<'a> {
    pub(crate) fn new(
        data: &'a [u8],
        stride: usize,
        width: u32,
        height: u32,
        pixel_bytes: usize,
    ) -> Option<Self> {
        let row = (width as usize).checked_mul(pixel_bytes)?;
        let needed = (height as usize)
            .checked_sub(1)?
            .checked_mul(stride)?
            .checked_add(row)?;
        (width > 0 && stride >= row && data.len() >= needed).then_some(Source {
            data,
            stride,
            width,
            height,
        })
    }

    /// The byte at `offset`.
    ///
    /// # Safety
    /// `offset = row × stride + column × pixel_bytes + k` with `row < height`,
    /// `column < width` and `k < pixel_bytes` (the grid [`Source::new`] checked).
    #[inline(always)]
    pub(crate) unsafe fn byte(&self, offset: usize) -> u16 {
        debug_assert!(offset < self.data.len());
        // SAFETY: the caller's offset lies in the grid, which `new` checked lies in `data`.
        u16::from(unsafe { *self.data.get_unchecked(offset) })
    }

    /// `N` bytes (at most 8) from `offset`, little-endian.
    ///
    /// # Safety
    /// `offset = row × stride + b` with `row < height` and `b + N <= width × pixel_bytes`.
    #[inline(always)]
    pub(crate) unsafe fn bytes<const N: usize>(&self, offset: usize) -> u64 {
        debug_assert!(N <= 8 && offset + N <= self.data.len());
        let mut word = [0u8; 8];
        // SAFETY: the caller's range lies in the grid, which `new` checked lies in `data`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.as_ptr().add(offset), word.as_mut_ptr(), N);
        }
        u64::from_le_bytes(word)
    }

    /// The first byte of the data and of its second row: reads at an offset from [`Offsets`]
    /// (at most `limit + n`) from either stay in the data.
    #[inline(always)]
    pub(crate) fn row_pointers(&self) -> (*const u8, *const u8) {
        let base = self.data.as_ptr();
        (base, base.wrapping_add(self.stride))
    }

    /// `N` bytes (at most 8) from `offset` and from `offset + stride`, little-endian: the same
    /// taps in a row and the row below.
    ///
    /// # Safety
    /// `offset <= data.len() − stride − N` (what [`Offsets::at`] returns).
    #[inline(always)]
    pub(crate) unsafe fn rows<const N: usize>(&self, offset: usize) -> (u64, u64) {
        debug_assert!(N <= 8 && offset + self.stride + N <= self.data.len());
        let read = |at: usize| {
            let mut word = [0u8; 8];
            // SAFETY: at + N <= data.len() (the caller's bound on offset, plus stride at most).
            unsafe {
                std::ptr::copy_nonoverlapping(self.data.as_ptr().add(at), word.as_mut_ptr(), N);
            }
            u64::from_le_bytes(word)
        };
        (read(offset), read(offset + self.stride))
    }
}

/// The rounded positions `pos + k·step` (k = 0..CHUNK) of one axis of a chunk, in 1/4096 px
/// (`index · 4096 + weight`, what [`taps`] takes apart), computed in i32 lanes: `pos` and `step`
/// are split at the rounding bit into a quotient and a remainder, and the remainders of 64 steps
/// stay below 2^27, so each lane is exact modulo 2^32, and exactly right wherever the position
/// lies in a plane (below 2^27 for `MAX_FRAME_SIDE`). Lanes outside the plane hold garbage that
/// the caller does not use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    quotient: i32,
    step_quotient: i32,
    remainder: u32,
    step_remainder: u32,
    shift: u32,
}

impl Axis {
    /// The axis of positions `pos + k·step` (fixed point), or with `halved` of `(pos + k·step) >> 1`
    /// (a chroma plane's): `(⌊p/2⌋ + R) >> 20 = (p + 2R) >> 21` for integers.
    pub(crate) fn new(pos: i64, step: i64, halved: bool) -> Self {
        let shift = POS_BITS - WEIGHT_BITS + u32::from(halved);
        let at = pos.wrapping_add(ROUND << u32::from(halved));
        let mask = (1i64 << shift) - 1;
        Axis {
            // Truncation is the point: each lane is exact modulo 2^32.
            quotient: (at >> shift) as i32,
            step_quotient: (step >> shift) as i32,
            remainder: (at & mask) as u32,
            step_remainder: (step & mask) as u32,
            shift,
        }
    }

    /// The parts of slot 0 and of a step: quotient, step's quotient, remainder, step's
    /// remainder, and the shift that joins them (for lanes built elsewhere).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn parts(&self) -> (i32, i32, u32, u32, u32) {
        (
            self.quotient,
            self.step_quotient,
            self.remainder,
            self.step_remainder,
            self.shift,
        )
    }

    /// The rounded position of slot `k` (below `CHUNK`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn value_at(&self, k: u32) -> i32 {
        let q = self
            .quotient
            .wrapping_add(self.step_quotient.wrapping_mul(k as i32));
        let r = self
            .remainder
            .wrapping_add(self.step_remainder.wrapping_mul(k));
        q.wrapping_add((r >> self.shift) as i32)
    }

    /// The quotient and remainder of slot 0; [`Axis::step`] moves them a slot on (added, not
    /// multiplied, so the vectorised loops keep induction variables).
    #[inline(always)]
    pub(crate) fn first(&self) -> (i32, u32) {
        (self.quotient, self.remainder)
    }

    /// The next slot's quotient and remainder. Remainders of slots below `CHUNK` stay below
    /// 2^21 · 65: no overflow.
    #[inline(always)]
    pub(crate) fn step(&self, (q, r): (i32, u32)) -> (i32, u32) {
        (
            q.wrapping_add(self.step_quotient),
            r.wrapping_add(self.step_remainder),
        )
    }

    /// The rounded position of a slot's quotient and remainder.
    #[inline(always)]
    pub(crate) fn value(&self, (q, r): (i32, u32)) -> i32 {
        q.wrapping_add((r >> self.shift) as i32)
    }
}

/// The index of a rounded position ([`Axis::at`]).
#[inline(always)]
pub(crate) fn lane_index(q: i32) -> i32 {
    q >> WEIGHT_BITS
}

/// The weight of a rounded position ([`Axis::at`]).
#[inline(always)]
pub(crate) fn lane_weight(q: i32) -> u16 {
    (q & (WEIGHT_ONE as i32 - 1)) as u16
}

/// The tap offsets of a plane in i32 lanes: `row · stride + column · step`, kept in
/// `[0, limit]` so that `N` bytes from an offset and from the offset one row down lie in the
/// plane's data whatever the lanes compute (then tests compare the taps, not memory safety).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Offsets {
    stride: i32,
    step: i32,
    pub(crate) limit: i32,
}

impl Offsets {
    /// For reads of `n` bytes at a column of `step` bytes in `src`; `None` if its offsets do not
    /// fit i32 lanes or it has fewer than two rows' worth of bytes.
    pub(crate) fn new(src: &Source<'_>, step: usize, n: usize) -> Option<Self> {
        let limit = src.data.len().checked_sub(src.stride)?.checked_sub(n)?;
        Some(Offsets {
            stride: i32::try_from(src.stride).ok()?,
            step: i32::try_from(step).ok()?,
            limit: i32::try_from(limit).ok()?,
        })
    }

    /// The offset of the taps of rounded positions `qx`, `qy`, clamped into `[0, limit]`.
    #[inline(always)]
    pub(crate) fn at(&self, qx: i32, qy: i32) -> u32 {
        let offset = lane_index(qy)
            .wrapping_mul(self.stride)
            .wrapping_add(lane_index(qx).wrapping_mul(self.step));
        offset.max(0).min(self.limit) as u32
    }
}

/// The bilinear blend of each of `channels` over the first `n` pixels of a chunk into `out`: each
/// pair of horizontal taps blended into 8.7 with the 12-bit weight (rounded), then the two rows
/// blended either as `blend_rows` does (8.7 out, 15-bit weights, high halves: bit for bit the
/// upright YUV path) or, with `EXACT`, exactly with the 12-bit weight and rounded once to a byte
/// (the packed path, one rounding closer to the float rule). `WIDE`: sixteen pixels at a time
/// with AVX2 where the CPU has it, for callers compiled for AVX2 (elsewhere its instructions
/// would not inline).
#[inline(always)]
pub(crate) fn blend_words<const C: usize, const EXACT: bool, const WIDE: bool>(
    words: &Words,
    weights: &[Weights],
    channels: [Channel; C],
    n: usize,
    out: &mut [[u16; CHUNK]; C],
) {
    #[cfg(target_arch = "x86_64")]
    let done = {
        let wide = if WIDE && has_avx2() {
            // SAFETY: the CPU has AVX2.
            unsafe { avx2::blend_words::<C, EXACT>(words, weights, channels, n, out) }
        } else {
            0
        };
        simd::blend_words::<C, EXACT>(words, weights, channels, wide, n, out)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    blend_words_scalar::<C, EXACT>(words, weights, channels, done..n.min(CHUNK), out);
}

/// Where the exact vertical blend rounds: 7 fraction bits of the rows plus 12 of the weight.
pub(crate) const EXACT_SHIFT: u32 = 7 + WEIGHT_BITS;

/// The definition of [`blend_words`] for the pixels `range`.
fn blend_words_scalar<const C: usize, const EXACT: bool>(
    words: &Words,
    weights: &[Weights],
    channels: [Channel; C],
    range: std::ops::Range<usize>,
    out: &mut [[u16; CHUNK]; C],
) {
    let byte = |word: u64, at: usize| ((word >> (8 * at)) & 0xff) as u32;
    for k in range {
        for (o, ch) in out.iter_mut().zip(channels) {
            let w = &weights[ch.weights];
            let (wx, wy) = (u32::from(w.x[k]), u32::from(w.y[k]));
            // (a·2^8, b·2^8 blended into 8.7, rounded) = (a(1 − w) + b·w + 16) >> 5 in 1/4096.
            let h = |word: u64| {
                ((byte(word, ch.left) * (WEIGHT_ONE - wx) + byte(word, ch.right) * wx + 16) >> 5)
                    as u16
            };
            let (top, bottom) = (h(words.top[k]), h(words.bottom[k]));
            o[k] = if EXACT {
                let v = u32::from(top) * (WEIGHT_ONE - wy) + u32::from(bottom) * wy;
                ((v + (1 << (EXACT_SHIFT - 1))) >> EXACT_SHIFT) as u16
            } else {
                let (wa, wb) = (((WEIGHT_ONE - wy) << 3) as u16, (wy << 3) as u16);
                mul_high_u(top << 1, wa) + mul_high_u(bottom << 1, wb)
            };
        }
    }
}

/// The high half of an unsigned 16 x 16 product (one `pmulhuw` lane).
#[inline(always)]
fn mul_high_u(a: u16, b: u16) -> u16 {
    ((u32::from(a) * u32::from(b)) >> 16) as u16
}

/// SSE2 (baseline on x86-64) form of [`blend_words`], eight pixels at a time from `from`, bit
/// for bit the scalar definition; returns up to which pixel it did (a multiple of 8).
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Channel, Weights, Words, CHUNK, EXACT_SHIFT, WEIGHT_ONE};
    use std::arch::x86_64::*;

    /// Bytes 0..8 of the eight words at `k`, each as eight u16 lanes (an 8 x 8 byte transpose).
    ///
    /// # Safety
    /// SSE2 (baseline on x86-64); `k + 8 <= CHUNK`.
    #[inline(always)]
    unsafe fn byte_lanes(words: &[u64; CHUNK], k: usize) -> [__m128i; 8] {
        debug_assert!(k + 8 <= CHUNK);
        // SAFETY: eight 8-byte loads at k..k + 8 <= CHUNK (the caller's bound).
        unsafe {
            let p = words.as_ptr().add(k);
            let r = |i: usize| _mm_loadl_epi64(p.add(i).cast());
            let t0 = _mm_unpacklo_epi8(r(0), r(1));
            let t1 = _mm_unpacklo_epi8(r(2), r(3));
            let t2 = _mm_unpacklo_epi8(r(4), r(5));
            let t3 = _mm_unpacklo_epi8(r(6), r(7));
            let (u0, u1) = (_mm_unpacklo_epi16(t0, t1), _mm_unpackhi_epi16(t0, t1));
            let (u2, u3) = (_mm_unpacklo_epi16(t2, t3), _mm_unpackhi_epi16(t2, t3));
            // Bytes (0, 1), (2, 3), (4, 5), (6, 7) of the eight words.
            let v = [
                _mm_unpacklo_epi32(u0, u2),
                _mm_unpackhi_epi32(u0, u2),
                _mm_unpacklo_epi32(u1, u3),
                _mm_unpackhi_epi32(u1, u3),
            ];
            let zero = _mm_setzero_si128();
            std::array::from_fn(|b| {
                if b % 2 == 0 {
                    _mm_unpacklo_epi8(v[b / 2], zero)
                } else {
                    _mm_unpackhi_epi8(v[b / 2], zero)
                }
            })
        }
    }

    #[inline(always)]
    pub(super) fn blend_words<const C: usize, const EXACT: bool>(
        words: &Words,
        weights: &[Weights],
        channels: [Channel; C],
        from: usize,
        n: usize,
        out: &mut [[u16; CHUNK]; C],
    ) -> usize {
        let n = n.min(CHUNK) / 8 * 8;
        // SAFETY: SSE2 is part of x86-64; every load and store covers 8 u16 (or 8 words) at
        // k < n <= CHUNK, inside arrays of CHUNK elements (unaligned forms).
        unsafe {
            let one = _mm_set1_epi16(WEIGHT_ONE as i16);
            let half = _mm_set1_epi32(16);
            let exact_half = _mm_set1_epi32(1 << (EXACT_SHIFT - 1));
            let load = |a: &[u16; CHUNK], k: usize| _mm_loadu_si128(a.as_ptr().add(k).cast());
            for k in (from..n).step_by(8) {
                let top = byte_lanes(&words.top, k);
                let bottom = byte_lanes(&words.bottom, k);
                for (o, ch) in out.iter_mut().zip(channels) {
                    let w = &weights[ch.weights];
                    let (wx, wy) = (load(&w.x, k), load(&w.y, k));
                    let wx0 = _mm_sub_epi16(one, wx);
                    let (w_lo, w_hi) = (_mm_unpacklo_epi16(wx0, wx), _mm_unpackhi_epi16(wx0, wx));
                    // pmaddwd: a·(1 − w) + b·w per lane, exact (samples <= 255, weights <= 4096).
                    let horizontal = |a: __m128i, b: __m128i| {
                        let lo = _mm_madd_epi16(_mm_unpacklo_epi16(a, b), w_lo);
                        let hi = _mm_madd_epi16(_mm_unpackhi_epi16(a, b), w_hi);
                        let lo = _mm_srai_epi32::<5>(_mm_add_epi32(lo, half));
                        let hi = _mm_srai_epi32::<5>(_mm_add_epi32(hi, half));
                        _mm_packs_epi32(lo, hi)
                    };
                    let t = horizontal(top[ch.left], top[ch.right]);
                    let b = horizontal(bottom[ch.left], bottom[ch.right]);
                    let blended = if EXACT {
                        // pmaddwd again: rows <= 32640, weights <= 4096, sums < 2^31.
                        let wy0 = _mm_sub_epi16(one, wy);
                        let (w_lo, w_hi) =
                            (_mm_unpacklo_epi16(wy0, wy), _mm_unpackhi_epi16(wy0, wy));
                        let lo = _mm_madd_epi16(_mm_unpacklo_epi16(t, b), w_lo);
                        let hi = _mm_madd_epi16(_mm_unpackhi_epi16(t, b), w_hi);
                        let lo =
                            _mm_srai_epi32::<{ EXACT_SHIFT as i32 }>(_mm_add_epi32(lo, exact_half));
                        let hi =
                            _mm_srai_epi32::<{ EXACT_SHIFT as i32 }>(_mm_add_epi32(hi, exact_half));
                        _mm_packs_epi32(lo, hi)
                    } else {
                        let wa = _mm_slli_epi16::<3>(_mm_sub_epi16(one, wy));
                        let wb = _mm_slli_epi16::<3>(wy);
                        _mm_add_epi16(
                            _mm_mulhi_epu16(_mm_slli_epi16::<1>(t), wa),
                            _mm_mulhi_epu16(_mm_slli_epi16::<1>(b), wb),
                        )
                    };
                    _mm_storeu_si128(o.as_mut_ptr().add(k).cast(), blended);
                }
            }
        }
        n
    }
}

/// AVX2 form of [`blend_words`], eight pixels at a time in 32-bit lanes, bit for bit the scalar
/// definition: each channel's (left, right) taps are shuffled straight out of the words into
/// 16-bit pairs (one `vpshufb` per four words), so one `vpmaddwd` blends a row; the two rows are
/// paired the same way. Inlined whole into a caller compiled for AVX2, so the shuffle masks
/// are constants and the lanes stay in registers.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{Channel, Weights, Words, CHUNK, EXACT_SHIFT, WEIGHT_ONE};
    use std::arch::x86_64::*;

    /// The `vpshufb` mask that turns the two words of each 128-bit lane into two dwords
    /// `byte(left) | byte(right) << 16`, in the low half of the lane or, with `high`, the high.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(crate) unsafe fn pair_mask(ch: Channel, high: bool) -> __m256i {
        let mut mask = [-128i8; 16];
        let base = if high { 8 } else { 0 };
        for (word, at) in [(0, base), (8, base + 4)] {
            mask[at] = (word + ch.left) as i8;
            mask[at + 2] = (word + ch.right) as i8;
        }
        // SAFETY: 16 bytes from a 16-byte array.
        unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(mask.as_ptr().cast())) }
    }

    /// Words k, k + 1, k + 4, k + 5 (`first`) or k + 2, k + 3, k + 6, k + 7: shuffled by the two
    /// masks and or-ed, their pairs land in pixel order.
    ///
    /// # Safety
    /// AVX2; `k + 8 <= CHUNK`.
    #[inline(always)]
    pub(crate) unsafe fn quad(words: &[u64; CHUNK], k: usize, first: bool) -> __m256i {
        debug_assert!(k + 8 <= CHUNK);
        let at = if first { k } else { k + 2 };
        // SAFETY: two 16-byte loads of words at..at + 2 and at + 4..at + 6 <= CHUNK.
        unsafe {
            let p = words.as_ptr().add(at);
            _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(_mm_loadu_si128(p.cast())),
                _mm_loadu_si128(p.add(4).cast()),
            )
        }
    }

    /// Eight 12-bit weights at `k` as dwords `(4096 − w) | w << 16`, for `vpmaddwd`.
    ///
    /// # Safety
    /// AVX2; `k + 8 <= CHUNK`.
    #[inline(always)]
    pub(crate) unsafe fn weight_pairs(w: &[u16; CHUNK], k: usize) -> (__m256i, __m256i) {
        debug_assert!(k + 8 <= CHUNK);
        // SAFETY: eight u16 at k + 8 <= CHUNK.
        unsafe {
            let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(w.as_ptr().add(k).cast()));
            let one = _mm256_set1_epi32(WEIGHT_ONE as i32);
            let w0 = _mm256_sub_epi32(one, w);
            (_mm256_or_si256(w0, _mm256_slli_epi32::<16>(w)), w)
        }
    }

    /// One row of a channel: its (left, right) pairs out of the row's two quads, blended with
    /// the weight pairs into 8.7 (rounded).
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(crate) unsafe fn horizontal(
        (first, second): (__m256i, __m256i),
        (lo, hi): (__m256i, __m256i),
        w: __m256i,
        half: __m256i,
    ) -> __m256i {
        // SAFETY: AVX2 (the caller's).
        unsafe {
            let pairs = _mm256_or_si256(
                _mm256_shuffle_epi8(first, lo),
                _mm256_shuffle_epi8(second, hi),
            );
            // a·(1 − w) + b·w per lane, exact (samples <= 255, weights <= 4096).
            let h = _mm256_madd_epi16(pairs, w);
            _mm256_srai_epi32::<5>(_mm256_add_epi32(h, half))
        }
    }

    /// `mul_high_u(row·2, w)` per 32-bit lane: the product stays below 2^31.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(crate) unsafe fn high_half(row: __m256i, w: __m256i) -> __m256i {
        // SAFETY: AVX2 (the caller's).
        unsafe { _mm256_srli_epi32::<16>(_mm256_mullo_epi32(_mm256_slli_epi32::<1>(row), w)) }
    }

    /// One channel of eight pixels blended exactly ([`super::blend_words`] with `EXACT`), as
    /// eight i32 lanes holding bytes.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    unsafe fn exact(
        rows: [(__m256i, __m256i); 2],
        masks: (__m256i, __m256i),
        (wx, wy): (__m256i, __m256i),
    ) -> __m256i {
        // SAFETY: AVX2 (the caller's).
        unsafe {
            let half = _mm256_set1_epi32(16);
            let t = horizontal(rows[0], masks, wx, half);
            let b = horizontal(rows[1], masks, wx, half);
            // Rows <= 32640, weights <= 4096: sums < 2^31.
            let v = _mm256_madd_epi16(_mm256_or_si256(t, _mm256_slli_epi32::<16>(b)), wy);
            let exact_half = _mm256_set1_epi32(1 << (EXACT_SHIFT - 1));
            _mm256_srai_epi32::<{ EXACT_SHIFT as i32 }>(_mm256_add_epi32(v, exact_half))
        }
    }

    /// One channel of eight pixels blended as [`super::blend_words`] without `EXACT` does
    /// (8.7 in i32 lanes); `(wx, wy)`: the x weight pairs and the raw y weights.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(crate) unsafe fn rounded_rows(
        rows: [(__m256i, __m256i); 2],
        masks: (__m256i, __m256i),
        (wx, wy): (__m256i, __m256i),
    ) -> __m256i {
        // SAFETY: AVX2 (the caller's).
        unsafe {
            let half = _mm256_set1_epi32(16);
            let t = horizontal(rows[0], masks, wx, half);
            let b = horizontal(rows[1], masks, wx, half);
            // The high halves of (row·2)·(weight·8) as `blend_rows` takes them.
            let wa =
                _mm256_slli_epi32::<3>(_mm256_sub_epi32(_mm256_set1_epi32(WEIGHT_ONE as i32), wy));
            let wb = _mm256_slli_epi32::<3>(wy);
            _mm256_add_epi32(high_half(t, wa), high_half(b, wb))
        }
    }

    /// Eight pixels' R, G, B (i32 lanes, clamped to bytes as `vpackssdw` then `vpackuswb`
    /// clamp) as 24 interleaved bytes at `at` (a 16-byte store at `at` and at `at + 12`).
    ///
    /// # Safety
    /// AVX2; 28 bytes writable at `at`.
    #[inline(always)]
    pub(crate) unsafe fn store_rgb(red: __m256i, green: __m256i, blue: __m256i, at: *mut u8) {
        // SAFETY: AVX2 (the caller's); the caller's 28 bytes.
        unsafe {
            // Per 128-bit lane: R0..3 G0..3 B0..3 (B0..3) to R0 G0 B0 R1 ..., 4 bytes spare.
            let order = _mm256_broadcastsi128_si256(_mm_setr_epi8(
                0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -128, -128, -128, -128,
            ));
            let bytes = _mm256_packus_epi16(
                _mm256_packs_epi32(red, green),
                _mm256_packs_epi32(blue, blue),
            );
            let pixels = _mm256_shuffle_epi8(bytes, order);
            _mm_storeu_si128(at.cast(), _mm256_castsi256_si128(pixels));
            _mm_storeu_si128(at.add(12).cast(), _mm256_extracti128_si256::<1>(pixels));
        }
    }

    /// The exact blend of three channels (one weight set) straight into interleaved bytes:
    /// 24 bytes per eight pixels, each 16-byte store reaching 4 bytes past its pixels (so it
    /// stops 4 bytes short of the end of `out`). Returns how many pixels it did (a multiple
    /// of 8).
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(super) unsafe fn blend_rgb(
        words: &Words,
        weights: &Weights,
        channels: [Channel; 3],
        n: usize,
        out: &mut [u8],
    ) -> usize {
        let n = n.min(CHUNK).min(out.len().saturating_sub(4) / 3) / 8 * 8;
        // SAFETY: AVX2 (the caller's); loads cover 8 pixels at k + 8 <= n <= CHUNK, stores 16
        // bytes at 3k and 3k + 12, ending at 3(n − 8) + 28 = 3n + 4 <= out.len().
        unsafe {
            let [r, g, b] = channels;
            let (r, g, b) = (
                (pair_mask(r, false), pair_mask(r, true)),
                (pair_mask(g, false), pair_mask(g, true)),
                (pair_mask(b, false), pair_mask(b, true)),
            );
            for k in (0..n).step_by(8) {
                let rows = [
                    (quad(&words.top, k, true), quad(&words.top, k, false)),
                    (quad(&words.bottom, k, true), quad(&words.bottom, k, false)),
                ];
                let w = (weight_pairs(&weights.x, k).0, weight_pairs(&weights.y, k).0);
                let (red, green, blue) = (exact(rows, r, w), exact(rows, g, w), exact(rows, b, w));
                store_rgb(red, green, blue, out.as_mut_ptr().add(3 * k));
            }
        }
        n
    }

    /// Returns how many pixels it did (a multiple of 8).
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(super) unsafe fn blend_words<const C: usize, const EXACT: bool>(
        words: &Words,
        weights: &[Weights],
        channels: [Channel; C],
        n: usize,
        out: &mut [[u16; CHUNK]; C],
    ) -> usize {
        let n = n.min(CHUNK) / 8 * 8;
        // SAFETY: AVX2 (the caller's); every load and store covers 8 pixels at k + 8 <= n <= CHUNK
        // (unaligned forms).
        unsafe {
            // No closures here: they would not inherit the caller's AVX2 (nor inline it).
            let zero = _mm256_setzero_si256();
            let mut masks = [(zero, zero); C];
            for (mask, ch) in masks.iter_mut().zip(channels) {
                *mask = (pair_mask(ch, false), pair_mask(ch, true));
            }
            let half = _mm256_set1_epi32(16);
            let exact_half = _mm256_set1_epi32(1 << (EXACT_SHIFT - 1));
            let one = _mm256_set1_epi32(WEIGHT_ONE as i32);
            for k in (0..n).step_by(8) {
                let rows = [
                    (quad(&words.top, k, true), quad(&words.top, k, false)),
                    (quad(&words.bottom, k, true), quad(&words.bottom, k, false)),
                ];
                for ((o, ch), (lo, hi)) in out.iter_mut().zip(channels).zip(masks) {
                    let w = &weights[ch.weights];
                    let (wx, _) = weight_pairs(&w.x, k);
                    let t = horizontal(rows[0], (lo, hi), wx, half);
                    let b = horizontal(rows[1], (lo, hi), wx, half);
                    let (wy_pairs, wy) = weight_pairs(&w.y, k);
                    let blended = if EXACT {
                        // Rows <= 32640, weights <= 4096: sums < 2^31.
                        let pairs = _mm256_or_si256(t, _mm256_slli_epi32::<16>(b));
                        let v = _mm256_madd_epi16(pairs, wy_pairs);
                        _mm256_srai_epi32::<{ EXACT_SHIFT as i32 }>(_mm256_add_epi32(v, exact_half))
                    } else {
                        // The high halves of (row·2)·(weight·8) as `blend_rows` takes them.
                        let wa = _mm256_slli_epi32::<3>(_mm256_sub_epi32(one, wy));
                        let wb = _mm256_slli_epi32::<3>(wy);
                        _mm256_add_epi32(high_half(t, wa), high_half(b, wb))
                    };
                    // Eight values below 2^16 to u16, in order.
                    let packed =
                        _mm256_permute4x64_epi64::<0x08>(_mm256_packus_epi32(blended, blended));
                    _mm_storeu_si128(o.as_mut_ptr().add(k).cast(), _mm256_castsi256_si128(packed));
                }
            }
        }
        n
    }
}

/// Rotated crop of a packed frame into interleaved RGB (`size.pixels() × 3` bytes).
pub fn warp_packed(frame: &FrameView<'_>, crop: &FaceCrop, size: SampleSize, out: &mut [u8]) {
    assert_eq!(out.len(), size.pixels() * 3, "output buffer size");
    match frame.format {
        PixelFormat::Rgb8 => warp::<3, 0, 1, 2>(frame, crop, size, out),
        PixelFormat::Bgr8 => warp::<3, 2, 1, 0>(frame, crop, size, out),
        PixelFormat::Rgba8 => warp::<4, 0, 1, 2>(frame, crop, size, out),
        PixelFormat::Bgra8 => warp::<4, 2, 1, 0>(frame, crop, size, out),
        PixelFormat::Gray8 => warp::<1, 0, 0, 0>(frame, crop, size, out),
    }
}

/// Chunk by chunk: the taps of each pixel as words (positions, offsets and weights computed in
/// i32 lanes, AVX2 where the CPU has it; clamped taps only outside the row's interior), blended
/// in 16-bit lanes, rounded to bytes, interleaved.
fn warp<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512 F, BW, VBMI (and so AVX2).
        return unsafe { warp_avx512::<BPP, R, G, B>(frame, crop, size, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { warp_avx2::<BPP, R, G, B>(frame, crop, size, out) };
    }
    warp_with::<BPP, R, G, B, true, false, false>(frame, crop, size, out)
}

/// Whether the CPU has AVX2 (std caches the answer: one atomic load after the first call).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// [`warp_with`] compiled for AVX2: the lane loops run eight i32 lanes at a time.
///
/// # Safety
/// The CPU must have AVX2 ([`has_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn warp_avx2<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    warp_with::<BPP, R, G, B, true, true, true>(frame, crop, size, out)
}

/// The turned crop compiled for AVX-512: colour through [`warp_windows`], gray as AVX2 does.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VBMI ([`has_avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vbmi")]
unsafe fn warp_avx512<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    if BPP == 1 {
        return warp_with::<BPP, R, G, B, true, true, false>(frame, crop, size, out);
    }
    // SAFETY: the CPU has AVX-512 F, BW, VBMI (this function's contract).
    unsafe { warp_windows::<BPP, R, G, B>(frame, crop, size, out) }
}

/// The turned colour crop with AVX-512, row by row: the row's interior in groups of sixteen
/// pixels ([`avx512::group_rgb`]: taps picked from a window of source rows held in registers
/// where they fit, loaded per pixel where not), its clamped ends chunk by chunk as
/// [`warp_with`] gathers them. Bit for bit `warp_with`'s exact blend.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VBMI; `BPP` is 3 or 4.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn warp_windows<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    debug_assert!(BPP == 3 || BPP == 4);
    let (w, h) = (frame.width, frame.height);
    let src = Source::new(frame.data, frame.stride, w, h, BPP);
    let Some((src, lanes)) = src.and_then(|src| Some((src, Offsets::new(&src, BPP, 8)?))) else {
        // A frame too small or too large for the lanes.
        return warp_with::<BPP, R, G, B, true, false, false>(frame, crop, size, out);
    };
    // An eight-byte read of three-byte pixels covers a third: its column must exist too.
    let x_len = if BPP == 3 { w - 1 } else { w };
    let channel = |c: usize| Channel {
        left: c,
        right: BPP + c,
        weights: 0,
    };
    let channels = [channel(R), channel(G), channel(B)];
    let mut words = Words::default();
    let mut records = avx512::Records::default();
    let mut weights = Weights::default();
    let plane = avx512::Plane {
        data: frame.data,
        stride: src.stride,
    };
    let limit = lanes.limit as usize;
    let out_w = size.width;
    for (j, row) in rows(crop, size).enumerate() {
        let (lo, hi) = interior(out_w, &[(row.x, row.dx, x_len), (row.y, row.dy, h)], |i| {
            let (x, y) = row.at(i);
            inside(x, x_len) && inside(y, h)
        });
        let line = &mut out[3 * j * out_w..3 * (j + 1) * out_w];
        for ends in [0..lo, hi..out_w] {
            for start in ends.clone().step_by(CHUNK) {
                let end = (start + CHUNK).min(ends.end);
                let n = end - start;
                // SAFETY: clamped taps lie in the frame.
                unsafe {
                    gather_packed::<true, BPP>(
                        &src,
                        &row,
                        start..end,
                        start,
                        &mut words,
                        &mut weights,
                    )
                };
                records.copy_words(&words, 0..n);
                let pixels = &mut line[3 * start..3 * end];
                // SAFETY: the caller's AVX-512; `pixels` holds the n pixels.
                unsafe { avx512::blend_rgb(&records, &weights, channels, n, pixels) };
            }
        }
        for chunk in (lo..hi).step_by(CHUNK) {
            let len = (hi - chunk).min(CHUNK);
            for from in (0..len).step_by(avx512::STEP) {
                let m = (len - from).min(avx512::STEP);
                let start = chunk + from;
                // Each group's own axes (measured cheaper than slots of the chunk's).
                let (x, y) = row.at(start);
                let axes = [Axis::new(x, row.dx, false), Axis::new(y, row.dy, false)];
                let pixels = &mut line[3 * start..3 * (start + m)];
                // SAFETY: the caller's AVX-512; the m pixels from `start` lie in the row's
                // interior; `pixels` holds them.
                unsafe {
                    avx512::group_rgb::<BPP>(
                        &plane,
                        limit,
                        [&axes[0], &axes[1]],
                        m,
                        channels,
                        pixels,
                        &mut records,
                        &mut weights,
                    )
                };
            }
        }
    }
}

/// Bytes read per tap pair on the lane path: two gray pixels, or a word holding two BGR(A)
/// pixels (three-byte pixels read two bytes past the right tap).
const fn pair_bytes(bpp: usize) -> usize {
    if bpp == 1 {
        2
    } else {
        8
    }
}

/// The turned packed crop; `LANES` computes the interior's taps in i32 lanes, else pixel by
/// pixel as before them (the reference the tests hold the lane path to, byte for byte); `WIDE`
/// blends with AVX2 (see [`blend_words`]); `WINDOWS` takes a colour chunk inside the frame
/// through AVX2 windows where they fit ([`windows_chunk`]), for callers compiled for AVX2.
#[inline(always)]
fn warp_with<
    const BPP: usize,
    const R: usize,
    const G: usize,
    const B: usize,
    const LANES: bool,
    const WIDE: bool,
    const WINDOWS: bool,
>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    let (w, h) = (frame.width, frame.height);
    let Some(src) = Source::new(frame.data, frame.stride, w, h, BPP) else {
        // Unreachable for a view made by `FrameView::new`; kept safe anyway.
        return warp_per_pixel::<BPP, R, G, B>(frame, crop, size, out);
    };
    let lanes = if LANES {
        Offsets::new(&src, BPP, pair_bytes(BPP))
    } else {
        None
    };
    // An eight-byte read of three-byte pixels covers a third: its column must exist too.
    let x_len = if lanes.is_some() && BPP == 3 {
        w - 1
    } else {
        w
    };
    let channel = |c: usize| Channel {
        left: c,
        right: BPP + c,
        weights: 0,
    };
    let rgb_channels = [channel(R), channel(G), channel(B)];
    #[cfg(target_arch = "x86_64")]
    let plane = avx512::Plane {
        data: frame.data,
        stride: frame.stride,
    };
    let mut words = Words::default();
    let mut weights = [Weights::default()];
    let mut offsets = [0u32; CHUNK];
    let mut blended = [[0u16; CHUNK]; 3];
    let mut bytes = [[0u8; CHUNK]; 3];
    let out_w = size.width;
    for (j, row) in rows(crop, size).enumerate() {
        let span = interior(out_w, &[(row.x, row.dx, x_len), (row.y, row.dy, h)], |i| {
            let (x, y) = row.at(i);
            inside(x, x_len) && inside(y, h)
        });
        for start in (0..out_w).step_by(CHUNK) {
            let end = (start + CHUNK).min(out_w);
            let [before, within, after] = split_chunk(start, end, span);
            #[cfg(target_arch = "x86_64")]
            if WINDOWS && BPP != 1 && before.is_empty() && after.is_empty() && has_avx2() {
                let (range, first) = (start..end, j * out_w + start);
                // SAFETY: the CPU has AVX2; the chunk lies in the row's interior.
                if unsafe { windows_chunk::<BPP>(&plane, &row, range, rgb_channels, out, first) } {
                    continue;
                }
            }
            let [wt] = &mut weights;
            match lanes {
                Some(lanes) if !within.is_empty() => {
                    let (x, y) = row.at(start);
                    let (ax, ay) = (Axis::new(x, row.dx, false), Axis::new(y, row.dy, false));
                    lane_taps(&ax, &ay, &lanes, &mut offsets, wt);
                    let slots = within.start - start..within.end - start;
                    // SAFETY: the offsets lie in [0, limit] (`Offsets::at`).
                    unsafe { load_pairs::<BPP>(&src, &offsets, slots, &mut words) };
                }
                // SAFETY: `within` is inside the row's interior, where no tap needs clamping.
                _ => unsafe {
                    gather_packed::<false, BPP>(&src, &row, within, start, &mut words, wt);
                },
            }
            // After the lanes, which fill every slot.
            // SAFETY: clamped taps lie in the frame.
            unsafe {
                gather_packed::<true, BPP>(&src, &row, before, start, &mut words, wt);
                gather_packed::<true, BPP>(&src, &row, after, start, &mut words, wt);
            }
            let n = end - start;
            #[cfg(target_arch = "x86_64")]
            if WIDE && BPP != 1 && has_avx2() {
                // Straight into the output (the stores' spare bytes land on the next pixels,
                // written after; the last few pixels of the crop take the scalar blend).
                let rest = &mut out[3 * (j * out_w + start)..];
                // SAFETY: the CPU has AVX2.
                let done = unsafe { avx2::blend_rgb(&words, &weights[0], rgb_channels, n, rest) };
                let pixels = &mut out[3 * (j * out_w + start)..3 * (j * out_w + end)];
                blend_words_scalar::<3, true>(
                    &words,
                    &weights,
                    rgb_channels,
                    done..n,
                    &mut blended,
                );
                for (k, px) in pixels.chunks_exact_mut(3).enumerate().skip(done) {
                    for (byte, channel) in px.iter_mut().zip(&blended) {
                        *byte = channel[k] as u8;
                    }
                }
                continue;
            }
            if BPP == 1 {
                let [gray, ..] = &mut blended;
                let gray = std::array::from_mut(gray);
                blend_words::<1, true, WIDE>(&words, &weights, [channel(0)], n, gray);
            } else {
                blend_words::<3, true, WIDE>(&words, &weights, rgb_channels, n, &mut blended);
            }
            let channels = if BPP == 1 { 1 } else { 3 };
            for (b, v) in bytes.iter_mut().zip(&blended).take(channels) {
                for (b, v) in b[..n].iter_mut().zip(&v[..n]) {
                    *b = *v as u8;
                }
            }
            let [r, g, b] = if BPP == 1 { [0, 0, 0] } else { [0, 1, 2] };
            let pixels = &mut out[3 * (j * out_w + start)..3 * (j * out_w + end)];
            interleave(&bytes[r][..n], &bytes[g][..n], &bytes[b][..n], pixels);
        }
    }
}

/// The pixels `range` of `row` (output pixels from `first` on) through AVX2 windows, eight a
/// step, if the taps of every step fit one ([`avx2_window::window`]); `false` if one does not
/// (the pixels before it are written, and the caller writes the chunk again). Each step
/// stores 28 bytes for its 24 (the spare bytes land on pixels written after it), or exactly
/// its pixels at the end of `out`.
///
/// # Safety
/// AVX2; `BPP` is 3 or 4; the pixels lie in the row's interior.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn windows_chunk<const BPP: usize>(
    plane: &avx512::Plane<'_>,
    row: &Row,
    range: std::ops::Range<usize>,
    channels: [Channel; 3],
    out: &mut [u8],
    first: usize,
) -> bool {
    for from in (0..range.len()).step_by(avx2_window::STEP) {
        let m = (range.len() - from).min(avx2_window::STEP);
        // Each step's own axes (measured cheaper than slots of the chunk's).
        let (x, y) = row.at(range.start + from);
        let (ax, ay) = (Axis::new(x, row.dx, false), Axis::new(y, row.dy, false));
        // SAFETY: the caller's AVX2 and interior.
        let group = unsafe { avx2_window::group_rgb::<BPP>(plane, [&ax, &ay], m, channels) };
        let Some([r, g, b]) = group else {
            return false;
        };
        // SAFETY: the caller's AVX2.
        unsafe { avx2_window::store_rgb([r, g, b], out, 3 * (first + from), m) };
    }
    true
}

/// The tap offsets and weights of every slot of a chunk whose slot 0 sits at the axes' first
/// positions, in i32 lanes (a fixed count, so the loop vectorises whole).
#[inline(always)]
fn lane_taps(
    x: &Axis,
    y: &Axis,
    lanes: &Offsets,
    offsets: &mut [u32; CHUNK],
    weights: &mut Weights,
) {
    let (mut at_x, mut at_y) = (x.first(), y.first());
    for ((o, wx), wy) in offsets.iter_mut().zip(&mut weights.x).zip(&mut weights.y) {
        let (qx, qy) = (x.value(at_x), y.value(at_y));
        *o = lanes.at(qx, qy);
        *wx = lane_weight(qx);
        *wy = lane_weight(qy);
        (at_x, at_y) = (x.step(at_x), y.step(at_y));
    }
}

/// The tap words of the slots `slots` from their offsets: one read per source row.
///
/// # Safety
/// `src`'s [`Offsets`] made `offsets` (for `pair_bytes(BPP)`-byte reads).
#[inline(always)]
unsafe fn load_pairs<const BPP: usize>(
    src: &Source<'_>,
    offsets: &[u32; CHUNK],
    slots: std::ops::Range<usize>,
    words: &mut Words,
) {
    let (tops, bottoms) = (
        &mut words.top[slots.clone()],
        &mut words.bottom[slots.clone()],
    );
    let (above, below) = src.row_pointers();
    for ((o, top), bottom) in offsets[slots].iter().zip(tops).zip(bottoms) {
        let o = *o as usize;
        // SAFETY: the caller's offsets leave room for the read and the row below.
        (*top, *bottom) = unsafe {
            if BPP == 1 {
                (read_le::<2>(above, o), read_le::<2>(below, o))
            } else {
                (read_le::<8>(above, o), read_le::<8>(below, o))
            }
        };
    }
}

/// `N` bytes (at most 8) at `base + offset`, little-endian.
///
/// # Safety
/// The `N` bytes lie in one allocation `base` points into.
#[inline(always)]
pub(crate) unsafe fn read_le<const N: usize>(base: *const u8, offset: usize) -> u64 {
    let mut word = [0u8; 8];
    // SAFETY: the caller's bytes.
    unsafe { std::ptr::copy_nonoverlapping(base.add(offset), word.as_mut_ptr(), N) };
    u64::from_le_bytes(word)
}

/// The tap words and weights of the pixels `range` of `row` into chunk slots `range − start`:
/// the left pixel's bytes at 0..BPP of each word, the right one's at BPP..2·BPP.
///
/// # Safety
/// Without `CLAMP`, every pixel of `range` must be in the row's interior (see [`interior`]).
#[inline(always)]
unsafe fn gather_packed<const CLAMP: bool, const BPP: usize>(
    src: &Source<'_>,
    row: &Row,
    range: std::ops::Range<usize>,
    start: usize,
    words: &mut Words,
    weights: &mut Weights,
) {
    let (mut x, mut y) = row.at(range.start);
    for k in range.start - start..range.end - start {
        let (xa, xb, wx) = taps::<CLAMP>(x, src.width);
        let (ya, yb, wy) = taps::<CLAMP>(y, src.height);
        debug_assert!(xb < src.width as usize && yb < src.height as usize);
        let (left, right) = (xa * BPP, xb * BPP);
        // SAFETY: the taps are clamped into the frame, or inside it (the caller's interior,
        // where right = left + BPP, so the 2·BPP bytes from `left` are the two pixels).
        let pair = |line: usize| unsafe {
            if CLAMP {
                (0..BPP).fold(0u64, |word, c| {
                    word | u64::from(src.byte(line + left + c)) << (8 * c)
                        | u64::from(src.byte(line + right + c)) << (8 * (BPP + c))
                })
            } else {
                match BPP {
                    1 => src.bytes::<2>(line + left),
                    3 => src.bytes::<4>(line + left) | src.bytes::<2>(line + left + 4) << 32,
                    _ => src.bytes::<8>(line + left),
                }
            }
        };
        words.top[k] = pair(ya * src.stride);
        words.bottom[k] = pair(yb * src.stride);
        weights.x[k] = wx as u16;
        weights.y[k] = wy as u16;
        x += row.dx;
        y += row.dy;
    }
}

/// The per-pixel definition of the packed turned crop (12-bit weights, one rounding): the
/// reference the chunked path is tested against.
fn warp_per_pixel<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    frame: &FrameView<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    out: &mut [u8],
) {
    let (data, stride) = (frame.data, frame.stride);
    for_each_source_point(crop, size, |n, x, y| {
        let (xa, xb, wx) = taps_at(x, frame.width);
        let (ya, yb, wy) = taps_at(y, frame.height);
        let (top, bottom) = (ya * stride, yb * stride);
        let (xa, xb) = (xa * BPP, xb * BPP);
        let px = &mut out[3 * n..3 * n + 3];
        for (o, ch) in px.iter_mut().zip([R, G, B]) {
            let s = |p: usize| u32::from(data[p + ch]);
            // 8 + 12 + 12 bits: within u32 (255 × 4096² < 2³²).
            let t = s(top + xa) * (WEIGHT_ONE - wx) + s(top + xb) * wx;
            let b = s(bottom + xa) * (WEIGHT_ONE - wx) + s(bottom + xb) * wx;
            let v = t * (WEIGHT_ONE - wy) + b * wy;
            *o = ((v + (1 << (2 * WEIGHT_BITS - 1))) >> (2 * WEIGHT_BITS)) as u8;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::crop::CropRect;
    use crate::image::test_util::{max_level_difference, random_crop, same_bytes, XorShift};

    /// The float rule (DESIGN): bilinear at P − ½ with clamped taps, rounded half up.
    fn reference(frame: &FrameView<'_>, crop: &FaceCrop, size: SampleSize) -> Vec<u8> {
        let bpp = frame.format.bytes_per_pixel();
        let channels: [usize; 3] = match frame.format {
            PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
            PixelFormat::Bgr8 | PixelFormat::Bgra8 => [2, 1, 0],
            PixelFormat::Gray8 => [0, 0, 0],
        };
        let mut out = Vec::new();
        for j in 0..size.height {
            for i in 0..size.width {
                let (x, y) = crop.sample_point(size, i as f64, j as f64);
                let (fx, fy) = (x.floor(), y.floor());
                let (ax, ay) = (x - fx, y - fy);
                let cx = |v: f64| v.clamp(0.0, f64::from(frame.width - 1)) as usize;
                let cy = |v: f64| v.clamp(0.0, f64::from(frame.height - 1)) as usize;
                for ch in channels {
                    let p = |xx: usize, yy: usize| {
                        f64::from(frame.data[yy * frame.stride + xx * bpp + ch])
                    };
                    let v = (1.0 - ay)
                        * ((1.0 - ax) * p(cx(fx), cy(fy)) + ax * p(cx(fx + 1.0), cy(fy)))
                        + ay * ((1.0 - ax) * p(cx(fx), cy(fy + 1.0))
                            + ax * p(cx(fx + 1.0), cy(fy + 1.0)));
                    out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn rotated_crop_is_within_a_level_of_the_float_rule() {
        let (w, h) = (61u32, 47u32);
        let stride = 3 * w as usize + 5;
        let data: Vec<u8> = (0..stride * h as usize)
            .map(|i| ((i * 7919) % 251) as u8)
            .collect();
        let frame = FrameView::new(&data, w, h, stride, PixelFormat::Bgr8).unwrap();
        for (x0, y0, side, deg) in [
            (5, 3, 40, 30.0),
            (-10, -8, 80, -135.0),
            (20, 10, 13, 90.0),
            (0, 0, 61, 180.0),
        ] {
            let crop = FaceCrop::rotated(CropRect { x0, y0, side }, f64::to_radians(deg));
            // Square, wider than high, higher than wide.
            for (width, height) in [(24, 24), (24, 17), (13, 31)] {
                let size = SampleSize { width, height };
                let mut out = vec![0u8; size.pixels() * 3];
                warp_packed(&frame, &crop, size, &mut out);
                let want = reference(&frame, &crop, size);
                for (n, (a, b)) in out.iter().zip(&want).enumerate() {
                    assert!(a.abs_diff(*b) <= 1, "{deg}° {size:?} byte {n}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn a_quarter_turn_is_a_pixel_permutation() {
        // 4x4 gray frame, crop = whole frame, output 4x4, θ = 90°: output (i, j) samples
        // P − ½ = (3 − j, i).
        let data: Vec<u8> = (0..16).map(|v| v * 10).collect();
        let frame = FrameView::new(&data, 4, 4, 4, PixelFormat::Gray8).unwrap();
        let crop = FaceCrop::rotated(
            CropRect {
                x0: 0,
                y0: 0,
                side: 4,
            },
            std::f64::consts::FRAC_PI_2,
        );
        let mut out = vec![0u8; 48];
        warp_packed(&frame, &crop, SampleSize::square(4), &mut out);
        for j in 0..4 {
            for i in 0..4 {
                assert_eq!(out[3 * (j * 4 + i)], data[i * 4 + 3 - j], "({i}, {j})");
            }
        }
    }

    #[test]
    fn a_hair_of_roll_gives_the_upright_crop() {
        // The rotated path at θ = 1e-12 against the separable upright path (θ = 0), on a crop
        // larger than the output (where both replicate the frame's edges the same way). The
        // upright path (unchanged since ABI 1.0) rounds between its passes with 7-bit weights and
        // the rotated one keeps 12-bit weights: each within a level of the rule, so within two of
        // each other.
        let (w, h) = (300u32, 260u32);
        let stride = 4 * w as usize;
        let data: Vec<u8> = (0..stride * h as usize)
            .map(|i| ((i * 131) % 253) as u8)
            .collect();
        let frame = FrameView::new(&data, w, h, stride, PixelFormat::Rgba8).unwrap();
        let rect = CropRect {
            x0: -30,
            y0: 40,
            side: 250,
        };
        // Square, and non-square sizes; all smaller than the crop (magnifying, the 7-bit
        // weights of the upright path drift a level further).
        for (width, height) in [(192, 192), (224, 160), (160, 224)] {
            let mut upright = vec![0u8; width * height * 3];
            crate::image::crop_resize(
                &frame,
                &rect,
                width,
                height,
                &mut Default::default(),
                &mut upright,
            );
            let mut turned = vec![0u8; width * height * 3];
            let size = SampleSize { width, height };
            warp_packed(&frame, &FaceCrop::rotated(rect, 1e-12), size, &mut turned);
            let worst = max_level_difference(&upright, &turned);
            assert!(worst <= 2, "{size:?}: {worst} levels apart");
        }
    }

    #[test]
    fn the_vector_blend_equals_the_scalar_definition() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15u64);
        let mut next = |m: u64| rng.below(m);
        let mut words = Words::default();
        let mut weights = [Weights::default(); 2];
        for k in 0..CHUNK {
            words.top[k] = next(u64::MAX);
            words.bottom[k] = next(u64::MAX);
            for w in &mut weights {
                w.x[k] = next(u64::from(WEIGHT_ONE)) as u16;
                w.y[k] = next(u64::from(WEIGHT_ONE)) as u16;
            }
        }
        // The extremes: weights 0 and 4095, bytes 0 and 255.
        (words.top[0], words.bottom[0]) = (u64::MAX, 0);
        (weights[0].x[0], weights[0].y[0]) = (0, 0);
        (weights[1].x[1], weights[1].y[1]) = (4095, 4095);
        let channels = [(0, 1, 0), (2, 4, 1), (7, 5, 1)].map(|(left, right, weights)| Channel {
            left,
            right,
            weights,
        });
        for n in [CHUNK, 61, 8, 3] {
            let (mut fast, mut slow) = ([[0u16; CHUNK]; 3], [[0u16; CHUNK]; 3]);
            blend_words_scalar::<3, false>(&words, &weights, channels, 0..n, &mut slow);
            blend_words::<3, false, true>(&words, &weights, channels, n, &mut fast);
            assert_eq!(fast, slow, "{n} pixels, wide");
            blend_words::<3, false, false>(&words, &weights, channels, n, &mut fast);
            assert_eq!(fast, slow, "{n} pixels");
            assert!(
                fast.iter().all(|c| c[n..].iter().all(|&v| v == 0)),
                "past {n}"
            );
            assert_eq!(slow[0][0], 255 << 7, "weight 0 keeps the top-left tap");
            let (mut fast, mut slow) = ([[0u16; CHUNK]; 3], [[0u16; CHUNK]; 3]);
            blend_words_scalar::<3, true>(&words, &weights, channels, 0..n, &mut slow);
            blend_words::<3, true, true>(&words, &weights, channels, n, &mut fast);
            assert_eq!(fast, slow, "{n} pixels, exact, wide");
            blend_words::<3, true, false>(&words, &weights, channels, n, &mut fast);
            assert_eq!(fast, slow, "{n} pixels, exact");
            assert_eq!(slow[0][0], 255, "weight 0 keeps the top-left tap");
            assert!(slow.iter().flatten().all(|&v| v <= 255));
        }
    }

    #[test]
    fn the_interior_is_where_no_tap_is_clamped() {
        // Rows at many angles and offsets over a 50x30 plane: every pixel of the span has its
        // taps inside, and at most two pixels outside the span do (the estimate may be a pixel
        // short at either end, never wrong).
        let (w, h, n) = (50u32, 30u32, 96usize);
        let mut rows = 0;
        for deg in (0..360).step_by(7) {
            let t = f64::from(deg).to_radians();
            for (sx, sy) in [
                (-20.0, 10.0),
                (3.3, 4.7),
                (25.0, -5.0),
                (49.2, 29.6),
                (10.0, 15.0),
            ] {
                let row = Row {
                    x: to_fixed(sx),
                    y: to_fixed(sy),
                    dx: to_fixed(0.61 * t.cos()),
                    dy: to_fixed(0.61 * t.sin()),
                };
                let ok = |i: usize| {
                    let (x, y) = row.at(i);
                    inside(x, w) && inside(y, h)
                };
                let (lo, hi) = interior(n, &[(row.x, row.dx, w), (row.y, row.dy, h)], ok);
                assert!(lo <= hi && hi <= n);
                assert!((lo..hi).all(ok), "{deg}° from ({sx}, {sy}): {lo}..{hi}");
                let missed = (0..n).filter(|&i| ok(i)).count() - (hi - lo);
                assert!(
                    missed <= 2,
                    "{deg}° from ({sx}, {sy}): {missed} interior pixels missed"
                );
                for i in lo..hi {
                    let (x, y) = row.at(i);
                    assert_eq!(taps::<false>(x, w), taps_at(x, w));
                    assert_eq!(taps::<false>(y, h), taps_at(y, h));
                }
                rows += usize::from(hi > lo);
            }
        }
        assert!(rows > 100, "only {rows} rows had an interior");
        // A plane one pixel wide has no interior: every tap pair is clamped.
        let row = Row {
            x: 0,
            y: to_fixed(2.0),
            dx: 0,
            dy: to_fixed(0.1),
        };
        assert_eq!(
            interior(10, &[(row.x, row.dx, 1), (row.y, row.dy, 9)], |_| false),
            (0, 0)
        );
    }

    /// The lane path (baseline, and AVX2 where the CPU has it) against the per-pixel taps it
    /// replaced, byte for byte.
    fn lanes_vs_per_pixel_taps<const BPP: usize, const R: usize, const G: usize, const B: usize>(
        frame: &FrameView<'_>,
        crop: &FaceCrop,
        size: SampleSize,
    ) -> Result<(), String> {
        let pixels = size.pixels() * 3;
        let mut want = vec![0u8; pixels];
        warp_with::<BPP, R, G, B, false, false, false>(frame, crop, size, &mut want);
        let mut got = vec![0u8; pixels];
        warp_with::<BPP, R, G, B, true, false, false>(frame, crop, size, &mut got);
        let mut paths = vec![("baseline", got.clone())];
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2.
            unsafe { warp_avx2::<BPP, R, G, B>(frame, crop, size, &mut got) };
            paths.push(("avx2", got.clone()));
        }
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            // SAFETY: the CPU has AVX-512 F, BW, VBMI.
            unsafe { warp_avx512::<BPP, R, G, B>(frame, crop, size, &mut got) };
            paths.push(("avx512", got));
        }
        same_bytes(paths, &want)
    }

    #[test]
    fn the_lane_positions_are_the_taps_of_every_position_inside() {
        // Positions far outside (i32 wrap) and inside, steps of any sign and size up to 8 px,
        // halved (chroma) or not: wherever the scalar taps lie inside a 32768-px plane, the
        // lane position splits into the same index and weight.
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let mut checked = 0;
        for _ in 0..20_000 {
            let pos = rng.below(1 << 50) as i64 - (1 << 49);
            let step = rng.below(1 << 36) as i64 - (1 << 35);
            let halved = rng.below(2) == 1;
            let axis = Axis::new(pos, step, halved);
            let mut at = axis.first();
            for k in 0..CHUNK as i64 {
                let p = pos + k * step;
                let p = if halved { p >> 1 } else { p };
                if inside(p, 32768) {
                    let q = axis.value(at);
                    let (index, _, weight) = taps_at(p, 32768);
                    assert_eq!(
                        (lane_index(q) as usize, lane_weight(q) as u32),
                        (index, weight)
                    );
                    checked += 1;
                }
                at = axis.step(at);
            }
        }
        assert!(checked > 10_000, "only {checked} positions inside");
    }

    #[test]
    fn the_lane_taps_give_the_per_pixel_taps_byte_for_byte() {
        #[cfg(target_arch = "x86_64")]
        avx512::TAKEN.with(|t| t.set((0, 0)));
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut tested = 0;
        for format in [
            PixelFormat::Bgr8,
            PixelFormat::Rgb8,
            PixelFormat::Bgra8,
            PixelFormat::Rgba8,
            PixelFormat::Gray8,
        ] {
            let bpp = format.bytes_per_pixel();
            // Odd sizes and padded strides, one row or column, a tight last row.
            for (w, h, pad) in [(83, 59, 3), (64, 48, 0), (1, 17, 1), (23, 1, 0), (2, 2, 5)] {
                let stride = bpp * w as usize + pad;
                let len = stride * (h as usize - 1) + bpp * w as usize;
                let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                let frame = FrameView::new(&data, w, h, stride, format).unwrap();
                for _ in 0..60 {
                    let (crop, size) = random_crop(&mut rng, w, h);
                    let result = match format {
                        PixelFormat::Bgr8 => {
                            lanes_vs_per_pixel_taps::<3, 2, 1, 0>(&frame, &crop, size)
                        }
                        PixelFormat::Rgb8 => {
                            lanes_vs_per_pixel_taps::<3, 0, 1, 2>(&frame, &crop, size)
                        }
                        PixelFormat::Bgra8 => {
                            lanes_vs_per_pixel_taps::<4, 2, 1, 0>(&frame, &crop, size)
                        }
                        PixelFormat::Rgba8 => {
                            lanes_vs_per_pixel_taps::<4, 0, 1, 2>(&frame, &crop, size)
                        }
                        PixelFormat::Gray8 => {
                            lanes_vs_per_pixel_taps::<1, 0, 0, 0>(&frame, &crop, size)
                        }
                    };
                    if let Err(e) = result {
                        panic!("{format:?} {w}x{h}+{pad} {crop:?} {size:?}: {e}");
                    }
                    tested += 1;
                }
            }
        }
        println!("{tested} crops, byte for byte");
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // The AVX2 path ran above; the AVX-512 one too where the CPU has it.
            let (windows, records) = avx512::TAKEN.with(|t| t.get());
            println!("groups from windows: {windows}; AVX-512 groups from records: {records}");
            assert!(windows > 1000, "{windows} windows");
            assert!(!has_avx512() || records > 1000, "{records} records");
        }
    }

    #[test]
    fn the_chunked_turned_crop_stays_within_a_level_of_the_per_pixel_one() {
        let (w, h) = (83u32, 59u32);
        for format in [PixelFormat::Bgr8, PixelFormat::Rgba8, PixelFormat::Gray8] {
            let stride = format.bytes_per_pixel() * w as usize + 3;
            let data: Vec<u8> = (0..stride * h as usize)
                .map(|i| ((i * 7919) % 251) as u8)
                .collect();
            let frame = FrameView::new(&data, w, h, stride, format).unwrap();
            for (x0, y0, side, deg) in [
                (10, 5, 40, 30.0),
                (-30, -20, 140, -135.0),
                (60, 30, 50, 90.0),
                (0, 0, 83, 11.0),
                (80, 56, 7, 250.0),
            ] {
                let crop = FaceCrop::rotated(CropRect { x0, y0, side }, f64::to_radians(deg));
                // More than one chunk, not a multiple of 8; and a wide, low one.
                for (width, height) in [(70, 70), (131, 41)] {
                    let size = SampleSize { width, height };
                    let pixels = size.pixels();
                    let (mut fast, mut slow) = (vec![0u8; pixels * 3], vec![0u8; pixels * 3]);
                    warp_packed(&frame, &crop, size, &mut fast);
                    match format {
                        PixelFormat::Bgr8 => {
                            warp_per_pixel::<3, 2, 1, 0>(&frame, &crop, size, &mut slow)
                        }
                        PixelFormat::Rgba8 => {
                            warp_per_pixel::<4, 0, 1, 2>(&frame, &crop, size, &mut slow)
                        }
                        _ => warp_per_pixel::<1, 0, 0, 0>(&frame, &crop, size, &mut slow),
                    }
                    let worst = max_level_difference(&fast, &slow);
                    assert!(worst <= 1, "{format:?} {deg}° {size:?}: {worst} levels");
                }
            }
        }
    }
}
