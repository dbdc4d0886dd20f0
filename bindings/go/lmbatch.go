// Package lmbatch is the Go binding of the lmbatch C library: facial landmarks (468 3-D points)
// for the faces a detector finds, batched on a worker thread behind a C ABI.
//
// Flow: New, then Enqueue (never blocks) for each detected face under an id of your choosing,
// then Pop or PopWait by that id (each result is handed out exactly once), and Close.
//
// With thousands of faces in flight, read every id's result from one channel instead:
//
//	for r := range p.Results(ctx) { // closed by Close or when ctx ends
//		if r.Err == nil { use(r.ID, r.Landmarks) }
//	}
//
//	p, err := lmbatch.New(lmbatch.Config{Backend: lmbatch.BackendCPU})
//	if err != nil { ... }
//	defer p.Close()
//	err = p.Enqueue(42, lmbatch.Image{Data: rgb, Width: w, Height: h, Stride: 3 * w,
//		Format: lmbatch.RGB8}, lmbatch.Box{X1: x1, Y1: y1, X2: x2, Y2: y2})
//	lm, err := p.PopWait(42, time.Second) // lm.Points[1] is the nose tip, in frame pixels
//
// A decoder's frame (NV12, NV21, I420, P010, P016) and a tilted face go through EnqueueFrame;
// lm.NextFace() follows the face into the next frame:
//
//	err = p.EnqueueFrame(43, lmbatch.NV12Frame(y, w, uv, w, w, h), lm.NextFace())
//
// # Building
//
// cgo takes the header from ../../include of this repository and links -llmbatch; tell the
// linker where liblmbatch.so is through the environment, so that any build of it can be used:
//
//	export CGO_LDFLAGS="-L/path/to/target/release -Wl,-rpath,/path/to/target/release"
//
// (or set LD_LIBRARY_PATH at run time instead of the rpath). run-tests.sh does this.
//
// # Thread safety
//
// Every method of a *Pipeline may be called from any number of goroutines at once, except
// Close: Close must not race any other call on the same Pipeline (call it once the goroutines
// that use the Pipeline are done). The goroutines that Results starts are the Pipeline's own:
// Close stops them (they wait in the library with a short timeout), waits for them, closes
// their channels, and only then destroys the handle. Close is idempotent. A finalizer closes a Pipeline that
// becomes unreachable without Close, as a safety net only: call Close.
//
// # Errors
//
// Failing calls return a *StatusError carrying the library's Status; match them with
// errors.Is(err, lmbatch.ErrQueueFull) and friends. The binding refuses, with
// ErrInvalidArgument and before calling the library, arguments it cannot pass safely: a frame
// whose Data is shorter than the view it describes, negative or too large integers, a path with
// a NUL byte. Those refusals are not counted in Stats.RejectedInvalid.
//
// # Memory
//
// The library keeps no pointer after a call returns: Enqueue reads frame.Data only during the
// call, and the slice may be reused as soon as it returns.
package lmbatch

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -llmbatch
#include <stdlib.h>
#include <string.h>
#include "lmbatch.h"

// Defined in log_trampoline.c: forwards the library's log calls to the Go callback.
extern void lmgo_log_trampoline(int32_t level, const char *message, void *user);

// The helpers below build the C structs on the C stack, so that no Go memory ever holds a Go
// pointer that C sees (cgo's pointer rules): Go passes the frame bytes and the points buffer as
// plain pointer arguments, valid for the duration of the call.

static void lmgo_set_log(lm_config *cfg, uintptr_t user) {
	cfg->log_fn = lmgo_log_trampoline;
	cfg->log_user = (void *)user;
}

static lm_status lmgo_enqueue(lm_handle *h, uint64_t id, const uint8_t *data, uint32_t width,
		uint32_t height, size_t stride, int32_t format, float x1, float y1, float x2, float y2) {
	lm_image img;
	lm_box box;
	memset(&img, 0, sizeof img);
	img.data = data;
	img.width = width;
	img.height = height;
	img.stride = stride;
	img.format = format;
	box.x1 = x1;
	box.y1 = y1;
	box.x2 = x2;
	box.y2 = y2;
	return lm_enqueue(h, id, &img, &box);
}

typedef struct {
	uint32_t num_points;
	float face_score;
	uint64_t queue_us;
	uint64_t infer_us;
	float roll;
	lm_box track_box;
	float track_roll;
	float yaw, pitch, head_roll;
	lm_quality quality;
	uint32_t chip_side;
} lmgo_pop_result;

static void lmgo_copy_result(const lm_landmarks *out, lmgo_pop_result *res) {
	res->num_points = out->num_points;
	res->face_score = out->face_score;
	res->queue_us = out->queue_us;
	res->infer_us = out->infer_us;
	res->roll = out->roll;
	res->track_box = out->track_box;
	res->track_roll = out->track_roll;
	res->yaw = out->yaw;
	res->pitch = out->pitch;
	res->head_roll = out->head_roll;
	res->quality = out->quality;
	res->chip_side = out->chip_side;
}

// wait == 0: lm_pop; otherwise lm_pop_wait with timeout_ms.
// An lm_landmarks over the caller's buffers (chip NULL: no chip), every other field zero.
static lm_landmarks lmgo_landmarks(float *points, uint32_t capacity, uint8_t *chip,
		size_t chip_capacity) {
	lm_landmarks out;
	memset(&out, 0, sizeof out);
	out.struct_size = sizeof out;
	out.points = points;
	out.capacity = capacity;
	out.chip = chip;
	out.chip_capacity = chip_capacity;
	return out;
}

static lm_status lmgo_pop(lm_handle *h, uint64_t id, int wait, uint32_t timeout_ms, float *points,
		uint32_t capacity, uint8_t *chip, size_t chip_capacity, lmgo_pop_result *res) {
	lm_landmarks out = lmgo_landmarks(points, capacity, chip, chip_capacity);
	lm_status st;
	st = wait ? lm_pop_wait(h, id, timeout_ms, &out) : lm_pop(h, id, &out);
	lmgo_copy_result(&out, res);
	return st;
}

static lm_status lmgo_pop_next(lm_handle *h, uint32_t timeout_ms, uint64_t *id, float *points,
		uint32_t capacity, uint8_t *chip, size_t chip_capacity, lmgo_pop_result *res) {
	lm_landmarks out = lmgo_landmarks(points, capacity, chip, chip_capacity);
	lm_status st;
	st = lm_pop_next(h, timeout_ms, id, &out);
	lmgo_copy_result(&out, res);
	return st;
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// APIMajor and APIMinor are the C ABI version of the header this package is built with.
const (
	APIMajor = uint32(C.LM_API_VERSION_MAJOR)
	APIMinor = uint32(C.LM_API_VERSION_MINOR)
)

// Backend selects what runs the model (lm_backend).
type Backend int32

// Backends of Config.Backend.
const (
	// BackendAuto: TensorRT if it can run here, else OpenVINO if it loads, else ONNX Runtime if
	// it loads, else tract (ModelInfo.FallbackReason says why).
	BackendAuto = Backend(C.LM_BACKEND_AUTO)
	// BackendCPU: tract on the CPU; always available.
	BackendCPU = Backend(C.LM_BACKEND_CPU)
	// BackendTensorRT: TensorRT on an NVIDIA GPU; New fails with ErrBackendUnavailable if it
	// cannot run.
	BackendTensorRT = Backend(C.LM_BACKEND_TENSORRT)
	// BackendONNXRuntime: ONNX Runtime on the CPU, loaded at run time from ORT_DYLIB_PATH;
	// New fails with ErrBackendUnavailable where it is absent. Since ABI 1.1.
	BackendONNXRuntime = Backend(C.LM_BACKEND_ONNXRUNTIME)
	// BackendRemote: an Open Inference Protocol server over gRPC (Triton, KServe, MLServer),
	// named by Config.RemoteEndpoints; never chosen by BackendAuto. New fails with
	// ErrBackendUnavailable when no endpoint answers, naming each and why. Since ABI 1.3.
	BackendRemote = Backend(C.LM_BACKEND_REMOTE)
	// BackendOpenVINO: OpenVINO on the CPU, loaded at run time from OPENVINO_LIB_PATH (the
	// libopenvino_c.so* file or its folder); New fails with ErrBackendUnavailable where it is
	// absent or lacks its CPU plugin. Since ABI 1.4.
	BackendOpenVINO = Backend(C.LM_BACKEND_OPENVINO)
)

// PixelFormat is the layout of Image.Data (lm_pixel_format).
type PixelFormat int32

// Pixel formats of Image.Format.
const (
	BGR8  = PixelFormat(C.LM_PIXEL_FORMAT_BGR8)
	RGB8  = PixelFormat(C.LM_PIXEL_FORMAT_RGB8)
	BGRA8 = PixelFormat(C.LM_PIXEL_FORMAT_BGRA8) // the alpha byte is never read
	RGBA8 = PixelFormat(C.LM_PIXEL_FORMAT_RGBA8) // the alpha byte is never read
	GRAY8 = PixelFormat(C.LM_PIXEL_FORMAT_GRAY8) // replicated to R = G = B
)

// BytesPerPixel of the format; 0 for a value the binding does not know.
func (f PixelFormat) BytesPerPixel() int {
	switch f {
	case BGR8, RGB8:
		return 3
	case BGRA8, RGBA8:
		return 4
	case GRAY8:
		return 1
	}
	return 0
}

// LogLevel of a log message.
type LogLevel int32

// Log levels, as the library passes them.
const (
	LogError   LogLevel = 0
	LogWarning LogLevel = 1
	LogInfo    LogLevel = 2
	LogDebug   LogLevel = 3
)

// ZeroDuration asks for the library's 0 in a Config duration, where the zero value of the
// field means "the library's default". Any negative duration does the same.
const ZeroDuration time.Duration = -1

// Config mirrors lm_config. The zero value of every field means the library's default
// (lm_config_init); set only what you need.
type Config struct {
	// ModelPath of an ONNX model; "": the model bundled in the library.
	ModelPath string
	// Backend; default BackendAuto.
	Backend Backend
	// DeviceID of the CUDA device; default 0; negative is invalid.
	DeviceID int
	// MaxBatch is the largest batch, 1..32; 0: default 32.
	MaxBatch int
	// QueueCapacity is how many faces may wait for the worker; 0: default 96.
	QueueCapacity int
	// MaxWait is the deadline of a batch from its first face (microsecond resolution, rounded
	// up); 0: default 10 ms; ZeroDuration: send what is there at once.
	MaxWait time.Duration
	// ResultCapacity is how many finished results may wait to be popped; 0: default 4096.
	ResultCapacity int
	// ResultTTL is the time-to-live of a finished result (millisecond resolution, rounded up);
	// 0: default 30 s; ZeroDuration: no limit.
	ResultTTL time.Duration
	// DrainTimeout is how long Close lets queued work finish before cancelling the rest
	// (milliseconds, rounded up); 0: default 1 s; ZeroDuration: discard what is queued.
	DrainTimeout time.Duration
	// EngineCacheDir caches TensorRT plans built from ONNX; "": no cache.
	EngineCacheDir string
	// OptBatch is the batch size TensorRT tunes its plan for, 1..MaxBatch; 0: MaxBatch.
	OptBatch int
	// SkipSelfCheck skips the batch-invariance check of a GPU engine at create (it costs a few
	// engine runs); by default an engine that fails it is refused and Auto falls back.
	SkipSelfCheck bool
	// RemoteEndpoints are the gRPC endpoints of BackendRemote, e.g. "http://gpu-a:8001",
	// "https://gpu-b:8001" (required for it; an entry may not contain a comma). A batch that
	// fails for want of a server is sent once more to the next healthy endpoint. Since ABI 1.3.
	RemoteEndpoints []string
	// RemoteModel is the model's name on the server; "": "face_landmark_u8".
	RemoteModel string
	// RemoteModelVersion; "": the server's choice.
	RemoteModelVersion string
	// RemoteTimeout per batch request (milliseconds, rounded up); 0: default 2 s.
	RemoteTimeout time.Duration
	// RemoteConnectTimeout per connection attempt (milliseconds, rounded up); 0: default 1 s.
	RemoteConnectTimeout time.Duration
	// RemoteHeaders are "name: value" lines sent with every call (e.g. "authorization: Bearer
	// ..."); a line may not contain a newline.
	RemoteHeaders []string
	// RemoteCAFile is a PEM bundle of the roots trusted for https:// endpoints; "": the system's.
	RemoteCAFile string
	// CPUThreads is the threads a CPU engine (ONNX Runtime, tract) runs one batch on, the worker
	// included; 0: every core. A VMS keeps cores for its decoders. Since ABI 1.4.
	CPUThreads int
	// Precision the engines may compute in; PrecisionDefault (0) runs FP32 on the CPU. Since
	// ABI 1.4.
	Precision Precision
	// ModelDescPath is the model's descriptor (a TOML file); "": STEM.lmbatch.toml beside
	// ModelPath, else the model's metadata, else the bundled descriptor when the model's tensor
	// names are the bundled model's. Since ABI 1.4.
	ModelDescPath string
	// ChipSize is the side in px of the aligned recognition chip each result carries
	// (Landmarks.Chip); 0: none, 112: ArcFace, at most 1024. ChipBGR: its bytes in BGR order
	// (default RGB). Since ABI 1.4.
	ChipSize int
	ChipBGR  bool
	// Log, if not nil, receives the library's log messages. It may be called from any library
	// thread (during New and Close too), concurrently, and must not call back into the Pipeline.
	// A panic in it is recovered and dropped.
	Log func(level LogLevel, message string)
}

// Image is a view of a frame: Height rows of Stride bytes (the last row needs only
// Width * Format.BytesPerPixel() bytes), top row first.
type Image struct {
	Data   []byte
	Width  int
	Height int
	Stride int
	Format PixelFormat
}

// Box is a detector box in frame pixels; (0,0) is the top-left corner of the first pixel.
type Box struct {
	X1, Y1, X2, Y2 float32
}

// Point is one landmark in frame pixels (Z has the scale of X).
type Point struct {
	X, Y, Z float32
}

// Landmarks of one face.
type Landmarks struct {
	// Points: 468 for the bundled model; ModelInfo.NumPoints in general.
	Points []Point
	// FaceScore is the model's face presence score, 0..1 (below 0.5 it sees no face).
	FaceScore float32
	// QueueTime: from the accepted Enqueue to the start of the batch's inference.
	QueueTime time.Duration
	// InferTime: the batch's inference time.
	InferTime time.Duration
	// Roll is the angle the face was cropped with, radians (0 for an upright crop).
	Roll float32
	// TrackBox and TrackRoll say where to look for this face in the next frame: a square box
	// from these points and the roll of their eye line (see NextFace).
	TrackBox  Box
	TrackRoll float32
	// Yaw, Pitch and HeadRoll are the head's pose in radians (NaN where the model's scheme
	// cannot say): Yaw > 0 the subject turns to its left (nose towards the image's right), Pitch
	// > 0 it looks up, HeadRoll in Roll's sense. Since ABI 1.4.
	Yaw, Pitch, HeadRoll float32
	// Quality ranks a track's faces (Quality.Overall picks its best shot). Since ABI 1.4.
	Quality Quality
	// Chip is the aligned recognition chip (Config.ChipSize > 0): ChipSide² pixels of 3 bytes,
	// RGB (BGR with Config.ChipBGR); nil when there is none. Since ABI 1.4.
	Chip     []byte
	ChipSide int
}

// Quality of one result (lm_quality; the formulas are the library's, src/pose/mod.rs). NaN where
// the model's scheme cannot say.
type Quality struct {
	Sharpness  float32 // [0,1): Laplacian energy inside the face
	EyesOpen   float32 // [0,1]: the lower eye's opening
	MouthOpen  float32 // [0,1]: the inner lips' opening
	InterEyePx float32 // frame pixels between the eye centres
	Frontal    float32 // cos²(yaw)·cos²(pitch)
	Overall    float32 // [0,1]: the best-shot score
}

// Stats is a consistent snapshot of a pipeline's counters (lm_stats):
// Accepted == Queued + InFlight + Ready + Popped + Expired + Cancelled.
type Stats struct {
	Accepted        uint64 // faces accepted by Enqueue
	RejectedFull    uint64 // faces refused with ErrQueueFull
	RejectedInvalid uint64 // faces the library refused with ErrInvalidArgument
	Queued          uint64 // accepted, waiting for a batch
	InFlight        uint64 // in the batch the backend is running
	Ready           uint64 // finished (including failed), not popped yet
	Popped          uint64 // final states delivered by Pop/PopWait (including failed)
	Expired         uint64 // evicted before they were popped
	Cancelled       uint64 // cancelled by Cancel, or discarded by Close
	Failed          uint64 // items whose batch failed
	Batches         uint64 // batches run
	// BatchSizeHist[n] is the number of batches of n items; [0] is unused.
	BatchSizeHist [33]uint64
	// Queue wait and batch inference time over a recent window (about 1000 faces).
	QueueP50, QueueP99, InferP50, InferP99 time.Duration
	// Degraded is true while the backend keeps failing (several batches in a row).
	Degraded bool
	// ReadyCallbacks: calls of the library's ready callback (ABI 1.3; the Go binding sets
	// none, so 0 here), and the time spent in them.
	ReadyCallbacks                      uint64
	ReadyCallbackTime, ReadyCallbackMax time.Duration
	// BackendRemote (ABI 1.3): batches sent again to another endpoint, and switches of the
	// endpoint batches go to; 0 for the other backends.
	RemoteRetries, RemoteFailovers uint64
}

// Reconciles reports whether the snapshot's counters add up, as the library promises.
func (s Stats) Reconciles() bool {
	return s.Accepted == s.Queued+s.InFlight+s.Ready+s.Popped+s.Expired+s.Cancelled
}

// ModelInfo says what a pipeline runs (lm_model_info).
type ModelInfo struct {
	Backend        string // e.g. "cpu-tract"
	NumPoints      int
	InputWidth     int
	InputHeight    int
	MaxBatch       int
	FallbackReason string // why BackendAuto did not pick TensorRT; "" if it did or was not asked
	Dims           int    // 3, or 2 (Z is 0) (ABI 1.4)
	Scheme         string // "mediapipe468", "mediapipe478", "five_point" or "custom" (ABI 1.4)
	Precision      Precision
}

// Precision is what an engine computes in (Config.Precision: what it may; ModelInfo.Precision:
// what runs). Since ABI 1.4.
type Precision int32

// Precisions.
const (
	PrecisionDefault = Precision(C.LM_PRECISION_DEFAULT) // FP32 on the CPU engines
	PrecisionFP32    = Precision(C.LM_PRECISION_FP32)
	PrecisionReduced = Precision(C.LM_PRECISION_REDUCED) // BF16/FP16 where an engine has it
	PrecisionBF16    = Precision(C.LM_PRECISION_BF16)
	PrecisionFP16    = Precision(C.LM_PRECISION_FP16)
)

// Pipeline is one lmbatch handle: a worker thread, its queue and its result store.
type Pipeline struct {
	h         *C.lm_handle
	numPoints int
	chipBytes int        // ChipSize² × 3: the room each pop offers for the chip
	log       cgo.Handle // 0 without a log callback; deleted after lm_destroy
	// The Results goroutines: told to stop by closing done, and waited for by Close. Both are
	// separate allocations, so a goroutine holding them does not keep the Pipeline reachable.
	done      chan struct{}
	consumers *sync.WaitGroup
	// Results a Results goroutine had taken from the library when its ctx ended (also a
	// separate allocation): handed to the next Pop of their id, PopNext or Results.
	held *heldResults
}

// heldResults keeps final states that were taken from the library but not received on a Results
// channel, so none is lost: for the library their ids are delivered, for the caller they are not
// yet, so they stay live here (Enqueue of such an id is ErrDuplicateID, Cancel discards it).
type heldResults struct {
	mu    sync.Mutex
	items []Result
}

func (h *heldResults) put(r Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items = append(h.items, r)
}

// take removes and returns the oldest held result (of id, when byID).
func (h *heldResults) take(id uint64, byID bool) (Result, bool) {
	if h == nil {
		return Result{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, r := range h.items {
		if !byID || r.ID == id {
			h.items = append(h.items[:i], h.items[i+1:]...)
			return r, true
		}
	}
	return Result{}, false
}

func (h *heldResults) holds(id uint64) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.items {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Version is the library's version string, e.g. "0.1.0".
func Version() string { return C.GoString(C.lm_version_string()) }

// LibraryAPIVersion is the C ABI version of the loaded library.
func LibraryAPIVersion() (major, minor uint32) {
	var ma, mi C.uint32_t
	C.lm_api_version(&ma, &mi)
	return uint32(ma), uint32(mi)
}

func invalid(op, format string, args ...interface{}) error {
	return &StatusError{Op: op, Status: StatusInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// count converts a count of the Config: 0 keeps the default.
func count(name string, v int, dst *C.uint32_t) error {
	if v == 0 {
		return nil
	}
	if v < 0 || uint64(v) > math.MaxUint32 {
		return invalid("create", "%s %d is out of range", name, v)
	}
	*dst = C.uint32_t(v)
	return nil
}

// duration converts a duration of the Config into units (rounded up): 0 keeps the default,
// negative sets 0.
func duration(name string, d, unit time.Duration, dst *C.uint32_t) error {
	switch {
	case d == 0:
		return nil
	case d < 0:
		*dst = 0
		return nil
	}
	n := (uint64(d) + uint64(unit) - 1) / uint64(unit)
	if n > math.MaxUint32 {
		return invalid("create", "%s %v is out of range", name, d)
	}
	*dst = C.uint32_t(n)
	return nil
}

// cString copies s into C memory (free it with C.free); "" gives nil.
func cString(name, s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid("create", "%s contains a NUL byte", name)
	}
	return C.CString(s), nil
}

// joined joins the items of a list field with sep, refusing an item that holds sep (the library
// would split it).
func joined(name string, items []string, sep string) (string, error) {
	for _, it := range items {
		if strings.Contains(it, sep) {
			return "", invalid("create", "%s entry %q contains %q", name, it, sep)
		}
	}
	return strings.Join(items, sep), nil
}

// New creates a pipeline: loads the model, opens the backend and starts the worker thread. A
// failure is a *StatusError whose Message is the library's reason.
func New(cfg Config) (*Pipeline, error) {
	if ma, mi := LibraryAPIVersion(); ma != APIMajor || mi < APIMinor {
		return nil, &StatusError{Op: "create", Status: StatusInternal, Message: fmt.Sprintf(
			"the loaded library has C ABI %d.%d; this binding needs %d.x with x >= %d", ma, mi,
			APIMajor, APIMinor)}
	}
	var c C.lm_config
	// The sized form: cgo cannot expand the header's lm_config_init macro, and the exported
	// lm_config_init fills only the ABI 1.0 prefix.
	C.lm_config_init_sized(&c, C.size_t(unsafe.Sizeof(c)))
	if cfg.Backend != BackendAuto {
		c.backend = C.int32_t(cfg.Backend)
	}
	if cfg.DeviceID != 0 {
		if cfg.DeviceID < math.MinInt32 || cfg.DeviceID > math.MaxInt32 {
			return nil, invalid("create", "device_id %d is out of range", cfg.DeviceID)
		}
		c.device_id = C.int32_t(cfg.DeviceID)
	}
	for _, e := range []error{
		count("max_batch", cfg.MaxBatch, &c.max_batch),
		count("queue_capacity", cfg.QueueCapacity, &c.queue_capacity),
		count("result_capacity", cfg.ResultCapacity, &c.result_capacity),
		count("opt_batch", cfg.OptBatch, &c.opt_batch),
		count("cpu_threads", cfg.CPUThreads, &c.cpu_threads),
		count("chip_size", cfg.ChipSize, &c.chip_size),
		duration("max_wait", cfg.MaxWait, time.Microsecond, &c.max_wait_us),
		duration("result_ttl", cfg.ResultTTL, time.Millisecond, &c.result_ttl_ms),
		duration("drain_timeout", cfg.DrainTimeout, time.Millisecond, &c.drain_timeout_ms),
		duration("remote_timeout", cfg.RemoteTimeout, time.Millisecond, &c.remote_timeout_ms),
		duration("remote_connect_timeout", cfg.RemoteConnectTimeout, time.Millisecond,
			&c.remote_connect_timeout_ms),
	} {
		if e != nil {
			return nil, e
		}
	}
	model, err := cString("model_path", cfg.ModelPath)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(model))
	desc, err := cString("model_desc_path", cfg.ModelDescPath)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(desc))
	c.model_desc_path = desc
	c.precision = C.int32_t(cfg.Precision)
	if cfg.ChipBGR {
		c.chip_format = C.LM_PIXEL_FORMAT_BGR8
	}
	cache, err := cString("engine_cache_dir", cfg.EngineCacheDir)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cache))
	c.model_path = model
	c.engine_cache_dir = cache
	// The remote_* strings, each freed after lm_create (the library copies them).
	endpoints, err := joined("remote_endpoints", cfg.RemoteEndpoints, ",")
	if err != nil {
		return nil, err
	}
	headers, err := joined("remote_headers", cfg.RemoteHeaders, "\n")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, value string
		dst         **C.char
	}{
		{"remote_endpoints", endpoints, &c.remote_endpoints},
		{"remote_model", cfg.RemoteModel, &c.remote_model},
		{"remote_model_version", cfg.RemoteModelVersion, &c.remote_model_version},
		{"remote_headers", headers, &c.remote_headers},
		{"remote_ca_file", cfg.RemoteCAFile, &c.remote_ca_file},
	} {
		cs, err := cString(f.name, f.value)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cs))
		*f.dst = cs
	}
	if cfg.SkipSelfCheck {
		c.self_check = 0
	}

	var logHandle cgo.Handle
	if cfg.Log != nil {
		logHandle = cgo.NewHandle(cfg.Log)
		C.lmgo_set_log(&c, C.uintptr_t(logHandle))
	}
	var h *C.lm_handle
	var errBuf [1024]C.char
	st := C.lm_create(&c, &h, &errBuf[0], C.size_t(len(errBuf)))
	if Status(st) != StatusOK {
		if logHandle != 0 {
			logHandle.Delete()
		}
		return nil, &StatusError{Op: "create", Status: Status(st), Message: goString(errBuf[:])}
	}
	p := &Pipeline{h: h, log: logHandle, done: make(chan struct{}), consumers: new(sync.WaitGroup),
		held: new(heldResults)}
	info, err := p.ModelInfo()
	if err != nil {
		p.Close()
		return nil, err
	}
	p.numPoints = info.NumPoints
	p.chipBytes = 3 * cfg.ChipSize * cfg.ChipSize
	runtime.SetFinalizer(p, (*Pipeline).Close)
	return p, nil
}

// Close stops intake, lets queued work finish for up to Config.DrainTimeout (the rest is
// cancelled), joins the worker and frees the handle; results not popped are lost. It is
// idempotent, and must not race any other call on the Pipeline. Calls after Close fail with
// ErrShuttingDown.
func (p *Pipeline) Close() {
	if p == nil || p.h == nil {
		return
	}
	// The Results goroutines first: lm_destroy must not race their lm_pop_next.
	if p.done != nil {
		close(p.done)
		p.consumers.Wait()
	}
	h := p.h
	p.h = nil
	runtime.SetFinalizer(p, nil)
	C.lm_destroy(h)
	// No library thread outlives lm_destroy, so no log call can come after this.
	if p.log != 0 {
		p.log.Delete()
		p.log = 0
	}
}

func (p *Pipeline) handle(op string) (*C.lm_handle, error) {
	if p == nil || p.h == nil {
		return nil, &StatusError{Op: op, Status: StatusShuttingDown, Message: "the pipeline is closed"}
	}
	return p.h, nil
}

// check refuses a view whose Data the library would read past (memory safety); every other
// rule of the view is left to the library, so that its statuses and counters stay the truth.
func (img *Image) check() error {
	if img.Width < 0 || img.Height < 0 || img.Stride < 0 ||
		uint64(img.Width) > math.MaxUint32 || uint64(img.Height) > math.MaxUint32 {
		return invalid("enqueue", "negative or too large size %dx%d, stride %d", img.Width, img.Height, img.Stride)
	}
	bpp := img.Format.BytesPerPixel()
	if bpp == 0 || img.Width == 0 || img.Height == 0 {
		return nil // the library refuses these without reading a byte
	}
	hi, lo := bits.Mul64(uint64(img.Stride), uint64(img.Height-1))
	need, carry := bits.Add64(lo, uint64(img.Width)*uint64(bpp), 0)
	if hi != 0 || carry != 0 || need > uint64(len(img.Data)) {
		return invalid("enqueue", "frame data holds %d bytes, fewer than the %dx%d view with stride %d needs",
			len(img.Data), img.Width, img.Height, img.Stride)
	}
	return nil
}

// Enqueue queues one face of a frame without blocking: the library validates the view and the
// box, crops and resizes the face into its own buffer and hands it to the worker. id is the
// caller's, unique among its live ids (0 is valid). ErrQueueFull is backpressure (nothing kept);
// ErrDuplicateID: the id is still pending or unpopped; ErrInvalidArgument: a bad view or box.
func (p *Pipeline) Enqueue(id uint64, frame Image, box Box) error {
	h, err := p.handle("enqueue")
	if err != nil {
		return err
	}
	if err := frame.check(); err != nil {
		return err
	}
	if p.held.holds(id) {
		return &StatusError{Op: "enqueue", Status: StatusDuplicateID,
			Message: "the id's result was taken by a Results channel whose context ended and is not popped yet"}
	}
	var data *C.uint8_t
	if len(frame.Data) > 0 {
		data = (*C.uint8_t)(unsafe.Pointer(&frame.Data[0]))
	}
	st := C.lmgo_enqueue(h, C.uint64_t(id), data, C.uint32_t(frame.Width), C.uint32_t(frame.Height),
		C.size_t(frame.Stride), C.int32_t(frame.Format),
		C.float(box.X1), C.float(box.Y1), C.float(box.X2), C.float(box.Y2))
	runtime.KeepAlive(p) // the finalizer must not destroy the handle during the call
	return fail("enqueue", st)
}

// Pop takes the final state of id without waiting: the landmarks, or ErrPending (not finished),
// ErrNotFound (unknown or already delivered), ErrExpired (evicted before it was popped),
// ErrInferenceFailed (final). A result is delivered once.
func (p *Pipeline) Pop(id uint64) (Landmarks, error) {
	return p.pop("pop", id, false, 0)
}

// PopWait is Pop waiting up to timeout (millisecond resolution, rounded up; capped at about 49
// days) for id to finish: ErrTimeout if it is still pending, ErrCancelled if it was cancelled
// while waiting. A timeout <= 0 is Pop.
func (p *Pipeline) PopWait(id uint64, timeout time.Duration) (Landmarks, error) {
	if timeout <= 0 {
		return p.pop("pop_wait", id, false, 0)
	}
	ms := (uint64(timeout) + uint64(time.Millisecond) - 1) / uint64(time.Millisecond)
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	return p.pop("pop_wait", id, true, C.uint32_t(ms))
}

func (p *Pipeline) pop(op string, id uint64, wait bool, timeoutMS C.uint32_t) (Landmarks, error) {
	h, err := p.handle(op)
	if err != nil {
		return Landmarks{}, err
	}
	if r, ok := p.held.take(id, true); ok {
		return r.Landmarks, r.Err
	}
	waitFlag := C.int(0)
	if wait {
		waitFlag = 1
	}
	n := p.numPoints
	for tries := 0; ; tries++ {
		buf := make([]float32, 3*n+3) // never empty, so &buf[0] exists
		chip, chipPtr := chipBuffer(p.chipBytes)
		var res C.lmgo_pop_result
		st := C.lmgo_pop(h, C.uint64_t(id), waitFlag, timeoutMS, (*C.float)(unsafe.Pointer(&buf[0])),
			C.uint32_t(n), chipPtr, C.size_t(len(chip)), &res)
		runtime.KeepAlive(p)
		got := int(res.num_points)
		if Status(st) == StatusBufferTooSmall && got > n && tries == 0 {
			n = got // nothing was consumed: pop again with room for every point
			continue
		}
		if Status(st) != StatusOK {
			return Landmarks{}, fail(op, st)
		}
		return landmarksOf(&res, buf, n, chip), nil
	}
}

// Result is one final state from Results: ID's Landmarks, or Err (ErrInferenceFailed;
// ErrExpired: the result was evicted before anyone took it).
type Result struct {
	ID        uint64
	Landmarks Landmarks
	Err       error
}

// resultsPoll is how long a Results goroutine waits in the library at a time: the longest Close
// or a cancelled ctx waits for it.
const resultsPoll = 50 * time.Millisecond

// Results streams the final state of every id, in completion order, on the returned channel: one
// goroutine serves thousands of faces in flight, with no goroutine per id. The channel is closed
// when ctx ends or Close is called. Each final state goes to exactly one receiver, whether it is
// read here, by another Results channel, or by Pop/PopWait/PopNext of that id. The goroutine
// takes a result only after the previous one was received. A result it holds when ctx ends is
// kept for the next Pop of its id, PopNext or Results (never dropped); one it holds when Close
// starts is dropped, as Close drops results nobody popped. After Close, the channel is closed at
// once.
func (p *Pipeline) Results(ctx context.Context) <-chan Result {
	out := make(chan Result)
	h, err := p.handle("results")
	if err != nil || p.done == nil {
		close(out)
		return out
	}
	n, chipBytes, done, consumers, held := p.numPoints, p.chipBytes, p.done, p.consumers, p.held
	consumers.Add(1)
	// The goroutine holds the handle, not the Pipeline: a forgotten Pipeline can still be
	// finalized, and Close waits for the goroutine before the handle is destroyed.
	go func() {
		defer consumers.Done()
		defer close(out)
		pollMS := C.uint32_t(resultsPoll / time.Millisecond)
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			default:
			}
			r, ok := held.take(0, false)
			if !ok {
				id, lm, err := popNext(h, n, chipBytes, pollMS)
				if se, ok := err.(*StatusError); ok && se.Status == StatusTimeout {
					continue
				}
				r = Result{ID: id, Landmarks: lm, Err: err}
			}
			err := r.Err
			select {
			case out <- r:
			case <-ctx.Done():
				if err == nil || isFinal(err) {
					held.put(r) // taken from the library, not received: the next taker gets it
				}
				return
			case <-done:
				return
			}
			if err != nil && !isFinal(err) {
				return // not a final state of an id: the handle is unusable
			}
		}
	}()
	return out
}

// isFinal reports whether err is a final state of an id (a Result's normal errors).
func isFinal(err error) bool {
	se, ok := err.(*StatusError)
	return ok && (se.Status == StatusInferenceFailed || se.Status == StatusExpired)
}

// PopNext takes the earliest-finished final state of any id, waiting up to timeout (millisecond
// resolution, rounded up; <= 0 does not wait): its id and landmarks, or its id and
// ErrInferenceFailed / ErrExpired; ErrTimeout when nothing finished in time. Each final state is
// delivered once, here or to a Pop of its id.
func (p *Pipeline) PopNext(timeout time.Duration) (uint64, Landmarks, error) {
	h, err := p.handle("pop_next")
	if err != nil {
		return 0, Landmarks{}, err
	}
	ms := uint64(0)
	if timeout > 0 {
		ms = (uint64(timeout) + uint64(time.Millisecond) - 1) / uint64(time.Millisecond)
	}
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	if r, ok := p.held.take(0, false); ok {
		return r.ID, r.Landmarks, r.Err
	}
	id, lm, err := popNext(h, p.numPoints, p.chipBytes, C.uint32_t(ms))
	runtime.KeepAlive(p)
	return id, lm, err
}

// chipBuffer is the room for a chip of chipBytes (nil and a NULL pointer for none).
func chipBuffer(chipBytes int) ([]byte, *C.uint8_t) {
	if chipBytes == 0 {
		return nil, nil
	}
	chip := make([]byte, chipBytes)
	return chip, (*C.uint8_t)(unsafe.Pointer(&chip[0]))
}

// landmarksOf converts a pop's result: the points in buf (room for n), the chip in chip, and the
// other fields.
func landmarksOf(res *C.lmgo_pop_result, buf []float32, n int, chip []byte) Landmarks {
	got := int(res.num_points)
	if got > n {
		got = n
	}
	lm := Landmarks{
		Points:    make([]Point, got),
		FaceScore: float32(res.face_score),
		QueueTime: time.Duration(res.queue_us) * time.Microsecond,
		InferTime: time.Duration(res.infer_us) * time.Microsecond,
		Roll:      float32(res.roll),
		TrackBox: Box{float32(res.track_box.x1), float32(res.track_box.y1),
			float32(res.track_box.x2), float32(res.track_box.y2)},
		TrackRoll: float32(res.track_roll),
		Yaw:       float32(res.yaw),
		Pitch:     float32(res.pitch),
		HeadRoll:  float32(res.head_roll),
		Quality: Quality{
			Sharpness:  float32(res.quality.sharpness),
			EyesOpen:   float32(res.quality.eyes_open),
			MouthOpen:  float32(res.quality.mouth_open),
			InterEyePx: float32(res.quality.inter_eye_px),
			Frontal:    float32(res.quality.frontal),
			Overall:    float32(res.quality.overall),
		},
	}
	for i := range lm.Points {
		lm.Points[i] = Point{buf[3*i], buf[3*i+1], buf[3*i+2]}
	}
	if side := int(res.chip_side); side > 0 && 3*side*side <= len(chip) {
		lm.Chip, lm.ChipSide = chip[:3*side*side], side
	}
	return lm
}

// popNext is lm_pop_next on a handle that outlives the call (the caller sees to it).
func popNext(h *C.lm_handle, n, chipBytes int, timeoutMS C.uint32_t) (uint64, Landmarks, error) {
	for tries := 0; ; tries++ {
		buf := make([]float32, 3*n+3) // never empty, so &buf[0] exists
		chip, chipPtr := chipBuffer(chipBytes)
		var res C.lmgo_pop_result
		var id C.uint64_t
		st := C.lmgo_pop_next(h, timeoutMS, &id, (*C.float)(unsafe.Pointer(&buf[0])), C.uint32_t(n),
			chipPtr, C.size_t(len(chip)), &res)
		got := int(res.num_points)
		if Status(st) == StatusBufferTooSmall && got > n && tries == 0 {
			n = got // nothing was consumed: take it again with room for every point
			continue
		}
		if Status(st) != StatusOK {
			return uint64(id), Landmarks{}, fail("pop_next", st)
		}
		return uint64(id), landmarksOf(&res, buf, n, chip), nil
	}
}

// Cancel discards a live id (queued, in flight, or finished and not popped); the id may be
// reused at once, and a PopWait blocked on it returns ErrCancelled. ErrNotFound otherwise.
func (p *Pipeline) Cancel(id uint64) error {
	h, err := p.handle("cancel")
	if err != nil {
		return err
	}
	if _, ok := p.held.take(id, true); ok {
		return nil // held for the caller, so still live: discarded
	}
	st := C.lm_cancel(h, C.uint64_t(id))
	runtime.KeepAlive(p)
	return fail("cancel", st)
}

// Stats returns a consistent snapshot of the pipeline's counters.
func (p *Pipeline) Stats() (Stats, error) {
	h, err := p.handle("stats")
	if err != nil {
		return Stats{}, err
	}
	var s C.lm_stats // no pointers inside: may live in Go memory
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	st := C.lm_get_stats(h, &s)
	runtime.KeepAlive(p)
	if err := fail("stats", st); err != nil {
		return Stats{}, err
	}
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	out := Stats{
		Accepted:        uint64(s.accepted),
		RejectedFull:    uint64(s.rejected_full),
		RejectedInvalid: uint64(s.rejected_invalid),
		Queued:          uint64(s.queued),
		InFlight:        uint64(s.in_flight),
		Ready:           uint64(s.ready),
		Popped:          uint64(s.popped),
		Expired:         uint64(s.expired),
		Cancelled:       uint64(s.cancelled),
		Failed:          uint64(s.failed),
		Batches:         uint64(s.batches),
		QueueP50:        us(s.queue_us_p50),
		QueueP99:        us(s.queue_us_p99),
		InferP50:        us(s.infer_us_p50),
		InferP99:        us(s.infer_us_p99),
		Degraded:        s.degraded != 0,
	}
	out.ReadyCallbacks = uint64(s.ready_callbacks)
	out.ReadyCallbackTime = us(s.ready_callback_us)
	out.ReadyCallbackMax = us(s.ready_callback_max_us)
	out.RemoteRetries = uint64(s.remote_retries)
	out.RemoteFailovers = uint64(s.remote_failovers)
	for i := range out.BatchSizeHist {
		out.BatchSizeHist[i] = uint64(s.batch_size_hist[i])
	}
	return out, nil
}

// ModelInfo describes what the pipeline runs.
func (p *Pipeline) ModelInfo() (ModelInfo, error) {
	h, err := p.handle("model_info")
	if err != nil {
		return ModelInfo{}, err
	}
	var m C.lm_model_info // no pointers inside: may live in Go memory
	m.struct_size = C.size_t(unsafe.Sizeof(m))
	st := C.lm_get_model_info(h, &m)
	runtime.KeepAlive(p)
	if err := fail("model_info", st); err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{
		Backend:        goString(m.backend[:]),
		NumPoints:      int(m.num_points),
		InputWidth:     int(m.input_width),
		InputHeight:    int(m.input_height),
		MaxBatch:       int(m.max_batch),
		FallbackReason: goString(m.fallback_reason[:]),
		Dims:           int(m.dims),
		Scheme:         goString(m.scheme[:]),
		Precision:      Precision(m.precision),
	}, nil
}

// goString reads a NUL-terminated string from a fixed C array, never past its end.
func goString(a []C.char) string {
	b := make([]byte, 0, len(a))
	for _, c := range a {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
