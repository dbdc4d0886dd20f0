//! Frames and the model's crop: views of the caller's frame (packed or YUV 4:2:0), the crop
//! geometry (upright or turned by the face's roll), and the one-pass sampling of the crop into the
//! model's input. Everything here is pure: the caller's frame is read only during the enqueue.

mod crop;
mod frame;
mod resize;
mod warp;
mod yuv;

pub use crop::{track_region, CropRect, Face, FaceBox, FaceCrop, MAX_CROP_SIDE};
pub use frame::{
    frame_byte_len, ChromaLocation, ColorMatrix, ColorRange, Colorimetry, Frame, FrameFormat,
    FrameRef, FrameView, PixelFormat, YuvFrame, MAX_FRAME_SIDE, MEMORY_HOST,
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

/// Samples `crop` of `frame` into interleaved RGB at `out_size × out_size` (`out` holds
/// `out_size² × 3` bytes): the separable upright path for packed frames with θ = 0 (unchanged
/// from ABI 1.0), the rotated path otherwise, the fused YUV path for YUV frames.
pub fn sample_crop(
    frame: &Frame<'_>,
    crop: &FaceCrop,
    out_size: usize,
    scratch: &mut CropScratch,
    out: &mut [u8],
) {
    match frame {
        Frame::Packed(view) if crop.is_upright() => crop_resize(
            view,
            &crop.rect,
            out_size,
            out_size,
            &mut scratch.resize,
            out,
        ),
        Frame::Packed(view) => warp_packed(view, crop, out_size, out),
        Frame::Yuv(yuv) => crop_yuv(yuv, crop, out_size, &mut scratch.yuv, out),
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
    sample_crop(&frame, &crop, out_size, &mut CropScratch::default(), out);
    Ok(crop)
}
