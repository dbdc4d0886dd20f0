//! Frames and the model's crop: views of the caller's frame (packed or YUV 4:2:0), the crop
//! geometry (upright or turned by the face's roll), and the one-pass sampling of the crop into the
//! model's input. Everything here is pure: the caller's frame is read only during the enqueue.

#[cfg(target_arch = "x86_64")]
mod avx2_window;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod crop;
mod frame;
mod hpass;
mod resize;
mod warp;
mod yuv;

pub use crop::{
    track_region, CropRect, Face, FaceBox, FaceCrop, Mirror, SampleSize, MAX_CROP_SIDE,
    MESH_LEFT_EYE, MESH_RIGHT_EYE,
};
pub use frame::{
    frame_byte_len, ChromaLocation, ColorMatrix, ColorRange, Colorimetry, Frame, FrameFormat,
    FrameRef, FrameView, PixelFormat, YuvFrame, YuvRegion, MAX_FRAME_SIDE, MEMORY_HOST,
};
pub use resize::{crop_resize, ResizeScratch};
pub use warp::warp_packed;
pub use yuv::{crop_yuv, YuvScratch, YuvToRgb};

use crate::error::{Error, Result};

/// Reusable tables and rows of every crop path.
#[derive(Debug, Default)]
pub struct CropScratch {
    pub resize: ResizeScratch,
    pub yuv: YuvScratch,
}

/// Samples `crop` of `frame` into interleaved RGB at `size` (`out` holds `size.pixels() × 3`
/// bytes): the separable upright path for packed frames with θ = 0 (unchanged from ABI 1.0), the
/// rotated path otherwise, the fused YUV path for YUV frames.
pub fn sample_crop(
    frame: &Frame<'_>,
    crop: &FaceCrop,
    size: SampleSize,
    scratch: &mut CropScratch,
    out: &mut [u8],
) {
    match frame {
        Frame::Packed(view) if crop.is_upright() => crop_resize(
            view,
            &crop.rect,
            size.width,
            size.height,
            &mut scratch.resize,
            out,
        ),
        Frame::Packed(view) => warp_packed(view, crop, size, out),
        Frame::Yuv(yuv) => crop_yuv(yuv, crop, size, &mut scratch.yuv, out),
    }
}

/// The model input `lm_enqueue_frame` would stage for this frame and face: validates both, then
/// crops into `out` (`out_size² × 3` RGB bytes) and returns the crop (for mapping points back).
/// The same code as the enqueue path, for tests and tools.
pub fn crop_face(
    frame: &FrameRef<'_>,
    face: &Face,
    out_size: usize,
    crop_scale: f64,
    out: &mut [u8],
) -> Result<FaceCrop> {
    if out.len() != out_size * out_size * 3 {
        return Err(Error::invalid(format!(
            "the output holds {} bytes, a {out_size}x{out_size} RGB crop needs {}",
            out.len(),
            out_size * out_size * 3
        )));
    }
    let frame = Frame::new(frame)?;
    let crop = FaceCrop::for_face(face, frame.width(), frame.height(), crop_scale)?;
    let size = SampleSize::square(out_size);
    sample_crop(&frame, &crop, size, &mut CropScratch::default(), out);
    Ok(crop)
}

/// Helpers shared by the crop paths' unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use super::FrameRef;

    /// A xorshift64 stream: reproducible test inputs without a dependency.
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        /// The next value in `0..m`.
        pub(crate) fn below(&mut self, m: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % m
        }
    }

    /// A random turned crop of a `w × h` frame: boxes from a few pixels to twice the frame, centred
    /// inside, across the edges or outside, at any angle, at a random output size (odd widths,
    /// more than one chunk).
    pub(crate) fn random_crop(
        rng: &mut XorShift,
        w: u32,
        h: u32,
    ) -> (super::FaceCrop, super::SampleSize) {
        let mut next = |m: u64| rng.below(m) as i64;
        let side = 2 + next(2 * u64::from(w.max(h)));
        let (cx, cy) = (next(u64::from(w) + 40) - 20, next(u64::from(h) + 40) - 20);
        // Whole degrees, fractions, and the hair of roll that is nearly upright.
        let angle = match next(4) {
            0 => 1e-12,
            1 => f64::to_radians(next(360) as f64),
            _ => next(1 << 20) as f64 / f64::from(1 << 20) * std::f64::consts::TAU,
        };
        let rect = super::CropRect {
            x0: cx - side / 2,
            y0: cy - side / 2,
            side: side as u32,
        };
        let size = super::SampleSize {
            width: 1 + next(150) as usize,
            height: 1 + next(40) as usize,
        };
        (super::FaceCrop::rotated(rect, angle), size)
    }

    /// Each path's crop against the reference crop, byte for byte: the first difference, named
    /// by its path, as the error.
    pub(crate) fn same_bytes(paths: Vec<(&str, Vec<u8>)>, want: &[u8]) -> Result<(), String> {
        for (path, got) in paths {
            if let Some(n) = (0..want.len()).find(|&n| got[n] != want[n]) {
                return Err(format!("{path}: byte {n}: {} vs {}", got[n], want[n]));
            }
        }
        Ok(())
    }

    /// The largest per-byte difference between two crops, in levels.
    pub(crate) fn max_level_difference(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len(), "crops of different sizes");
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    /// The planes of an 8-bit 4:2:0 test frame filled with the given patterns (by sample index):
    /// the interleaved chroma plane of NV12/NV21 and the separate U and V planes of I420.
    pub(crate) struct TestYuv {
        width: u32,
        height: u32,
        chroma_width: usize,
        luma: Vec<u8>,
        uv: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    impl TestYuv {
        pub(crate) fn new(
            width: u32,
            height: u32,
            luma: impl Fn(usize) -> u8,
            chroma: impl Fn(usize) -> u8,
        ) -> Self {
            let (chroma_width, chroma_height) =
                (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
            let luma = (0..(width * height) as usize).map(luma).collect();
            let uv: Vec<u8> = (0..2 * chroma_width * chroma_height).map(chroma).collect();
            let (u, v) = uv.chunks(2).map(|p| (p[0], p[1])).unzip();
            TestYuv {
                width,
                height,
                chroma_width,
                luma,
                uv,
                u,
                v,
            }
        }

        /// The frame as NV12 (16), NV21 (17) or I420 (18), tightly strided, with the given
        /// chroma location; the matrix and range stay AUTO unless the caller sets them.
        pub(crate) fn frame(&self, format: i32, chroma_location: i32) -> FrameRef<'_> {
            let (w, cw) = (self.width as usize, self.chroma_width);
            let (planes, strides) = if format == 18 {
                (
                    [
                        Some(&self.luma[..]),
                        Some(&self.u[..]),
                        Some(&self.v[..]),
                        None,
                    ],
                    [w, cw, cw, 0],
                )
            } else {
                (
                    [Some(&self.luma[..]), Some(&self.uv[..]), None, None],
                    [w, 2 * cw, 0, 0],
                )
            };
            FrameRef {
                format,
                width: self.width,
                height: self.height,
                planes,
                strides,
                chroma_location,
                ..FrameRef::default()
            }
        }
    }
}

#[cfg(test)]
mod mirror_tests {
    use super::test_util::{max_level_difference, XorShift};
    use super::*;

    /// The memory of `image` (packed, `pixel` bytes, tightly strided) mirrored by `mirror`.
    fn mirrored_memory(
        image: &[u8],
        width: usize,
        height: usize,
        pixel: usize,
        m: Mirror,
    ) -> Vec<u8> {
        let mut memory = image.to_vec();
        m.apply(&mut memory, SampleSize { width, height }, pixel);
        memory
    }

    #[test]
    fn a_mirror_applied_twice_is_no_mirror() {
        let size = SampleSize {
            width: 5,
            height: 4,
        };
        let image: Vec<u8> = (0..60).collect();
        for m in [(false, true), (true, false), (true, true)] {
            let m = Mirror {
                rows: m.0,
                columns: m.1,
            };
            let once = mirrored_memory(&image, 5, 4, 3, m);
            assert_ne!(once, image);
            // Pixel (x=0, y=0) lands where the mirror sends it, its bytes in order.
            let (x, y) = (if m.columns { 4 } else { 0 }, if m.rows { 3 } else { 0 });
            assert_eq!(once[3 * (y * 5 + x)..][..3], [0, 1, 2]);
            let mut twice = once.clone();
            m.apply(&mut twice, size, 3);
            assert_eq!(twice, image);
        }
    }

    #[test]
    fn a_mirrored_crop_reads_the_same_source_points() {
        let (w, h) = (64u32, 48u32);
        let size = SampleSize {
            width: 7,
            height: 5,
        };
        for theta in [0.0, 0.3, -2.0, 1e-12] {
            let crop = FaceCrop::rotated(
                CropRect {
                    x0: -6,
                    y0: 20,
                    side: 40,
                },
                theta,
            );
            for (rows, columns) in [(false, true), (true, false), (true, true)] {
                let m = Mirror { rows, columns };
                let mirrored = crop.mirrored(w, h, m);
                for j in 0..size.height {
                    for i in 0..size.width {
                        let (x, y) = crop.sample_point(size, i as f64, j as f64);
                        let (mi, mj) = (
                            if columns { size.width - 1 - i } else { i },
                            if rows { size.height - 1 - j } else { j },
                        );
                        let (mx, my) = mirrored.sample_point(size, mi as f64, mj as f64);
                        let want_x = if columns { f64::from(w) - 1.0 - x } else { x };
                        let want_y = if rows { f64::from(h) - 1.0 - y } else { y };
                        assert!(
                            (mx - want_x).abs() < 1e-9 && (my - want_y).abs() < 1e-9,
                            "θ {theta} {m:?} ({i}, {j}): ({mx}, {my}) vs ({want_x}, {want_y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_crop_of_mirrored_memory_mirrored_back_is_the_crop_of_the_image() {
        let mut rng = XorShift(0x5eed_f11e);
        let (w, h) = (61usize, 47usize);
        for format in [PixelFormat::Bgr8, PixelFormat::Rgba8, PixelFormat::Gray8] {
            let pixel = format.bytes_per_pixel();
            let image: Vec<u8> = (0..w * h * pixel).map(|_| rng.below(256) as u8).collect();
            for (rows, columns) in [(false, true), (true, false), (true, true)] {
                let m = Mirror { rows, columns };
                let memory = mirrored_memory(&image, w, h, pixel, m);
                let view = |data| {
                    Frame::Packed(
                        FrameView::new(data, w as u32, h as u32, w * pixel, format).unwrap(),
                    )
                };
                for (rect, theta) in [
                    (
                        CropRect {
                            x0: 10,
                            y0: 5,
                            side: 30,
                        },
                        0.0,
                    ),
                    (
                        CropRect {
                            x0: -8,
                            y0: 30,
                            side: 33,
                        },
                        0.0,
                    ),
                    (
                        CropRect {
                            x0: 20,
                            y0: -4,
                            side: 50,
                        },
                        0.7,
                    ),
                    (
                        CropRect {
                            x0: 3,
                            y0: 3,
                            side: 12,
                        },
                        -2.5,
                    ),
                ] {
                    let crop = FaceCrop::rotated(rect, theta);
                    let size = SampleSize {
                        width: 24,
                        height: 20,
                    };
                    let mut want = vec![0u8; size.pixels() * 3];
                    sample_crop(
                        &view(&image),
                        &crop,
                        size,
                        &mut CropScratch::default(),
                        &mut want,
                    );
                    let mut got = vec![0u8; size.pixels() * 3];
                    let mirrored = crop.mirrored(w as u32, h as u32, m);
                    sample_crop(
                        &view(&memory),
                        &mirrored,
                        size,
                        &mut CropScratch::default(),
                        &mut got,
                    );
                    m.apply(&mut got, size, 3);
                    // The same source points; only a bilinear weight rounded the other way may
                    // move a level.
                    let worst = max_level_difference(&got, &want);
                    assert!(
                        worst <= 1,
                        "{format:?} {m:?} {rect:?} θ {theta}: {worst} levels"
                    );
                }
            }
        }
    }
}
