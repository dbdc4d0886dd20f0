// Tests of lmbatch.hpp against the built library. Linked with odr_a.cpp and odr_b.cpp, which
// include the header too. Usage: cpp_wrapper_test astronaut_rgb8_native.raw
#include <lmbatch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

int status_from_a();
int status_from_b();

static int failures = 0;
#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

namespace {

const lmbatch::Box kFace{177.2828f, 80.559f, 271.8469f, 175.1234f};
// The detector's eyes on the astronaut (tests/data/crop.json): the subject's right eye first.
const lmbatch::Point2 kRightEye{203.72534f, 102.96088f}, kLeftEye{249.12488f, 109.49558f};

lmbatch::Landmarks pop_ok(lmbatch::Pipeline &p, uint64_t id) {
  auto r = p.pop_wait(id, std::chrono::seconds(30));
  CHECK(r.ok());
  CHECK(r.landmarks.size() == 468);
  return r.landmarks;
}

// Largest distance between a's and b's points, b's mapped by `map` first.
template <typename Map>
float max_distance(const lmbatch::Landmarks &a, const lmbatch::Landmarks &b, Map map) {
  float worst = a.size() == b.size() && a.size() > 0 ? 0.f : 1e9f;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const lmbatch::Point2 q = map(lmbatch::Point2{b[i].x, b[i].y});
    worst = std::max(worst, std::hypot(a[i].x - q.x, a[i].y - q.y));
  }
  return worst;
}

// lmbatch::Frame and lmbatch::Face through Pipeline::enqueue(Frame, Face): packed frames, NV12
// and I420 built here from the RGB frame, a face turned by its eyes or its roll, next_face().
void decoder_frames_and_tilted_faces(lmbatch::Pipeline &p, const std::vector<uint8_t> &rgb) {
  const lmbatch::Image image{rgb.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8};
  auto same = [](lmbatch::Point2 q) { return q; };

  // A packed frame with an upright face is lm_enqueue exactly.
  CHECK(p.enqueue(100, image, kFace) == lmbatch::Status::Ok);
  CHECK(p.enqueue(101, lmbatch::Frame(image), lmbatch::Face(kFace)) == lmbatch::Status::Ok);
  const auto upright = pop_ok(p, 100);
  const auto upright_frame = pop_ok(p, 101);
  CHECK(max_distance(upright, upright_frame, same) == 0.f);
  CHECK(upright_frame.roll() == 0.f);

  // The tracking fields, as DESIGN defines them from the points: track_roll is the angle of the
  // predicted eye centres (mean of points 33, 133 and of 263, 362); track_box is the square whose
  // side is the larger extent of the points turned by -track_roll about their mean, centred on
  // their box's centre turned back.
  {
    const auto &l = upright;
    const double rx = (l[33].x + l[133].x) / 2.0, ry = (l[33].y + l[133].y) / 2.0;
    const double lx = (l[263].x + l[362].x) / 2.0, ly = (l[263].y + l[362].y) / 2.0;
    const double roll = std::atan2(ly - ry, lx - rx);
    double mx = 0, my = 0;
    for (size_t i = 0; i < l.size(); ++i) mx += l[i].x, my += l[i].y;
    mx /= static_cast<double>(l.size()), my /= static_cast<double>(l.size());
    double u0 = 1e9, u1 = -1e9, v0 = 1e9, v1 = -1e9;
    const double c = std::cos(roll), s = std::sin(roll);
    for (size_t i = 0; i < l.size(); ++i) {
      const double dx = l[i].x - mx, dy = l[i].y - my, u = c * dx + s * dy, v = -s * dx + c * dy;
      u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
    }
    const double uc = (u0 + u1) / 2, vc = (v0 + v1) / 2, d = std::max(u1 - u0, v1 - v0);
    const double cx = mx + c * uc - s * vc, cy = my + s * uc + c * vc;
    const lmbatch::Box tb = l.track_box();
    std::printf("track roll %.4f rad (from the eye points %.4f), track box %.2f %.2f %.2f %.2f\n", l.track_roll(), roll,
                tb.x1, tb.y1, tb.x2, tb.y2);
    CHECK(std::fabs(l.track_roll() - roll) < 1e-4);
    CHECK(std::fabs(tb.x1 - (cx - d / 2)) < 0.01 && std::fabs(tb.x2 - (cx + d / 2)) < 0.01);
    CHECK(std::fabs(tb.y1 - (cy - d / 2)) < 0.01 && std::fabs(tb.y2 - (cy + d / 2)) < 0.01);
  }
  const lmbatch::Box tb = upright.track_box();
  const lmbatch::Face next = upright.next_face();
  CHECK(next.roll && *next.roll == upright.track_roll() && !next.eyes && next.box.x1 == tb.x1);

  // Eyes, or the same angle as a roll, give the same crop, and land the points where the upright
  // crop does (the face is barely tilted).
  const float theta = std::atan2(kLeftEye.y - kRightEye.y, kLeftEye.x - kRightEye.x);
  CHECK(p.enqueue(102, image, lmbatch::Face::with_eyes(kFace, kRightEye, kLeftEye)) == lmbatch::Status::Ok);
  CHECK(p.enqueue(103, image, lmbatch::Face::with_roll(kFace, theta)) == lmbatch::Status::Ok);
  const auto by_eyes = pop_ok(p, 102);
  const auto by_roll = pop_ok(p, 103);
  CHECK(std::fabs(by_eyes.roll() - theta) < 1e-6f && std::fabs(by_roll.roll() - theta) < 1e-6f);
  CHECK(max_distance(by_eyes, by_roll, same) < 1e-3f);
  CHECK(max_distance(upright, by_eyes, same) < 3.f);

  // The frame turned a quarter clockwise: (x, y) -> (512 - y, x). The face turned with it, cropped
  // by its roll, gives the same points turned.
  std::vector<uint8_t> turned(rgb.size());
  for (int y = 0; y < 512; ++y) {
    for (int x = 0; x < 512; ++x) {
      const uint8_t *src = &rgb[(static_cast<size_t>(y) * 512 + static_cast<size_t>(x)) * 3];
      std::copy(src, src + 3, &turned[(static_cast<size_t>(x) * 512 + static_cast<size_t>(511 - y)) * 3]);
    }
  }
  const lmbatch::Box turned_box{512 - kFace.y2, kFace.x1, 512 - kFace.y1, kFace.x2};
  const auto quarter = lmbatch::Frame::packed(turned.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8);
  CHECK(p.enqueue(104, quarter, lmbatch::Face::with_roll(turned_box, theta + 3.14159265f / 2)) == lmbatch::Status::Ok);
  const auto turned_points = pop_ok(p, 104);
  const float quarter_error =
      max_distance(by_roll, turned_points, [](lmbatch::Point2 q) { return lmbatch::Point2{q.y, 512 - q.x}; });
  CHECK(quarter_error < 1.5f);

  // NV12 and I420 of an odd-sized part of the frame (511x509), BT.601 full range, chroma averaged
  // over 2x2 pixels (so sited at the centre).
  const uint32_t w = 511, h = 509, cw = (w + 1) / 2, ch = (h + 1) / 2;
  std::vector<uint8_t> y_plane(static_cast<size_t>(w + 3) * h), u_plane(static_cast<size_t>(cw) * ch),
      v_plane(static_cast<size_t>(cw) * ch), uv_plane(static_cast<size_t>(2 * cw + 5) * ch);
  auto at = [&](uint32_t x, uint32_t y, int c) {
    return static_cast<double>(rgb[(static_cast<size_t>(std::min(y, h - 1)) * 512 + std::min(x, w - 1)) * 3 + static_cast<size_t>(c)]);
  };
  auto luma = [&](uint32_t x, uint32_t y) { return 0.299 * at(x, y, 0) + 0.587 * at(x, y, 1) + 0.114 * at(x, y, 2); };
  auto byte = [](double v) { return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, v)))); };
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) y_plane[static_cast<size_t>(y) * (w + 3) + x] = byte(luma(x, y));
  }
  for (uint32_t y = 0; y < ch; ++y) {
    for (uint32_t x = 0; x < cw; ++x) {
      double u = 0, v = 0;
      for (uint32_t k = 0; k < 4; ++k) {
        const uint32_t sx = 2 * x + (k & 1), sy = 2 * y + (k >> 1);
        const double l = luma(sx, sy);
        u += 128 + 0.564334 * (at(sx, sy, 2) - l);
        v += 128 + 0.713267 * (at(sx, sy, 0) - l);
      }
      u_plane[static_cast<size_t>(y) * cw + x] = uv_plane[static_cast<size_t>(y) * (2 * cw + 5) + 2 * x] = byte(u / 4);
      v_plane[static_cast<size_t>(y) * cw + x] = uv_plane[static_cast<size_t>(y) * (2 * cw + 5) + 2 * x + 1] = byte(v / 4);
    }
  }
  const auto nv12 = lmbatch::Frame::nv12(y_plane.data(), w + 3, uv_plane.data(), 2 * cw + 5, w, h)
                        .with_colorimetry(lmbatch::ColorMatrix::Bt601, lmbatch::ColorRange::Full,
                                          lmbatch::ChromaLocation::Center);
  const auto i420 = lmbatch::Frame::i420(y_plane.data(), w + 3, u_plane.data(), cw, v_plane.data(), cw, w, h)
                        .with_colorimetry(lmbatch::ColorMatrix::Bt601, lmbatch::ColorRange::Full,
                                          lmbatch::ChromaLocation::Center);
  CHECK(p.enqueue(105, nv12, kFace) == lmbatch::Status::Ok);
  CHECK(p.enqueue(106, i420, lmbatch::Face::with_eyes(kFace, kRightEye, kLeftEye)) == lmbatch::Status::Ok);
  const auto from_nv12 = pop_ok(p, 105);
  const auto from_i420 = pop_ok(p, 106);
  CHECK(max_distance(upright, from_nv12, same) < 1.5f);
  CHECK(max_distance(by_eyes, from_i420, same) < 1.5f);
  CHECK(from_nv12.face_score() > 0.9f && from_i420.face_score() > 0.9f);

  // Refused with INVALID_ARGUMENT: a missing chroma plane, an unknown matrix code, a NaN roll.
  auto no_uv = nv12;
  no_uv.planes[1] = nullptr;
  CHECK(p.enqueue(107, no_uv, kFace) == lmbatch::Status::InvalidArgument);
  CHECK(p.enqueue(107, nv12.with_colorimetry(static_cast<lmbatch::ColorMatrix>(3)), kFace) ==
        lmbatch::Status::InvalidArgument);
  CHECK(p.enqueue(107, nv12, lmbatch::Face::with_roll(kFace, std::nanf(""))) == lmbatch::Status::InvalidArgument);
  // A decoder format through the old Image path is refused, not misread.
  CHECK(p.enqueue(107, lmbatch::Image{y_plane.data(), w, h, w + 3, lmbatch::PixelFormat::Nv12}, kFace) ==
        lmbatch::Status::InvalidArgument);
  CHECK(p.pop(107).status == lmbatch::Status::NotFound);
  std::printf("decoder frames: NV12 %.3f px, I420 %.3f px from the packed points; quarter turn %.3f px\n",
              max_distance(upright, from_nv12, same), max_distance(by_eyes, from_i420, same), quarter_error);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(rgb.size() == 512u * 512u * 3u);
  const lmbatch::Image frame{rgb.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8};
  const lmbatch::Box face{177.2828f, 80.559f, 271.8469f, 175.1234f};

  CHECK(status_from_a() == LM_STATUS_QUEUE_FULL && status_from_b() == LM_STATUS_PENDING);

  // Defaults come from lm_config_init.
  lmbatch::Config defaults;
  CHECK(defaults.max_batch == 32 && defaults.queue_capacity == 96 && defaults.max_wait.count() == 10000);
  CHECK(defaults.backend == lmbatch::Backend::Auto && defaults.result_ttl.count() == 30000);

  // The constructor throws with the status and the library's message.
  {
    lmbatch::Config bad;
    bad.max_batch = 0;
    bool thrown = false;
    try {
      lmbatch::Pipeline p(bad);
    } catch (const lmbatch::Error &e) {
      thrown = true;
      CHECK(e.status() == lmbatch::Status::InvalidArgument);
      CHECK(std::string(e.what()).find("max_batch") != std::string::npos);
    }
    CHECK(thrown);
    lmbatch::Config trt;
    trt.backend = lmbatch::Backend::TensorRT;
    thrown = false;
    try {
      lmbatch::Pipeline p(trt);
    } catch (const lmbatch::Error &e) {
      thrown = true;
      CHECK(e.status() == lmbatch::Status::BackendUnavailable);
    }
    CHECK(thrown);
  }

  std::mutex log_mutex;
  std::vector<std::string> logged;
  lmbatch::Config config;
  config.backend = lmbatch::Backend::Cpu;
  config.max_wait = std::chrono::microseconds(0);
  config.log = [&](int, const char *message) {
    std::lock_guard<std::mutex> lock(log_mutex);
    logged.emplace_back(message);
  };
  lmbatch::Pipeline pipeline(config);
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    CHECK(!logged.empty());
  }
  CHECK(pipeline.model_info().backend == "cpu-tract");
  CHECK(pipeline.model_info().num_points == 468);
  CHECK(pipeline.model_info().dims == 3 && pipeline.model_info().scheme == "mediapipe468");
  CHECK(pipeline.model_info().precision == LM_PRECISION_FP32);

  CHECK(pipeline.enqueue(1, frame, face) == lmbatch::Status::Ok);
  CHECK(pipeline.enqueue(1, frame, face) == lmbatch::Status::DuplicateId);
  CHECK(pipeline.enqueue(2, frame, lmbatch::Box{10, 10, 5, 20}) == lmbatch::Status::InvalidArgument);
  lmbatch::Image no_data = frame;
  no_data.data = nullptr;
  CHECK(pipeline.enqueue(3, no_data, face) == lmbatch::Status::InvalidArgument);

  // Moving the pipeline keeps the handle (and the log callback) alive.
  lmbatch::Pipeline moved(std::move(pipeline));
  auto result = moved.pop_wait(1, std::chrono::seconds(30));
  CHECK(result.ok());
  CHECK(result.landmarks.size() == 468);
  const auto nose = result.landmarks[1];
  CHECK(std::hypot(nose.x - 223.65218f, nose.y - 131.01866f) < 1.5f);
  const auto eye = result.landmarks[263];
  CHECK(std::hypot(eye.x - 256.41855f, eye.y - 103.96334f) < 1.5f);
  CHECK(result.landmarks.face_score() > 0.9f);
  // ABI 1.4: the pose of a near-frontal face, and its quality.
  CHECK(std::fabs(result.landmarks.yaw()) < 0.3f && std::fabs(result.landmarks.head_roll()) < 0.3f);
  CHECK(result.landmarks.quality().overall > 0.2f && result.landmarks.quality().overall <= 1.0f);
  CHECK(result.landmarks.data()[263 * 3] == eye.x);

  CHECK(moved.pop(1).status == lmbatch::Status::NotFound);
  CHECK(moved.cancel(1) == lmbatch::Status::NotFound);
  const lm_stats s = moved.stats();
  CHECK(s.accepted == 1 && s.popped == 1 && s.rejected_invalid == 2);
  // The moved-from object is empty: its calls report NULL_ARGUMENT, its destructor does nothing.
  CHECK(pipeline.native() == nullptr);
  CHECK(pipeline.enqueue(9, frame, face) == lmbatch::Status::NullArgument);

  lmbatch::Pipeline assigned(config);
  assigned = std::move(moved);
  CHECK(assigned.enqueue(4, frame, face) == lmbatch::Status::Ok);
  CHECK(assigned.pop_wait(4, std::chrono::seconds(30)).ok());

  decoder_frames_and_tilted_faces(assigned, rgb);

  // Durations reach the C ABI clamped to [0, UINT32_MAX]: -1 ms is "do not wait", not 49.7 days.
  static_assert(lmbatch::detail::clamp_u32(-1) == 0u, "negative is 0");
  static_assert(lmbatch::detail::clamp_u32(0x1FFFFFFFFll) == 0xFFFFFFFFu, "too large is UINT32_MAX");
  static_assert(lmbatch::detail::clamp_u32(1234) == 1234u, "in range is kept");
  {
    // A lone face waits for its batch's 3 s deadline: a negative wait answers Pending at once.
    lmbatch::Config slow = config;
    slow.max_wait = std::chrono::seconds(3);
    lmbatch::Pipeline p(slow);
    CHECK(p.enqueue(5, frame, face) == lmbatch::Status::Ok);
    const auto started = std::chrono::steady_clock::now();
    CHECK(p.pop_wait(5, std::chrono::milliseconds(-1)).status == lmbatch::Status::Pending);
    CHECK(!p.pop_next(std::chrono::milliseconds(-5)).has_value());
    const auto waited = std::chrono::steady_clock::now() - started;
    // Only a hang must show: anything near the 3 s deadline means the call waited.
    CHECK(waited < std::chrono::milliseconds(2500));
    CHECK(p.pop_wait(5, std::chrono::seconds(30)).ok());
  }

  std::printf("cpp_wrapper_test: %s (%d failures)\n", failures == 0 ? "ok" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
