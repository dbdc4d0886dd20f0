package lmbatch

/*
#include <string.h>
#include "lmbatch.h"

// Builds lm_frame and lm_face on the C stack (cgo's pointer rules: Go memory handed to C must
// not hold Go pointers), from plane pointers passed as plain arguments.
static lm_status lmgo_enqueue_frame(lm_handle *h, uint64_t id, int32_t format, uint32_t width,
		uint32_t height, const void *p0, const void *p1, const void *p2, const void *p3, size_t s0,
		size_t s1, size_t s2, size_t s3, int32_t matrix, int32_t range, int32_t location, float x1,
		float y1, float x2, float y2, uint32_t flags, float rx, float ry, float lx, float ly,
		float roll) {
	lm_frame f;
	lm_face face;
	memset(&f, 0, sizeof f);
	memset(&face, 0, sizeof face);
	f.struct_size = sizeof f;
	f.format = format;
	f.width = width;
	f.height = height;
	f.planes[0] = p0;
	f.planes[1] = p1;
	f.planes[2] = p2;
	f.planes[3] = p3;
	f.strides[0] = s0;
	f.strides[1] = s1;
	f.strides[2] = s2;
	f.strides[3] = s3;
	f.color_matrix = matrix;
	f.color_range = range;
	f.chroma_location = location;
	f.memory = LM_MEMORY_HOST;
	face.struct_size = sizeof face;
	face.box.x1 = x1;
	face.box.y1 = y1;
	face.box.x2 = x2;
	face.box.y2 = y2;
	face.flags = flags;
	face.right_eye[0] = rx;
	face.right_eye[1] = ry;
	face.left_eye[0] = lx;
	face.left_eye[1] = ly;
	face.roll = roll;
	return lm_enqueue_frame(h, id, &f, &face);
}
*/
import "C"

import (
	"math"
	"math/bits"
	"runtime"
	"unsafe"
)

// Decoder pixel formats (ABI 1.3), for Frame only: Enqueue with an Image refuses them.
const (
	NV12 = PixelFormat(C.LM_PIXEL_FORMAT_NV12) // Planes[0] Y; Planes[1] interleaved U,V at half resolution
	NV21 = PixelFormat(C.LM_PIXEL_FORMAT_NV21) // as NV12, V before U
	I420 = PixelFormat(C.LM_PIXEL_FORMAT_I420) // Planes[0] Y, [1] U, [2] V; chroma at half resolution
	P010 = PixelFormat(C.LM_PIXEL_FORMAT_P010) // as NV12, 16-bit little-endian samples, 10 high bits
	P016 = PixelFormat(C.LM_PIXEL_FORMAT_P016) // as NV12, 16-bit little-endian samples
	I010 = PixelFormat(C.LM_PIXEL_FORMAT_I010) // (ABI 1.4) as I420, 16-bit little-endian samples, 10 low bits
)

// ColorMatrix is the YUV matrix of a Frame: the codes of ITU-T H.273 (FFmpeg's AVColorSpace),
// so a decoder's value converts directly. Ignored for packed formats.
type ColorMatrix int32

// Color matrices.
const (
	// ColorMatrixAuto: BT.709 from 1280 wide or 577 high, else BT.601.
	ColorMatrixAuto        = ColorMatrix(C.LM_COLOR_MATRIX_AUTO)
	ColorMatrixBT709       = ColorMatrix(C.LM_COLOR_MATRIX_BT709)
	ColorMatrixUnspecified = ColorMatrix(C.LM_COLOR_MATRIX_UNSPECIFIED) // as ColorMatrixAuto
	ColorMatrixBT601       = ColorMatrix(C.LM_COLOR_MATRIX_BT601)
	ColorMatrixSMPTE170M   = ColorMatrix(C.LM_COLOR_MATRIX_SMPTE170M) // as ColorMatrixBT601
	ColorMatrixBT2020      = ColorMatrix(C.LM_COLOR_MATRIX_BT2020)
)

// ColorRange of a YUV Frame (FFmpeg's AVColorRange values).
type ColorRange int32

// Color ranges.
const (
	ColorRangeAuto    = ColorRange(C.LM_COLOR_RANGE_AUTO) // limited
	ColorRangeLimited = ColorRange(C.LM_COLOR_RANGE_LIMITED)
	ColorRangeFull    = ColorRange(C.LM_COLOR_RANGE_FULL)
)

// ChromaLocation is where a YUV Frame's chroma samples sit (FFmpeg's AVChromaLocation values).
type ChromaLocation int32

// Chroma locations.
const (
	ChromaLocationAuto    = ChromaLocation(C.LM_CHROMA_LOCATION_AUTO) // left
	ChromaLocationLeft    = ChromaLocation(C.LM_CHROMA_LOCATION_LEFT)
	ChromaLocationCenter  = ChromaLocation(C.LM_CHROMA_LOCATION_CENTER)
	ChromaLocationTopLeft = ChromaLocation(C.LM_CHROMA_LOCATION_TOPLEFT)
)

// Frame is a view of a frame in any format EnqueueFrame reads: packed (Planes[0] only) or a
// decoder's NV12, NV21, I420, P010, P016, I010, each plane with its own stride (bytes per row). Only
// read during the call. Planes the format does not use stay nil.
type Frame struct {
	Format         PixelFormat
	Width, Height  int
	Planes         [4][]byte
	Strides        [4]int
	ColorMatrix    ColorMatrix
	ColorRange     ColorRange
	ChromaLocation ChromaLocation
}

// Frame is the packed frame of this Image.
func (img Image) Frame() Frame {
	return Frame{Format: img.Format, Width: img.Width, Height: img.Height,
		Planes: [4][]byte{img.Data}, Strides: [4]int{img.Stride}}
}

// NV12Frame is an NV12 view: the Y plane and the interleaved U,V plane.
func NV12Frame(y []byte, yStride int, uv []byte, uvStride int, width, height int) Frame {
	return Frame{Format: NV12, Width: width, Height: height,
		Planes: [4][]byte{y, uv}, Strides: [4]int{yStride, uvStride}}
}

// I420Frame is an I420 view: the Y, U and V planes (for YV12, pass V's plane as u and U's as v).
func I420Frame(y []byte, yStride int, u []byte, uStride int, v []byte, vStride int, width, height int) Frame {
	return Frame{Format: I420, Width: width, Height: height,
		Planes: [4][]byte{y, u, v}, Strides: [4]int{yStride, uStride, vStride}}
}

// Point2 is a point in frame pixels.
type Point2 struct {
	X, Y float32
}

// FaceFlags say which optional fields of a Face are valid.
type FaceFlags uint32

// Face flags.
const (
	FaceEyes = FaceFlags(C.LM_FACE_EYES) // RightEye and LeftEye are valid
	FaceRoll = FaceFlags(C.LM_FACE_ROLL) // Roll is valid; FaceEyes wins when both are set
)

// Face is a face to crop: the detector box and, optionally, its tilt. Without flags the crop is
// upright, exactly as Enqueue's.
type Face struct {
	Box   Box
	Flags FaceFlags
	// RightEye is the SUBJECT's right eye (image left on an upright frontal face).
	RightEye, LeftEye Point2
	// Roll in radians: the angle of the line right eye -> left eye, atan2(dy, dx), y down.
	Roll float32
}

// FaceWithEyes is a face cropped along the line of the detector's eyes.
func FaceWithEyes(box Box, rightEye, leftEye Point2) Face {
	return Face{Box: box, Flags: FaceEyes, RightEye: rightEye, LeftEye: leftEye}
}

// FaceWithRoll is a face cropped turned by roll radians.
func FaceWithRoll(box Box, roll float32) Face {
	return Face{Box: box, Flags: FaceRoll, Roll: roll}
}

// NextFace is where to look for this face in the next frame (TrackBox turned by TrackRoll): pass
// it to EnqueueFrame to follow a face between detector runs.
func (lm Landmarks) NextFace() Face {
	return FaceWithRoll(lm.TrackBox, lm.TrackRoll)
}

// planeShape gives, for each plane the format reads, its rows and the bytes of one row; nil for
// a format the binding does not know (the library refuses it without reading).
func planeShape(f PixelFormat, w, h uint64) [][2]uint64 {
	cw, ch := (w+1)/2, (h+1)/2
	switch f {
	case BGR8, RGB8, BGRA8, RGBA8, GRAY8:
		return [][2]uint64{{h, w * uint64(f.BytesPerPixel())}}
	case NV12, NV21:
		return [][2]uint64{{h, w}, {ch, 2 * cw}}
	case P010, P016:
		return [][2]uint64{{h, 2 * w}, {ch, 4 * cw}}
	case I420:
		return [][2]uint64{{h, w}, {ch, cw}, {ch, cw}}
	case I010:
		return [][2]uint64{{h, 2 * w}, {ch, 2 * cw}, {ch, 2 * cw}}
	}
	return nil
}

// check refuses a view whose planes the library would read past (memory safety); every other
// rule is left to the library, so that its statuses and counters stay the truth.
func (f *Frame) check() error {
	if f.Width < 0 || f.Height < 0 || uint64(f.Width) > math.MaxUint32 || uint64(f.Height) > math.MaxUint32 {
		return invalid("enqueue_frame", "negative or too large size %dx%d", f.Width, f.Height)
	}
	for i, s := range f.Strides {
		if s < 0 {
			return invalid("enqueue_frame", "negative stride %d of plane %d", s, i)
		}
	}
	if f.Width == 0 || f.Height == 0 {
		return nil // the library refuses these without reading a byte
	}
	for i, shape := range planeShape(f.Format, uint64(f.Width), uint64(f.Height)) {
		if len(f.Planes[i]) == 0 {
			continue // passed as NULL: the library refuses it
		}
		hi, lo := bits.Mul64(uint64(f.Strides[i]), shape[0]-1)
		need, carry := bits.Add64(lo, shape[1], 0)
		if hi != 0 || carry != 0 || need > uint64(len(f.Planes[i])) {
			return invalid("enqueue_frame", "plane %d holds %d bytes, fewer than %d rows of stride %d need",
				i, len(f.Planes[i]), shape[0], f.Strides[i])
		}
	}
	return nil
}

// EnqueueFrame queues one face of a frame in any format (packed, NV12, NV21, I420, P010, P016, I010),
// cropped upright or turned by the face's eyes or roll, without blocking. Statuses as Enqueue:
// ErrInvalidArgument also for a plane the format needs that is nil, overlapping planes, an
// unknown format or colorimetry code, non-finite eyes or roll.
func (p *Pipeline) EnqueueFrame(id uint64, frame Frame, face Face) error {
	h, err := p.handle("enqueue_frame")
	if err != nil {
		return err
	}
	if err := frame.check(); err != nil {
		return err
	}
	if p.held.holds(id) {
		return &StatusError{Op: "enqueue_frame", Status: StatusDuplicateID,
			Message: "the id's result was taken by a Results channel whose context ended and is not popped yet"}
	}
	var planes [4]unsafe.Pointer
	for i, pl := range frame.Planes {
		if len(pl) > 0 {
			planes[i] = unsafe.Pointer(&pl[0])
		}
	}
	s := frame.Strides
	st := C.lmgo_enqueue_frame(h, C.uint64_t(id), C.int32_t(frame.Format), C.uint32_t(frame.Width),
		C.uint32_t(frame.Height), planes[0], planes[1], planes[2], planes[3], C.size_t(s[0]),
		C.size_t(s[1]), C.size_t(s[2]), C.size_t(s[3]), C.int32_t(frame.ColorMatrix),
		C.int32_t(frame.ColorRange), C.int32_t(frame.ChromaLocation), C.float(face.Box.X1),
		C.float(face.Box.Y1), C.float(face.Box.X2), C.float(face.Box.Y2), C.uint32_t(face.Flags),
		C.float(face.RightEye.X), C.float(face.RightEye.Y), C.float(face.LeftEye.X),
		C.float(face.LeftEye.Y), C.float(face.Roll))
	runtime.KeepAlive(p) // the finalizer must not destroy the handle during the call
	runtime.KeepAlive(frame.Planes)
	return fail("enqueue_frame", st)
}
