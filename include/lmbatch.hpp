// lmbatch.hpp: a header-only C++17 wrapper over the C ABI in lmbatch.h.
//
// - lmbatch::Pipeline owns an lm_handle (RAII, move-only); its destructor calls lm_destroy.
// - Only the constructor throws (lmbatch::Error, with the status and lm_create's message);
//   every other call returns a Status or a PopResult carrying one.
// - Thread safety is the C ABI's: enqueue, pop, pop_wait, pop_next, cancel, stats and model_info
//   may run on many threads at once; destruction and move-assignment must not race them (join a
//   pop_next consumer, which waits with a timeout, before the Pipeline goes).
// - Completion (ABI 1.3): one consumer thread loops on pop_next for every id, or
//   Config::on_ready announces each final state on the library's worker thread.
#ifndef LMBATCH_HPP
#define LMBATCH_HPP

#include "lmbatch.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace lmbatch {

namespace detail {
// A count (milliseconds or microseconds) as the C ABI's uint32_t: negative is 0, too large is
// UINT32_MAX. A plain cast would turn -1 ms into about 49.7 days.
template <typename Rep>
constexpr uint32_t clamp_u32(Rep count) noexcept {
  return count <= Rep(0) ? 0u
         : static_cast<unsigned long long>(count) >= 0xFFFFFFFFull ? 0xFFFFFFFFu
                                                                   : static_cast<uint32_t>(count);
}
}  // namespace detail

// The C statuses as a scoped enum; the values are the C values.
enum class Status : int32_t {
  Ok = LM_STATUS_OK,
  NullArgument = LM_STATUS_NULL_ARGUMENT,
  InvalidArgument = LM_STATUS_INVALID_ARGUMENT,
  QueueFull = LM_STATUS_QUEUE_FULL,
  Pending = LM_STATUS_PENDING,
  NotFound = LM_STATUS_NOT_FOUND,
  Expired = LM_STATUS_EXPIRED,
  Cancelled = LM_STATUS_CANCELLED,
  InferenceFailed = LM_STATUS_INFERENCE_FAILED,
  DuplicateId = LM_STATUS_DUPLICATE_ID,
  Timeout = LM_STATUS_TIMEOUT,
  BufferTooSmall = LM_STATUS_BUFFER_TOO_SMALL,
  BackendUnavailable = LM_STATUS_BACKEND_UNAVAILABLE,
  ModelError = LM_STATUS_MODEL_ERROR,
  ShuttingDown = LM_STATUS_SHUTTING_DOWN,
  Panic = LM_STATUS_PANIC,
  Internal = LM_STATUS_INTERNAL,
};

// A static description of a status ("queue full", ...).
inline const char *to_string(Status s) noexcept { return lm_status_string(static_cast<int32_t>(s)); }

enum class PixelFormat : int32_t {
  Bgr8 = LM_PIXEL_FORMAT_BGR8,
  Rgb8 = LM_PIXEL_FORMAT_RGB8,
  Bgra8 = LM_PIXEL_FORMAT_BGRA8,
  Rgba8 = LM_PIXEL_FORMAT_RGBA8,
  Gray8 = LM_PIXEL_FORMAT_GRAY8,
  // Decoder formats (ABI 1.3), for Frame only: lm_enqueue refuses them.
  Nv12 = LM_PIXEL_FORMAT_NV12,  // Y plane, then interleaved U,V at half resolution
  Nv21 = LM_PIXEL_FORMAT_NV21,  // as Nv12, V before U
  I420 = LM_PIXEL_FORMAT_I420,  // Y, U, V planes, chroma at half resolution (YV12: swap U and V)
  P010 = LM_PIXEL_FORMAT_P010,  // as Nv12, 16-bit little-endian samples, 10 high bits significant
  P016 = LM_PIXEL_FORMAT_P016,  // as Nv12, 16-bit little-endian samples
  I010 = LM_PIXEL_FORMAT_I010,  // (ABI 1.4) as I420, 16-bit little-endian samples, 10 LOW bits (yuv420p10le)
};

// Colorimetry of a YUV Frame (ignored for packed formats). The values are FFmpeg's AVColorSpace,
// AVColorRange and AVChromaLocation (ITU-T H.273), so an AVFrame's fields convert with a cast.
enum class ColorMatrix : int32_t {
  Auto = LM_COLOR_MATRIX_AUTO,  // BT.709 from 1280 wide or 577 high, else BT.601
  Bt709 = LM_COLOR_MATRIX_BT709,
  Unspecified = LM_COLOR_MATRIX_UNSPECIFIED,  // as Auto
  Bt601 = LM_COLOR_MATRIX_BT601,
  Smpte170m = LM_COLOR_MATRIX_SMPTE170M,  // as Bt601
  Bt2020 = LM_COLOR_MATRIX_BT2020,
};
enum class ColorRange : int32_t {
  Auto = LM_COLOR_RANGE_AUTO,  // limited
  Limited = LM_COLOR_RANGE_LIMITED,
  Full = LM_COLOR_RANGE_FULL,
};
enum class ChromaLocation : int32_t {
  Auto = LM_CHROMA_LOCATION_AUTO,  // left
  Left = LM_CHROMA_LOCATION_LEFT,
  Center = LM_CHROMA_LOCATION_CENTER,
  TopLeft = LM_CHROMA_LOCATION_TOPLEFT,
};

enum class Backend : int32_t {
  Auto = LM_BACKEND_AUTO,
  Cpu = LM_BACKEND_CPU,
  TensorRT = LM_BACKEND_TENSORRT,
  OnnxRuntime = LM_BACKEND_ONNXRUNTIME,
  Remote = LM_BACKEND_REMOTE,  // an Open Inference Protocol server (remote_* below)
  OpenVino = LM_BACKEND_OPENVINO,  // OpenVINO on the CPU (OPENVINO_LIB_PATH); ABI 1.4
};

// Thrown by Pipeline's constructor only.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string &message)
      : std::runtime_error(std::string(to_string(status)) + (message.empty() ? "" : ": " + message)),
        status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

// A view of the caller's frame; only read during enqueue.
struct Image {
  const uint8_t *data = nullptr;
  uint32_t width = 0;
  uint32_t height = 0;
  size_t stride = 0;  // bytes per row
  PixelFormat format = PixelFormat::Bgr8;
};

// A detector box in frame pixels.
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

struct Point {
  float x, y, z;
};

// A point in frame pixels.
struct Point2 {
  float x = 0, y = 0;
};

// A view of a frame in any format lm_enqueue_frame reads: up to four planes, each with its own
// pointer and stride (bytes per row). Only read during enqueue; nothing is copied here.
struct Frame {
  PixelFormat format = PixelFormat::Bgr8;
  uint32_t width = 0;
  uint32_t height = 0;
  const void *planes[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t strides[4] = {0, 0, 0, 0};
  ColorMatrix color_matrix = ColorMatrix::Auto;
  ColorRange color_range = ColorRange::Auto;
  ChromaLocation chroma_location = ChromaLocation::Auto;

  Frame() = default;
  // A packed frame (what Image describes), so that an Image passes where a Frame is wanted.
  Frame(const Image &image) noexcept  // NOLINT: implicit on purpose
      : format(image.format), width(image.width), height(image.height), planes{image.data, nullptr, nullptr, nullptr},
        strides{image.stride, 0, 0, 0} {}

  static Frame packed(const uint8_t *data, uint32_t width, uint32_t height, size_t stride, PixelFormat format) noexcept {
    return Frame(Image{data, width, height, stride, format});
  }
  // Two-plane formats: Nv12 (the default), Nv21, P010, P016.
  static Frame nv12(const void *y, size_t y_stride, const void *uv, size_t uv_stride, uint32_t width, uint32_t height,
                    PixelFormat format = PixelFormat::Nv12) noexcept {
    Frame f;
    f.format = format;
    f.width = width;
    f.height = height;
    f.planes[0] = y;
    f.planes[1] = uv;
    f.strides[0] = y_stride;
    f.strides[1] = uv_stride;
    return f;
  }
  static Frame i420(const uint8_t *y, size_t y_stride, const uint8_t *u, size_t u_stride, const uint8_t *v,
                    size_t v_stride, uint32_t width, uint32_t height) noexcept {
    Frame f = nv12(y, y_stride, u, u_stride, width, height, PixelFormat::I420);
    f.planes[2] = v;
    f.strides[2] = v_stride;
    return f;
  }
  // (ABI 1.4) FFmpeg's yuv420p10le (its software HEVC/AV1 Main10 decoders' output): three planes
  // of 16-bit samples, 10 low bits significant; strides in bytes.
  static Frame i010(const uint16_t *y, size_t y_stride, const uint16_t *u, size_t u_stride, const uint16_t *v,
                    size_t v_stride, uint32_t width, uint32_t height) noexcept {
    Frame f = nv12(y, y_stride, u, u_stride, width, height, PixelFormat::I010);
    f.planes[2] = v;
    f.strides[2] = v_stride;
    return f;
  }
  // The same view with these colorimetry codes (e.g. an AVFrame's colorspace, color_range and
  // chroma_location, cast).
  Frame with_colorimetry(ColorMatrix matrix, ColorRange range = ColorRange::Auto,
                         ChromaLocation location = ChromaLocation::Auto) const noexcept {
    Frame f = *this;
    f.color_matrix = matrix;
    f.color_range = range;
    f.chroma_location = location;
    return f;
  }

  lm_frame native() const noexcept {
    lm_frame f{};
    f.struct_size = sizeof f;
    f.format = static_cast<int32_t>(format);
    f.width = width;
    f.height = height;
    for (int i = 0; i < 4; ++i) {
      f.planes[i] = planes[i];
      f.strides[i] = strides[i];
    }
    f.color_matrix = static_cast<int32_t>(color_matrix);
    f.color_range = static_cast<int32_t>(color_range);
    f.chroma_location = static_cast<int32_t>(chroma_location);
    f.memory = LM_MEMORY_HOST;
    return f;
  }
};

// The subject's eyes as a detector gives them: `right` is the SUBJECT's right eye (image left on an
// upright frontal face).
struct Eyes {
  Point2 right, left;
};

// A face to crop: the detector box and, optionally, how the face is tilted. With neither eyes nor
// roll the crop is upright, exactly as enqueue(Image, Box); eyes win over roll.
struct Face {
  Box box;
  std::optional<Eyes> eyes;
  std::optional<float> roll;  // radians: the angle of the line right eye -> left eye, y down

  Face() = default;
  Face(const Box &b) noexcept : box(b) {}  // NOLINT: implicit on purpose, an upright face
  static Face with_eyes(const Box &b, Point2 right_eye, Point2 left_eye) noexcept {
    Face f(b);
    f.eyes = Eyes{right_eye, left_eye};
    return f;
  }
  static Face with_roll(const Box &b, float roll_radians) noexcept {
    Face f(b);
    f.roll = roll_radians;
    return f;
  }

  lm_face native() const noexcept {
    lm_face f{};
    f.struct_size = sizeof f;
    f.box = lm_box{box.x1, box.y1, box.x2, box.y2};
    if (eyes) {
      f.flags |= static_cast<uint32_t>(LM_FACE_EYES);
      f.right_eye[0] = eyes->right.x;
      f.right_eye[1] = eyes->right.y;
      f.left_eye[0] = eyes->left.x;
      f.left_eye[1] = eyes->left.y;
    }
    if (roll) {
      f.flags |= static_cast<uint32_t>(LM_FACE_ROLL);
      f.roll = *roll;
    }
    return f;
  }
};

// One face's landmarks in frame pixels.
class Landmarks {
 public:
  size_t size() const noexcept { return num_points_; }
  bool empty() const noexcept { return num_points_ == 0; }
  Point operator[](size_t i) const noexcept { return Point{xyz_[3 * i], xyz_[3 * i + 1], xyz_[3 * i + 2]}; }
  // size() * 3 floats: x, y, z per point.
  const float *data() const noexcept { return xyz_.data(); }
  float face_score() const noexcept { return face_score_; }
  uint64_t queue_us() const noexcept { return queue_us_; }
  uint64_t infer_us() const noexcept { return infer_us_; }
  // The roll this face was cropped with, radians (0 for an upright crop).
  float roll() const noexcept { return roll_; }
  // Where to look for this face in the next frame: a square box from these points, and the
  // roll of their eye line (ABI 1.3; zero from an older library).
  Box track_box() const noexcept { return track_box_; }
  float track_roll() const noexcept { return track_roll_; }
  // The next frame's Face when following this one between detector runs.
  Face next_face() const noexcept { return Face::with_roll(track_box_, track_roll_); }
  // Head pose, radians (ABI 1.4; NaN where the model's scheme cannot say): yaw > 0 the subject
  // turns to its left, pitch > 0 it looks up, head_roll in roll()'s sense.
  float yaw() const noexcept { return yaw_; }
  float pitch() const noexcept { return pitch_; }
  float head_roll() const noexcept { return head_roll_; }
  // Quality measures (ABI 1.4); quality().overall picks a track's best shot.
  const lm_quality &quality() const noexcept { return quality_; }
  // The aligned recognition chip (ABI 1.4; Config::chip_size > 0): chip_side() squared pixels of
  // 3 bytes in Config::chip_format's order; empty when there is none.
  const std::vector<uint8_t> &chip() const noexcept { return chip_; }
  uint32_t chip_side() const noexcept { return chip_side_; }

 private:
  friend class Pipeline;
  std::vector<float> xyz_;
  size_t num_points_ = 0;
  float face_score_ = 0;
  uint64_t queue_us_ = 0;
  uint64_t infer_us_ = 0;
  float roll_ = 0;
  Box track_box_;
  float track_roll_ = 0;
  float yaw_ = 0, pitch_ = 0, head_roll_ = 0;
  lm_quality quality_{};
  std::vector<uint8_t> chip_;
  uint32_t chip_side_ = 0;
};

// What pop answers: the status and, when it is Ok, the landmarks.
struct PopResult {
  Status status = Status::NotFound;
  Landmarks landmarks;
  bool ok() const noexcept { return status == Status::Ok; }
  explicit operator bool() const noexcept { return ok(); }
};

struct ModelInfo {
  std::string backend;
  uint32_t num_points = 0, input_width = 0, input_height = 0, max_batch = 0;
  std::string fallback_reason;
  uint32_t dims = 0;              // 3, or 2 (z is 0) (ABI 1.4)
  std::string scheme;             // "mediapipe468", "mediapipe478", "five_point", "custom" (ABI 1.4)
  int32_t precision = 0;          // lm_precision: what runs (ABI 1.4)
};

// Log levels: 0 error, 1 warning, 2 info, 3 debug. Called from library threads; must not call
// back into the library.
using LogFunction = std::function<void(int level, const char *message)>;

// Told (event id, Ok / InferenceFailed / Expired) once per final state as it becomes poppable, on
// the library's worker thread with no library lock held: it may call pop, pop_next, cancel and
// stats, never destroy the Pipeline. The worker waits for it, so keep it short. Not called for
// cancelled faces; never after the Pipeline is destroyed (it lives exactly as long).
using ReadyFunction = std::function<void(uint64_t event_id, Status status)>;

// What pop_next answers: whose final state, and the state (Ok with landmarks, InferenceFailed,
// Expired; BufferTooSmall cannot happen, the wrapper sizes the buffer).
struct NextResult {
  uint64_t event_id = 0;
  PopResult result;
};

// Settings; the defaults are lm_config_init's (read from the library, so they cannot drift).
struct Config {
  Config() {
    lm_config c;
    lm_config_init_sized(&c, sizeof c);  // the whole struct this header knows
    backend = static_cast<Backend>(c.backend);
    device_id = c.device_id;
    max_batch = c.max_batch;
    queue_capacity = c.queue_capacity;
    max_wait = std::chrono::microseconds(c.max_wait_us);
    result_capacity = c.result_capacity;
    result_ttl = std::chrono::milliseconds(c.result_ttl_ms);
    drain_timeout = std::chrono::milliseconds(c.drain_timeout_ms);
    opt_batch = c.opt_batch;
    self_check = c.self_check != 0;
    remote_timeout_ms = c.remote_timeout_ms;
    remote_connect_timeout_ms = c.remote_connect_timeout_ms;
  }
  std::string model_path;  // empty: the bundled model
  Backend backend;
  int32_t device_id;
  uint32_t max_batch;       // 1..32
  uint32_t queue_capacity;  // faces waiting for the worker
  std::chrono::microseconds max_wait;      // deadline of a batch from its first face
  uint32_t result_capacity;                // finished results waiting to be popped
  std::chrono::milliseconds result_ttl;     // 0: no limit
  std::chrono::milliseconds drain_timeout;  // 0: destroy discards what is queued
  std::string engine_cache_dir;             // empty: no cache
  uint32_t opt_batch;                       // TensorRT's tuned batch size; 0: max_batch
  bool self_check;                          // batch-invariance check of a GPU engine at create
  LogFunction log;
  // Backend::Remote: "http://host:port,https://host2:port"; model name (empty: face_landmark_u8);
  // model version (empty: the server's choice); "name: value" header lines; PEM roots for https
  // (empty: the system's).
  std::string remote_endpoints, remote_model, remote_model_version, remote_headers, remote_ca_file;
  uint32_t remote_timeout_ms, remote_connect_timeout_ms;
  // Threads a CPU engine (ONNX Runtime, tract) runs one batch on, the worker included; 0: every
  // core. A VMS keeps cores for its decoders. (ABI 1.4)
  uint32_t cpu_threads = 0;
  // What the engines may compute in: an lm_precision value; LM_PRECISION_DEFAULT runs FP32 on
  // the CPU. (ABI 1.4)
  int32_t precision = LM_PRECISION_DEFAULT;
  // The model's descriptor (a TOML file); empty: STEM.lmbatch.toml beside model_path, else the
  // model's metadata, else the bundled descriptor when the names match. (ABI 1.4)
  std::string model_desc_path;
  // The aligned recognition chip's side in px (0: none; 112: ArcFace) and byte order
  // (PixelFormat::Rgb8 or PixelFormat::Bgr8). (ABI 1.4)
  uint32_t chip_size = 0;
  PixelFormat chip_format = PixelFormat::Rgb8;
  ReadyFunction ready;                      // see ReadyFunction; empty: none

  Config &on_ready(ReadyFunction f) {
    ready = std::move(f);
    return *this;
  }
};

class Pipeline {
 public:
  // Creates the pipeline; throws lmbatch::Error with the status and the library's message.
  explicit Pipeline(const Config &config = Config()) : log_(config.log ? new LogFunction(config.log) : nullptr) {
    lm_config c;
    lm_config_init_sized(&c, sizeof c);  // the whole struct this header knows
    c.model_path = config.model_path.empty() ? nullptr : config.model_path.c_str();
    c.backend = static_cast<int32_t>(config.backend);
    c.device_id = config.device_id;
    c.max_batch = config.max_batch;
    c.queue_capacity = config.queue_capacity;
    c.max_wait_us = detail::clamp_u32(config.max_wait.count());
    c.result_capacity = config.result_capacity;
    c.result_ttl_ms = detail::clamp_u32(config.result_ttl.count());
    c.drain_timeout_ms = detail::clamp_u32(config.drain_timeout.count());
    c.engine_cache_dir = config.engine_cache_dir.empty() ? nullptr : config.engine_cache_dir.c_str();
    c.opt_batch = config.opt_batch;
    c.self_check = config.self_check ? 1 : 0;
    const auto text = [](const std::string &v) { return v.empty() ? nullptr : v.c_str(); };
    c.remote_endpoints = text(config.remote_endpoints);
    c.remote_model = text(config.remote_model);
    c.remote_model_version = text(config.remote_model_version);
    c.remote_headers = text(config.remote_headers);
    c.remote_ca_file = text(config.remote_ca_file);
    c.remote_timeout_ms = config.remote_timeout_ms;
    c.remote_connect_timeout_ms = config.remote_connect_timeout_ms;
    c.cpu_threads = config.cpu_threads;
    c.precision = config.precision;
    c.model_desc_path = text(config.model_desc_path);
    c.chip_size = config.chip_size;
    c.chip_format = static_cast<int32_t>(config.chip_format);
    chip_bytes_ = 3 * static_cast<size_t>(config.chip_size) * config.chip_size;
    if (log_) {
      c.log_fn = &Pipeline::log_trampoline;
      c.log_user = log_.get();
    }
    if (config.ready) {
      ready_.reset(new ReadyFunction(config.ready));
      c.ready_fn = &Pipeline::ready_trampoline;
      c.ready_user = ready_.get();
    }
    char message[512] = {0};
    const lm_status s = lm_create(&c, &handle_, message, sizeof message);
    if (s != LM_STATUS_OK) throw Error(static_cast<Status>(s), message);
    lm_model_info info{};
    info.struct_size = sizeof info;
    num_points_ = lm_get_model_info(handle_, &info) == LM_STATUS_OK ? info.num_points : 0;
  }

  ~Pipeline() { lm_destroy(handle_); }

  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;
  Pipeline(Pipeline &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)),
        num_points_(other.num_points_),
        chip_bytes_(other.chip_bytes_),
        log_(std::move(other.log_)),
        ready_(std::move(other.ready_)) {}
  Pipeline &operator=(Pipeline &&other) noexcept {
    if (this != &other) {
      lm_destroy(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
      num_points_ = other.num_points_;
      chip_bytes_ = other.chip_bytes_;
      log_ = std::move(other.log_);
      ready_ = std::move(other.ready_);
    }
    return *this;
  }

  // Queues one face without blocking. Ok, InvalidArgument, QueueFull, DuplicateId, ShuttingDown.
  Status enqueue(uint64_t event_id, const Image &frame, const Box &face) noexcept {
    const lm_image image{frame.data, frame.width, frame.height, frame.stride, static_cast<int32_t>(frame.format)};
    const lm_box box{face.x1, face.y1, face.x2, face.y2};
    return static_cast<Status>(lm_enqueue(handle_, event_id, &image, &box));
  }

  // Queues one face of a frame in any format (packed, NV12, NV21, I420, P010, P016, I010), cropped
  // upright or turned by the face's eyes or roll. Same statuses as enqueue(Image, Box).
  Status enqueue(uint64_t event_id, const Frame &frame, const Face &face) noexcept {
    const lm_frame f = frame.native();
    const lm_face c = face.native();
    return static_cast<Status>(lm_enqueue_frame(handle_, event_id, &f, &c));
  }

  // The final state once (Ok with landmarks, or InferenceFailed); Pending; Expired; NotFound.
  PopResult pop(uint64_t event_id) { return pop_wait(event_id, std::chrono::milliseconds(0)); }

  // Waits up to `timeout` (negative: 0, i.e. pop; beyond UINT32_MAX ms: UINT32_MAX) for a pending
  // face: also Timeout, Cancelled.
  PopResult pop_wait(uint64_t event_id, std::chrono::milliseconds timeout) {
    PopResult result;
    lm_landmarks out = buffers(result.landmarks);
    result.status = static_cast<Status>(
        lm_pop_wait(handle_, event_id, detail::clamp_u32(timeout.count()), &out));
    fill(result, out);
    return result;
  }

  // The earliest-finished final state of any id, waiting up to `timeout` (clamped as pop_wait's);
  // nullopt on Timeout.
  // Each final state goes to exactly one of pop / pop_wait / pop_next. A consumer loops with a
  // finite timeout and is joined before the Pipeline is destroyed.
  std::optional<NextResult> pop_next(std::chrono::milliseconds timeout) {
    NextResult next;
    PopResult &result = next.result;
    lm_landmarks out = buffers(result.landmarks);
    result.status = static_cast<Status>(
        lm_pop_next(handle_, detail::clamp_u32(timeout.count()), &next.event_id, &out));
    if (result.status == Status::Timeout) return std::nullopt;
    fill(result, out);
    return next;
  }

  // Ok if the id was live (it is discarded); NotFound otherwise.
  Status cancel(uint64_t event_id) noexcept { return static_cast<Status>(lm_cancel(handle_, event_id)); }

  // A consistent snapshot of the counters (a zeroed struct if the handle was moved from).
  lm_stats stats() const noexcept {
    lm_stats s{};
    s.struct_size = sizeof s;
    lm_get_stats(handle_, &s);
    return s;
  }

  ModelInfo model_info() const {
    lm_model_info info{};
    info.struct_size = sizeof info;
    ModelInfo result;
    if (lm_get_model_info(handle_, &info) == LM_STATUS_OK) {
      result.backend = info.backend;
      result.num_points = info.num_points;
      result.input_width = info.input_width;
      result.input_height = info.input_height;
      result.max_batch = info.max_batch;
      result.fallback_reason = info.fallback_reason;
      result.dims = info.dims;
      result.scheme = info.scheme;
      result.precision = info.precision;
    }
    return result;
  }

  // The C handle, for calls the wrapper does not cover; still owned by this object.
  lm_handle *native() const noexcept { return handle_; }

 private:
  // An lm_landmarks over `l`'s buffers, sized for this pipeline's points and chip.
  lm_landmarks buffers(Landmarks &l) const {
    l.xyz_.resize(3 * static_cast<size_t>(num_points_));
    l.chip_.resize(chip_bytes_);
    lm_landmarks out{};
    out.struct_size = sizeof out;
    out.points = l.xyz_.data();
    out.capacity = num_points_;
    out.chip = chip_bytes_ > 0 ? l.chip_.data() : nullptr;
    out.chip_capacity = chip_bytes_;
    return out;
  }

  // Copies what the library wrote into `out` for an Ok result; else drops the buffer.
  static void fill(PopResult &result, const lm_landmarks &out) {
    if (result.ok()) {
      result.landmarks.num_points_ = out.num_points;
      result.landmarks.face_score_ = out.face_score;
      result.landmarks.queue_us_ = out.queue_us;
      result.landmarks.infer_us_ = out.infer_us;
      result.landmarks.roll_ = out.roll;
      result.landmarks.track_box_ = Box{out.track_box.x1, out.track_box.y1, out.track_box.x2, out.track_box.y2};
      result.landmarks.track_roll_ = out.track_roll;
      result.landmarks.yaw_ = out.yaw;
      result.landmarks.pitch_ = out.pitch;
      result.landmarks.head_roll_ = out.head_roll;
      result.landmarks.quality_ = out.quality;
      result.landmarks.chip_side_ = out.chip_side;
      result.landmarks.chip_.resize(3 * static_cast<size_t>(out.chip_side) * out.chip_side);
    } else {
      result.landmarks.xyz_.clear();
      result.landmarks.chip_.clear();
    }
  }

  static void ready_trampoline(uint64_t event_id, lm_status status, void *user) {
    try {
      (*static_cast<ReadyFunction *>(user))(event_id, static_cast<Status>(status));
    } catch (...) {
      // An exception must not unwind into the library's worker thread.
    }
  }

  static void log_trampoline(int32_t level, const char *message, void *user) {
    try {
      (*static_cast<LogFunction *>(user))(level, message);
    } catch (...) {
      // An exception must not unwind into the library's threads.
    }
  }

  lm_handle *handle_ = nullptr;
  uint32_t num_points_ = 0;
  size_t chip_bytes_ = 0;
  // On the heap, so its address (the log callback's user pointer) survives moves.
  std::unique_ptr<LogFunction> log_;
  // On the heap for the same reason; destroyed after lm_destroy, so no call outlives it.
  std::unique_ptr<ReadyFunction> ready_;
};

}  // namespace lmbatch

#endif  // LMBATCH_HPP
