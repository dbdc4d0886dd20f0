//! The upright crop: a separable bilinear resize of a packed frame into the model's input.

use super::crop::CropRect;
use super::frame::{FrameView, PixelFormat};
use super::hpass::RowTaps;

/// One output coordinate's two source indices (already clamped into the frame) and the weight of
/// the second one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tap {
    lo: usize,
    hi: usize,
    weight_hi: u16,
}

/// Fixed-point precision of the bilinear weights: 7 bits, so a byte times a weight, summed over
/// two taps, stays within `u16` (255 × 128 = 32640).
const WEIGHT_BITS: u16 = 7;
const WEIGHT_ONE: u16 = 1 << WEIGHT_BITS;

/// Bilinear taps with half-pixel centres for `out_len` samples over crop pixels
/// `[origin, origin+side)`, clamped to the frame's `[0, frame_len)` (edge replication).
fn taps(origin: i64, side: u32, out_len: usize, frame_len: u32, taps: &mut Vec<Tap>) {
    taps.clear();
    let last_in_crop = i64::from(side) - 1;
    let last_in_frame = i64::from(frame_len) - 1;
    let clamp = |i: i64| (origin + i.clamp(0, last_in_crop)).clamp(0, last_in_frame) as usize;
    // The source position of output o is (o + 1/2) * side / out_len - 1/2, kept as the exact
    // fraction ((2o + 1) * side - out_len) / (2 * out_len): integer arithmetic, no float
    // rounding calls (a libm call each on baseline x86-64), and no float error at the ties.
    let (side, out) = (i64::from(side), out_len as i64);
    let denominator = 2 * out;
    let one = i64::from(WEIGHT_ONE);
    for o in 0..out {
        let numerator = ((2 * o + 1) * side - out).max(0);
        let (lo, rem) = (numerator / denominator, numerator % denominator);
        // round(rem / denominator * WEIGHT_ONE), halves away from zero.
        let weight_hi = (2 * rem * one + denominator) / (2 * denominator);
        taps.push(Tap {
            lo: clamp(lo),
            hi: clamp(lo + 1),
            weight_hi: weight_hi as u16,
        });
    }
}

/// Reusable tables and row buffers for [`crop_resize`], so a steady stream of enqueues does not
/// allocate.
#[derive(Debug, Default)]
pub struct ResizeScratch {
    columns: Vec<Tap>,
    rows: Vec<Tap>,
    /// The columns as the horizontal pass reads them (per channel).
    row_taps: RowTaps,
    /// Horizontally interpolated source rows, with the source row each holds.
    top: (Option<usize>, Vec<u16>),
    bottom: (Option<usize>, Vec<u16>),
}

/// The byte offsets of R, G and B within a pixel of `format`.
fn channel_offsets(format: PixelFormat) -> [usize; 3] {
    match format {
        PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
        PixelFormat::Bgr8 | PixelFormat::Bgra8 => [2, 1, 0],
        PixelFormat::Gray8 => [0, 0, 0],
    }
}

/// The horizontal pass's table: for each output column and channel (interleaved RGB), the two
/// source bytes and their 7-bit weights.
fn row_taps(columns: &[Tap], format: PixelFormat, table: &mut RowTaps) {
    let bpp = format.bytes_per_pixel();
    table.clear();
    for tap in columns {
        for offset in channel_offsets(format) {
            table.push(
                tap.lo * bpp + offset,
                tap.hi * bpp + offset,
                WEIGHT_ONE - tap.weight_hi,
                tap.weight_hi,
            );
        }
    }
}

/// Crops `crop` out of `frame` (edge-replicating outside it) and resizes it bilinearly (half-pixel
/// centres) to `out_w × out_h`, writing interleaved RGB bytes into `out` (`out_w × out_h × 3`).
///
/// Separable: each source row needed is interpolated horizontally once (consecutive output rows
/// share source rows) and rounded to whole levels (as Pillow rounds between its passes), then
/// pairs of rows are blended vertically in a loop the compiler vectorises.
pub fn crop_resize(
    frame: &FrameView<'_>,
    crop: &CropRect,
    out_w: usize,
    out_h: usize,
    scratch: &mut ResizeScratch,
    out: &mut [u8],
) {
    assert_eq!(out.len(), out_w * out_h * 3, "output buffer size");
    taps(crop.x0, crop.side, out_w, frame.width, &mut scratch.columns);
    taps(crop.y0, crop.side, out_h, frame.height, &mut scratch.rows);
    row_taps(&scratch.columns, frame.format, &mut scratch.row_taps);
    let row_bytes = frame.width as usize * frame.format.bytes_per_pixel();
    let source_row = |y: usize| &frame.data[y * frame.stride..y * frame.stride + row_bytes];
    // Each channel rounded to whole levels (as Pillow rounds between its passes).
    let interpolate = |y: usize, table: &RowTaps, buf: &mut Vec<u16>| {
        buf.resize(out_w * 3, 0);
        table.interpolate::<{ WEIGHT_BITS as u32 }>(source_row(y), buf);
    };
    scratch.top.0 = None;
    scratch.bottom.0 = None;
    for (row_tap, out_row) in scratch.rows.iter().zip(out.chunks_exact_mut(out_w * 3)) {
        // Reuse the rows already interpolated: moving down, the old bottom is often the new top.
        if scratch.top.0 != Some(row_tap.lo) {
            if scratch.bottom.0 == Some(row_tap.lo) {
                std::mem::swap(&mut scratch.top, &mut scratch.bottom);
            } else {
                interpolate(row_tap.lo, &scratch.row_taps, &mut scratch.top.1);
                scratch.top.0 = Some(row_tap.lo);
            }
        }
        if scratch.bottom.0 != Some(row_tap.hi) {
            interpolate(row_tap.hi, &scratch.row_taps, &mut scratch.bottom.1);
            scratch.bottom.0 = Some(row_tap.hi);
        }
        let (wy1, wy0) = (row_tap.weight_hi, WEIGHT_ONE - row_tap.weight_hi);
        // 16-bit lanes: baseline x86-64 (SSE2) multiplies eight at a time; 32-bit integer or
        // saturating float-to-byte conversions would fall back to scalar code.
        for ((o, t), b) in out_row
            .iter_mut()
            .zip(&scratch.top.1)
            .zip(&scratch.bottom.1)
        {
            *o = ((t * wy0 + b * wy1 + WEIGHT_ONE / 2) >> WEIGHT_BITS) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::frame::FrameView;

    #[test]
    fn identity_resize_copies_pixels_and_swaps_bgr() {
        // A 4x4 BGRA frame whose crop is the whole frame resized to 4x4: an exact copy in RGB.
        let mut data = vec![0u8; 4 * 20];
        for y in 0..4 {
            for x in 0..4 {
                let p = y * 20 + x * 4;
                data[p..p + 4].copy_from_slice(&[x as u8, y as u8, 100 + (x + y) as u8, 0xEE]);
            }
        }
        let frame = FrameView::new(&data, 4, 4, 20, PixelFormat::Bgra8).unwrap();
        let crop = CropRect {
            x0: 0,
            y0: 0,
            side: 4,
        };
        let mut out = vec![0u8; 4 * 4 * 3];
        crop_resize(&frame, &crop, 4, 4, &mut ResizeScratch::default(), &mut out);
        for y in 0..4 {
            for x in 0..4 {
                let p = (y * 4 + x) * 3;
                assert_eq!(&out[p..p + 3], &[100 + (x + y) as u8, y as u8, x as u8]);
            }
        }
    }

    #[test]
    fn outside_the_frame_replicates_the_edge() {
        // A 2x1 gray frame [10, 200]; a crop of side 4 starting at x = -1 covers
        // [edge 10, 10, 200, edge 200] on each row.
        let data = [10u8, 200];
        let frame = FrameView::new(&data, 2, 1, 2, PixelFormat::Gray8).unwrap();
        let crop = CropRect {
            x0: -1,
            y0: -2,
            side: 4,
        };
        let mut out = vec![0u8; 4 * 4 * 3];
        crop_resize(&frame, &crop, 4, 4, &mut ResizeScratch::default(), &mut out);
        for row in out.chunks(12) {
            assert_eq!(row, &[10, 10, 10, 10, 10, 10, 200, 200, 200, 200, 200, 200]);
        }
    }

    /// The separable definition written plainly: each channel of the two source rows blended
    /// horizontally and rounded to whole levels, then the rows blended vertically and rounded.
    fn reference(frame: &FrameView<'_>, crop: &CropRect, size: usize) -> Vec<u8> {
        let (mut columns, mut rows) = (Vec::new(), Vec::new());
        taps(crop.x0, crop.side, size, frame.width, &mut columns);
        taps(crop.y0, crop.side, size, frame.height, &mut rows);
        let bpp = frame.format.bytes_per_pixel();
        let blend = |a: u16, b: u16, w: u16| (a * (WEIGHT_ONE - w) + b * w + WEIGHT_ONE / 2) >> 7;
        let mut out = Vec::with_capacity(size * size * 3);
        for row in &rows {
            for column in &columns {
                for offset in channel_offsets(frame.format) {
                    let at = |y: usize, x: usize| {
                        u16::from(frame.data[y * frame.stride + x * bpp + offset])
                    };
                    let h = |y: usize| blend(at(y, column.lo), at(y, column.hi), column.weight_hi);
                    out.push(blend(h(row.lo), h(row.hi), row.weight_hi) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn the_crop_equals_the_separable_definition_byte_for_byte() {
        // Every packed format, crops up- and downscaled, inside, across the edges and mostly
        // outside a frame with row padding; 70 output columns (not a multiple of 8, so the vector
        // pass and its scalar tail both run).
        let (w, h) = (157u32, 91u32);
        for format in [
            PixelFormat::Rgb8,
            PixelFormat::Bgr8,
            PixelFormat::Rgba8,
            PixelFormat::Bgra8,
            PixelFormat::Gray8,
        ] {
            let stride = format.bytes_per_pixel() * w as usize + 7;
            let data: Vec<u8> = (0..stride * h as usize)
                .map(|i| ((i * 7919) % 251) as u8)
                .collect();
            let frame = FrameView::new(&data, w, h, stride, format).unwrap();
            for (x0, y0, side) in [(10, 5, 20), (-30, -20, 150), (100, 40, 300), (0, 0, 91)] {
                let crop = CropRect { x0, y0, side };
                let mut out = vec![0u8; 70 * 70 * 3];
                crop_resize(
                    &frame,
                    &crop,
                    70,
                    70,
                    &mut ResizeScratch::default(),
                    &mut out,
                );
                assert!(
                    out == reference(&frame, &crop, 70),
                    "{format:?} crop at ({x0}, {y0}) side {side}"
                );
            }
        }
    }

    #[test]
    fn downscale_by_two_averages_pairs() {
        // Half-pixel centres: output pixel i samples input 2i + 0.5, the mean of pixels 2i and 2i+1.
        let data = [0u8, 100, 50, 250];
        let frame = FrameView::new(&data, 4, 1, 4, PixelFormat::Gray8).unwrap();
        let crop = CropRect {
            x0: 0,
            y0: -1,
            side: 4,
        };
        let mut out = vec![0u8; 2 * 2 * 3];
        crop_resize(&frame, &crop, 2, 2, &mut ResizeScratch::default(), &mut out);
        assert_eq!(&out[..6], &[50, 50, 50, 150, 150, 150]);
    }
}
#[cfg(test)]
mod taps_vs_float {
    use super::*;

    /// The integer taps give the same pixels as the float formula they replaced: the same taps,
    /// or at a float-error tie the equivalent pair (lo, weight 128) = (lo + 1, weight 0).
    #[test]
    fn integer_taps_equal_the_float_formula() {
        let mut t = Vec::new();
        for out_len in [1usize, 7, 192, 256] {
            for side in 1..1200u32 {
                taps(0, side, out_len, 5000, &mut t);
                let scale = f64::from(side) / out_len as f64;
                for (o, tap) in t.iter().enumerate() {
                    let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                    let lo = src.floor();
                    let w = ((src - lo) * 128.0).round() as u16;
                    let lo = (lo as i64).clamp(0, i64::from(side) - 1) as usize;
                    let same = (tap.lo, tap.weight_hi) == (lo, w)
                        || (w == 128 && tap.weight_hi == 0 && tap.lo == lo + 1);
                    assert!(
                        same,
                        "side {side} out {out_len} o {o}: {tap:?} vs ({lo}, {w})"
                    );
                }
            }
        }
    }
}
