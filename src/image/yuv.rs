//! YUV 4:2:0 frames (NV12, NV21, I420, P010, P016): crop, resize and colour conversion fused in
//! one pass (DESIGN, "YUV sampling"). Each output pixel samples luma and chroma bilinearly where
//! it lands in each plane and converts once, so the cost follows the output, never the frame.
//!
//! Fixed point throughout: samples as 8.8 (8-bit units, 8 fraction bits: a P010/P016 sample is
//! exactly that, an 8-bit one is shifted up), positions rounded to 1/4096 px, coefficients with
//! 20 fraction bits. The result is within one level of the float64 definition.

use super::crop::FaceCrop;
use super::frame::{ChromaLocation, ColorMatrix, ColorRange, FrameFormat, Plane, YuvFrame};
use super::warp::{for_each_source_point, taps_at, to_fixed, POS_BITS, WEIGHT_BITS, WEIGHT_ONE};

/// Fraction bits of the conversion coefficients: 20 keeps the coefficient error below 1e-4 level
/// anywhere, so results differ from the float definition only at its exact rounding ties.
const COEF_BITS: u32 = 20;

/// Y'CbCr → R'G'B' for one matrix and range, in fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YuvToRgb {
    ky: i64,
    rv: i64,
    gu: i64,
    gv: i64,
    bu: i64,
    /// 16 (limited) or 0 (full), in 8.8.
    y_offset: i64,
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
        let q = |v: f64| (v * f64::from(1u32 << COEF_BITS)).round() as i64;
        YuvToRgb {
            ky: q(ky),
            rv: q(cs * 2.0 * (1.0 - kr)),
            gu: q(-cs * 2.0 * (1.0 - kb) * kb / kg),
            gv: q(-cs * 2.0 * (1.0 - kr) * kr / kg),
            bu: q(cs * 2.0 * (1.0 - kb)),
            y_offset: y0 << 8,
        }
    }

    /// RGB of Y, U, V given in 8.8 fixed point: rounded half up and clamped to 0..255.
    #[inline(always)]
    pub fn convert(&self, y: u32, u: u32, v: u32) -> [u8; 3] {
        // 8.8 samples times 20-bit coefficients: every term stays below 2^38.
        let y = (i64::from(y) - self.y_offset) * self.ky;
        let (u, v) = (i64::from(u) - (128 << 8), i64::from(v) - (128 << 8));
        const SHIFT: u32 = COEF_BITS + 8;
        let level = |c: i64| ((c + (1 << (SHIFT - 1))) >> SHIFT).clamp(0, 255) as u8;
        [
            level(y + self.rv * v),
            level(y + self.gu * u + self.gv * v),
            level(y + self.bu * u),
        ]
    }

    /// [`convert`](Self::convert) of 8-bit samples.
    pub fn convert_u8(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        self.convert(u32::from(y) << 8, u32::from(u) << 8, u32::from(v) << 8)
    }
}

/// How samples are stored: 8-bit, or 16-bit little-endian read as 8.8.
trait Sample {
    /// The sample at `index` (in samples) of `row`, as 8.8.
    fn read(row: &[u8], index: usize) -> u32;
}

struct Byte;
impl Sample for Byte {
    #[inline(always)]
    fn read(row: &[u8], index: usize) -> u32 {
        u32::from(row[index]) << 8
    }
}

struct Word;
impl Sample for Word {
    #[inline(always)]
    fn read(row: &[u8], index: usize) -> u32 {
        u32::from(u16::from_le_bytes([row[2 * index], row[2 * index + 1]]))
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
        FrameFormat::I420 => ChromaLayout {
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

/// Bilinear sample (8.8) of channel `offset` of `plane`, whose positions hold `step` samples.
#[inline(always)]
fn bilinear<S: Sample>(plane: &Plane<'_>, step: usize, offset: usize, x: Taps, y: Taps) -> u32 {
    let row = |r: usize| &plane.data[r * plane.stride..];
    let h = |r: &[u8]| {
        lerp(
            S::read(r, x.0 * step + offset),
            S::read(r, x.1 * step + offset),
            x.2,
        )
    };
    lerp(h(row(y.0)), h(row(y.1)), y.2)
}

/// The samples of row `r` of a plane (its padding excluded).
fn row_of<'a>(plane: &Plane<'a>, r: usize) -> &'a [u8] {
    let start = r * plane.stride;
    &plane.data[start..start + plane.row_bytes]
}

/// Reusable tables and rows for the upright YUV path, so steady enqueues do not allocate.
#[derive(Debug, Default)]
pub struct YuvScratch {
    luma_columns: Vec<Taps>,
    luma_rows: Vec<Taps>,
    chroma_columns: Vec<Taps>,
    chroma_rows: Vec<Taps>,
    luma: RowPair,
    chroma: RowPair,
    luma_out: Vec<u16>,
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

/// Fused crop of a YUV frame into interleaved RGB (`out_size² × 3` bytes): the separable path for
/// an upright crop, the per-pixel one for a rotated crop.
pub fn crop_yuv(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    out_size: usize,
    scratch: &mut YuvScratch,
    out: &mut [u8],
) {
    assert_eq!(out.len(), out_size * out_size * 3, "output buffer size");
    let two_byte = frame.format.bytes_per_sample() == 2;
    match (crop.is_upright(), two_byte) {
        (true, false) => upright::<Byte>(frame, crop, out_size, scratch, out),
        (true, true) => upright::<Word>(frame, crop, out_size, scratch, out),
        (false, false) => rotated::<Byte>(frame, crop, out_size, out),
        (false, true) => rotated::<Word>(frame, crop, out_size, out),
    }
}

/// The per-pixel path: luma at the turned source point, chroma at the same point in its plane.
fn rotated<S: Sample>(frame: &YuvFrame<'_>, crop: &FaceCrop, out_size: usize, out: &mut [u8]) {
    let convert = YuvToRgb::new(frame.colorimetry.matrix, frame.colorimetry.range);
    let layout = chroma_layout(frame.format);
    let (ox, oy) = chroma_offsets(frame.colorimetry.chroma);
    let (luma, u_plane, v_plane) = (&frame.luma, &frame.u, &frame.v);
    for_each_source_point(crop, out_size, |n, x, y| {
        let ly = bilinear::<S>(luma, 1, 0, taps_at(x, luma.width), taps_at(y, luma.height));
        let (cx, cy) = (
            taps_at((x - ox) >> 1, u_plane.width),
            taps_at((y - oy) >> 1, u_plane.height),
        );
        let u = bilinear::<S>(u_plane, layout.step, layout.u, cx, cy);
        let v = bilinear::<S>(v_plane, layout.step, layout.v, cx, cy);
        out[3 * n..3 * n + 3].copy_from_slice(&convert.convert(ly, u, v));
    });
}

/// The separable path: each needed source row is interpolated horizontally once (into 8.8), pairs
/// of rows are blended vertically, then converted. Reads only the rows and columns the taps name.
fn upright<S: Sample>(
    frame: &YuvFrame<'_>,
    crop: &FaceCrop,
    out_size: usize,
    s: &mut YuvScratch,
    out: &mut [u8],
) {
    let convert = YuvToRgb::new(frame.colorimetry.matrix, frame.colorimetry.range);
    let layout = chroma_layout(frame.format);
    let (ox, oy) = chroma_offsets(frame.colorimetry.chroma);
    let size = out_size as u32;
    let (luma, u_plane, v_plane) = (&frame.luma, &frame.u, &frame.v);
    s.luma_columns.clear();
    s.chroma_columns.clear();
    s.luma_rows.clear();
    s.chroma_rows.clear();
    for k in 0..out_size {
        let (x, y) = crop.sample_point(size, k as f64, k as f64);
        let (x, y) = (to_fixed(x), to_fixed(y));
        s.luma_columns.push(taps_at(x, luma.width));
        s.luma_rows.push(taps_at(y, luma.height));
        s.chroma_columns.push(taps_at((x - ox) >> 1, u_plane.width));
        s.chroma_rows.push(taps_at((y - oy) >> 1, u_plane.height));
    }
    s.luma.reset(out_size);
    s.chroma.reset(2 * out_size);
    s.luma_out.resize(out_size, 0);
    for (j, out_row) in out.chunks_exact_mut(out_size * 3).enumerate() {
        let (lo, hi, wy) = s.luma_rows[j];
        let columns = &s.luma_columns;
        s.luma.prepare(lo, hi, |r, buf| {
            let row = row_of(luma, r);
            for (o, &(a, b, w)) in buf.iter_mut().zip(columns) {
                *o = lerp(S::read(row, a), S::read(row, b), w) as u16;
            }
        });
        for ((o, &t), &b) in s
            .luma_out
            .iter_mut()
            .zip(&s.luma.top.1)
            .zip(&s.luma.bottom.1)
        {
            *o = lerp(u32::from(t), u32::from(b), wy) as u16;
        }
        let (clo, chi, cwy) = s.chroma_rows[j];
        let columns = &s.chroma_columns;
        s.chroma.prepare(clo, chi, |r, buf| {
            let (urow, vrow) = (row_of(u_plane, r), row_of(v_plane, r));
            for (o, &(a, b, w)) in buf.chunks_exact_mut(2).zip(columns) {
                let (a, b) = (a * layout.step, b * layout.step);
                o[0] = lerp(S::read(urow, a + layout.u), S::read(urow, b + layout.u), w) as u16;
                o[1] = lerp(S::read(vrow, a + layout.v), S::read(vrow, b + layout.v), w) as u16;
            }
        });
        let (top, bottom) = (&s.chroma.top.1, &s.chroma.bottom.1);
        for (k, px) in out_row.chunks_exact_mut(3).enumerate() {
            let u = lerp(u32::from(top[2 * k]), u32::from(bottom[2 * k]), cwy);
            let v = lerp(u32::from(top[2 * k + 1]), u32::from(bottom[2 * k + 1]), cwy);
            px.copy_from_slice(&convert.convert(u32::from(s.luma_out[k]), u, v));
        }
    }
}
