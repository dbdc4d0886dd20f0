//! AVX-512 (F, BW, VBMI) forms of the turned crops, sixteen pixels a step: the taps of an
//! upscaled face picked by byte permutes out of a [`Window`] of source rows held in
//! registers, or, where they spread wider, each pixel's two rows loaded as one [`Records`]
//! slot and picked out of those. Bit for bit the AVX2 and scalar definitions in `warp` (the
//! tests hold them to it); a step's tail is a masked store, so every pixel takes this path.

use super::warp::{Axis, Channel, Weights, Words, CHUNK, EXACT_SHIFT, WEIGHT_BITS, WEIGHT_ONE};
use std::arch::x86_64::*;

/// Whether these forms run: the CPU has the AVX-512 subsets they use, and the environment did
/// not set `LMBATCH_NO_AVX512=1` (the AVX2 forms then run; for comparing the two on one
/// machine, or where a CPU clocks down for 512-bit work). Decided once per process.
#[inline(always)]
pub(crate) fn has_avx512() -> bool {
    static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USE.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && std::env::var_os("LMBATCH_NO_AVX512").is_none_or(|v| v != "1")
    })
}

/// A permute's indices hidden from the optimiser: with constant indices LLVM rewrites each
/// two-register permute as four in-lane shuffles, a third slower here. Made once per chunk.
#[inline(always)]
fn opaque(index: __m512i) -> __m512i {
    std::hint::black_box(index)
}

#[cfg(test)]
thread_local! {
    /// How many groups took a window and how many loaded records, on this thread: the tests
    /// check that they exercised both.
    pub(crate) static TAKEN: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Counts a group's path ([`TAKEN`]) in tests; nothing otherwise.
#[inline(always)]
pub(crate) fn taken(_window: bool) {
    #[cfg(test)]
    TAKEN.with(|t| {
        let (w, r) = t.get();
        t.set(if _window { (w + 1, r) } else { (w, r + 1) });
    });
}

/// Pixels per step.
pub(crate) const STEP: usize = 16;

/// Sixteen 12-bit weights at `k` as dwords `(4096 − w) | w << 16` for `vpmaddwd`.
///
/// # Safety
/// AVX-512 F; `k + STEP <= CHUNK`.
#[inline(always)]
pub(crate) unsafe fn weight_pairs(w: &[u16; CHUNK], k: usize) -> __m512i {
    debug_assert!(k + STEP <= CHUNK);
    // SAFETY: sixteen u16 from k + 16 <= CHUNK; 12-bit weights are their own low 12 bits.
    unsafe {
        lane_weights(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
            w.as_ptr().add(k).cast(),
        )))
        .0
    }
}

/// The `vpermt2b` indices that interleave sixteen pixels' `R | G << 8` dwords and B dwords
/// into 48 bytes R G B R G B ...
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn interleave_index() -> __m512i {
    let mut index = [0u8; 64];
    for pixel in 0..STEP {
        index[3 * pixel] = (4 * pixel) as u8;
        index[3 * pixel + 1] = (4 * pixel + 1) as u8;
        index[3 * pixel + 2] = (64 + 4 * pixel) as u8;
    }
    // SAFETY: 64 bytes from a 64-byte array.
    unsafe { opaque(_mm512_loadu_si512(index.as_ptr().cast())) }
}

/// Sixteen pixels' R, G, B (i32 lanes, clamped to bytes as the AVX2 packs clamp) as interleaved
/// bytes at `at` ([`interleave_index`]): the first `pixels` of them (a masked store: nothing
/// is written past them).
///
/// # Safety
/// AVX-512 F, BW, VBMI; `3 · pixels` bytes writable at `at`, `pixels <= 16`.
#[inline(always)]
pub(crate) unsafe fn store_rgb(
    [red, green, blue]: [__m512i; 3],
    index: __m512i,
    at: *mut u8,
    pixels: usize,
) {
    debug_assert!(pixels <= STEP);
    // SAFETY: the caller's AVX-512 and bytes; masked-off bytes are not touched.
    unsafe {
        let (zero, top) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
        let red = _mm512_min_epi32(_mm512_max_epi32(red, zero), top);
        let green = _mm512_min_epi32(_mm512_max_epi32(green, zero), top);
        let blue = _mm512_min_epi32(_mm512_max_epi32(blue, zero), top);
        let rg = _mm512_or_si512(red, _mm512_slli_epi32::<8>(green));
        let bytes = _mm512_permutex2var_epi8(rg, index, blue);
        let mask = (1u64 << (3 * pixels)) - 1;
        _mm512_mask_storeu_epi8(at.cast(), mask, bytes);
    }
}

/// A chunk's taps as the AVX-512 blends read them: each slot's top and bottom words side by
/// side, so that a slot's taps are one 16-byte store and eight slots two registers.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Records {
    pub(crate) slots: [[u64; 2]; CHUNK],
}

impl Default for Records {
    fn default() -> Self {
        Records {
            slots: [[0; 2]; CHUNK],
        }
    }
}

impl Records {
    /// The slots `range` from words filled some other way (the clamped taps at a row's ends).
    pub(crate) fn copy_words(&mut self, words: &Words, range: std::ops::Range<usize>) {
        for k in range {
            self.slots[k] = [words.top[k], words.bottom[k]];
        }
    }
}

/// The records of the slots `slots` from their offsets: 8 bytes at each offset from `above` and
/// from `below` (a row down), stored together.
///
/// # Safety
/// SSE4.1; 8 bytes readable at `above + o` and `below + o` for each offset `o` of `slots`.
#[inline(always)]
pub(crate) unsafe fn load_records(
    (above, below): (*const u8, *const u8),
    offsets: &[u32; CHUNK],
    slots: std::ops::Range<usize>,
    records: &mut Records,
) {
    for k in slots {
        let o = offsets[k] as usize;
        // SAFETY: the caller's reads; a 16-byte store into slot k.
        unsafe {
            let top = _mm_loadl_epi64(above.add(o).cast());
            let both = _mm_insert_epi64::<1>(top, below.add(o).cast::<i64>().read_unaligned());
            _mm_storeu_si128(records.slots[k].as_mut_ptr().cast(), both);
        }
    }
}

/// The `vpermt2b` indices that turn eight records (two registers) into sixteen dwords
/// `byte(left) | byte(right) << 16` of `ch`: the eight top rows', then the eight bottom rows'.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn record_index(ch: Channel) -> __m512i {
    let mut index = [0u8; 64];
    for pixel in 0..8 {
        for (row, at) in [(0, 4 * pixel), (8, 32 + 4 * pixel)] {
            index[at] = (16 * pixel + row + ch.left) as u8;
            index[at + 2] = (16 * pixel + row + ch.right) as u8;
        }
    }
    // SAFETY: 64 bytes from a 64-byte array.
    unsafe { opaque(_mm512_loadu_si512(index.as_ptr().cast())) }
}

/// The `vpermt2w` indices that join two registers of eight pixels' rows (tops, then bottoms)
/// into sixteen dwords `top | bottom << 16`.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn join_index() -> __m512i {
    let mut index = [0u16; 32];
    for pixel in 0..16 {
        let base = if pixel < 8 { 0 } else { 32 };
        let p = (pixel % 8) as u16;
        index[2 * pixel] = base + 2 * p;
        index[2 * pixel + 1] = base + 16 + 2 * p;
    }
    // SAFETY: 64 bytes from a 32-u16 array.
    unsafe { opaque(_mm512_loadu_si512(index.as_ptr().cast())) }
}

/// Eight 12-bit weights at `k` as dword pairs `(4096 − w) | w << 16`, twice (for the tops and
/// the bottoms of [`record_index`]).
///
/// # Safety
/// AVX-512 F; `k + 8 <= CHUNK`.
#[inline(always)]
pub(crate) unsafe fn twice_weight_pairs(w: &[u16; CHUNK], k: usize) -> __m512i {
    debug_assert!(k + 8 <= CHUNK);
    // SAFETY: eight u16 from k + 8 <= CHUNK.
    unsafe {
        let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(w.as_ptr().add(k).cast()));
        let w0 = _mm256_sub_epi32(_mm256_set1_epi32(WEIGHT_ONE as i32), w);
        _mm512_broadcast_i64x4(_mm256_or_si256(w0, _mm256_slli_epi32::<16>(w)))
    }
}

/// The rows of a channel of sixteen pixels (records `k..k + 16` in four registers), each
/// blended horizontally into 8.7, rounded, joined as dwords `top | bottom << 16`.
///
/// # Safety
/// AVX-512 F, BW, VBMI.
#[inline(always)]
pub(crate) unsafe fn record_rows(
    r: [__m512i; 4],
    index: __m512i,
    (wx_low, wx_high): (__m512i, __m512i),
    join: __m512i,
) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe {
        let half = _mm512_set1_epi32(16);
        // A plain permute and a mask: LLVM splits the zero-masking form into four shuffles.
        let bytes = _mm512_set1_epi32(0x00ff_00ff);
        let low = _mm512_and_si512(_mm512_permutex2var_epi8(r[0], index, r[1]), bytes);
        let high = _mm512_and_si512(_mm512_permutex2var_epi8(r[2], index, r[3]), bytes);
        // a·(1 − w) + b·w per lane, exact (samples <= 255, weights <= 4096).
        let low = _mm512_srai_epi32::<5>(_mm512_add_epi32(_mm512_madd_epi16(low, wx_low), half));
        let high = _mm512_srai_epi32::<5>(_mm512_add_epi32(_mm512_madd_epi16(high, wx_high), half));
        _mm512_permutex2var_epi16(low, join, high)
    }
}

/// The exact blend of three channels (one weight set) of the first `n` pixels of a chunk
/// straight into interleaved bytes at the start of `out`; returns `n`.
///
/// # Safety
/// AVX-512 F, BW, VBMI; `out` holds at least `3 · n` bytes.
#[inline(always)]
pub(crate) unsafe fn blend_rgb(
    records: &Records,
    weights: &Weights,
    channels: [Channel; 3],
    n: usize,
    out: &mut [u8],
) -> usize {
    let n = n.min(CHUNK);
    debug_assert!(out.len() >= 3 * n);
    // SAFETY: the caller's AVX-512; loads of sixteen slots at k + 16 <= CHUNK (slots past n hold
    // stale taps, blended and not stored); stores of 3·min(16, n − k) bytes at 3k, inside out.
    unsafe {
        let [r, g, b] = channels;
        let (r, g, b) = (record_index(r), record_index(g), record_index(b));
        let (join, interleave) = (join_index(), interleave_index());
        for k in (0..n).step_by(STEP) {
            let p = records.slots.as_ptr().add(k).cast::<u64>();
            let z = [
                _mm512_load_si512(p.cast()),
                _mm512_load_si512(p.add(8).cast()),
                _mm512_load_si512(p.add(16).cast()),
                _mm512_load_si512(p.add(24).cast()),
            ];
            let wx = (
                twice_weight_pairs(&weights.x, k),
                twice_weight_pairs(&weights.x, k + 8),
            );
            let wy = weight_pairs(&weights.y, k);
            let rgb = [
                vertical(record_rows(z, r, wx, join), wy),
                vertical(record_rows(z, g, wx, join), wy),
                vertical(record_rows(z, b, wx, join), wy),
            ];
            store_rgb(
                rgb,
                interleave,
                out.as_mut_ptr().add(3 * k),
                (n - k).min(STEP),
            );
        }
    }
    n
}

/// The exact vertical blend of sixteen pixels' rows (`top | bottom << 16`, 8.7) with the y weight
/// pairs, rounded once to a byte.
///
/// # Safety
/// AVX-512 F, BW.
#[inline(always)]
unsafe fn vertical(rows: __m512i, wy: __m512i) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe {
        // Rows <= 32640, weights <= 4096: sums < 2^31.
        let v = _mm512_madd_epi16(rows, wy);
        let half = _mm512_set1_epi32(1 << (EXACT_SHIFT - 1));
        _mm512_srai_epi32::<{ EXACT_SHIFT }>(_mm512_add_epi32(v, half))
    }
}

/// A plane as the groups read it: its bytes and the distance between rows.
#[derive(Clone, Copy)]
pub(crate) struct Plane<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) stride: usize,
}

impl Plane<'_> {
    /// Where a window of `rows` rows of `row_bytes` bytes holds the taps (left and right, top
    /// and bottom) of slots 0..m of the axes, for samples of `step` bytes: its first byte's
    /// offset and its first sample's column and row; `None` if the taps do not fit one or it
    /// would reach past the plane's bytes. The positions are monotone along a row, so the end
    /// slots bound every slot's. `m > 0`.
    #[inline(always)]
    pub(crate) fn place(
        &self,
        [x, y]: [&Axis; 2],
        m: usize,
        step: usize,
        (row_bytes, rows): (usize, usize),
    ) -> Option<(usize, i32, i32)> {
        let index = |axis: &Axis, k: usize| i64::from(axis.value_at(k as u32) >> WEIGHT_BITS);
        let (first_x, last_x) = (index(x, 0), index(x, m - 1));
        let (first_y, last_y) = (index(y, 0), index(y, m - 1));
        let (left, top) = (first_x.min(last_x), first_y.min(last_y));
        // The right tap's last byte, (Δx + 1)·step + step − 1, and the bottom tap's row, Δy + 1.
        let fits = ((first_x - last_x).abs() + 2) * step as i64 <= row_bytes as i64
            && (first_y - last_y).abs() + 2 <= rows as i64
            && left >= 0
            && top >= 0;
        if !fits {
            return None;
        }
        // left, top >= 0 (checked above).
        let at = (top as usize)
            .checked_mul(self.stride)?
            .checked_add(left as usize * step)?;
        if at.checked_add((rows - 1) * self.stride + row_bytes)? > self.data.len() {
            return None;
        }
        Some((at, left as i32, top as i32))
    }
}

/// Four rows of 32 bytes of a plane in two registers (rows 0, 1 and rows 2, 3), from the
/// sample at (`left`, `top`): a byte's index in them is `row · 32 + column byte`.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    upper: __m512i,
    lower: __m512i,
    left: i32,
    top: i32,
}

/// The rounded positions of an axis's sixteen first slots, in lanes (`Axis::value` of each).
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn positions(axis: &Axis) -> __m512i {
    let (q, step_q, r, step_r, shift) = axis.parts();
    // SAFETY: the caller's AVX-512.
    unsafe {
        let k = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let q = _mm512_add_epi32(
            _mm512_set1_epi32(q),
            _mm512_mullo_epi32(k, _mm512_set1_epi32(step_q)),
        );
        let r = _mm512_add_epi32(
            _mm512_set1_epi32(r as i32),
            _mm512_mullo_epi32(k, _mm512_set1_epi32(step_r as i32)),
        );
        _mm512_add_epi32(q, _mm512_srl_epi32(r, _mm_cvtsi32_si128(shift as i32)))
    }
}

/// The window of `plane` that holds the taps of slots 0..m of the axes, for samples of `step`
/// bytes, if they fit four rows of 32 bytes ([`Plane::place`]).
///
/// # Safety
/// AVX-512 F; `0 < m <= 16`.
#[inline(always)]
pub(crate) unsafe fn window(
    plane: &Plane<'_>,
    [x, y]: [&Axis; 2],
    m: usize,
    step: usize,
) -> Option<Window> {
    let (at, left, top) = plane.place([x, y], m, step, (32, 4))?;
    let s = plane.stride;
    taken(true);
    // SAFETY: the caller's AVX-512; four reads of 32 bytes from at + k·s, which end inside the
    // plane's bytes (`place` checked).
    unsafe {
        let p = plane.data.as_ptr().add(at);
        let row = |k: usize| _mm256_loadu_si256(p.add(k * s).cast());
        Some(Window {
            upper: _mm512_inserti64x4::<1>(_mm512_castsi256_si512(row(0)), row(1)),
            lower: _mm512_inserti64x4::<1>(_mm512_castsi256_si512(row(2)), row(3)),
            left,
            top,
        })
    }
}

/// Each lane's top-left tap in `window` (source indices `xi`, `yi`; samples of `step` bytes):
/// `(y − top)·32 + (x − left)·step`, in the low and the high half of the lane. Lanes outside
/// the window get garbage indices: a permute reads only its registers, whatever the indices.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn window_taps(window: &Window, xi: __m512i, yi: __m512i, step: i32) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe {
        let row = _mm512_slli_epi32::<5>(_mm512_sub_epi32(yi, _mm512_set1_epi32(window.top)));
        let column = _mm512_mullo_epi32(
            _mm512_sub_epi32(xi, _mm512_set1_epi32(window.left)),
            _mm512_set1_epi32(step),
        );
        let taps = _mm512_add_epi32(row, column);
        _mm512_or_si512(taps, _mm512_slli_epi32::<16>(taps))
    }
}

/// The horizontal blends (8.7, rounded) of a sample's two rows for sixteen pixels, picked out
/// of `window` at `taps` plus `(left, right)` bytes; `wx`: the x weight pairs.
///
/// # Safety
/// AVX-512 F, BW, VBMI.
#[inline(always)]
pub(crate) unsafe fn window_rows(
    window: &Window,
    taps: __m512i,
    (left, right): (usize, usize),
    wx: __m512i,
) -> (__m512i, __m512i) {
    // SAFETY: the caller's AVX-512.
    unsafe {
        let bytes = _mm512_set1_epi32(0x00ff_00ff);
        let half = _mm512_set1_epi32(16);
        let at = _mm512_add_epi32(taps, _mm512_set1_epi32((left | right << 16) as i32));
        let below = _mm512_add_epi32(at, _mm512_set1_epi32(32 | 32 << 16));
        let (upper, lower) = (window.upper, window.lower);
        let top = _mm512_and_si512(_mm512_permutex2var_epi8(upper, at, lower), bytes);
        let bottom = _mm512_and_si512(_mm512_permutex2var_epi8(upper, below, lower), bytes);
        // a·(1 − w) + b·w per lane, exact (samples <= 255, weights <= 4096).
        let top = _mm512_srai_epi32::<5>(_mm512_add_epi32(_mm512_madd_epi16(top, wx), half));
        let bottom = _mm512_srai_epi32::<5>(_mm512_add_epi32(_mm512_madd_epi16(bottom, wx), half));
        (top, bottom)
    }
}

/// The exact vertical blend (the packed path's rule) of sixteen pixels' rows (8.7) with the y
/// weight pairs, rounded once to a byte.
///
/// # Safety
/// AVX-512 F, BW.
#[inline(always)]
unsafe fn exact_rows((top, bottom): (__m512i, __m512i), wy: __m512i) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe { vertical(_mm512_or_si512(top, _mm512_slli_epi32::<16>(bottom)), wy) }
}

/// The vertical blend of the upright YUV path (`blend_rows`): the high halves of (row·2) and
/// (weight·8), added, 8.7; `wy`: the raw y weights.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn rounded_rows((top, bottom): (__m512i, __m512i), wy: __m512i) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe {
        let one = _mm512_set1_epi32(WEIGHT_ONE as i32);
        let wa = _mm512_slli_epi32::<3>(_mm512_sub_epi32(one, wy));
        let wb = _mm512_slli_epi32::<3>(wy);
        // Rows <= 32640 (doubled < 2^16), weights <= 32768: products < 2^31.
        let top = _mm512_srli_epi32::<16>(_mm512_mullo_epi32(_mm512_slli_epi32::<1>(top), wa));
        let bottom =
            _mm512_srli_epi32::<16>(_mm512_mullo_epi32(_mm512_slli_epi32::<1>(bottom), wb));
        _mm512_add_epi32(top, bottom)
    }
}

/// `(4096 − w) | w << 16` of each lane's weight (the low 12 bits of its position), and the
/// weight as it is.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn lane_weights(position: __m512i) -> (__m512i, __m512i) {
    // SAFETY: the caller's AVX-512.
    unsafe {
        let w = _mm512_and_si512(position, _mm512_set1_epi32(WEIGHT_ONE as i32 - 1));
        let w0 = _mm512_sub_epi32(_mm512_set1_epi32(WEIGHT_ONE as i32), w);
        (_mm512_or_si512(w0, _mm512_slli_epi32::<16>(w)), w)
    }
}

/// The 12-bit weights of sixteen lanes' positions into the first sixteen slots of `w`.
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
unsafe fn store_weights(position: __m512i, w: &mut [u16; CHUNK]) {
    // SAFETY: the caller's AVX-512; sixteen u16 from slot 0.
    unsafe {
        let weight = lane_weights(position).1;
        _mm256_storeu_si256(w.as_mut_ptr().cast(), _mm512_cvtepi32_epi16(weight));
    }
}

/// Each lane's source index (its position without the weight's bits).
///
/// # Safety
/// AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn index_of(position: __m512i) -> __m512i {
    // SAFETY: the caller's AVX-512.
    unsafe { _mm512_srai_epi32::<{ WEIGHT_BITS }>(position) }
}

/// Sixteen pixels of the packed turned crop, of which the first `m` are written to `out`: the
/// pixels whose slot 0 sits at the axes' first positions (x, y). Where their taps fit a
/// [`window`] (a face upscaled: the usual case for small faces), every tap is picked out of
/// it by byte permutes; elsewhere each pixel's taps are loaded as records (offsets clamped
/// into `[0, limit]`) and blended as [`blend_rgb`] does. Bit for bit either way.
///
/// # Safety
/// AVX-512 F, BW, VBMI; `BPP` is 3 or 4; `0 < m <= 16`; the taps of the `m` pixels lie inside
/// the plane (a row's interior, for reads of 8 bytes), and 8 bytes from any offset up to
/// `limit` and a row below it too; `out` holds `3 · m` bytes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn group_rgb<const BPP: usize>(
    plane: &Plane<'_>,
    limit: usize,
    [x, y]: [&Axis; 2],
    m: usize,
    [r, g, b]: [Channel; 3],
    out: &mut [u8],
    records: &mut Records,
    weights: &mut Weights,
) {
    debug_assert!((1..=STEP).contains(&m) && out.len() >= 3 * m);
    // SAFETY: the caller's AVX-512, taps and bytes; the window's loads are checked by
    // `window`, the records' offsets clamped into [0, limit]; stores of 3m bytes into `out`.
    unsafe {
        let (qx, qy) = (positions(x), positions(y));
        let (xi, yi) = (index_of(qx), index_of(qy));
        if let Some(w) = window(plane, [x, y], m, BPP) {
            let taps = window_taps(&w, xi, yi, BPP as i32);
            let ((wx, _), (wy, _)) = (lane_weights(qx), lane_weights(qy));
            let rgb = [
                exact_rows(window_rows(&w, taps, (r.left, r.right), wx), wy),
                exact_rows(window_rows(&w, taps, (g.left, g.right), wx), wy),
                exact_rows(window_rows(&w, taps, (b.left, b.right), wx), wy),
            ];
            store_rgb(rgb, interleave_index(), out.as_mut_ptr(), m);
            return;
        }
        let offsets = _mm512_add_epi32(
            _mm512_mullo_epi32(yi, _mm512_set1_epi32(plane.stride as i32)),
            _mm512_mullo_epi32(xi, _mm512_set1_epi32(BPP as i32)),
        );
        let offsets = _mm512_min_epi32(
            _mm512_max_epi32(offsets, _mm512_setzero_si512()),
            _mm512_set1_epi32(limit as i32),
        );
        taken(false);
        let mut slots = [0u32; CHUNK];
        _mm512_storeu_si512(slots.as_mut_ptr().cast(), offsets);
        let below = plane.data.as_ptr().wrapping_add(plane.stride);
        load_records((plane.data.as_ptr(), below), &slots, 0..m, records);
        store_weights(qx, &mut weights.x);
        store_weights(qy, &mut weights.y);
        blend_rgb(records, weights, [r, g, b], m, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::warp::to_fixed;

    /// The axes of sixteen slots from (x, y), stepping (dx, dy) source pixels.
    fn axes(x: f64, y: f64, dx: f64, dy: f64) -> [Axis; 2] {
        [
            Axis::new(to_fixed(x), to_fixed(dx), false),
            Axis::new(to_fixed(y), to_fixed(dy), false),
        ]
    }

    #[test]
    fn a_window_is_placed_only_where_every_tap_and_byte_fits() {
        // A 40 x 10 plane of 3-byte samples, rows of 130 bytes (10 of padding), tight at the end.
        let (stride, step) = (130, 3);
        let data = vec![0u8; stride * 9 + 120];
        let plane = Plane {
            data: &data,
            stride,
        };
        let place = |[x, y]: [Axis; 2], m: usize, size| plane.place([&x, &y], m, step, size);
        // Sixteen slots over 3.0 columns and 0.75 rows: samples 2..5 (+1) in rows 1..2 (+1).
        let upscaled = axes(2.25, 1.5, 0.2, 0.05);
        assert_eq!(place(upscaled, 16, (32, 4)), Some((stride + 6, 2, 1)));
        // Turned the other way the same span: the ends, not slot 0, bound it.
        let back = axes(5.25, 2.25, -0.2, -0.05);
        assert_eq!(place(back, 16, (32, 4)), Some((stride + 6, 2, 1)));
        // Only the first m slots count.
        let wide = axes(2.25, 1.5, 1.0, 0.0);
        assert_eq!(place(wide, 16, (32, 4)), None, "16 columns of 3 bytes");
        assert_eq!(place(wide, 8, (32, 4)), Some((stride + 6, 2, 1)));
        // Three rows of 16 bytes: five samples of 3 bytes, two rows of taps.
        assert_eq!(place(wide, 4, (16, 3)), Some((stride + 6, 2, 1)));
        assert_eq!(place(wide, 5, (16, 3)), None);
        assert_eq!(
            place(axes(2.0, 1.5, 0.0, 0.1), 16, (16, 3)),
            None,
            "2 rows apart"
        );
        // Before the plane, or reaching past its bytes: no window.
        assert_eq!(place(axes(-0.5, 1.0, 0.01, 0.0), 16, (32, 4)), None);
        assert_eq!(
            place(axes(2.0, 6.0, 0.01, 0.0), 16, (32, 4)),
            Some((6 * stride + 6, 2, 6))
        );
        assert_eq!(
            place(axes(2.0, 6.5, 0.01, 0.01), 16, (32, 4)),
            Some((6 * stride + 6, 2, 6))
        );
        assert_eq!(
            place(axes(2.0, 7.0, 0.01, 0.0), 16, (32, 4)),
            None,
            "row 10 is past it"
        );
        // In the last four rows a window's 32 bytes from column 29 end at the data's last byte;
        // from column 30 they would end 2 bytes past it.
        assert_eq!(
            place(axes(29.0, 6.0, 0.0, 0.0), 1, (32, 4)),
            Some((6 * stride + 87, 29, 6))
        );
        assert_eq!(place(axes(30.0, 6.0, 0.0, 0.0), 1, (32, 4)), None);
        assert_eq!(
            place(axes(30.0, 5.0, 0.0, 0.0), 1, (32, 4)),
            Some((5 * stride + 90, 30, 5))
        );
    }
}
