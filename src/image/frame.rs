//! Views of the caller's frame: pixel formats, plane layouts and their validation.

use crate::error::{Error, Result};

/// Largest frame width or height accepted (DESIGN: "width or height over 32768 → INVALID_ARGUMENT").
pub const MAX_FRAME_SIDE: u32 = 32768;

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
    // A Rust slice may span at most isize::MAX bytes: a longer one is undefined behaviour even
    // before it is read, so such a geometry is refused here, where the C ABI builds its slice.
    stride
        .checked_mul(height as usize)
        .and_then(|_| stride.checked_mul(height as usize - 1))
        .and_then(|n| n.checked_add(row_bytes))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::invalid(format!(
                "stride {stride} x height {height} overflows the address space"
            ))
        })
}

/// A validated, borrowed view of a frame in one of the supported pixel formats.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) stride: usize,
    pub(crate) format: PixelFormat,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_geometry_is_checked() {
        let f = PixelFormat::Bgr8;
        assert_eq!(frame_byte_len(4, 2, 16, f).unwrap(), 16 + 12);
        assert!(frame_byte_len(0, 2, 16, f).is_err());
        assert!(frame_byte_len(4, 0, 16, f).is_err());
        assert!(frame_byte_len(4, 2, 11, f).is_err());
        assert!(frame_byte_len(MAX_FRAME_SIDE + 1, 2, 1 << 20, f).is_err());
        assert!(frame_byte_len(8, 32768, usize::MAX / 1000, f).is_err());
        // Fits a usize but not a slice (isize::MAX): 2^63 + 1 bytes.
        assert!(frame_byte_len(1, 3, 1 << 62, PixelFormat::Gray8).is_err());
        assert_eq!(
            frame_byte_len(1, 2, (isize::MAX as usize) - 1, PixelFormat::Gray8).unwrap(),
            isize::MAX as usize
        );
        assert!(FrameView::new(&[0u8; 27], 4, 2, 16, f).is_err());
        assert!(PixelFormat::from_raw(5).is_err());
        assert!(PixelFormat::from_raw(-1).is_err());
    }
}

/// Formats of `lm_frame.format`: the packed ones (0..4, one plane) and decoders' 4:2:0 layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFormat {
    Packed(PixelFormat),
    /// Y plane, then one plane of interleaved U,V pairs.
    Nv12,
    /// As NV12 with V before U.
    Nv21,
    /// Y, U and V planes.
    I420,
    /// As NV12 with 16-bit little-endian samples, 10 significant high bits.
    P010,
    /// As NV12 with 16-bit little-endian samples.
    P016,
    /// As I420 with 16-bit little-endian samples, 10 significant LOW bits (FFmpeg's
    /// yuv420p10le); samples above 1023 are clamped.
    I010,
}

impl FrameFormat {
    pub fn from_raw(value: i32) -> Result<Self> {
        Ok(match value {
            0..=4 => FrameFormat::Packed(PixelFormat::from_raw(value)?),
            16 => FrameFormat::Nv12,
            17 => FrameFormat::Nv21,
            18 => FrameFormat::I420,
            19 => FrameFormat::P010,
            20 => FrameFormat::P016,
            21 => FrameFormat::I010,
            other => return Err(Error::invalid(format!("unknown pixel format {other}"))),
        })
    }

    /// Bytes per sample of the planar formats (1 for packed ones, whose pixels have their own size).
    pub fn bytes_per_sample(self) -> usize {
        match self {
            FrameFormat::P010 | FrameFormat::P016 | FrameFormat::I010 => 2,
            _ => 1,
        }
    }

    /// How many planes the format reads.
    pub fn plane_count(self) -> usize {
        match self {
            FrameFormat::Packed(_) => 1,
            FrameFormat::I420 | FrameFormat::I010 => 3,
            _ => 2,
        }
    }

    /// Width in bytes of a row of each plane, and its number of rows, for a `width × height`
    /// frame; planes the format does not use are `(0, 0)`.
    pub fn plane_rows(self, width: u32, height: u32) -> [(usize, usize); 4] {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let s = self.bytes_per_sample();
        match self {
            FrameFormat::Packed(p) => [(w * p.bytes_per_pixel(), h), (0, 0), (0, 0), (0, 0)],
            FrameFormat::I420 | FrameFormat::I010 => {
                [(w * s, h), (cw * s, ch), (cw * s, ch), (0, 0)]
            }
            _ => [(w * s, h), (2 * cw * s, ch), (0, 0), (0, 0)],
        }
    }
}

/// H.273 MatrixCoefficients (the codes of FFmpeg's AVColorSpace) this library decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMatrix {
    Bt601,
    Bt709,
    Bt2020,
}

/// Y'CbCr quantisation range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorRange {
    /// Y 16..235, C 16..240 (8-bit units).
    Limited,
    /// 0..255.
    Full,
}

/// Where a 4:2:0 chroma sample sits relative to the luma samples (FFmpeg's AVChromaLocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChromaLocation {
    /// Co-sited with even luma columns, between rows (MPEG-2, H.264's default).
    Left,
    /// Between columns and rows (MPEG-1, JPEG).
    Center,
    /// Co-sited with even luma columns and rows.
    TopLeft,
}

/// How a YUV frame's samples become RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colorimetry {
    pub matrix: ColorMatrix,
    pub range: ColorRange,
    pub chroma: ChromaLocation,
}

impl Colorimetry {
    /// The codes of `lm_frame` (H.273 / FFmpeg values) with DESIGN's AUTO rules: matrix 0 or 2
    /// (unspecified) is BT.709 for frames of width >= 1280 or height > 576, else BT.601; range 0
    /// is limited; chroma location 0 is LEFT. Unknown codes are errors.
    pub fn from_codes(
        matrix: i32,
        range: i32,
        chroma: i32,
        width: u32,
        height: u32,
    ) -> Result<Self> {
        let matrix = match matrix {
            0 | 2 if width >= 1280 || height > 576 => ColorMatrix::Bt709,
            0 | 2 => ColorMatrix::Bt601,
            1 => ColorMatrix::Bt709,
            5 | 6 => ColorMatrix::Bt601,
            9 => ColorMatrix::Bt2020,
            other => {
                return Err(Error::invalid(format!(
                    "unknown or unsupported color_matrix {other} (0 auto, 1 BT.709, 2 unspecified, 5/6 BT.601, 9 BT.2020)"
                )))
            }
        };
        let range = match range {
            0 | 1 => ColorRange::Limited,
            2 => ColorRange::Full,
            other => {
                return Err(Error::invalid(format!(
                    "unknown color_range {other} (0 auto, 1 limited, 2 full)"
                )))
            }
        };
        let chroma = match chroma {
            0 | 1 => ChromaLocation::Left,
            2 => ChromaLocation::Center,
            3 => ChromaLocation::TopLeft,
            other => {
                return Err(Error::invalid(format!(
                    "unknown or unsupported chroma_location {other} (0 auto, 1 left, 2 center, 3 top-left)"
                )))
            }
        };
        Ok(Colorimetry {
            matrix,
            range,
            chroma,
        })
    }
}

/// The only memory `lm_frame.memory` accepts today.
pub const MEMORY_HOST: i32 = 0;

/// A frame as the caller describes it (the fields of `lm_frame`); validated by [`Frame::new`].
/// A plane is `None` for a NULL pointer; its slice covers the bytes its geometry addresses
/// ([`FrameRef::plane_byte_lens`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameRef<'a> {
    /// An `lm_pixel_format` value: packed 0..4 or planar 16..21.
    pub format: i32,
    pub width: u32,
    pub height: u32,
    pub planes: [Option<&'a [u8]>; 4],
    /// Bytes per row of each plane.
    pub strides: [usize; 4],
    /// H.273 codes; ignored for packed formats.
    pub color_matrix: i32,
    pub color_range: i32,
    pub chroma_location: i32,
    /// `MEMORY_HOST`; anything else is refused.
    pub memory: i32,
}

impl FrameRef<'_> {
    /// Bytes each plane's geometry addresses: `stride × (rows − 1) + row bytes`, 0 for planes the
    /// format does not use. The C skin uses it to know how much of each pointer it may view; the
    /// same checks run again in [`Frame::new`].
    pub fn plane_byte_lens(
        format: i32,
        width: u32,
        height: u32,
        strides: &[usize; 4],
    ) -> Result<[usize; 4]> {
        let format = FrameFormat::from_raw(format)?;
        check_size(width, height)?;
        let mut lens = [0usize; 4];
        let two_byte = format.bytes_per_sample() == 2;
        for (i, (row_bytes, rows)) in format.plane_rows(width, height).into_iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let stride = strides[i];
            if stride < row_bytes {
                return Err(Error::invalid(format!(
                    "plane {i}: stride {stride} is smaller than its row of {row_bytes} bytes"
                )));
            }
            if two_byte && !stride.is_multiple_of(2) {
                return Err(Error::invalid(format!(
                    "plane {i}: stride {stride} is odd for a 16-bit format"
                )));
            }
            lens[i] = stride
                .checked_mul(rows)
                .and_then(|_| stride.checked_mul(rows - 1))
                .and_then(|n| n.checked_add(row_bytes))
                .filter(|&n| n <= isize::MAX as usize)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "plane {i}: stride {stride} x {rows} rows overflows"
                    ))
                })?;
        }
        Ok(lens)
    }
}

fn check_size(width: u32, height: u32) -> Result<()> {
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
    Ok(())
}

/// One validated plane of a YUV frame.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) stride: usize,
    /// Bytes of samples in a row (the rest of the stride is padding).
    pub(crate) row_bytes: usize,
    /// In samples (a U,V pair counts as one).
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// A validated 4:2:0 frame: its planes, sample size and colorimetry.
#[derive(Clone, Copy, Debug)]
pub struct YuvFrame<'a> {
    pub(crate) format: FrameFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) luma: Plane<'a>,
    /// NV12/NV21/P010/P016: the interleaved plane (in both); I420: U and V.
    pub(crate) u: Plane<'a>,
    pub(crate) v: Plane<'a>,
    pub(crate) colorimetry: Colorimetry,
}

/// A validated frame of any supported format.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    Packed(FrameView<'a>),
    Yuv(YuvFrame<'a>),
}

impl<'a> Frame<'a> {
    /// Validates everything the caller described: memory kind, format, size, colorimetry codes,
    /// strides (even for 16-bit samples), every used plane present and holding the bytes its
    /// geometry addresses (overflow-safe), and no two planes overlapping.
    pub fn new(raw: &FrameRef<'a>) -> Result<Self> {
        if raw.memory != MEMORY_HOST {
            return Err(Error::invalid(format!(
                "memory {} is not host memory (LM_MEMORY_HOST = 0)",
                raw.memory
            )));
        }
        let format = FrameFormat::from_raw(raw.format)?;
        let lens = FrameRef::plane_byte_lens(raw.format, raw.width, raw.height, &raw.strides)?;
        let mut planes: [&'a [u8]; 4] = [&[]; 4];
        for i in 0..format.plane_count() {
            let data = raw.planes[i].ok_or_else(|| {
                Error::invalid(format!("plane {i} is NULL ({format:?} needs it)"))
            })?;
            if data.len() < lens[i] {
                return Err(Error::invalid(format!(
                    "plane {i} holds {} bytes, its geometry needs {}",
                    data.len(),
                    lens[i]
                )));
            }
            planes[i] = &data[..lens[i]];
        }
        for i in 0..format.plane_count() {
            for j in i + 1..format.plane_count() {
                if overlap(planes[i], planes[j]) {
                    return Err(Error::invalid(format!("planes {i} and {j} overlap")));
                }
            }
        }
        let (width, height) = (raw.width, raw.height);
        let format_ok = match format {
            FrameFormat::Packed(p) => {
                return FrameView::new(planes[0], width, height, raw.strides[0], p)
                    .map(Frame::Packed)
            }
            f => f,
        };
        let colorimetry = Colorimetry::from_codes(
            raw.color_matrix,
            raw.color_range,
            raw.chroma_location,
            width,
            height,
        )?;
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let rows = format.plane_rows(width, height);
        let plane = |i: usize, w: u32, h: u32| Plane {
            data: planes[i],
            stride: raw.strides[i],
            row_bytes: rows[i].0,
            width: w,
            height: h,
        };
        let luma = plane(0, width, height);
        let (u, v) = match format_ok {
            FrameFormat::I420 | FrameFormat::I010 => (plane(1, cw, ch), plane(2, cw, ch)),
            _ => (plane(1, cw, ch), plane(1, cw, ch)),
        };
        Ok(Frame::Yuv(YuvFrame {
            format: format_ok,
            width,
            height,
            luma,
            u,
            v,
            colorimetry,
        }))
    }

    pub fn width(&self) -> u32 {
        match self {
            Frame::Packed(f) => f.width,
            Frame::Yuv(f) => f.width,
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            Frame::Packed(f) => f.height,
            Frame::Yuv(f) => f.height,
        }
    }
}

/// Whether two byte ranges share a byte (empty ranges share nothing).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (a.as_ptr_range(), b.as_ptr_range());
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

/// An owned copy of a rectangle of a YUV frame, to be cropped later as a frame of its own (the
/// aligned chip's pixels, converted on the worker rather than in the caller's enqueue). The
/// rectangle starts on even coordinates, so 4:2:0 chroma keeps its phase.
#[derive(Clone, Debug, PartialEq)]
pub struct YuvRegion {
    format: FrameFormat,
    colorimetry: Colorimetry,
    /// Where the copy's pixel (0, 0) was in the frame.
    pub origin: (i64, i64),
    width: u32,
    height: u32,
    /// Tightly packed rows of each plane (`v` empty for the interleaved formats).
    luma: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl YuvFrame<'_> {
    /// The bytes [`copy_region`](Self::copy_region) would hold for this rectangle.
    pub fn region_bytes(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> usize {
        let (x0, y0, x1, y1) = self.clamp_region(x0, y0, x1, y1);
        let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
        self.format
            .plane_rows(w as u32, h as u32)
            .iter()
            .map(|(row, rows)| row * rows)
            .sum()
    }

    /// Frame pixels [x0, x1) × [y0, y1), clamped into the frame, the start rounded down to even.
    fn clamp_region(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> (i64, i64, i64, i64) {
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        let x0 = x0.clamp(0, w - 1) & !1;
        let y0 = y0.clamp(0, h - 1) & !1;
        (x0, y0, x1.clamp(x0 + 1, w), y1.clamp(y0 + 1, h))
    }

    /// Copies frame pixels [x0, x1) × [y0, y1) (clamped into the frame, the start rounded down
    /// to even) with their chroma.
    pub fn copy_region(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> YuvRegion {
        let (x0, y0, x1, y1) = self.clamp_region(x0, y0, x1, y1);
        let s = self.format.bytes_per_sample();
        let rows = |plane: &Plane<'_>, r: (usize, usize), b: (usize, usize)| {
            let mut out = Vec::with_capacity((r.1 - r.0) * (b.1 - b.0));
            for row in r.0..r.1 {
                let at = row * plane.stride;
                out.extend_from_slice(&plane.data[at + b.0..at + b.1]);
            }
            out
        };
        let (x0, y0, x1, y1) = (x0 as usize, y0 as usize, x1 as usize, y1 as usize);
        let chroma_rows = (y0 / 2, y1.div_ceil(2));
        let luma = rows(&self.luma, (y0, y1), (x0 * s, x1 * s));
        let (u, v) = match self.format {
            FrameFormat::I420 | FrameFormat::I010 => {
                let cols = ((x0 / 2) * s, x1.div_ceil(2) * s);
                (
                    rows(&self.u, chroma_rows, cols),
                    rows(&self.v, chroma_rows, cols),
                )
            }
            _ => {
                let cols = ((x0 / 2) * 2 * s, x1.div_ceil(2) * 2 * s);
                (rows(&self.u, chroma_rows, cols), Vec::new())
            }
        };
        YuvRegion {
            format: self.format,
            colorimetry: self.colorimetry,
            origin: (x0 as i64, y0 as i64),
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
            luma,
            u,
            v,
        }
    }
}

impl YuvRegion {
    /// The copy as a frame of its own (same format and colorimetry).
    pub fn frame(&self) -> YuvFrame<'_> {
        let [luma_rows, u_rows, v_rows, _] = self.format.plane_rows(self.width, self.height);
        let (cw, ch) = (self.width.div_ceil(2), self.height.div_ceil(2));
        fn plane(data: &[u8], (row_bytes, _): (usize, usize), w: u32, h: u32) -> Plane<'_> {
            Plane {
                data,
                stride: row_bytes,
                row_bytes,
                width: w,
                height: h,
            }
        }
        let luma = plane(&self.luma, luma_rows, self.width, self.height);
        let u = plane(&self.u, u_rows, cw, ch);
        let v = match self.format {
            FrameFormat::I420 | FrameFormat::I010 => plane(&self.v, v_rows, cw, ch),
            _ => u,
        };
        YuvFrame {
            format: self.format,
            width: self.width,
            height: self.height,
            luma,
            u,
            v,
            colorimetry: self.colorimetry,
        }
    }
}

#[cfg(test)]
mod planar_tests {
    use super::*;

    fn nv12<'a>(y: &'a [u8], uv: &'a [u8], w: u32, h: u32) -> FrameRef<'a> {
        FrameRef {
            format: 16,
            width: w,
            height: h,
            planes: [Some(y), Some(uv), None, None],
            strides: [w as usize, 2 * w.div_ceil(2) as usize, 0, 0],
            ..FrameRef::default()
        }
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let lens = FrameRef::plane_byte_lens(18, 5, 3, &[8, 4, 3, 0]).unwrap();
        assert_eq!(lens, [8 * 2 + 5, 4 + 3, 3 + 3, 0]);
        let lens = FrameRef::plane_byte_lens(19, 5, 3, &[10, 12, 0, 0]).unwrap();
        assert_eq!(lens, [20 + 10, 12 + 12, 0, 0]);
    }

    #[test]
    fn bad_planar_frames_are_refused() {
        let (y, uv) = (vec![0u8; 64], vec![0u8; 32]);
        assert!(Frame::new(&nv12(&y, &uv, 8, 8)).is_ok());
        let mut f = nv12(&y, &uv, 8, 8);
        f.memory = 1;
        assert!(Frame::new(&f).is_err());
        f = nv12(&y, &uv, 8, 8);
        f.planes[1] = None;
        assert!(Frame::new(&f).is_err());
        f = nv12(&y, &uv, 8, 8);
        f.planes[1] = Some(&y[8..40]);
        assert!(Frame::new(&f).unwrap_err().message().contains("overlap"));
        f = nv12(&y, &uv, 8, 8);
        f.planes[1] = Some(&uv[..31]);
        assert!(Frame::new(&f).is_err());
        for (field, value) in [(0, 3), (1, 3), (2, 4), (0, 7)] {
            f = nv12(&y, &uv, 8, 8);
            match field {
                0 => f.color_matrix = value,
                1 => f.color_range = value,
                _ => f.chroma_location = value,
            }
            assert!(Frame::new(&f).is_err(), "{field} {value}");
        }
        f = nv12(&y, &uv, 8, 8);
        f.format = 19;
        f.strides = [17, 16, 0, 0];
        assert!(Frame::new(&f).unwrap_err().message().contains("odd"));
        assert!(FrameRef::plane_byte_lens(16, 8, 32768, &[usize::MAX / 1000, 8, 0, 0]).is_err());
        assert!(FrameRef::plane_byte_lens(21, 8, 8, &[8; 4]).is_err());
        assert!(FrameRef::plane_byte_lens(5, 8, 8, &[24; 4]).is_err());
    }

    #[test]
    fn auto_colorimetry_follows_the_frame_size() {
        let c = |m, w, h| Colorimetry::from_codes(m, 0, 0, w, h).unwrap();
        assert_eq!(c(0, 1280, 720).matrix, ColorMatrix::Bt709);
        assert_eq!(c(2, 720, 577).matrix, ColorMatrix::Bt709);
        assert_eq!(c(0, 720, 576).matrix, ColorMatrix::Bt601);
        assert_eq!(c(6, 1920, 1080).matrix, ColorMatrix::Bt601);
        assert_eq!(c(0, 720, 576).range, ColorRange::Limited);
        assert_eq!(c(0, 720, 576).chroma, ChromaLocation::Left);
    }
}
