//! The aligned recognition chip (DESIGN "C ABI 1.4", "The best shot"): what enqueue keeps of the
//! frame for it, the least-squares similarity from a result's five points to ArcFace's template,
//! and the warp. Pure functions; the frame is read only during the enqueue.
//!
//! Conventions, as recognisers were trained (InsightFace's `norm_crop` feeding `cv2.warpAffine`):
//! pixel (i, j)'s centre is at (i, j) in both the frame and the chip ("index space"; lmbatch's
//! points are continuous, so index = point − ½), chip pixel (i, j) samples the frame bilinearly
//! at M⁻¹(i, j), and pixels past the frame's edge replicate the edge.

use crate::error::{Error, Result};
use std::borrow::Cow;

use crate::image::{
    crop_yuv, sample_crop, CropRect, CropScratch, Frame, FrameView, Mirror, PixelFormat,
    SampleSize, YuvRegion, YuvScratch,
};

/// ArcFace's five-point template for a 112 × 112 chip (index space), in the detector order:
/// the subject's right eye, left eye, nose tip, right and left mouth corners.
pub const ARCFACE_TEMPLATE: [[f64; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The side ArcFace's template is drawn for.
pub const ARCFACE_SIDE: f64 = 112.0;

/// Largest `chip_size` a pipeline accepts.
pub const MAX_CHIP_SIZE: u32 = 1024;

/// The kept square's side over the box's longer side: the chip of a 112-px template reaches up to
/// 2.1× the box on real faces (measured on a face set; DESIGN), and a tilted face needs the square
/// that holds that one turned, so the side is 2.2× times the turned square's extent.
pub const SOURCE_SCALE: f64 = 2.2;

/// Beyond this side the kept square is resampled down to it: a bounded copy per queued face
/// (448² × 3 bytes) whatever the box.
pub const MAX_SOURCE_SIDE: u32 = 448;

/// The colour order of the chip's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipFormat {
    Rgb,
    Bgr,
}

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty: a rotation by atan2(b, a) and a scale of |(a, b)|
/// followed by a shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    pub fn apply(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The inverse map; `None` for a zero scale.
    pub fn inverse(&self) -> Option<Similarity> {
        let n = self.a * self.a + self.b * self.b;
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        let (a, b) = (self.a / n, -self.b / n);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }
}

/// The similarity that maps `src` onto `dst` with the least sum of squared distances (Umeyama's
/// closed form; in the plane it reduces to complex least squares, as a rotation with a scale is
/// multiplication by one complex number, and never reflects). `None` when `src` has no extent or a
/// value is not finite.
pub fn fit_similarity(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Similarity> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    let n = src.len() as f64;
    let mean = |v: &[[f64; 2]]| {
        v.iter()
            .fold([0.0, 0.0], |m, p| [m[0] + p[0] / n, m[1] + p[1] / n])
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut dot, mut cross, mut spread) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = (s[0] - ms[0], s[1] - ms[1]);
        let (u, v) = (d[0] - md[0], d[1] - md[1]);
        dot += x * u + y * v;
        cross += x * v - y * u;
        spread += x * x + y * y;
    }
    if spread.is_nan() || spread <= 0.0 || !dot.is_finite() || !cross.is_finite() {
        return None;
    }
    let (a, b) = (dot / spread, cross / spread);
    Some(Similarity {
        a,
        b,
        tx: md[0] - (a * ms[0] - b * ms[1]),
        ty: md[1] - (b * ms[0] + a * ms[1]),
    })
}

/// The template scaled to a `chip_size` chip.
pub fn template(chip_size: u32) -> [[f64; 2]; 5] {
    let k = f64::from(chip_size) / ARCFACE_SIDE;
    ARCFACE_TEMPLATE.map(|[x, y]| [x * k, y * k])
}

/// The frame → chip similarity for five points given in lmbatch's continuous frame coordinates.
pub fn alignment(five: &[[f64; 2]; 5], chip_size: u32) -> Option<Similarity> {
    let index_space = five.map(|[x, y]| [x - 0.5, y - 0.5]);
    fit_similarity(&index_space, &template(chip_size))
}

/// What enqueue keeps of the frame for the chip: the square of side `rect.side` around the box's
/// centre (frame pixels, may pass the frame's edges, where the edge repeats), sampled at
/// `size × size` (the frame's own resolution up to [`MAX_SOURCE_SIDE`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ChipSource {
    pub rect: CropRect,
    pub size: usize,
    kept: Kept,
    /// How the frame's memory mirrors its image: `kept` holds the memory's square, `kept_rect`
    /// (`rect` mirrored), turned back by [`rgb`](Self::rgb).
    mirror: Mirror,
    kept_rect: CropRect,
}

/// The kept pixels: RGB (`size`² × 3), or for a YUV frame the plain copy of its planes around the
/// square, converted on the worker (the caller's enqueue pays a row copy, not a conversion).
#[derive(Clone, Debug, PartialEq)]
enum Kept {
    Rgb(Vec<u8>),
    /// The rows of a packed frame under the square (clamped into the frame), in the frame's own
    /// pixel format; `origin` is where their first pixel was.
    Packed {
        format: PixelFormat,
        origin: (i64, i64),
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
    Yuv(YuvRegion),
}

/// Luma pixels copied beyond the square on each side, so that the conversion's interpolation at
/// the square's edge (chroma siting, the bilinear taps) reads the frame's own samples.
const YUV_MARGIN: i64 = 4;

impl ChipSource {
    /// The upright square that holds a [`SOURCE_SCALE`] square of the box turned by `theta`:
    /// its side grows by |cos θ| + |sin θ| (up to √2 at 45°).
    pub fn region(bbox: &crate::image::FaceBox, theta: f64, frame: (u32, u32)) -> Result<CropRect> {
        let turned = theta.cos().abs() + theta.sin().abs();
        CropRect::for_box(bbox, frame.0, frame.1, SOURCE_SCALE * turned)
    }

    /// Copies the region out of the frame: a row copy at the frame's resolution, in the frame's
    /// own format (converted by [`warp`](Self::warp) on the worker, while the copy holds no more
    /// bytes than the largest RGB square), else the crop paths' resampling to
    /// [`MAX_SOURCE_SIDE`].
    pub fn capture(frame: &Frame<'_>, rect: CropRect, scratch: &mut CropScratch) -> Self {
        Self::capture_mirrored(frame, rect, Mirror::NONE, scratch)
    }

    /// [`capture`](Self::capture) from a packed frame whose memory mirrors its image (see
    /// `Pipeline::enqueue_mirrored_frame`): `rect` is in the image; the memory's square is kept.
    pub fn capture_mirrored(
        frame: &Frame<'_>,
        rect: CropRect,
        mirror: Mirror,
        scratch: &mut CropScratch,
    ) -> Self {
        let view_rect = rect;
        let rect = rect.mirrored(frame.width(), frame.height(), mirror);
        let size = rect.side.min(MAX_SOURCE_SIDE) as usize;
        let full_resolution = size == rect.side as usize;
        let rgb_bytes = size * size * 3;
        let (x0, y0, x1, y1) = Self::yuv_bounds(&rect);
        // A YUV copy stays within the bytes of the largest RGB square.
        const MAX_KEPT_BYTES: usize = (MAX_SOURCE_SIDE * MAX_SOURCE_SIDE * 3) as usize;
        let kept = match frame {
            Frame::Packed(view)
                if full_resolution
                    && rgb_bytes / 3 * view.format.bytes_per_pixel() <= MAX_KEPT_BYTES =>
            {
                copy_rows(view, &rect)
            }
            Frame::Packed(view) if full_resolution => {
                let mut rgb = vec![0u8; rgb_bytes];
                copy_rgb(view, &rect, &mut rgb);
                Kept::Rgb(rgb)
            }
            Frame::Yuv(yuv)
                if full_resolution && yuv.region_bytes(x0, y0, x1, y1) <= MAX_KEPT_BYTES =>
            {
                Kept::Yuv(yuv.copy_region(x0, y0, x1, y1))
            }
            _ => {
                let mut rgb = vec![0u8; rgb_bytes];
                let size = SampleSize::square(size);
                sample_crop(frame, &rect.into(), size, scratch, &mut rgb);
                Kept::Rgb(rgb)
            }
        };
        ChipSource {
            rect: view_rect,
            size,
            kept,
            mirror,
            kept_rect: rect,
        }
    }

    /// The frame pixels a YUV copy of `rect` takes: the square and a margin.
    fn yuv_bounds(rect: &CropRect) -> (i64, i64, i64, i64) {
        let side = i64::from(rect.side);
        (
            rect.x0 - YUV_MARGIN,
            rect.y0 - YUV_MARGIN,
            rect.x0 + side + YUV_MARGIN,
            rect.y0 + side + YUV_MARGIN,
        )
    }

    /// The kept square as RGB, `size`² × 3 bytes: a YUV copy is converted here exactly as the
    /// crop paths convert the frame (the square at 1:1, the copy's edges the frame's where the
    /// square passes them).
    pub fn rgb(&self) -> Cow<'_, [u8]> {
        let rgb = self.memory_rgb();
        if self.mirror.is_none() {
            return rgb;
        }
        let mut rgb = rgb.into_owned();
        self.mirror
            .apply(&mut rgb, SampleSize::square(self.size), 3);
        Cow::Owned(rgb)
    }

    /// The kept square as it lies in the frame's memory.
    fn memory_rgb(&self) -> Cow<'_, [u8]> {
        let kept_rect = self.kept_rect;
        match &self.kept {
            Kept::Rgb(rgb) => Cow::Borrowed(rgb),
            Kept::Packed {
                format,
                origin: (ox, oy),
                width,
                height,
                data,
            } => {
                let stride = *width as usize * format.bytes_per_pixel();
                let mut rgb = vec![0u8; self.size * self.size * 3];
                // The rows were validated as part of the caller's frame; as a frame of their
                // own they always are (a failure would leave the chip grey, never panic).
                if let Ok(view) = FrameView::new(data, *width, *height, stride, *format) {
                    let rect = CropRect {
                        x0: kept_rect.x0 - ox,
                        y0: kept_rect.y0 - oy,
                        side: kept_rect.side,
                    };
                    copy_rgb(&view, &rect, &mut rgb);
                }
                Cow::Owned(rgb)
            }
            Kept::Yuv(region) => {
                let (ox, oy) = region.origin;
                let rect = CropRect {
                    x0: kept_rect.x0 - ox,
                    y0: kept_rect.y0 - oy,
                    side: kept_rect.side,
                };
                let mut rgb = vec![0u8; self.size * self.size * 3];
                let mut scratch = YuvScratch::default();
                let size = SampleSize::square(self.size);
                crop_yuv(&region.frame(), &rect.into(), size, &mut scratch, &mut rgb);
                Cow::Owned(rgb)
            }
        }
    }

    /// Where frame index-space point (x, y) lies in index space of the kept pixels.
    fn locate(&self, x: f64, y: f64) -> (f64, f64) {
        let k = self.size as f64 / f64::from(self.rect.side);
        (
            (x + 0.5 - self.rect.x0 as f64) * k - 0.5,
            (y + 0.5 - self.rect.y0 as f64) * k - 0.5,
        )
    }

    /// Bilinear RGB at index-space point (x, y) of `rgb` (the kept square), the edge repeated
    /// outside.
    fn bilinear(&self, rgb: &[u8], x: f64, y: f64) -> [f64; 3] {
        let last = (self.size - 1) as f64;
        let (x, y) = (x.clamp(0.0, last), y.clamp(0.0, last));
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as usize, y0 as usize);
        let (x1, y1) = ((x0 + 1).min(self.size - 1), (y0 + 1).min(self.size - 1));
        let px = |xx: usize, yy: usize, c: usize| f64::from(rgb[(yy * self.size + xx) * 3 + c]);
        let mut out = [0.0; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let top = px(x0, y0, c) * (1.0 - fx) + px(x1, y0, c) * fx;
            let bottom = px(x0, y1, c) * (1.0 - fx) + px(x1, y1, c) * fx;
            *o = top * (1.0 - fy) + bottom * fy;
        }
        out
    }

    /// The chip of `chip_size`² pixels (3 bytes each, in `format`'s order) for `to_chip`, the
    /// frame → chip similarity of [`alignment`]. `None` for a degenerate transform.
    pub fn warp(
        &self,
        to_chip: &Similarity,
        chip_size: u32,
        format: ChipFormat,
    ) -> Option<Vec<u8>> {
        let to_frame = to_chip.inverse()?;
        let rgb = self.rgb();
        let side = chip_size as usize;
        let mut chip = vec![0u8; side * side * 3];
        let order = match format {
            ChipFormat::Rgb => [0, 1, 2],
            ChipFormat::Bgr => [2, 1, 0],
        };
        for (j, row) in chip.chunks_exact_mut(side * 3).enumerate() {
            for (i, px) in row.chunks_exact_mut(3).enumerate() {
                let [fx, fy] = to_frame.apply([i as f64, j as f64]);
                let (sx, sy) = self.locate(fx, fy);
                let value = self.bilinear(&rgb, sx, sy);
                for (slot, &c) in px.iter_mut().zip(&order) {
                    *slot = (value[c] + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        Some(chip)
    }
}

/// The pixels of a packed frame under the square `rect` (clamped into the frame), as they are:
/// whole rows copied, no conversion (that happens on the worker, in [`ChipSource::rgb`]).
fn copy_rows(view: &FrameView<'_>, rect: &CropRect) -> Kept {
    let (w, h) = (i64::from(view.width), i64::from(view.height));
    let side = i64::from(rect.side);
    let (x0, y0) = (rect.x0.clamp(0, w - 1), rect.y0.clamp(0, h - 1));
    let (x1, y1) = (
        (rect.x0 + side).clamp(x0 + 1, w),
        (rect.y0 + side).clamp(y0 + 1, h),
    );
    let bpp = view.format.bytes_per_pixel();
    let (from, to) = (x0 as usize * bpp, x1 as usize * bpp);
    let mut data = Vec::with_capacity((to - from) * (y1 - y0) as usize);
    for y in y0 as usize..y1 as usize {
        let row = &view.data[y * view.stride..];
        data.extend_from_slice(&row[from..to]);
    }
    Kept::Packed {
        format: view.format,
        origin: (x0, y0),
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
        data,
    }
}

/// The square `rect` of a packed frame at its own resolution, as RGB: whole rows copied, columns
/// and rows past the frame repeating its edge.
fn copy_rgb(view: &FrameView<'_>, rect: &CropRect, out: &mut [u8]) {
    let side = rect.side as usize;
    let bpp = view.format.bytes_per_pixel();
    let order = match view.format {
        PixelFormat::Rgb8 | PixelFormat::Rgba8 => [0, 1, 2],
        PixelFormat::Bgr8 | PixelFormat::Bgra8 => [2, 1, 0],
        PixelFormat::Gray8 => [0, 0, 0],
    };
    let (last_x, last_y) = (i64::from(view.width) - 1, i64::from(view.height) - 1);
    // The columns inside the frame, as a range of the output row.
    let first_in = (-rect.x0).clamp(0, side as i64) as usize;
    let end_in = (last_x + 1 - rect.x0).clamp(first_in as i64, side as i64) as usize;
    for (row, out_row) in out.chunks_exact_mut(side * 3).enumerate() {
        let y = (rect.y0 + row as i64).clamp(0, last_y) as usize;
        let src = &view.data[y * view.stride..];
        let pixel = |x: i64| {
            let at = x.clamp(0, last_x) as usize * bpp;
            order.map(|c| src[at + c])
        };
        let left = pixel(rect.x0);
        let right = pixel(rect.x0 + side as i64 - 1);
        for px in out_row[..first_in * 3].chunks_exact_mut(3) {
            px.copy_from_slice(&left);
        }
        for px in out_row[end_in * 3..].chunks_exact_mut(3) {
            px.copy_from_slice(&right);
        }
        if end_in == first_in {
            continue;
        }
        let inside = &mut out_row[first_in * 3..end_in * 3];
        let x_start = (rect.x0 + first_in as i64) as usize * bpp;
        let span = &src[x_start..x_start + (end_in - first_in) * bpp];
        if view.format == PixelFormat::Rgb8 {
            inside.copy_from_slice(span);
        } else {
            for (px, s) in inside.chunks_exact_mut(3).zip(span.chunks_exact(bpp)) {
                px.copy_from_slice(&order.map(|c| s[c]));
            }
        }
    }
}

/// Checks a pipeline's chip settings: a size within 0..=[`MAX_CHIP_SIZE`].
pub fn validate_chip_size(chip_size: u32) -> Result<()> {
    if chip_size > MAX_CHIP_SIZE {
        return Err(Error::invalid(format!(
            "chip_size {chip_size} is more than {MAX_CHIP_SIZE}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_from_five_points() {
        let truth = Similarity {
            a: 0.8 * 0.3f64.cos(),
            b: 0.8 * 0.3f64.sin(),
            tx: -40.0,
            ty: 17.5,
        };
        let src = [
            [100.0, 120.0],
            [160.0, 118.0],
            [131.0, 150.0],
            [108.0, 181.0],
            [155.0, 180.0],
        ];
        let dst = src.map(|p| truth.apply(p));
        let fit = fit_similarity(&src, &dst).unwrap();
        for (got, want) in [fit.a, fit.b, fit.tx, fit.ty]
            .iter()
            .zip([truth.a, truth.b, truth.tx, truth.ty])
        {
            assert!((got - want).abs() < 1e-9, "{fit:?} vs {truth:?}");
        }
        let back = fit.inverse().unwrap();
        let p = back.apply(fit.apply([3.0, -7.0]));
        assert!((p[0] - 3.0).abs() < 1e-9 && (p[1] + 7.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_points_give_no_transform() {
        assert!(fit_similarity(&[[1.0, 1.0]; 5], &ARCFACE_TEMPLATE).is_none());
        assert!(
            fit_similarity(&[[f64::NAN, 1.0], [2.0, 3.0]], &[[0.0, 0.0], [1.0, 1.0]]).is_none()
        );
        let zero = Similarity {
            a: 0.0,
            b: 0.0,
            tx: 1.0,
            ty: 2.0,
        };
        assert!(zero.inverse().is_none());
    }

    #[test]
    fn the_template_itself_maps_to_the_identity_at_112() {
        let five = ARCFACE_TEMPLATE.map(|[x, y]| [x + 0.5, y + 0.5]);
        let m = alignment(&five, 112).unwrap();
        assert!((m.a - 1.0).abs() < 1e-12 && m.b.abs() < 1e-12);
        assert!(m.tx.abs() < 1e-9 && m.ty.abs() < 1e-9, "{m:?}");
        let m = alignment(&five, 224).unwrap();
        assert!((m.scale() - 2.0).abs() < 1e-12);
    }

    fn gradient_frame(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 3) as u8, (y * 2) as u8, ((x + y) / 2) as u8]
            })
            .collect()
    }

    #[test]
    fn the_packed_copy_repeats_the_frame_edges() {
        let (w, h) = (40u32, 30u32);
        let data = gradient_frame(w, h);
        let view = FrameView::new(&data, w, h, w as usize * 3, PixelFormat::Rgb8).unwrap();
        let rect = CropRect {
            x0: -5,
            y0: 20,
            side: 16,
        };
        let source = ChipSource::capture(&Frame::Packed(view), rect, &mut CropScratch::default());
        assert_eq!(source.size, 16);
        assert!(
            matches!(source.kept, Kept::Packed { .. }),
            "a small square is kept as rows"
        );
        let mut direct = vec![0u8; 16 * 16 * 3];
        copy_rgb(&view, &rect, &mut direct);
        assert_eq!(source.rgb().as_ref(), &direct[..]);
        let rgb = source.rgb();
        let at = |i: usize, j: usize| &rgb[(j * 16 + i) * 3..(j * 16 + i) * 3 + 3];
        // Column 0 is frame x −5: the edge pixel x 0. Row 15 is frame y 35: the last row, 29.
        assert_eq!(at(0, 0), &data[(20 * 40) * 3..(20 * 40) * 3 + 3]);
        assert_eq!(at(7, 15), &data[(29 * 40 + 2) * 3..(29 * 40 + 2) * 3 + 3]);
        // BGR frames come out in RGB order.
        let bgr: Vec<u8> = data.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        let view = FrameView::new(&bgr, w, h, w as usize * 3, PixelFormat::Bgr8).unwrap();
        let swapped = ChipSource::capture(&Frame::Packed(view), rect, &mut CropScratch::default());
        assert_eq!(swapped.rgb(), source.rgb());
    }

    #[test]
    fn the_warp_samples_the_frame_at_the_inverse_map() {
        let (w, h) = (64u32, 64u32);
        let data = gradient_frame(w, h);
        let view = FrameView::new(&data, w, h, w as usize * 3, PixelFormat::Rgb8).unwrap();
        let rect = CropRect {
            x0: 0,
            y0: 0,
            side: 64,
        };
        let source = ChipSource::capture(&Frame::Packed(view), rect, &mut CropScratch::default());
        // A pure shift by (10, 20): chip pixel (i, j) is frame pixel (i + 10, j + 20).
        let shift = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -10.0,
            ty: -20.0,
        };
        let chip = source.warp(&shift, 8, ChipFormat::Rgb).unwrap();
        for j in 0..8usize {
            for i in 0..8usize {
                let f = ((j + 20) * 64 + i + 10) * 3;
                assert_eq!(&chip[(j * 8 + i) * 3..(j * 8 + i) * 3 + 3], &data[f..f + 3]);
            }
        }
        let bgr = source.warp(&shift, 8, ChipFormat::Bgr).unwrap();
        assert_eq!(bgr[0], chip[2]);
        assert_eq!(bgr[2], chip[0]);
        // Half a pixel along x: the mean of two neighbours (rounded half up).
        let half = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -10.5,
            ty: -20.0,
        };
        let chip = source.warp(&half, 2, ChipFormat::Rgb).unwrap();
        let want =
            (f64::from(data[(20 * 64 + 10) * 3]) + f64::from(data[(20 * 64 + 11) * 3])) / 2.0;
        assert_eq!(chip[0], (want + 0.5) as u8);
    }

    #[test]
    fn a_yuv_copy_converts_to_what_the_frame_itself_gives() {
        use crate::image::test_util::TestYuv;
        // Odd sizes and origins, squares inside the frame and past each edge, both sitings.
        let yuv = TestYuv::new(
            61,
            47,
            |i| (i * 37 % 251) as u8,
            |i| (64 + i * 11 % 128) as u8,
        );
        for format in [16, 17, 18] {
            for chroma_location in [0, 2] {
                let raw = yuv.frame(format, chroma_location);
                let frame = Frame::new(&raw).unwrap();
                let Frame::Yuv(_) = frame else {
                    panic!("not a YUV frame");
                };
                for (x0, y0, side) in [(7, 9, 21), (10, 4, 30), (-5, -3, 20), (45, 30, 25)] {
                    let rect = CropRect { x0, y0, side };
                    let mut scratch = CropScratch::default();
                    let kept = ChipSource::capture(&frame, rect, &mut scratch);
                    assert!(
                        matches!(kept.kept, Kept::Yuv(_)),
                        "a small square is copied as YUV"
                    );
                    let mut direct = vec![0u8; (side * side * 3) as usize];
                    let size = SampleSize::square(side as usize);
                    sample_crop(&frame, &rect.into(), size, &mut scratch, &mut direct);
                    assert_eq!(
                        kept.rgb().as_ref(),
                        &direct[..],
                        "format {format}, siting {chroma_location}, square {rect:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_region_grows_with_the_tilt() {
        let b = crate::image::FaceBox {
            x1: 100.0,
            y1: 100.0,
            x2: 200.0,
            y2: 200.0,
        };
        let upright = ChipSource::region(&b, 0.0, (1000, 1000)).unwrap();
        let turned = ChipSource::region(&b, std::f64::consts::FRAC_PI_4, (1000, 1000)).unwrap();
        assert_eq!(upright.side, 220);
        assert_eq!(turned.side, 311);
        assert!(validate_chip_size(1024).is_ok() && validate_chip_size(1025).is_err());
    }
}
