//! Frame views, the model's square crop, and the bilinear resize into the model's input.
//!
//! Everything here is pure: a validated view of the caller's bytes in, a small RGB image out. The
//! caller's frame is read only during `lm_enqueue`, so the crop is made there and the frame can be
//! freed as soon as the call returns.

use crate::error::{Error, Result};

/// Largest frame width or height accepted (DESIGN: "width or height over 32768 → INVALID_ARGUMENT").
pub const MAX_FRAME_SIDE: u32 = 32768;
/// Largest square crop side accepted, in frame pixels.
pub const MAX_CROP_SIDE: u32 = 65536;

/// Pixel layouts of `lm_pixel_format`; the discriminants are the C values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Bgr8 = 0,
    Rgb8 = 1,
    Bgra8 = 2,
    Rgba8 = 3,
    Gray8 = 4,
}

impl PixelFormat {
    /// The format for a C value; unknown values are an error, not undefined behaviour.
    pub fn from_raw(value: i32) -> Result<Self> {
        Ok(match value {
            0 => PixelFormat::Bgr8,
            1 => PixelFormat::Rgb8,
            2 => PixelFormat::Bgra8,
            3 => PixelFormat::Rgba8,
            4 => PixelFormat::Gray8,
            other => return Err(Error::invalid(format!("unknown pixel format {other}"))),
        })
    }

    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Bgr8 | PixelFormat::Rgb8 => 3,
            PixelFormat::Bgra8 | PixelFormat::Rgba8 => 4,
            PixelFormat::Gray8 => 1,
        }
    }

    /// Byte offsets of R, G and B inside one pixel. Alpha is never read; gray is read three times.
    fn rgb_offsets(self) -> [usize; 3] {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
            PixelFormat::Bgr8 | PixelFormat::Bgra8 => [2, 1, 0],
            PixelFormat::Gray8 => [0, 0, 0],
        }
    }
}

/// Bytes a frame of this geometry occupies: `stride × (height − 1)` plus one row of pixels (the last
/// row's padding is never read, so a view cut out of a larger buffer needs none).
pub fn frame_byte_len(
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
) -> Result<usize> {
    if width == 0 || height == 0 {
        return Err(Error::invalid(format!(
            "frame size {width}x{height} is empty"
        )));
    }
    if width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE {
        return Err(Error::invalid(format!(
            "frame size {width}x{height} exceeds {MAX_FRAME_SIDE} pixels per side"
        )));
    }
    let row_bytes = width as usize * format.bytes_per_pixel();
    if stride < row_bytes {
        return Err(Error::invalid(format!(
            "stride {stride} is smaller than a row of {width} {format:?} pixels ({row_bytes} bytes)"
        )));
    }
    stride
        .checked_mul(height as usize)
        .and_then(|_| stride.checked_mul(height as usize - 1))
        .and_then(|n| n.checked_add(row_bytes))
        .ok_or_else(|| Error::invalid(format!("stride {stride} x height {height} overflows")))
}

/// A validated, borrowed view of a frame in one of the supported pixel formats.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> FrameView<'a> {
    /// Checks the geometry against the buffer; `data` must hold at least [`frame_byte_len`] bytes.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
    ) -> Result<Self> {
        let needed = frame_byte_len(width, height, stride, format)?;
        if data.len() < needed {
            return Err(Error::invalid(format!(
                "frame buffer holds {} bytes, its geometry needs {needed}",
                data.len()
            )));
        }
        Ok(FrameView {
            data,
            width,
            height,
            stride,
            format,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }
}

/// A detector box in continuous frame coordinates ((0,0) is the top-left corner of the first pixel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// The model's square crop on whole pixels: frame pixels `[x0, x0+side) × [y0, y0+side)`; it may
/// extend past the frame, where the nearest edge pixel is replicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropRect {
    pub x0: i64,
    pub y0: i64,
    pub side: u32,
}

impl CropRect {
    /// The square crop for a box (DESIGN, "crop"): `side = floor(scale × max(w, h) + 0.5)` centred on
    /// the box, corners rounded to whole pixels. Rejects boxes that are not finite, are inverted or
    /// empty, do not overlap the frame (touching an edge is no overlap), or give an absurd crop.
    pub fn for_box(
        face: &FaceBox,
        frame_width: u32,
        frame_height: u32,
        scale: f64,
    ) -> Result<Self> {
        let [x1, y1, x2, y2] = [face.x1, face.y1, face.x2, face.y2].map(f64::from);
        if ![x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
            return Err(Error::invalid(format!(
                "box {face:?} has a non-finite coordinate"
            )));
        }
        if x2 <= x1 || y2 <= y1 {
            return Err(Error::invalid(format!("box {face:?} is empty or inverted")));
        }
        let (w, h) = (f64::from(frame_width), f64::from(frame_height));
        if x1 >= w || y1 >= h || x2 <= 0.0 || y2 <= 0.0 {
            return Err(Error::invalid(format!(
                "box {face:?} does not overlap the {frame_width}x{frame_height} frame"
            )));
        }
        let side_f = scale * (x2 - x1).max(y2 - y1);
        let side = (side_f + 0.5).floor();
        if side < 1.0 {
            return Err(Error::invalid(format!(
                "box {face:?} is smaller than a pixel"
            )));
        }
        if side > f64::from(MAX_CROP_SIDE) {
            return Err(Error::invalid(format!(
                "box {face:?} gives a crop of {side} px, more than {MAX_CROP_SIDE}"
            )));
        }
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        Ok(CropRect {
            x0: (cx - side_f / 2.0 + 0.5).floor() as i64,
            y0: (cy - side_f / 2.0 + 0.5).floor() as i64,
            side: side as u32,
        })
    }

    /// Maps a point from the model input (`input_size` px square) back to frame pixels.
    pub fn to_frame(&self, input_size: u32, x: f32, y: f32, z: f32) -> [f32; 3] {
        let k = self.side as f64 / f64::from(input_size);
        [
            (self.x0 as f64 + f64::from(x) * k) as f32,
            (self.y0 as f64 + f64::from(y) * k) as f32,
            (f64::from(z) * k) as f32,
        ]
    }
}

/// Fixed-point precision of the bilinear weights: 11 bits each, so a product of two weights and a
/// byte fits comfortably in a `u32`.
const WEIGHT_BITS: u32 = 11;
const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// One output coordinate's two source indices (already clamped into the frame) and the weight of
/// the second one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tap {
    lo: usize,
    hi: usize,
    weight_hi: u32,
}

/// Bilinear taps with half-pixel centres for `out_len` samples over crop pixels
/// `[origin, origin+side)`, clamped to the frame's `[0, frame_len)` (edge replication).
fn taps(origin: i64, side: u32, out_len: usize, frame_len: u32, taps: &mut Vec<Tap>) {
    taps.clear();
    let scale = f64::from(side) / out_len as f64;
    let last_in_crop = i64::from(side) - 1;
    let last_in_frame = i64::from(frame_len) - 1;
    let clamp = |i: i64| (origin + i.clamp(0, last_in_crop)).clamp(0, last_in_frame) as usize;
    for o in 0..out_len {
        let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
        let lo = src.floor();
        let frac = src - lo;
        let lo = lo as i64;
        taps.push(Tap {
            lo: clamp(lo),
            hi: clamp(lo + 1),
            weight_hi: (frac * f64::from(WEIGHT_ONE)).round() as u32,
        });
    }
}

/// Reusable tables for [`crop_resize`], so a steady stream of enqueues does not allocate them.
#[derive(Debug, Default)]
pub struct ResizeScratch {
    columns: Vec<Tap>,
    rows: Vec<Tap>,
}

/// Crops `crop` out of `frame` (edge-replicating outside it) and resizes it bilinearly (half-pixel
/// centres) to `out_w × out_h`, writing interleaved RGB bytes into `out` (`out_w × out_h × 3`).
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
    let bpp = frame.format.bytes_per_pixel();
    let offsets = frame.format.rgb_offsets();
    let row_start = |y: usize| y * frame.stride;
    const ROUND: u32 = 1 << (2 * WEIGHT_BITS - 1);
    for (row_tap, out_row) in scratch.rows.iter().zip(out.chunks_exact_mut(out_w * 3)) {
        let top = &frame.data[row_start(row_tap.lo)..];
        let bottom = &frame.data[row_start(row_tap.hi)..];
        let wy1 = row_tap.weight_hi;
        let wy0 = WEIGHT_ONE - wy1;
        for (col_tap, px) in scratch.columns.iter().zip(out_row.chunks_exact_mut(3)) {
            let (a, b) = (col_tap.lo * bpp, col_tap.hi * bpp);
            let wx1 = col_tap.weight_hi;
            let wx0 = WEIGHT_ONE - wx1;
            for (channel, offset) in px.iter_mut().zip(offsets) {
                let t = u32::from(top[a + offset]) * wx0 + u32::from(top[b + offset]) * wx1;
                let d = u32::from(bottom[a + offset]) * wx0 + u32::from(bottom[b + offset]) * wx1;
                *channel = ((t * wy0 + d * wy1 + ROUND) >> (2 * WEIGHT_BITS)) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x1: f32, y1: f32, x2: f32, y2: f32) -> FaceBox {
        FaceBox { x1, y1, x2, y2 }
    }

    #[test]
    fn crop_follows_the_rounding_rule() {
        // The astronaut box of the evaluation set and its published crop.
        let c =
            CropRect::for_box(&bx(177.2828, 80.559, 271.8469, 175.1234), 512, 512, 1.5).unwrap();
        assert_eq!(
            c,
            CropRect {
                x0: 154,
                y0: 57,
                side: 142
            }
        );
        // side = floor(1.5 * 10 + 0.5) = 15; x0 = floor(5 - 7.5 + 0.5) = -2
        let c = CropRect::for_box(&bx(0.0, 0.0, 10.0, 4.0), 100, 100, 1.5).unwrap();
        assert_eq!(
            c,
            CropRect {
                x0: -2,
                y0: -5,
                side: 15
            }
        );
    }

    #[test]
    fn bad_boxes_are_rejected() {
        let bad = [
            bx(f32::NAN, 0.0, 10.0, 10.0),
            bx(0.0, 0.0, f32::INFINITY, 10.0),
            bx(10.0, 0.0, 10.0, 10.0),
            bx(10.0, 10.0, 5.0, 20.0),
            bx(-20.0, 0.0, 0.0, 10.0), // touches the left edge only
            bx(100.0, 0.0, 120.0, 10.0),
            bx(0.0, 100.0, 10.0, 130.0),
            bx(0.0, 0.0, 0.1, 0.1),
            bx(-1e9, 0.0, 50.0, 50.0),
        ];
        for b in bad {
            let e = CropRect::for_box(&b, 100, 100, 1.5).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{b:?}");
        }
    }

    #[test]
    fn frame_geometry_is_checked() {
        let f = PixelFormat::Bgr8;
        assert_eq!(frame_byte_len(4, 2, 16, f).unwrap(), 16 + 12);
        assert!(frame_byte_len(0, 2, 16, f).is_err());
        assert!(frame_byte_len(4, 0, 16, f).is_err());
        assert!(frame_byte_len(4, 2, 11, f).is_err());
        assert!(frame_byte_len(MAX_FRAME_SIDE + 1, 2, 1 << 20, f).is_err());
        assert!(frame_byte_len(8, 32768, usize::MAX / 1000, f).is_err());
        assert!(FrameView::new(&[0u8; 27], 4, 2, 16, f).is_err());
        assert!(PixelFormat::from_raw(5).is_err());
        assert!(PixelFormat::from_raw(-1).is_err());
    }

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

    #[test]
    fn points_map_back_to_frame_pixels() {
        let c = CropRect {
            x0: -10,
            y0: 20,
            side: 384,
        };
        assert_eq!(c.to_frame(192, 0.0, 0.0, 0.0), [-10.0, 20.0, 0.0]);
        assert_eq!(c.to_frame(192, 96.0, 192.0, -5.0), [182.0, 404.0, -10.0]);
    }
}
