//! YUV 4:2:0 frames (NV12, NV21, I420, P010, P016): crop, resize and colour conversion fused in
//! one pass (DESIGN, "YUV sampling"). Each output pixel samples luma and chroma bilinearly where
//! it lands in each plane and converts once, so the cost follows the output, never the frame.
//!
//! Fixed point throughout, in 16-bit lanes where the work is per output pixel (baseline x86-64
//! vectorises those eight at a time; 32-bit or float loops stay scalar): positions rounded to
//! 1/4096 px, samples kept as 8.7 (8-bit units, 7 fraction bits; P010/P016 samples are 8.8 and
//! lose one bit), conversion coefficients with 14 fraction bits. Every output byte is within one
//! level of the float64 definition (tests/yuv.rs checks all 2^24 (Y, U, V) per matrix and range).

#[cfg(target_arch = "x86_64")]
use super::avx2_window;
#[cfg(target_arch = "x86_64")]
use super::avx512::{has_avx512, Plane as WindowPlane, STEP as STEP_512};
use super::crop::{FaceCrop, SampleSize};
use super::frame::{ChromaLocation, ColorMatrix, ColorRange, FrameFormat, Plane, YuvFrame};
use super::hpass::RowTaps;
#[cfg(target_arch = "x86_64")]
use super::warp::has_avx2;
use super::warp::{
    blend_words, for_each_source_point, inside, interior, lane_weight, rows, split_chunk, taps,
    taps_at, to_fixed, Axis, Channel, Offsets, Row, Source, Weights, Words, CHUNK, POS_BITS,
    WEIGHT_BITS, WEIGHT_ONE,
};

/// Fraction bits of the conversion coefficients. All but Bu (1.77..2.14) fit an i16 then; Bu is
/// kept as 2 + a small remainder.
const COEF_BITS: u32 = 14;
/// Fraction bits of the samples between the passes (8.7: at most 32640, so an i16 holds one and
/// a u16 holds twice one).
const SAMPLE_BITS: u32 = 7;

/// A byte times a 12-bit weight (8.12) to 8.7: `lerp_to_8_7` of two bytes read as 8.8.
const BYTE_TO_8_7_SHIFT: u32 = WEIGHT_BITS - SAMPLE_BITS;

/// 128 (the chroma centre) in 8.7.
const CENTRE: i16 = 128 << SAMPLE_BITS;
/// Fraction bits of a converted value: samples' plus coefficients'.
const CONVERT_SHIFT: u32 = SAMPLE_BITS + COEF_BITS;

/// Y'CbCr → R'G'B' for one matrix and range, in 16-bit fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YuvToRgb {
    ky: i16,
    rv: i16,
    gu: i16,
    gv: i16,
    /// Bu − 2 (the 2 is applied as a shift).
    bu_minus_2: i16,
    /// 16 (limited) or 0 (full), in 8.7.
    y_offset: i16,
}

/// The high half of an unsigned 16 x 16 product (one `pmulhuw` lane).
#[inline(always)]
fn mul_high_u(a: u16, b: u16) -> u16 {
    ((u32::from(a) * u32::from(b)) >> 16) as u16
}

impl YuvToRgb {
    /// The coefficients derived from the matrix's Kr, Kb (as the DESIGN table is).
    pub fn new(matrix: ColorMatrix, range: ColorRange) -> Self {
        let (kr, kb) = match matrix {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
            ColorMatrix::Bt2020 => (0.2627, 0.0593),
        };
        let kg = 1.0 - kr - kb;
        let (ky, cs, y0) = match range {
            ColorRange::Limited => (255.0 / 219.0, 255.0 / 224.0, 16),
            ColorRange::Full => (1.0, 1.0, 0),
        };
        let q = |v: f64| (v * f64::from(1u32 << COEF_BITS)).round() as i16;
        YuvToRgb {
            ky: q(ky),
            rv: q(cs * 2.0 * (1.0 - kr)),
            gu: q(-cs * 2.0 * (1.0 - kb) * kb / kg),
            gv: q(-cs * 2.0 * (1.0 - kr) * kr / kg),
            bu_minus_2: q(cs * 2.0 * (1.0 - kb) - 2.0),
            y_offset: y0 << SAMPLE_BITS,
        }
    }

    /// Converts a row of Y, U, V samples given in 8.7 fixed point into R, G, B planes, rounded
    /// and clamped to 0..255. Written for the vectoriser: 16-bit operands, no branches.
    pub fn convert_row(
        &self,
        y: &[u16],
        u: &[u16],
        v: &[u16],
        r: &mut [u8],
        g: &mut [u8],
        b: &mut [u8],
    ) {
        let n = y
            .len()
            .min(u.len())
            .min(v.len())
            .min(r.len())
            .min(g.len())
            .min(b.len());
        #[cfg(target_arch = "x86_64")]
        let done = simd::convert_row(self, &y[..n], &u[..n], &v[..n], r, g, b);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        self.convert_scalar(
            &y[done..n],
            &u[done..n],
            &v[done..n],
            &mut r[done..n],
            &mut g[done..n],
            &mut b[done..n],
        );
    }

    /// The definition of [`convert_row`](Self::convert_row), one pixel at a time.
    fn convert_scalar(
        &self,
        y: &[u16],
        u: &[u16],
        v: &[u16],
        r: &mut [u8],
        g: &mut [u8],
        b: &mut [u8],
    ) {
        // 16 x 16 -> 32-bit products, summed exactly; only the coefficients are rounded (to
        // 1/16384), so results differ from the float definition only within ~0.02 level of its
        // rounding ties.
        let level =
            |x: i32| ((x + (1 << (CONVERT_SHIFT - 1))) >> CONVERT_SHIFT).clamp(0, 255) as u8;
        let product = |a: i16, c: i16| i32::from(a) * i32::from(c);
        for k in 0..y.len() {
            let luma = product(y[k] as i16 - self.y_offset, self.ky);
            let (cu, cv) = (u[k] as i16 - CENTRE, v[k] as i16 - CENTRE);
            r[k] = level(luma + product(cv, self.rv));
            g[k] = level(luma + product(cu, self.gu) + product(cv, self.gv));
            b[k] = level(luma + product(cu, self.bu_minus_2) + (i32::from(cu) << (COEF_BITS + 1)));
        }
    }

    /// RGB of one 8-bit (Y, U, V) through [`convert_row`](Self::convert_row).
    pub fn convert_u8(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let s = |x: u8| u16::from(x) << SAMPLE_BITS;
        let mut rgb = [[0u8]; 3];
        let [r, g, b] = &mut rgb;
        self.convert_row(&[s(y)], &[s(u)], &[s(v)], r, g, b);
        rgb.map(|[c]| c)
    }
}

/// Interleaves R, G, B planes into RGB bytes.
pub(super) fn interleave(r: &[u8], g: &[u8], b: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    let done = simd::interleave(r, g, b, out);
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (((px, r), g), b) in out[3 * done..]
        .chunks_exact_mut(3)
        .zip(&r[done..])
        .zip(&g[done..])
        .zip(&b[done..])
    {
        px[0] = *r;
        px[1] = *g;
        px[2] = *b;
    }
}

/// How samples are stored: 8-bit, or 16-bit little-endian read as 8.8.
trait Sample {
    /// Bytes per sample.
    const BYTES: usize;
    /// The sample at `index` (in samples) of `row`, as 8.8.
    fn read(row: &[u8], index: usize) -> u32;
}

struct Byte;
impl Sample for Byte {
    const BYTES: usize = 1;
    #[inline(always)]
    fn read(row: &[u8], index: usize) -> u32 {
        u32::from(row[index]) << 8
    }
}

/// P010/P016: 16-bit samples whose high bits count (P010's low six are zero), read as they are.
struct Word;
impl Sample for Word {
    const BYTES: usize = 2;
    #[inline(always)]
    fn read(row: &[u8], index: usize) -> u32 {
        u32::from(u16::from_le_bytes([row[2 * index], row[2 * index + 1]]))
    }
}

/// I010: 16-bit samples with 10 significant LOW bits; in 8-bit units sample/4, so 8.8 is
/// sample·64. Anything above 1023 (a writer's stray high bits) is clamped to 1023.
struct LowTenBits;
impl Sample for LowTenBits {
    const BYTES: usize = 2;
    #[inline(always)]
    fn read(row: &[u8], index: usize) -> u32 {
        u32::from(u16::from_le_bytes([row[2 * index], row[2 * index + 1]]).min(1023)) << 6
    }
}

/// Where U and V sit: samples per chroma position (2 when interleaved) and each one's offset.
#[derive(Clone, Copy)]
struct ChromaLayout {
    step: usize,
    u: usize,
    v: usize,
}

fn chroma_layout(format: FrameFormat) -> ChromaLayout {
    match format {
        FrameFormat::I420 | FrameFormat::I010 => ChromaLayout {
            step: 1,
            u: 0,
            v: 0,
        },
        FrameFormat::Nv21 => ChromaLayout {
            step: 2,
            u: 1,
            v: 0,
        },
        _ => ChromaLayout {
            step: 2,
            u: 0,
            v: 1,
        },
    }
}

/// Offsets (fixed point) subtracted from a luma index-space position before halving it into the
/// chroma plane: cx = (X − ½)/2 (LEFT, TOPLEFT) or (X − 1)/2 (CENTER); cy = (Y − 1)/2 (LEFT,
/// CENTER) or (Y − ½)/2 (TOPLEFT), with X − ½ the luma index.
fn chroma_offsets(location: ChromaLocation) -> (i64, i64) {
    let half = 1i64 << (POS_BITS - 1);
    match location {
        ChromaLocation::Left => (0, half),
        ChromaLocation::Center => (half, half),
        ChromaLocation::TopLeft => (0, 0),
    }
}

type Taps = (usize, usize, u32);

/// Blends two 8.8 values with a 12-bit weight, rounded, staying 8.8.
#[inline(always)]
fn lerp(a: u32, b: u32, w: u32) -> u32 {
    (a * (WEIGHT_ONE - w) + b * w + WEIGHT_ONE / 2) >> WEIGHT_BITS
}

/// The largest 8.7 sample: 16-bit lanes double it (`blend_rows`) and read it as an i16
/// (`convert_row`), so 0x8000 would wrap to 0 or to −32768, turning white black.
const MAX_8_7: u32 = 0x7FFF;

/// Blends two 8.8 values with a 12-bit weight into 8.7, rounded. A 16-bit sample of 0xFFFF is
/// 255.996 in 8-bit units, whose 8.7 rounds up to 0x8000: it is clamped to 0x7FFF (within the
/// rounding), so full-scale highlights stay white.
#[inline(always)]
fn lerp_to_8_7(a: u32, b: u32, w: u32) -> u16 {
    (((a * (WEIGHT_ONE - w) + b * w + WEIGHT_ONE) >> (WEIGHT_BITS + 1)).min(MAX_8_7)) as u16
}

/// Bilinear sample (8.7) of channel `offset` of `plane`, whose positions hold `step` samples.
#[inline(always)]
fn bilinear<S: Sample>(plane: &Plane<'_>, step: usize, offset: usize, x: Taps, y: Taps) -> u16 {
    let row = |r: usize| &plane.data[r * plane.stride..];
    let h = |r: &[u8]| {
        lerp(
            S::read(r, x.0 * step + offset),
            S::read(r, x.1 * step + offset),
            x.2,
        )
    };
    lerp_to_8_7(h(row(y.0)), h(row(y.1)), y.2)
}

/// Blends two rows of 8.7 samples with a 12-bit weight, in 16-bit lanes: each row is doubled
/// (still a u16) and multiplied by its weight in 1/32768 as a high half (`pmulhuw`).
fn blend_rows(top: &[u16], bottom: &[u16], w: u32, out: &mut [u16]) {
    let (wa, wb) = (((WEIGHT_ONE - w) << 3) as u16, (w << 3) as u16);
    let n = out.len().min(top.len()).min(bottom.len());
    #[cfg(target_arch = "x86_64")]
    let done = simd::blend_rows(&top[..n], &bottom[..n], wa, wb, &mut out[..n]);
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for ((o, &t), &b) in out[done..n]
        .iter_mut()
        .zip(&top[done..n])
        .zip(&bottom[done..n])
    {
        *o = mul_high_u(t << 1, wa) + mul_high_u(b << 1, wb);
    }
}

/// SSE2 (baseline on x86-64) forms of the per-pixel loops, eight pixels at a time, bit for bit
/// the scalar definitions; each returns how many pixels it did (a multiple of 8), the caller
/// finishes the rest.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{YuvToRgb, CENTRE, COEF_BITS, CONVERT_SHIFT};
    use std::arch::x86_64::*;

    pub(super) fn blend_rows(
        top: &[u16],
        bottom: &[u16],
        wa: u16,
        wb: u16,
        out: &mut [u16],
    ) -> usize {
        let n = out.len().min(top.len()).min(bottom.len()) / 8 * 8;
        // SAFETY: SSE2 is part of x86-64; every load and store covers 8 u16 at k < n, inside
        // slices of at least n elements (unaligned forms).
        unsafe {
            let (wa, wb) = (_mm_set1_epi16(wa as i16), _mm_set1_epi16(wb as i16));
            for k in (0..n).step_by(8) {
                let t = _mm_loadu_si128(top.as_ptr().add(k).cast());
                let b = _mm_loadu_si128(bottom.as_ptr().add(k).cast());
                let blended = _mm_add_epi16(
                    _mm_mulhi_epu16(_mm_slli_epi16(t, 1), wa),
                    _mm_mulhi_epu16(_mm_slli_epi16(b, 1), wb),
                );
                _mm_storeu_si128(out.as_mut_ptr().add(k).cast(), blended);
            }
        }
        n
    }

    /// RGB bytes of 8 pixels at a time as 4-byte (R, G, B, 0) stores, each overlapping the next
    /// pixel's; the last pixel is left to the caller so nothing is written past `out`.
    pub(super) fn interleave(r: &[u8], g: &[u8], b: &[u8], out: &mut [u8]) -> usize {
        let pixels = r.len().min(g.len()).min(b.len()).min(out.len() / 3);
        let n = pixels.saturating_sub(1) / 8 * 8;
        // SAFETY: SSE2 is part of x86-64; loads read 8 bytes at k < n <= pixels - 1 of slices
        // of at least `pixels` bytes; the 4-byte store of pixel k + i ends at 3(k + i) + 4
        // <= 3(n - 1) + 4 < 3 pixels <= out.len() (unaligned forms).
        unsafe {
            let zero = _mm_setzero_si128();
            for k in (0..n).step_by(8) {
                let load = |p: &[u8]| _mm_loadl_epi64(p.as_ptr().add(k).cast());
                let rg = _mm_unpacklo_epi8(load(r), load(g));
                let b0 = _mm_unpacklo_epi8(load(b), zero);
                let mut quads = [_mm_unpacklo_epi16(rg, b0), _mm_unpackhi_epi16(rg, b0)];
                let dst = out.as_mut_ptr().add(3 * k);
                for (half, q) in quads.iter_mut().enumerate() {
                    for i in 0..4 {
                        let word = _mm_cvtsi128_si32(*q);
                        dst.add(3 * (4 * half + i))
                            .cast::<i32>()
                            .write_unaligned(word);
                        *q = _mm_srli_si128::<4>(*q);
                    }
                }
            }
        }
        n
    }

    pub(super) fn convert_row(
        c: &YuvToRgb,
        y: &[u16],
        u: &[u16],
        v: &[u16],
        r: &mut [u8],
        g: &mut [u8],
        b: &mut [u8],
    ) -> usize {
        let n = [y.len(), u.len(), v.len(), r.len(), g.len(), b.len()]
            .into_iter()
            .min()
            .unwrap_or(0)
            / 8
            * 8;
        // SAFETY: SSE2 is part of x86-64; loads read 8 u16 and stores write 8 bytes at k < n,
        // inside slices of at least n elements (unaligned forms).
        unsafe {
            let pair = |a: i16, b: i16| _mm_set1_epi32((i32::from(b) << 16) | i32::from(a as u16));
            let (k_r, k_g, k_b) = (pair(c.ky, c.rv), pair(c.ky, c.gu), pair(c.ky, c.bu_minus_2));
            let (k_gv, k_two) = (pair(c.gv, 0), pair(1 << COEF_BITS, 1 << COEF_BITS));
            let (y0, centre) = (_mm_set1_epi16(c.y_offset), _mm_set1_epi16(CENTRE));
            let round = _mm_set1_epi32(1 << (CONVERT_SHIFT - 1));
            let zero = _mm_setzero_si128();
            // Σ a·k over (lo, hi) lane pairs, rounded and shifted, packed to 8 bytes.
            let level = |lo: __m128i, hi: __m128i| {
                let lo = _mm_srai_epi32::<{ CONVERT_SHIFT as i32 }>(_mm_add_epi32(lo, round));
                let hi = _mm_srai_epi32::<{ CONVERT_SHIFT as i32 }>(_mm_add_epi32(hi, round));
                let words = _mm_packs_epi32(lo, hi);
                _mm_packus_epi16(words, words)
            };
            for k in (0..n).step_by(8) {
                let yy = _mm_sub_epi16(_mm_loadu_si128(y.as_ptr().add(k).cast()), y0);
                let cu = _mm_sub_epi16(_mm_loadu_si128(u.as_ptr().add(k).cast()), centre);
                let cv = _mm_sub_epi16(_mm_loadu_si128(v.as_ptr().add(k).cast()), centre);
                // pmaddwd: (y, c) pairs times (Ky, coefficient) pairs, exact 32-bit sums.
                let (yv_lo, yv_hi) = (_mm_unpacklo_epi16(yy, cv), _mm_unpackhi_epi16(yy, cv));
                let (yu_lo, yu_hi) = (_mm_unpacklo_epi16(yy, cu), _mm_unpackhi_epi16(yy, cu));
                let (v0_lo, v0_hi) = (_mm_unpacklo_epi16(cv, zero), _mm_unpackhi_epi16(cv, zero));
                let (uu_lo, uu_hi) = (_mm_unpacklo_epi16(cu, cu), _mm_unpackhi_epi16(cu, cu));
                let red = level(_mm_madd_epi16(yv_lo, k_r), _mm_madd_epi16(yv_hi, k_r));
                let green = level(
                    _mm_add_epi32(_mm_madd_epi16(yu_lo, k_g), _mm_madd_epi16(v0_lo, k_gv)),
                    _mm_add_epi32(_mm_madd_epi16(yu_hi, k_g), _mm_madd_epi16(v0_hi, k_gv)),
                );
                // Bu = remainder + 2: cu·2^15 as cu·2^14 + cu·2^14.
                let blue = level(
                    _mm_add_epi32(_mm_madd_epi16(yu_lo, k_b), _mm_madd_epi16(uu_lo, k_two)),
                    _mm_add_epi32(_mm_madd_epi16(yu_hi, k_b), _mm_madd_epi16(uu_hi, k_two)),
                );
                _mm_storel_epi64(r.as_mut_ptr().add(k).cast(), red);
                _mm_storel_epi64(g.as_mut_ptr().add(k).cast(), green);
                _mm_storel_epi64(b.as_mut_ptr().add(k).cast(), blue);
            }
        }
        n
    }
}

/// The AVX2 turned YUV crop's last steps in registers: the blend of [`blend_words`] without
/// `EXACT` (luma weights for channel 0, chroma for 1 and 2), the conversion of
/// [`YuvToRgb::convert_row`] and the interleave, eight pixels at a time, bit for bit.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::avx2_window::{
        index_of, lane_weights, positions, rounded_rows as rounded_window_rows, window,
        window_rows, window_taps,
    };
    use super::super::avx512::Plane;
    use super::super::warp::avx2::{pair_mask, quad, rounded_rows, store_rgb, weight_pairs};
    use super::super::warp::{Axis, Channel, Weights, Words, CHUNK};
    use super::{YuvToRgb, CENTRE, COEF_BITS, CONVERT_SHIFT};
    use std::arch::x86_64::*;

    /// `(x + ½) >> CONVERT_SHIFT` per lane (the bytes' clamp comes with the packing).
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    unsafe fn level(x: __m256i) -> __m256i {
        // SAFETY: AVX2 (the caller's).
        unsafe {
            let round = _mm256_set1_epi32(1 << (CONVERT_SHIFT - 1));
            _mm256_srai_epi32::<{ CONVERT_SHIFT as i32 }>(_mm256_add_epi32(x, round))
        }
    }

    /// Eight pixels' Y, U, V (8.7 in i32 lanes) to R, G, B levels (i32 lanes; the bytes' clamp
    /// comes with the packing), as [`YuvToRgb::convert_row`] computes them.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(super) unsafe fn convert(c: &YuvToRgb, y: __m256i, u: __m256i, v: __m256i) -> [__m256i; 3] {
        // SAFETY: AVX2 (the caller's).
        unsafe {
            let centre = _mm256_set1_epi32(i32::from(CENTRE));
            let (cu, cv) = (_mm256_sub_epi32(u, centre), _mm256_sub_epi32(v, centre));
            // (Ky, coefficient) pairs for vpmaddwd, as the SSE2 conversion has them.
            let with_ky = |k: i16| (i32::from(k) << 16) | i32::from(c.ky as u16);
            let (k_r, k_g, k_b) = (
                _mm256_set1_epi32(with_ky(c.rv)),
                _mm256_set1_epi32(with_ky(c.gu)),
                _mm256_set1_epi32(with_ky(c.bu_minus_2)),
            );
            // (y − y0, c) as i16 pairs: exact 32-bit sums as in `convert_row`.
            let y0 = _mm256_set1_epi32(i32::from(c.y_offset));
            let yy = _mm256_and_si256(_mm256_sub_epi32(y, y0), _mm256_set1_epi32(0xffff));
            let yv = _mm256_or_si256(yy, _mm256_slli_epi32::<16>(cv));
            let yu = _mm256_or_si256(yy, _mm256_slli_epi32::<16>(cu));
            let red = _mm256_madd_epi16(yv, k_r);
            let gv = _mm256_set1_epi32(i32::from(c.gv));
            let green = _mm256_add_epi32(_mm256_madd_epi16(yu, k_g), _mm256_mullo_epi32(cv, gv));
            // Bu = remainder + 2: cu·2^15.
            let blue = _mm256_add_epi32(
                _mm256_madd_epi16(yu, k_b),
                _mm256_slli_epi32::<{ COEF_BITS as i32 + 1 }>(cu),
            );
            [level(red), level(green), level(blue)]
        }
    }

    /// Eight pixels whose slot 0 sits at the axes' first positions (luma x, y; chroma x, y), if
    /// the taps of the first `m` fit an AVX2 window of each plane: their R, G, B levels.
    ///
    /// # Safety
    /// AVX2; `0 < m <= 8`.
    #[inline(always)]
    pub(super) unsafe fn group<const STEP: usize, const U: usize, const V: usize>(
        c: &YuvToRgb,
        [luma, u_plane, v_plane]: [Plane<'_>; 3],
        [lx, ly, cx, cy]: &[Axis; 4],
        m: usize,
    ) -> Option<[__m256i; 3]> {
        // SAFETY: the caller's AVX2; `window` checks its loads.
        unsafe {
            let yw = window(&luma, [lx, ly], m, 1)?;
            let uw = window(&u_plane, [cx, cy], m, STEP)?;
            // NV12/NV21: V shares U's window; I420: V's plane has U's size, so the same place.
            let vw = if STEP == 2 {
                uw
            } else {
                window(&v_plane, [cx, cy], m, 1)?
            };
            let (qlx, qly) = (positions(lx), positions(ly));
            let (qcx, qcy) = (positions(cx), positions(cy));
            let (lwx, lwy) = (lane_weights(qlx).0, lane_weights(qly).1);
            let (cwx, cwy) = (lane_weights(qcx).0, lane_weights(qcy).1);
            let luma_taps = window_taps(&yw, index_of(qlx), index_of(qly), 1);
            let chroma_taps = window_taps(&uw, index_of(qcx), index_of(qcy), STEP as i32);
            let (u_bytes, v_bytes) = if STEP == 2 {
                ((U, U + 2), (V, V + 2))
            } else {
                ((0, 1), (0, 1))
            };
            let y = rounded_window_rows(window_rows(&yw, luma_taps, (0, 1), lwx), lwy);
            let u = rounded_window_rows(window_rows(&uw, chroma_taps, u_bytes, cwx), cwy);
            let v = rounded_window_rows(window_rows(&vw, chroma_taps, v_bytes, cwx), cwy);
            Some(convert(c, y, u, v))
        }
    }

    /// Returns how many pixels it did (a multiple of 8, stopping 4 bytes short of the end of
    /// `out`: each 16-byte store reaches 4 bytes past its pixels); their RGB bytes are in `out`.
    ///
    /// # Safety
    /// AVX2.
    #[inline(always)]
    pub(super) unsafe fn blend_convert(
        c: &YuvToRgb,
        words: &Words,
        [lw, cw]: &[Weights; 2],
        [yc, uc, vc]: [Channel; 3],
        n: usize,
        out: &mut [u8],
    ) -> usize {
        let n = n.min(CHUNK).min(out.len().saturating_sub(4) / 3) / 8 * 8;
        // SAFETY: AVX2 (the caller's); loads cover 8 pixels at k + 8 <= n <= CHUNK, stores 28
        // bytes from 3k, ending at 3(n − 8) + 28 = 3n + 4 <= out.len().
        unsafe {
            let (ym, um, vm) = (
                (pair_mask(yc, false), pair_mask(yc, true)),
                (pair_mask(uc, false), pair_mask(uc, true)),
                (pair_mask(vc, false), pair_mask(vc, true)),
            );
            for k in (0..n).step_by(8) {
                let rows = [
                    (quad(&words.top, k, true), quad(&words.top, k, false)),
                    (quad(&words.bottom, k, true), quad(&words.bottom, k, false)),
                ];
                let luma = (weight_pairs(&lw.x, k).0, weight_pairs(&lw.y, k).1);
                let chroma = (weight_pairs(&cw.x, k).0, weight_pairs(&cw.y, k).1);
                let y = rounded_rows(rows, ym, luma);
                let (u, v) = (
                    rounded_rows(rows, um, chroma),
                    rounded_rows(rows, vm, chroma),
                );
                let [red, green, blue] = convert(c, y, u, v);
                store_rgb(red, green, blue, out.as_mut_ptr().add(3 * k));
            }
        }
        n
    }
}

/// The AVX-512 turned YUV crop of sixteen pixels from windows of the planes: the taps picked
/// out of four rows of each plane held in registers, blended as [`blend_words`] without
/// `EXACT` (luma weights for Y, chroma for U and V), converted as [`YuvToRgb::convert_row`]
/// and interleaved; bit for bit the AVX2 form.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::avx512::{
        index_of, interleave_index, lane_weights, positions, rounded_rows, store_rgb, window,
        window_rows, window_taps, Plane,
    };
    use super::super::warp::Axis;
    use super::{YuvToRgb, CENTRE, COEF_BITS, CONVERT_SHIFT};
    use std::arch::x86_64::*;

    /// `(x + ½) >> CONVERT_SHIFT` per lane (the bytes' clamp comes with the store).
    ///
    /// # Safety
    /// AVX-512 F.
    #[inline(always)]
    unsafe fn level(x: __m512i) -> __m512i {
        // SAFETY: the caller's AVX-512.
        unsafe {
            let round = _mm512_set1_epi32(1 << (CONVERT_SHIFT - 1));
            _mm512_srai_epi32::<{ CONVERT_SHIFT }>(_mm512_add_epi32(x, round))
        }
    }

    /// Sixteen pixels (the first `m` written to `out`) whose slot 0 sits at the axes' first
    /// positions (luma x, y; chroma x, y), if the taps of the `m` pixels fit a window of each
    /// plane; `false`, with nothing written, if not. U at `STEP·x + U` of its plane, V at
    /// `STEP·x + V` of its.
    ///
    /// # Safety
    /// AVX-512 F, BW, VBMI; `0 < m <= 16`; the taps of the `m` pixels lie inside their planes;
    /// `out` holds `3 · m` bytes.
    #[inline(always)]
    pub(super) unsafe fn group<const STEP: usize, const U: usize, const V: usize>(
        c: &YuvToRgb,
        [luma, u_plane, v_plane]: [Plane<'_>; 3],
        [lx, ly, cx, cy]: &[Axis; 4],
        m: usize,
        out: &mut [u8],
    ) -> bool {
        debug_assert!(out.len() >= 3 * m);
        // SAFETY: the caller's AVX-512 and taps; `window` checks its loads; a store of 3m bytes.
        unsafe {
            let Some(yw) = window(&luma, [lx, ly], m, 1) else {
                return false;
            };
            let Some(uw) = window(&u_plane, [cx, cy], m, STEP) else {
                return false;
            };
            // NV12/NV21: V shares U's window; I420: V's plane has U's size, so the same place.
            let vw = if STEP == 2 {
                uw
            } else {
                let Some(vw) = window(&v_plane, [cx, cy], m, 1) else {
                    return false;
                };
                vw
            };
            let (qlx, qly) = (positions(lx), positions(ly));
            let (qcx, qcy) = (positions(cx), positions(cy));
            let (lwx, lwy) = (lane_weights(qlx).0, lane_weights(qly).1);
            let (cwx, cwy) = (lane_weights(qcx).0, lane_weights(qcy).1);
            let (lxi, lyi) = (index_of(qlx), index_of(qly));
            let (cxi, cyi) = (index_of(qcx), index_of(qcy));
            let luma_taps = window_taps(&yw, lxi, lyi, 1);
            let chroma_taps = window_taps(&uw, cxi, cyi, STEP as i32);
            let (u_bytes, v_bytes) = if STEP == 2 {
                ((U, U + 2), (V, V + 2))
            } else {
                ((0, 1), (0, 1))
            };
            let centre = _mm512_set1_epi32(i32::from(CENTRE));
            let y = rounded_rows(window_rows(&yw, luma_taps, (0, 1), lwx), lwy);
            let cu = rounded_rows(window_rows(&uw, chroma_taps, u_bytes, cwx), cwy);
            let cv = rounded_rows(window_rows(&vw, chroma_taps, v_bytes, cwx), cwy);
            let (cu, cv) = (_mm512_sub_epi32(cu, centre), _mm512_sub_epi32(cv, centre));
            // (Ky, coefficient) pairs for vpmaddwd, as the AVX2 conversion has them.
            let with_ky = |k: i16| (i32::from(k) << 16) | i32::from(c.ky as u16);
            let (k_r, k_g, k_b) = (
                _mm512_set1_epi32(with_ky(c.rv)),
                _mm512_set1_epi32(with_ky(c.gu)),
                _mm512_set1_epi32(with_ky(c.bu_minus_2)),
            );
            // (y − y0, c) as i16 pairs: exact 32-bit sums as in `convert_row`.
            let yy = _mm512_and_si512(
                _mm512_sub_epi32(y, _mm512_set1_epi32(i32::from(c.y_offset))),
                _mm512_set1_epi32(0xffff),
            );
            let yv = _mm512_or_si512(yy, _mm512_slli_epi32::<16>(cv));
            let yu = _mm512_or_si512(yy, _mm512_slli_epi32::<16>(cu));
            let red = _mm512_madd_epi16(yv, k_r);
            let green = _mm512_add_epi32(
                _mm512_madd_epi16(yu, k_g),
                _mm512_mullo_epi32(cv, _mm512_set1_epi32(i32::from(c.gv))),
            );
            // Bu = remainder + 2: cu·2^15.
            let blue = _mm512_add_epi32(
                _mm512_madd_epi16(yu, k_b),
                _mm512_slli_epi32::<{ COEF_BITS + 1 }>(cu),
            );
            let rgb = [level(red), level(green), level(blue)];
            store_rgb(rgb, interleave_index(), out.as_mut_ptr(), m);
        }
        true
    }
}

/// The samples of row `r` of a plane (its padding excluded).
fn row_of<'a>(plane: &Plane<'a>, r: usize) -> &'a [u8] {
    let start = r * plane.stride;
    &plane.data[start..start + plane.row_bytes]
}

/// Reusable tables and rows of the YUV paths, so steady enqueues do not allocate.
#[derive(Debug, Default)]
pub struct YuvScratch {
    luma_columns: Vec<Taps>,
    luma_rows: Vec<Taps>,
    chroma_columns: Vec<Taps>,
    chroma_rows: Vec<Taps>,
    /// The columns as the horizontal pass reads 8-bit planes (hpass): luma, U and V.
    luma_taps: RowTaps,
    u_taps: RowTaps,
    v_taps: RowTaps,
    luma: RowPair,
    /// U in the first half, V in the second.
    chroma: RowPair,
    /// Blended samples of the output row (or of the whole crop on the rotated path).
    y: Vec<u16>,
    u: Vec<u16>,
    v: Vec<u16>,
    /// Converted planes of the output row (or crop).
    rgb: [Vec<u8>; 3],
}

impl YuvScratch {
    fn size(&mut self, n: usize) {
        self.y.resize(n, 0);
        self.u.resize(n, 0);
        self.v.resize(n, 0);
        for plane in &mut self.rgb {
            plane.resize(n, 0);
        }
    }
}

/// The two horizontally interpolated source rows the current output row blends, with the source
/// row each holds: moving down, the old bottom is often the new top.
#[derive(Debug, Default)]
struct RowPair {
    top: (Option<usize>, Vec<u16>),
    bottom: (Option<usize>, Vec<u16>),
}

impl RowPair {
    fn reset(&mut self, len: usize) {
        self.top.0 = None;
        self.bottom.0 = None;
        self.top.1.resize(len, 0);
        self.bottom.1.resize(len, 0);
    }

    fn prepare(&mut self, lo: usize, hi: usize, mut fill: impl FnMut(usize, &mut [u16])) {
        if self.top.0 != Some(lo) {
            if self.bottom.0 == Some(lo) {
                std::mem::swap(&mut self.top, &mut self.bottom);
            } else {
                fill(lo, &mut self.top.1);
                self.top.0 = Some(lo);
            }
        }
        if self.bottom.0 != Some(hi) {
            fill(hi, &mut self.bottom.1);
            self.bottom.0 = Some(hi);
        }
    }
}

/// Fused crop of a YUV frame into interleaved RGB (`size.pixels() × 3` bytes): the separable path
/// for an upright crop, the per-pixel one for a rotated crop.
pub fn crop_yuv(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    assert_eq!(out.len(), size.pixels() * 3, "output buffer size");
    let upright_crop = crop.is_upright();
    match frame.format {
        FrameFormat::I010 if upright_crop => upright::<LowTenBits>(frame, crop, size, scratch, out),
        FrameFormat::I010 => rotated::<LowTenBits>(frame, crop, size, scratch, out),
        FrameFormat::P010 | FrameFormat::P016 if upright_crop => {
            upright::<Word>(frame, crop, size, scratch, out)
        }
        FrameFormat::P010 | FrameFormat::P016 => rotated::<Word>(frame, crop, size, scratch, out),
        _ if upright_crop => upright::<Byte>(frame, crop, size, scratch, out),
        FrameFormat::I420 => rotated_bytes::<1, 0, 0>(frame, crop, size, scratch, out),
        FrameFormat::Nv21 => rotated_bytes::<2, 1, 0>(frame, crop, size, scratch, out),
        _ => rotated_bytes::<2, 0, 1>(frame, crop, size, scratch, out),
    }
}

/// The turned crop of an 8-bit frame, chunk by chunk: gather the luma and chroma taps of each
/// pixel as words (positions, offsets and weights in i32 lanes, AVX2 where the CPU has it;
/// clamped only outside the row's interior; U at `STEP·x + U`, V at `STEP·x + V` of their
/// planes), blend them in 16-bit lanes with the upright path's arithmetic, convert and
/// interleave. No tables, no allocation.
fn rotated_bytes<const STEP: usize, const U: usize, const V: usize>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512 F, BW, VBMI (and so AVX2).
        return unsafe { rotated_bytes_avx512::<STEP, U, V>(frame, crop, size, scratch, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { rotated_bytes_avx2::<STEP, U, V>(frame, crop, size, scratch, out) };
    }
    rotated_bytes_with::<STEP, U, V, true, false, 0>(frame, crop, size, scratch, out)
}

/// [`rotated_bytes_with`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2 ([`has_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rotated_bytes_avx2<const STEP: usize, const U: usize, const V: usize>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    rotated_bytes_with::<STEP, U, V, true, true, 8>(frame, crop, size, scratch, out)
}

/// [`rotated_bytes_with`] compiled for AVX-512: chunks whose taps fit windows of the planes go
/// through [`avx512::group`], the others as with AVX2.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VBMI ([`has_avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vbmi")]
unsafe fn rotated_bytes_avx512<const STEP: usize, const U: usize, const V: usize>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    rotated_bytes_with::<STEP, U, V, true, true, 16>(frame, crop, size, scratch, out)
}

/// The turned crop of an 8-bit frame; `LANES` computes the interior's taps in i32 lanes, else
/// pixel by pixel as before them (the reference the tests hold the lane path to, byte for
/// byte); `WIDE` blends with AVX2 (see [`blend_words`]); `WINDOWS` (8 with AVX2, 16 with
/// AVX-512, for callers compiled for them; 0: none) takes a chunk inside every plane through
/// windows of the planes where they fit ([`windows_chunk`]).
#[inline(always)]
fn rotated_bytes_with<
    'a,
    const STEP: usize,
    const U: usize,
    const V: usize,
    const LANES: bool,
    const WIDE: bool,
    const WINDOWS: usize,
>(
    frame: &YuvFrame<'a>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    let source = |p: Plane<'a>, bytes| Source::new(p.data, p.stride, p.width, p.height, bytes);
    let (Some(luma), Some(u_plane), Some(v_plane)) = (
        source(frame.luma, 1),
        source(frame.u, STEP),
        source(frame.v, STEP),
    ) else {
        // Unreachable for a frame made by `Frame::new`; kept safe anyway.
        return rotated::<Byte>(frame, crop, size, scratch, out);
    };
    let lanes = if LANES {
        // Luma pairs; NV12/NV21 chroma quads, I420 U and V pairs.
        match (
            Offsets::new(&luma, 1, 2),
            Offsets::new(&u_plane, STEP, 2 * STEP),
            Offsets::new(&v_plane, STEP, 2 * STEP),
        ) {
            (Some(l), Some(u), Some(v)) => Some([l, u, v]),
            _ => None,
        }
    } else {
        None
    };
    let convert = YuvToRgb::new(frame.colorimetry.matrix, frame.colorimetry.range);
    #[cfg(target_arch = "x86_64")]
    let windows = [frame.luma, frame.u, frame.v].map(|p| WindowPlane {
        data: p.data,
        stride: p.stride,
    });
    let offsets = chroma_offsets(frame.colorimetry.chroma);
    let (ox, oy) = offsets;
    let (lw, lh, cw, ch) = (luma.width, luma.height, u_plane.width, u_plane.height);
    // The word of a row: luma left, right at bytes 0, 1; then the chroma as `gather_yuv` reads it.
    let channel = |left, right, weights| Channel {
        left,
        right,
        weights,
    };
    let channels = if STEP == 2 {
        [
            channel(0, 1, 0),
            channel(2 + U, 4 + U, 1),
            channel(2 + V, 4 + V, 1),
        ]
    } else {
        [channel(0, 1, 0), channel(2, 3, 1), channel(4, 5, 1)]
    };
    let mut words = Words::default();
    let mut weights = [Weights::default(); 2];
    let mut chunk_offsets = [[0u32; CHUNK]; 3];
    let mut samples = [[0u16; CHUNK]; 3];
    let mut rgb = [[0u8; CHUNK]; 3];
    let out_w = size.width;
    for (j, row) in rows(crop, size).enumerate() {
        let constraints = [
            (row.x, row.dx, lw),
            (row.y, row.dy, lh),
            ((row.x - ox) >> 1, row.dx >> 1, cw),
            ((row.y - oy) >> 1, row.dy >> 1, ch),
        ];
        let span = interior(out_w, &constraints, |i| {
            let (x, y) = row.at(i);
            inside(x, lw) && inside(y, lh) && inside((x - ox) >> 1, cw) && inside((y - oy) >> 1, ch)
        });
        let planes = [&luma, &u_plane, &v_plane];
        for start in (0..out_w).step_by(CHUNK) {
            let end = (start + CHUNK).min(out_w);
            let [before, within, after] = split_chunk(start, end, span);
            #[cfg(target_arch = "x86_64")]
            if WINDOWS > 0 && before.is_empty() && after.is_empty() {
                let first = j * out_w + start;
                let (axes, range) = ((ox, oy), start..end);
                // SAFETY: the CPU has AVX-512 F, BW, VBMI (WINDOWS 16) or AVX2 (8): only the
                // functions compiled for them pass WINDOWS; the chunk lies in the row's
                // interior of every plane.
                let windowed = unsafe {
                    windows_chunk::<WINDOWS, STEP, U, V>(
                        &convert, windows, axes, &row, range, out, first,
                    )
                };
                if windowed {
                    continue;
                }
            }
            let (wd, wt) = (&mut words, &mut weights);
            match lanes {
                Some(lanes) if !within.is_empty() => {
                    let (x, y) = row.at(start);
                    let axes = [
                        Axis::new(x, row.dx, false),
                        Axis::new(y, row.dy, false),
                        Axis::new(x - ox, row.dx, true),
                        Axis::new(y - oy, row.dy, true),
                    ];
                    lane_taps_yuv::<STEP>(&axes, &lanes, &mut chunk_offsets, wt);
                    let slots = within.start - start..within.end - start;
                    // SAFETY: the offsets lie in [0, limit] (`Offsets::at`).
                    unsafe { load_yuv::<STEP>(planes, &chunk_offsets, slots, wd) };
                }
                // SAFETY: `within` is inside the row's interior, where no tap needs clamping.
                _ => unsafe {
                    gather_yuv::<false, STEP, U, V>(planes, offsets, &row, within, start, wd, wt);
                },
            }
            // After the lanes, which fill every slot.
            // SAFETY: clamped taps lie in their planes.
            unsafe {
                gather_yuv::<true, STEP, U, V>(planes, offsets, &row, before, start, wd, wt);
                gather_yuv::<true, STEP, U, V>(planes, offsets, &row, after, start, wd, wt);
            }
            let n = end - start;
            #[cfg(target_arch = "x86_64")]
            if WIDE && has_avx2() {
                // Straight into the output (the stores' spare bytes land on the next pixels,
                // written after; the crop's last chunk may take the path below).
                let rest = &mut out[3 * (j * out_w + start)..];
                // SAFETY: the CPU has AVX2.
                let done =
                    unsafe { avx2::blend_convert(&convert, &words, &weights, channels, n, rest) };
                if done == n {
                    continue;
                }
            }
            let pixels = &mut out[3 * (j * out_w + start)..3 * (j * out_w + end)];
            blend_words::<3, false, WIDE>(&words, &weights, channels, n, &mut samples);
            let [ys, us, vs] = &samples;
            let [r, g, b] = &mut rgb;
            convert.convert_row(&ys[..n], &us[..n], &vs[..n], r, g, b);
            interleave(&r[..n], &g[..n], &b[..n], pixels);
        }
    }
}

/// The pixels `range` of `row` (output pixels from `first` on) through windows of the planes
/// (`avx512::group` sixteen pixels a step for `WINDOWS` 16, `avx2::group` eight for 8), if
/// the taps of every step fit; `false` if one does not (the pixels before it are written, and
/// the caller writes the chunk again). An AVX2 step stores 28 bytes for its 24 (the spare
/// bytes land on pixels written after it), or exactly its pixels at the end of `out`.
///
/// # Safety
/// AVX-512 F, BW, VBMI for `WINDOWS` 16, AVX2 for 8; the pixels lie in the row's interior of
/// every plane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn windows_chunk<const WINDOWS: usize, const STEP: usize, const U: usize, const V: usize>(
    convert: &YuvToRgb,
    planes: [WindowPlane<'_>; 3],
    (ox, oy): (i64, i64),
    row: &Row,
    range: std::ops::Range<usize>,
    out: &mut [u8],
    first: usize,
) -> bool {
    for from in (0..range.len()).step_by(WINDOWS) {
        let m = (range.len() - from).min(WINDOWS);
        // Each step's own axes (measured cheaper than slots of the chunk's).
        let (x, y) = row.at(range.start + from);
        let axes = [
            Axis::new(x, row.dx, false),
            Axis::new(y, row.dy, false),
            Axis::new(x - ox, row.dx, true),
            Axis::new(y - oy, row.dy, true),
        ];
        let at = 3 * (first + from);
        if WINDOWS == STEP_512 {
            let pixels = &mut out[at..at + 3 * m];
            // SAFETY: the caller's AVX-512 and interior; `pixels` holds the step's m pixels.
            if !unsafe { avx512::group::<STEP, U, V>(convert, planes, &axes, m, pixels) } {
                return false;
            }
            continue;
        }
        // SAFETY: the caller's AVX2 and interior.
        let group = unsafe { avx2::group::<STEP, U, V>(convert, planes, &axes, m) };
        let Some(rgb) = group else {
            return false;
        };
        // SAFETY: the caller's AVX2.
        unsafe { avx2_window::store_rgb(rgb, out, at, m) };
    }
    true
}

/// The luma, U and V tap offsets and the luma and chroma weights of every slot of a chunk whose
/// slot 0 sits at the axes' first positions (luma x, y; chroma x, y), in i32 lanes; V's only
/// for I420 (`STEP` 1: NV12/NV21 read both from U's offsets).
#[inline(always)]
fn lane_taps_yuv<const STEP: usize>(
    [lx, ly, cx, cy]: &[Axis; 4],
    [luma, u, v]: &[Offsets; 3],
    offsets: &mut [[u32; CHUNK]; 3],
    [lw, cw]: &mut [Weights; 2],
) {
    let [lo, uo, vo] = offsets;
    let mut at = [lx.first(), ly.first(), cx.first(), cy.first()];
    for k in 0..CHUNK {
        let (qx, qy, qcx, qcy) = (
            lx.value(at[0]),
            ly.value(at[1]),
            cx.value(at[2]),
            cy.value(at[3]),
        );
        lo[k] = luma.at(qx, qy);
        uo[k] = u.at(qcx, qcy);
        if STEP == 1 {
            vo[k] = v.at(qcx, qcy);
        }
        lw.x[k] = lane_weight(qx);
        lw.y[k] = lane_weight(qy);
        cw.x[k] = lane_weight(qcx);
        cw.y[k] = lane_weight(qcy);
        at = [
            lx.step(at[0]),
            ly.step(at[1]),
            cx.step(at[2]),
            cy.step(at[3]),
        ];
    }
}

/// The tap words of the slots `slots` from their offsets (the layout of [`gather_yuv`]): a luma
/// pair per row, and an NV12/NV21 chroma quad or an I420 U pair and V pair.
///
/// # Safety
/// The planes' [`Offsets`] made `offsets` (2-byte luma reads, `2·STEP`-byte chroma reads).
#[inline(always)]
unsafe fn load_yuv<const STEP: usize>(
    [luma, u_plane, v_plane]: [&Source<'_>; 3],
    [lo, uo, vo]: &[[u32; CHUNK]; 3],
    slots: std::ops::Range<usize>,
    words: &mut Words,
) {
    let (tops, bottoms) = (
        &mut words.top[slots.clone()],
        &mut words.bottom[slots.clone()],
    );
    let (lo, uo, vo) = (&lo[slots.clone()], &uo[slots.clone()], &vo[slots]);
    for ((((top, bottom), l), u), v) in tops.iter_mut().zip(bottoms).zip(lo).zip(uo).zip(vo) {
        // SAFETY: the caller's offsets leave room for each read and the row below.
        let ((yt, yb), (ct, cb)) = unsafe {
            let y = luma.rows::<2>(*l as usize);
            let c = if STEP == 2 {
                u_plane.rows::<4>(*u as usize)
            } else {
                let (ut, ub) = u_plane.rows::<2>(*u as usize);
                let (vt, vb) = v_plane.rows::<2>(*v as usize);
                (ut | vt << 16, ub | vb << 16)
            };
            (y, c)
        };
        (*top, *bottom) = (yt | ct << 16, yb | cb << 16);
    }
}

/// The tap words (luma left, right at bytes 0, 1; then NV12/NV21: the left chroma pair at 2, 3
/// and the right one at 4, 5 in memory order; I420: U left, right at 2, 3, V at 4, 5) and the
/// luma and chroma weights of the pixels `range` of `row` into chunk slots `range − start`.
///
/// # Safety
/// Without `CLAMP`, every pixel of `range` must be in the row's interior (see [`interior`]) for
/// all three planes.
#[inline(always)]
unsafe fn gather_yuv<const CLAMP: bool, const STEP: usize, const U: usize, const V: usize>(
    [luma, u_plane, v_plane]: [&Source<'_>; 3],
    (ox, oy): (i64, i64),
    row: &Row,
    range: std::ops::Range<usize>,
    start: usize,
    words: &mut Words,
    [lw, cw]: &mut [Weights; 2],
) {
    let (mut x, mut y) = row.at(range.start);
    for k in range.start - start..range.end - start {
        let (xa, xb, wx) = taps::<CLAMP>(x, luma.width);
        let (ya, yb, wy) = taps::<CLAMP>(y, luma.height);
        let (ca, cb, cwx) = taps::<CLAMP>((x - ox) >> 1, u_plane.width);
        let (ra, rb, cwy) = taps::<CLAMP>((y - oy) >> 1, u_plane.height);
        debug_assert!(xb < luma.width as usize && yb < luma.height as usize);
        debug_assert!(cb < u_plane.width as usize && rb < u_plane.height as usize);
        // SAFETY: every tap is clamped into its plane, or inside it (the caller's interior,
        // where the right tap is the left one's neighbour, so one read covers both); U and V
        // planes have the same size.
        let word = |luma_row: usize, chroma_row: usize| unsafe {
            let y_pair = if CLAMP {
                u64::from(luma.byte(luma_row * luma.stride + xa))
                    | u64::from(luma.byte(luma_row * luma.stride + xb)) << 8
            } else {
                luma.bytes::<2>(luma_row * luma.stride + xa)
            };
            let (ul, vl) = (chroma_row * u_plane.stride, chroma_row * v_plane.stride);
            let chroma = match (STEP, CLAMP) {
                (2, true) => {
                    u_plane.bytes::<2>(ul + 2 * ca) | u_plane.bytes::<2>(ul + 2 * cb) << 16
                }
                (2, false) => u_plane.bytes::<4>(ul + 2 * ca),
                (_, true) => {
                    u64::from(u_plane.byte(ul + ca))
                        | u64::from(u_plane.byte(ul + cb)) << 8
                        | u64::from(v_plane.byte(vl + ca)) << 16
                        | u64::from(v_plane.byte(vl + cb)) << 24
                }
                (_, false) => u_plane.bytes::<2>(ul + ca) | v_plane.bytes::<2>(vl + ca) << 16,
            };
            y_pair | chroma << 16
        };
        words.top[k] = word(ya, ra);
        words.bottom[k] = word(yb, rb);
        lw.x[k] = wx as u16;
        lw.y[k] = wy as u16;
        cw.x[k] = cwx as u16;
        cw.y[k] = cwy as u16;
        x += row.dx;
        y += row.dy;
    }
}

/// The per-pixel path of 16-bit frames (P010, P016): luma at the turned source point, chroma at
/// the same point in its plane; then the whole crop is converted in 16-bit lanes.
fn rotated<S: Sample>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    s: &mut YuvScratch,
    out: &mut [u8],
) {
    let convert = YuvToRgb::new(frame.colorimetry.matrix, frame.colorimetry.range);
    let layout = chroma_layout(frame.format);
    let (ox, oy) = chroma_offsets(frame.colorimetry.chroma);
    let (luma, u_plane, v_plane) = (&frame.luma, &frame.u, &frame.v);
    s.size(size.pixels());
    let (ys, us, vs) = (&mut s.y, &mut s.u, &mut s.v);
    for_each_source_point(crop, size, |n, x, y| {
        ys[n] = bilinear::<S>(luma, 1, 0, taps_at(x, luma.width), taps_at(y, luma.height));
        let (cx, cy) = (
            taps_at((x - ox) >> 1, u_plane.width),
            taps_at((y - oy) >> 1, u_plane.height),
        );
        us[n] = bilinear::<S>(u_plane, layout.step, layout.u, cx, cy);
        vs[n] = bilinear::<S>(v_plane, layout.step, layout.v, cx, cy);
    });
    let [r, g, b] = &mut s.rgb;
    convert.convert_row(&s.y, &s.u, &s.v, r, g, b);
    interleave(r, g, b, out);
}

/// The separable path: each needed source row is interpolated horizontally once (into 8.7),
/// pairs of rows are blended vertically, then converted, all in 16-bit lanes. Reads only the rows
/// and columns the taps name.
fn upright<S: Sample>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    s: &mut YuvScratch,
    out: &mut [u8],
) {
    let convert = YuvToRgb::new(frame.colorimetry.matrix, frame.colorimetry.range);
    let layout = chroma_layout(frame.format);
    let (ox, oy) = chroma_offsets(frame.colorimetry.chroma);
    let out_w = size.width;
    let (luma, u_plane, v_plane) = (&frame.luma, &frame.u, &frame.v);
    s.luma_columns.clear();
    s.chroma_columns.clear();
    s.luma_rows.clear();
    s.chroma_rows.clear();
    // Upright: a column's x depends on i only, a row's y on j only.
    for i in 0..out_w {
        let x = to_fixed(crop.sample_point(size, i as f64, 0.0).0);
        s.luma_columns.push(taps_at(x, luma.width));
        s.chroma_columns.push(taps_at((x - ox) >> 1, u_plane.width));
    }
    for j in 0..size.height {
        let y = to_fixed(crop.sample_point(size, 0.0, j as f64).1);
        s.luma_rows.push(taps_at(y, luma.height));
        s.chroma_rows.push(taps_at((y - oy) >> 1, u_plane.height));
    }
    // 8-bit planes go through the table-driven horizontal pass (the same sums, bit for bit);
    // 16-bit samples keep the per-tap loop.
    let tables = S::BYTES == 1;
    if tables {
        let table = |columns: &[Taps], step: usize, offset: usize, taps: &mut RowTaps| {
            taps.clear();
            for &(a, b, w) in columns {
                let (w_lo, w_hi) = ((WEIGHT_ONE - w) as u16, w as u16);
                taps.push(a * step + offset, b * step + offset, w_lo, w_hi);
            }
        };
        table(&s.luma_columns, 1, 0, &mut s.luma_taps);
        table(&s.chroma_columns, layout.step, layout.u, &mut s.u_taps);
        table(&s.chroma_columns, layout.step, layout.v, &mut s.v_taps);
    }
    s.luma.reset(out_w);
    s.chroma.reset(2 * out_w);
    s.size(out_w);
    for (j, out_row) in out.chunks_exact_mut(out_w * 3).enumerate() {
        let (lo, hi, wy) = s.luma_rows[j];
        let (columns, luma_taps) = (&s.luma_columns, &s.luma_taps);
        s.luma.prepare(lo, hi, |r, buf| {
            let row = row_of(luma, r);
            if tables {
                luma_taps.interpolate::<BYTE_TO_8_7_SHIFT>(row, buf);
                return;
            }
            for (o, &(a, b, w)) in buf.iter_mut().zip(columns) {
                *o = lerp_to_8_7(S::read(row, a), S::read(row, b), w);
            }
        });
        blend_rows(&s.luma.top.1, &s.luma.bottom.1, wy, &mut s.y);
        let (clo, chi, cwy) = s.chroma_rows[j];
        let (columns, u_taps, v_taps) = (&s.chroma_columns, &s.u_taps, &s.v_taps);
        s.chroma.prepare(clo, chi, |r, buf| {
            let (urow, vrow) = (row_of(u_plane, r), row_of(v_plane, r));
            let (ub, vb) = buf.split_at_mut(out_w);
            if tables {
                u_taps.interpolate::<BYTE_TO_8_7_SHIFT>(urow, ub);
                v_taps.interpolate::<BYTE_TO_8_7_SHIFT>(vrow, vb);
                return;
            }
            for ((uo, vo), &(a, b, w)) in ub.iter_mut().zip(vb).zip(columns) {
                let (a, b) = (a * layout.step, b * layout.step);
                *uo = lerp_to_8_7(S::read(urow, a + layout.u), S::read(urow, b + layout.u), w);
                *vo = lerp_to_8_7(S::read(vrow, a + layout.v), S::read(vrow, b + layout.v), w);
            }
        });
        let (ct, cb) = (&s.chroma.top.1, &s.chroma.bottom.1);
        blend_rows(&ct[..out_w], &cb[..out_w], cwy, &mut s.u);
        blend_rows(&ct[out_w..], &cb[out_w..], cwy, &mut s.v);
        let [r, g, b] = &mut s.rgb;
        convert.convert_row(&s.y, &s.u, &s.v, r, g, b);
        interleave(r, g, b, out_row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_util::{
        max_level_difference, random_crop, same_bytes, TestYuv, XorShift,
    };
    use crate::image::{CropRect, Frame, FrameRef};

    #[test]
    fn vector_loops_equal_the_scalar_definitions() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1du64);
        let mut next = |m: u64| rng.below(m) as u16;
        let n = 203; // not a multiple of 8: the scalar tail runs too
        let rows: Vec<Vec<u16>> = (0..3)
            .map(|_| (0..n).map(|_| next(32641)).collect())
            .collect();
        for (matrix, range) in [
            (ColorMatrix::Bt601, ColorRange::Limited),
            (ColorMatrix::Bt2020, ColorRange::Full),
        ] {
            let c = YuvToRgb::new(matrix, range);
            let (mut fast, mut slow) = (
                [vec![0u8; n], vec![0u8; n], vec![0u8; n]],
                [vec![0u8; n], vec![0u8; n], vec![0u8; n]],
            );
            let [r, g, b] = &mut fast;
            c.convert_row(&rows[0], &rows[1], &rows[2], r, g, b);
            let [r, g, b] = &mut slow;
            c.convert_scalar(&rows[0], &rows[1], &rows[2], r, g, b);
            assert_eq!(fast, slow, "{matrix:?} {range:?}");
        }
        let bytes: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| r.iter().map(|v| *v as u8).collect())
            .collect();
        for len in [0usize, 1, 8, 9, 16, 17, 203] {
            let mut out = vec![0xEEu8; 3 * len + 1];
            interleave(
                &bytes[0][..len],
                &bytes[1][..len],
                &bytes[2][..len],
                &mut out[..3 * len],
            );
            for k in 0..len {
                assert_eq!(
                    out[3 * k..3 * k + 3],
                    [bytes[0][k], bytes[1][k], bytes[2][k]],
                    "{len}: {k}"
                );
            }
            assert_eq!(out[3 * len], 0xEE, "{len}: nothing written past the row");
        }
        for w in [0u32, 1, 2048, 4095] {
            let mut fast = vec![0u16; n];
            blend_rows(&rows[0], &rows[1], w, &mut fast);
            let (wa, wb) = (((WEIGHT_ONE - w) << 3) as u16, (w << 3) as u16);
            for k in 0..n {
                let want = mul_high_u(rows[0][k] << 1, wa) + mul_high_u(rows[1][k] << 1, wb);
                assert_eq!(fast[k], want, "w {w} lane {k}");
            }
            if w == 0 {
                assert_eq!(fast, rows[0], "weight 0 keeps the top row");
            }
        }
    }

    #[test]
    fn a_hair_of_roll_gives_the_upright_yuv_crop() {
        let planes = TestYuv::new(101, 77, |i| (i * 37 % 251) as u8, |i| (i * 53 % 241) as u8);
        for chroma in 1..=3 {
            let Ok(Frame::Yuv(frame)) = Frame::new(&planes.frame(16, chroma)) else {
                panic!("valid frame")
            };
            let rect = CropRect {
                x0: -7,
                y0: 5,
                side: 83,
            };
            let mut scratch = YuvScratch::default();
            // Square, and wider than high (the separable path's columns and rows differ).
            for size in [
                SampleSize::square(64),
                SampleSize {
                    width: 80,
                    height: 48,
                },
            ] {
                let bytes = size.pixels() * 3;
                let (mut upright, mut turned) = (vec![0u8; bytes], vec![0u8; bytes]);
                crop_yuv(
                    &frame,
                    &FaceCrop::from(rect),
                    size,
                    &mut scratch,
                    &mut upright,
                );
                let turned_crop = FaceCrop::rotated(rect, 1e-12);
                crop_yuv(&frame, &turned_crop, size, &mut scratch, &mut turned);
                let worst = max_level_difference(&upright, &turned);
                assert!(worst <= 1, "chroma {chroma} {size:?}: {worst} levels apart");
            }
        }
    }

    /// The chunked, vectorised turned crop of `frame` against the per-pixel definition it
    /// replaced for 8-bit frames, at `size`.
    fn chunked_vs_per_pixel(frame: &YuvFrame<'_>, crop: &FaceCrop, size: SampleSize) -> u8 {
        let (mut fast, mut slow) = (vec![0u8; size.pixels() * 3], vec![0u8; size.pixels() * 3]);
        crop_yuv(frame, crop, size, &mut YuvScratch::default(), &mut fast);
        rotated::<Byte>(frame, crop, size, &mut YuvScratch::default(), &mut slow);
        max_level_difference(&fast, &slow)
    }

    #[test]
    fn the_chunked_turned_path_stays_within_a_level_of_the_per_pixel_one() {
        // NV12, NV21 and I420 at every chroma location, crops inside, across and mostly outside
        // an odd-sized frame, at angles that put rows both inside and at the edges.
        let planes = TestYuv::new(67, 45, |i| (i * 37 % 251) as u8, |i| (i * 53 % 241) as u8);
        for (format, chroma) in [(16, 1), (17, 2), (18, 3), (16, 3), (18, 1)] {
            let raw = FrameRef {
                color_matrix: 1,
                ..planes.frame(format, chroma)
            };
            let Ok(Frame::Yuv(frame)) = Frame::new(&raw) else {
                panic!("valid frame")
            };
            for (x0, y0, side, deg) in [
                (10, 5, 30, 30.0),
                (-20, -12, 90, -135.0),
                (40, 20, 50, 90.0),
                (0, 0, 67, 17.0),
                (60, 40, 9, 200.0),
            ] {
                let crop = FaceCrop::rotated(CropRect { x0, y0, side }, f64::to_radians(deg));
                // 70: more than one chunk, not a multiple of 8; and a wide, low size.
                for size in [
                    SampleSize::square(70),
                    SampleSize {
                        width: 131,
                        height: 41,
                    },
                ] {
                    let worst = chunked_vs_per_pixel(&frame, &crop, size);
                    assert!(
                        worst <= 1,
                        "format {format} chroma {chroma} {deg}° {size:?}: {worst} levels"
                    );
                }
            }
        }
    }

    /// The lane path (baseline, and AVX2 and AVX-512 where the CPU has them) of an 8-bit frame
    /// against the per-pixel taps it replaced, byte for byte.
    fn lanes_vs_per_pixel_taps<const STEP: usize, const U: usize, const V: usize>(
        frame: &YuvFrame<'_>,
        crop: &FaceCrop,
        size: SampleSize,
    ) -> Result<(), String> {
        let pixels = size.pixels() * 3;
        let scratch = &mut YuvScratch::default();
        let mut want = vec![0u8; pixels];
        rotated_bytes_with::<STEP, U, V, false, false, 0>(frame, crop, size, scratch, &mut want);
        let mut got = vec![0u8; pixels];
        rotated_bytes_with::<STEP, U, V, true, false, 0>(frame, crop, size, scratch, &mut got);
        let mut paths = vec![("baseline", got.clone())];
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2.
            unsafe { rotated_bytes_avx2::<STEP, U, V>(frame, crop, size, scratch, &mut got) };
            paths.push(("avx2", got.clone()));
        }
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            // SAFETY: the CPU has AVX-512 F, BW, VBMI.
            unsafe { rotated_bytes_avx512::<STEP, U, V>(frame, crop, size, scratch, &mut got) };
            paths.push(("avx512", got));
        }
        same_bytes(paths, &want)
    }

    #[test]
    fn the_lane_taps_give_the_per_pixel_taps_byte_for_byte() {
        #[cfg(target_arch = "x86_64")]
        crate::image::avx512::TAKEN.with(|t| t.set((0, 0)));
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut tested = 0;
        // Odd and even sizes, padded strides, frames of one or two rows or columns.
        for (w, h, pad) in [
            (67u32, 45u32, 3usize),
            (64, 36, 0),
            (1, 9, 2),
            (15, 1, 1),
            (2, 3, 0),
        ] {
            let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            let mut noise = |n: usize| (0..n).map(|_| rng.below(256) as u8).collect::<Vec<u8>>();
            // Every plane's last row is tight: reads past it would leave the slice.
            let plane = |stride: usize, rows: usize, row: usize| stride * (rows - 1) + row;
            let (ls, us, uvs) = (w as usize + pad, cw + pad + 1, 2 * cw + pad);
            let luma = noise(plane(ls, h as usize, w as usize));
            let (u, v) = (noise(plane(us, ch, cw)), noise(plane(us + 2, ch, cw)));
            let uv = noise(plane(uvs, ch, 2 * cw));
            for (format, chroma_location) in [(16, 1), (17, 2), (18, 3), (16, 3), (18, 1)] {
                let (planes, strides) = if format == 18 {
                    (
                        [Some(&luma[..]), Some(&u[..]), Some(&v[..]), None],
                        [ls, us, us + 2, 0],
                    )
                } else {
                    (
                        [Some(&luma[..]), Some(&uv[..]), None, None],
                        [ls, uvs, 0, 0],
                    )
                };
                let raw = FrameRef {
                    format,
                    width: w,
                    height: h,
                    planes,
                    strides,
                    chroma_location,
                    color_matrix: 1,
                    ..FrameRef::default()
                };
                let Ok(Frame::Yuv(frame)) = Frame::new(&raw) else {
                    panic!("valid frame {w}x{h} format {format}")
                };
                for _ in 0..40 {
                    let (crop, size) = random_crop(&mut rng, w, h);
                    let result = match format {
                        16 => lanes_vs_per_pixel_taps::<2, 0, 1>(&frame, &crop, size),
                        17 => lanes_vs_per_pixel_taps::<2, 1, 0>(&frame, &crop, size),
                        _ => lanes_vs_per_pixel_taps::<1, 0, 0>(&frame, &crop, size),
                    };
                    if let Err(e) = result {
                        panic!("format {format} {w}x{h}+{pad} chroma {chroma_location} {crop:?} {size:?}: {e}");
                    }
                    tested += 1;
                }
            }
        }
        println!("{tested} crops, byte for byte");
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            let (windows, _) = crate::image::avx512::TAKEN.with(|t| t.get());
            println!("AVX-512 groups from windows: {windows}");
            assert!(windows > 1000, "{windows} windows");
        }
    }

    /// The planes of a 16-bit frame (P010 19, P016 20: two planes; I010 21: three) holding one
    /// luma and one (U, V) sample everywhere, tightly strided.
    fn flat_16_bit(format: i32, w: u32, h: u32, y: u16, u: u16, v: u16) -> [Vec<u8>; 3] {
        let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
        let words = |values: &[u16], n: usize| -> Vec<u8> {
            values
                .iter()
                .cycle()
                .take(n)
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
        let luma = words(&[y], (w * h) as usize);
        if format == 21 {
            [luma, words(&[u], cw * ch), words(&[v], cw * ch)]
        } else {
            [luma, words(&[u, v], 2 * cw * ch), vec![]]
        }
    }

    #[test]
    fn sixteen_bit_extremes_stay_at_their_end_of_the_scale() {
        // 0xFFFF read as 8.8 is 255.996: its 8.7 rounds to 0x8000, which once wrapped to 0 in
        // 16-bit lanes (white came out black). Every 16-bit format, both ranges, upright
        // (separable, SSE2 blend) and turned (per pixel), at 192 px (vector loops) and 7 px
        // (scalar tails only).
        let (w, h) = (64u32, 48u32);
        for format in [19, 20, 21] {
            let ten_low = format == 21;
            let (top, mid) = if ten_low {
                (1023u16, 512u16)
            } else {
                (0xFFFF, 0x8000)
            };
            // (Y, U, V) -> the expected (R, G, B) wherever the channel is at an end; None: any.
            type Want = [Option<u8>; 3];
            let cases: [((u16, u16, u16), Want); 5] = [
                ((top, mid, mid), [Some(255); 3]),
                ((0, mid, mid), [Some(0); 3]),
                ((mid, top, mid), [None, None, Some(255)]),
                ((mid, 0, mid), [None, None, Some(0)]),
                ((mid, mid, top), [Some(255), None, None]),
            ];
            // I010's samples above 1023 are clamped: 0xFFFF is white too.
            let stray = ((0xFFFFu16, mid, mid), [Some(255); 3]);
            let cases = cases.iter().chain(ten_low.then_some(&stray));
            for &((y, u, v), want) in cases {
                let planes = flat_16_bit(format, w, h, y, u, v);
                for range in [1, 2] {
                    let (cw, two) = (w.div_ceil(2) as usize, 2usize);
                    let strides = if ten_low {
                        [w as usize * two, cw * two, cw * two, 0]
                    } else {
                        [w as usize * two, 2 * cw * two, 0, 0]
                    };
                    let raw = FrameRef {
                        format,
                        width: w,
                        height: h,
                        planes: [
                            Some(&planes[0][..]),
                            Some(&planes[1][..]),
                            ten_low.then_some(&planes[2][..]),
                            None,
                        ],
                        strides,
                        color_range: range,
                        ..FrameRef::default()
                    };
                    let Ok(Frame::Yuv(frame)) = Frame::new(&raw) else {
                        panic!("valid frame")
                    };
                    let rect = CropRect {
                        x0: 8,
                        y0: 4,
                        side: 40,
                    };
                    for crop in [FaceCrop::from(rect), FaceCrop::rotated(rect, 0.6)] {
                        for size in [
                            SampleSize::square(192),
                            SampleSize::square(7),
                            SampleSize {
                                width: 9,
                                height: 5,
                            },
                        ] {
                            let mut out = vec![0u8; size.pixels() * 3];
                            crop_yuv(&frame, &crop, size, &mut YuvScratch::default(), &mut out);
                            for (k, px) in out.chunks_exact(3).enumerate() {
                                for c in 0..3 {
                                    if let Some(level) = want[c] {
                                        assert_eq!(
                                            px[c], level,
                                            "format {format} range {range} yuv ({y:#x}, {u:#x}, {v:#x}) upright {} size {size:?} pixel {k} channel {c}",
                                            crop.is_upright()
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // The clamp itself: no blend of two 8.8 samples leaves the i16 range.
        for w in [0u32, 1, 2048, 4095, 4096] {
            assert_eq!(lerp_to_8_7(0xFFFF, 0xFFFF, w), 0x7FFF);
        }
    }

    #[test]
    fn frames_one_pixel_wide_or_high_take_the_clamped_taps_everywhere() {
        // No interior at all (a plane one sample wide has no tap pair inside): every pixel is
        // clamped, and the result still matches the per-pixel definition.
        for (w, h) in [(1u32, 1u32), (1, 7), (9, 1), (2, 2), (3, 1)] {
            let planes = TestYuv::new(w, h, |i| (i * 41 % 256) as u8, |i| (i * 67 % 256) as u8);
            for format in [16, 18] {
                let Ok(Frame::Yuv(frame)) = Frame::new(&planes.frame(format, 0)) else {
                    panic!("valid frame")
                };
                let rect = CropRect {
                    x0: -3,
                    y0: -2,
                    side: 8,
                };
                let worst = chunked_vs_per_pixel(
                    &frame,
                    &FaceCrop::rotated(rect, 0.7),
                    SampleSize::square(20),
                );
                assert!(worst <= 1, "{w}x{h} format {format}: {worst} levels");
            }
        }
    }
}
