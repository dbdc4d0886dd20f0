//! Frame-view validation, the crop rule and the crop + resize, fed arbitrary geometry, boxes and
//! bytes. Whatever the input, it must either be refused with an error or cropped without reading
//! outside the buffer (the slice's bounds checks turn any such read into a crash).
#![no_main]

#[path = "input.rs"]
mod input;

use input::take;
use libfuzzer_sys::fuzz_target;
use lmbatch::image::{crop_resize, CropRect, FrameView, PixelFormat, ResizeScratch};
use lmbatch::FaceBox;

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let width = u32::from(u16::from_le_bytes(take(&mut data))) % 600;
    let height = u32::from(u16::from_le_bytes(take(&mut data))) % 600;
    let stride = usize::from(u16::from_le_bytes(take(&mut data)));
    let format = i32::from_le_bytes(take(&mut data)) % 8;
    let f = |d: &mut &[u8]| f32::from_le_bytes(take(d));
    let face = FaceBox { x1: f(&mut data), y1: f(&mut data), x2: f(&mut data), y2: f(&mut data) };
    let out_side = 1 + usize::from(take::<1>(&mut data)[0] % 64);
    let Ok(format) = PixelFormat::from_raw(format) else { return };
    // The remaining bytes are the frame, however many there are.
    let Ok(frame) = FrameView::new(data, width, height, stride, format) else { return };
    let Ok(crop) = CropRect::for_box(&face, width, height, 1.5) else { return };
    let mut out = vec![0u8; out_side * out_side * 3];
    crop_resize(&frame, &crop, out_side, out_side, &mut ResizeScratch::default(), &mut out);
});
