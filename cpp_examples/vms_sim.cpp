// vms_sim: a video-management system in miniature. N camera threads each produce frames at a set
// rate with several faces per frame (the bundled photo's face, with detector-like jitter) and
// enqueue every face without blocking. ONE consumer thread serves every camera: it loops on
// pop_next (the completion queue of ABI 1.3), whatever the id, and keeps each track's best face
// (by quality.overall; with --best-shot DIR also its aligned 112x112 chip, written as DIR/*.png),
// as a VMS does. Prints what happened, including how long the frame threads spent in
// lm_enqueue: they never wait for inference, and no thread waits per id.
//
// Usage: vms_sim FRAME.raw [--cameras 8] [--fps 10] [--faces 2] [--seconds 5] [--track-frames 20]
//                          [--nv12] [--tilt DEG] [--remote http://host:8001[,http://host2:8001]]
//                          [--best-shot DIR]
//        (FRAME.raw: the 512x512 RGB8 astronaut frame of tests/data/faces)
// --nv12: the cameras hold NV12 frames, as a decoder gives them (lm_enqueue_frame, no conversion).
// --tilt DEG: the frame is turned by DEG degrees about the face, and each face is passed with
// the detector's eyes, so the crops turn with it.
#include <lmbatch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int cameras = 8;
  int fps = 10;
  int faces = 2;
  double seconds = 5;
  int track_frames = 20;
  bool nv12 = false;
  double tilt_deg = 0;
  std::string remote;  // --remote URL[,URL]: LM_BACKEND_REMOTE on these servers
  std::string best_shot;  // --best-shot DIR: each track's best chip as DIR/camC_trackT.png
};

// The side of the aligned recognition chip --best-shot asks for (ArcFace's 112).
constexpr uint32_t kChipSide = 112;

// A track's best face so far.
struct Best {
  uint64_t id = 0;
  float overall = -1, face_score = -1;
  std::vector<uint8_t> chip;
};

struct Track {
  uint64_t number = 0;  // per camera; part of each face's id
  int frames_left = 0;
  float dx = 0, dy = 0, scale = 1;
};

// What one camera saw; merged at the end.
struct Tally {
  uint64_t enqueued = 0, accepted = 0, queue_full = 0, invalid = 0, other = 0;
  uint64_t tracks = 0, frames = 0, late_frames = 0;
  std::vector<uint32_t> enqueue_ns;
};

// What the one consumer saw, for every camera.
struct Consumed {
  uint64_t ok = 0, expired = 0, failed = 0, other = 0;
  std::map<uint64_t, Best> best_by_track;   // (camera, track) -> its best face
  std::atomic<uint64_t> finals{0};           // read by main while the consumer runs
};

const lmbatch::Box kFace{177.2828f, 80.559f, 271.8469f, 175.1234f};
// The detector's eyes on that face (tests/data/crop.json): the subject's right eye first.
const lmbatch::Point2 kRightEye{203.72534f, 102.96088f}, kLeftEye{249.12488f, 109.49558f};

// What a camera holds: the photo as RGB8 or NV12, turned by --tilt about the face centre (the
// box stays centred there; the eyes turn with the face).
struct Scene {
  std::vector<uint8_t> rgb, y, uv;
  lmbatch::Frame frame;
  std::optional<lmbatch::Eyes> eyes;

  lmbatch::Face face(const lmbatch::Box &box) const {
    lmbatch::Face f(box);
    f.eyes = eyes;
    return f;
  }
};

Scene make_scene(const Options &o, const std::vector<uint8_t> &photo) {
  Scene s;
  s.rgb = photo;
  const float cx = (kFace.x1 + kFace.x2) / 2, cy = (kFace.y1 + kFace.y2) / 2;
  const double a = o.tilt_deg * 3.14159265358979323846 / 180, c = std::cos(a), sn = std::sin(a);
  if (o.tilt_deg != 0) {
    // Inverse mapping, bilinear, edges replicated: pixel centre q samples the photo at R(-a)(q - centre).
    auto at = [&](int x, int y, int k) {
      x = std::min(511, std::max(0, x)), y = std::min(511, std::max(0, y));
      return static_cast<double>(photo[(static_cast<size_t>(y) * 512 + static_cast<size_t>(x)) * 3 + static_cast<size_t>(k)]);
    };
    for (int y = 0; y < 512; ++y) {
      for (int x = 0; x < 512; ++x) {
        const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        const double sx = cx + c * dx + sn * dy - 0.5, sy = cy - sn * dx + c * dy - 0.5;
        const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
        const double fx = sx - x0, fy = sy - y0;
        for (int k = 0; k < 3; ++k) {
          const double v = (1 - fy) * ((1 - fx) * at(x0, y0, k) + fx * at(x0 + 1, y0, k)) +
                           fy * ((1 - fx) * at(x0, y0 + 1, k) + fx * at(x0 + 1, y0 + 1, k));
          s.rgb[(static_cast<size_t>(y) * 512 + static_cast<size_t>(x)) * 3 + static_cast<size_t>(k)] =
              static_cast<uint8_t>(std::lround(v));
        }
      }
    }
    auto turn = [&](lmbatch::Point2 p) {
      const double dx = p.x - cx, dy = p.y - cy;
      return lmbatch::Point2{static_cast<float>(cx + c * dx - sn * dy), static_cast<float>(cy + sn * dx + c * dy)};
    };
    s.eyes = lmbatch::Eyes{turn(kRightEye), turn(kLeftEye)};
  }
  s.frame = lmbatch::Frame::packed(s.rgb.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8);
  if (o.nv12) {  // BT.601 limited range, chroma averaged over 2x2 pixels (centre-sited)
    s.y.resize(512 * 512);
    s.uv.resize(512 * 256);
    auto px = [&](int x, int y, int k) { return static_cast<double>(s.rgb[(static_cast<size_t>(y) * 512 + static_cast<size_t>(x)) * 3 + static_cast<size_t>(k)]); };
    auto luma = [&](int x, int y) { return 0.299 * px(x, y, 0) + 0.587 * px(x, y, 1) + 0.114 * px(x, y, 2); };
    auto byte = [](double v) { return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, v)))); };
    for (int y = 0; y < 512; ++y) {
      for (int x = 0; x < 512; ++x) s.y[static_cast<size_t>(y) * 512 + static_cast<size_t>(x)] = byte(16 + luma(x, y) * 219 / 255);
    }
    for (int y = 0; y < 256; ++y) {
      for (int x = 0; x < 256; ++x) {
        double u = 0, v = 0;
        for (int k = 0; k < 4; ++k) {
          const int sx = 2 * x + (k & 1), sy = 2 * y + (k >> 1);
          u += (px(sx, sy, 2) - luma(sx, sy)) * 0.564334 * 224 / 255;
          v += (px(sx, sy, 0) - luma(sx, sy)) * 0.713267 * 224 / 255;
        }
        s.uv[static_cast<size_t>(y) * 512 + 2 * static_cast<size_t>(x)] = byte(128 + u / 4);
        s.uv[static_cast<size_t>(y) * 512 + 2 * static_cast<size_t>(x) + 1] = byte(128 + v / 4);
      }
    }
    s.frame = lmbatch::Frame::nv12(s.y.data(), 512, s.uv.data(), 512, 512, 512)
                  .with_colorimetry(lmbatch::ColorMatrix::Bt601, lmbatch::ColorRange::Limited,
                                    lmbatch::ChromaLocation::Center);
  }
  return s;
}

// Id layout: camera in the top 16 bits, track in the next 24, face sequence in the low 24.
uint64_t face_id(int camera, uint64_t track, uint64_t seq) {
  return (static_cast<uint64_t>(camera) << 48) | ((track & 0xFFFFFF) << 24) | (seq & 0xFFFFFF);
}
uint64_t track_of(uint64_t id) { return id >> 24; }

// The one consumer: pop_next for every camera's faces until told to stop. The timeout is finite
// so that it sees `stop` and is joined before the Pipeline is destroyed.
void consume(lmbatch::Pipeline &p, const std::atomic<bool> &stop, Consumed &c) {
  while (!stop.load()) {
    const auto next = p.pop_next(std::chrono::milliseconds(50));
    if (!next) continue;  // nothing finished within 50 ms
    switch (next->result.status) {
      case lmbatch::Status::Ok: {
        ++c.ok;
        const lmbatch::Landmarks &l = next->result.landmarks;
        Best &best = c.best_by_track[track_of(next->event_id)];
        if (l.quality().overall > best.overall) {
          best.id = next->event_id, best.overall = l.quality().overall, best.face_score = l.face_score();
          best.chip = l.chip();
        }
        break;
      }
      case lmbatch::Status::Expired:
        ++c.expired;
        break;
      case lmbatch::Status::InferenceFailed:
        ++c.failed;
        break;
      default:
        ++c.other;  // a bug
        break;
    }
    ++c.finals;
  }
}

void camera(int index, const Options &o, const std::vector<uint8_t> &rgb, lmbatch::Pipeline &p, Tally &t) {
  std::mt19937 rng(1234u + static_cast<unsigned>(index));
  std::uniform_real_distribution<float> jitter(-6.f, 6.f), zoom(0.85f, 1.15f);
  std::uniform_int_distribution<int> life(o.track_frames / 2 + 1, o.track_frames * 3 / 2 + 1);
  const Scene scene = make_scene(o, rgb);
  std::vector<Track> tracks(static_cast<size_t>(o.faces));
  uint64_t next_track = 0;
  const auto period = std::chrono::nanoseconds(1000000000LL / o.fps);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  uint64_t seq = 0;
  auto next = start;
  while (next < end) {
    std::this_thread::sleep_until(next);
    if (Clock::now() - next > period) ++t.late_frames;
    ++t.frames;
    for (auto &track : tracks) {
      if (track.frames_left == 0) {
        track = Track{next_track++, life(rng), jitter(rng), jitter(rng), zoom(rng)};
      }
      const float cx = (kFace.x1 + kFace.x2) / 2 + track.dx + jitter(rng) / 3;
      const float cy = (kFace.y1 + kFace.y2) / 2 + track.dy + jitter(rng) / 3;
      const float half = (kFace.x2 - kFace.x1) / 2 * track.scale;
      const uint64_t id = face_id(index, track.number, seq++);
      const auto t0 = Clock::now();
      const auto s = p.enqueue(id, scene.frame, scene.face(lmbatch::Box{cx - half, cy - half, cx + half, cy + half}));
      t.enqueue_ns.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
      ++t.enqueued;
      switch (s) {
        case lmbatch::Status::Ok:
          ++t.accepted;  // the consumer thread takes its result, whenever it is done
          break;
        case lmbatch::Status::QueueFull:
          ++t.queue_full;  // backpressure: this face is skipped, the frame thread moves on
          break;
        case lmbatch::Status::InvalidArgument:
          ++t.invalid;
          break;
        default:
          ++t.other;
          break;
      }
      if (--track.frames_left == 0) ++t.tracks;
    }
    next += period;
  }
  for (auto &track : tracks) {
    if (track.frames_left > 0) ++t.tracks;  // open tracks end with the camera
  }
}

// The scene's face against the photo's upright face turned by --tilt (on a pipeline of its own,
// so that the run's accounting is untouched): the mean distance of the points, and the score.
bool check_scene(const Options &o, const std::vector<uint8_t> &photo, const lmbatch::Config &config) {
  lmbatch::Pipeline p(config);
  const Scene scene = make_scene(o, photo);
  const lmbatch::Image upright{photo.data(), 512, 512, 512 * 3, lmbatch::PixelFormat::Rgb8};
  if (p.enqueue(1, upright, kFace) != lmbatch::Status::Ok || p.enqueue(2, scene.frame, scene.face(kFace)) != lmbatch::Status::Ok) {
    std::printf("scene check: enqueue refused\n");
    return false;
  }
  const auto a = p.pop_wait(1, std::chrono::seconds(30)), b = p.pop_wait(2, std::chrono::seconds(30));
  if (!a.ok() || !b.ok() || a.landmarks.size() != b.landmarks.size()) return false;
  const double cx = (kFace.x1 + kFace.x2) / 2, cy = (kFace.y1 + kFace.y2) / 2;
  const double t = o.tilt_deg * 3.14159265358979323846 / 180, c = std::cos(t), sn = std::sin(t);
  double sum = 0;
  for (size_t i = 0; i < a.landmarks.size(); ++i) {
    const double dx = a.landmarks[i].x - cx, dy = a.landmarks[i].y - cy;
    sum += std::hypot(b.landmarks[i].x - (cx + c * dx - sn * dy), b.landmarks[i].y - (cy + sn * dx + c * dy));
  }
  const double mean = sum / static_cast<double>(a.landmarks.size());
  std::printf("scene check: face score %.3f, points %.2f px (mean) from the upright face's turned by %.1f deg\n",
              b.landmarks.face_score(), mean, o.tilt_deg);
  return mean < 2.0 && b.landmarks.face_score() > 0.9f;
}

// A PNG of w x h RGB bytes with no compression (stored deflate blocks): enough for a chip, and
// no image library to link.
bool write_png(const std::string &path, const std::vector<uint8_t> &rgb, uint32_t w, uint32_t h) {
  std::vector<uint8_t> raw;  // each row: filter byte 0, then the pixels
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb.begin() + y * w * 3, rgb.begin() + (y + 1) * w * 3);
  }
  std::vector<uint8_t> z{0x78, 0x01};
  uint32_t a = 1, b = 0;  // Adler-32 of the raw bytes
  for (size_t at = 0; at < raw.size() || at == 0; at += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    z.push_back(at + n >= raw.size() ? 1 : 0);
    z.push_back(n & 0xff), z.push_back(n >> 8), z.push_back(~n & 0xff), z.push_back((~n >> 8) & 0xff);
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at), raw.begin() + static_cast<std::ptrdiff_t>(at + n));
    if (n == 0) break;
  }
  for (uint8_t v : raw) a = (a + v) % 65521, b = (b + a) % 65521;
  for (int s = 24; s >= 0; s -= 8) z.push_back(static_cast<uint8_t>(((b << 16) | a) >> s));
  std::vector<uint8_t> png{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  auto chunk = [&png](const char *type, const std::vector<uint8_t> &data) {
    for (int s = 24; s >= 0; s -= 8) png.push_back(static_cast<uint8_t>(data.size() >> s));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    uint32_t crc = 0xffffffffu;
    for (uint8_t v : body) {
      crc ^= v;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    crc ^= 0xffffffffu;
    png.insert(png.end(), body.begin(), body.end());
    for (int s = 24; s >= 0; s -= 8) png.push_back(static_cast<uint8_t>(crc >> s));
  };
  std::vector<uint8_t> header;
  for (uint32_t v : {w, h})
    for (int s = 24; s >= 0; s -= 8) header.push_back(static_cast<uint8_t>(v >> s));
  header.insert(header.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, no interlace
  chunk("IHDR", header);
  chunk("IDAT", z);
  chunk("IEND", {});
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(png.data()), static_cast<std::streamsize>(png.size()));
  return static_cast<bool>(out);
}

double percentile(std::vector<uint32_t> &v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FRAME.raw [--cameras N] [--fps F] [--faces K] [--seconds S] [--track-frames T] [--nv12] [--tilt DEG] [--remote URL[,URL]] [--best-shot DIR]\n", argv[0]);
    return 2;
  }
  Options o;
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--nv12") {
      o.nv12 = true;
      --i;  // a flag: no value
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      return 2;
    }
    const char *v = argv[i + 1];
    if (k == "--tilt") o.tilt_deg = std::atof(v);
    else if (k == "--cameras") o.cameras = std::atoi(v);
    else if (k == "--fps") o.fps = std::atoi(v);
    else if (k == "--faces") o.faces = std::atoi(v);
    else if (k == "--seconds") o.seconds = std::atof(v);
    else if (k == "--track-frames") o.track_frames = std::atoi(v);
    else if (k == "--remote") o.remote = v;
    else if (k == "--best-shot") o.best_shot = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.cameras < 1 || o.fps < 1 || o.faces < 1 || o.seconds <= 0 || o.track_frames < 1) {
    std::fprintf(stderr, "all options must be positive\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (rgb.size() != 512u * 512u * 3u) {
    std::fprintf(stderr, "%s is not the 512x512 RGB8 astronaut frame\n", argv[1]);
    return 2;
  }

  lmbatch::Config config;
  config.max_wait = std::chrono::milliseconds(10);
  if (!o.remote.empty()) {
    config.backend = lmbatch::Backend::Remote;
    config.remote_endpoints = o.remote;
  }
  if (!o.best_shot.empty()) config.chip_size = kChipSide;
  if ((o.nv12 || o.tilt_deg != 0) && !check_scene(o, rgb, config)) {
    std::printf("the scene's face is not where it should be\n");
    return 1;
  }
  lmbatch::Pipeline pipeline(config);
  const auto info = pipeline.model_info();
  std::printf("vms_sim: %d cameras x %d fps x %d faces for %.1f s, backend %s, max batch %u\n", o.cameras,
              o.fps, o.faces, o.seconds, info.backend.c_str(), info.max_batch);
  std::printf("frames %s, faces tilted %.1f deg%s\n", o.nv12 ? "NV12 (lm_enqueue_frame)" : "RGB8", o.tilt_deg,
              o.tilt_deg != 0 ? " (eyes passed)" : "");

  std::vector<Tally> tallies(static_cast<size_t>(o.cameras));
  const auto t0 = Clock::now();
  Consumed consumed;
  std::atomic<bool> stop{false};
  std::thread consumer(consume, std::ref(pipeline), std::cref(stop), std::ref(consumed));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.cameras; ++c) {
    threads.emplace_back(camera, c, std::cref(o), std::cref(rgb), std::ref(pipeline), std::ref(tallies[static_cast<size_t>(c)]));
  }
  for (auto &th : threads) th.join();
  // The cameras stopped: wait until every accepted face reached its final state (or 30 s), then
  // stop the consumer and join it before the Pipeline goes out of scope.
  uint64_t accepted = 0;
  for (const auto &t : tallies) accepted += t.accepted;
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (consumed.finals.load() < accepted && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  consumer.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  Tally all;
  for (auto &t : tallies) {
    all.enqueued += t.enqueued; all.accepted += t.accepted; all.queue_full += t.queue_full;
    all.invalid += t.invalid; all.other += t.other; all.tracks += t.tracks; all.frames += t.frames;
    all.late_frames += t.late_frames;
    all.enqueue_ns.insert(all.enqueue_ns.end(), t.enqueue_ns.begin(), t.enqueue_ns.end());
  }
  double best_score_sum = 0, best_overall_sum = 0;
  for (const auto &kv : consumed.best_by_track) best_score_sum += kv.second.face_score, best_overall_sum += kv.second.overall;
  const uint64_t delivered = consumed.ok + consumed.expired + consumed.failed;
  const uint64_t lost = all.accepted > delivered ? all.accepted - delivered : 0;
  const lm_stats s = pipeline.stats();
  std::printf("faces offered %llu: accepted %llu, rejected queue-full %llu, invalid %llu, other %llu\n",
              (unsigned long long)all.enqueued, (unsigned long long)all.accepted,
              (unsigned long long)all.queue_full, (unsigned long long)all.invalid, (unsigned long long)all.other);
  std::printf("one pop_next consumer for %d cameras: ok %llu, expired %llu, failed %llu, other %llu, lost %llu\n",
              o.cameras, (unsigned long long)consumed.ok, (unsigned long long)consumed.expired,
              (unsigned long long)consumed.failed, (unsigned long long)consumed.other, (unsigned long long)lost);
  const double with_face = static_cast<double>(std::max<size_t>(1, consumed.best_by_track.size()));
  std::printf("tracks %llu, %zu with a face (their best shots: mean quality.overall %.3f, mean score %.3f)\n",
              (unsigned long long)all.tracks, consumed.best_by_track.size(), best_overall_sum / with_face,
              best_score_sum / with_face);
  size_t chips_written = 0;
  bool chips_ok = true;
  if (!o.best_shot.empty()) {
    for (const auto &kv : consumed.best_by_track) {
      const Best &b = kv.second;
      if (b.chip.size() != 3u * kChipSide * kChipSide) {
        chips_ok = false;  // every face of this scene has five points: a chip must come with it
        continue;
      }
      char name[96];
      std::snprintf(name, sizeof name, "/cam%llu_track%llu.png", (unsigned long long)(kv.first >> 24),
                    (unsigned long long)(kv.first & 0xFFFFFF));
      if (write_png(o.best_shot + name, b.chip, kChipSide, kChipSide)) ++chips_written;
      else chips_ok = false;
    }
    std::printf("best shots: %zu chips (%ux%u) written to %s%s\n", chips_written, kChipSide, kChipSide,
                o.best_shot.c_str(), chips_ok ? "" : " (SOME MISSING)");
  }
  std::printf("throughput %.1f faces/s over %.2f s\n", static_cast<double>(consumed.ok) / elapsed, elapsed);
  std::printf("lm_enqueue (crop + resize + queue): p50 %.1f us, p99 %.1f us, max %.1f us over %zu calls\n",
              percentile(all.enqueue_ns, 0.5) / 1e3, percentile(all.enqueue_ns, 0.99) / 1e3,
              percentile(all.enqueue_ns, 1.0) / 1e3, all.enqueue_ns.size());
  std::printf("frames %llu, started more than one period late: %llu\n", (unsigned long long)all.frames,
              (unsigned long long)all.late_frames);
  std::printf("queue wait p50 %llu us, p99 %llu us; batch inference p50 %llu us, p99 %llu us\n",
              (unsigned long long)s.queue_us_p50, (unsigned long long)s.queue_us_p99,
              (unsigned long long)s.infer_us_p50, (unsigned long long)s.infer_us_p99);
  std::printf("batches %llu, size histogram:", (unsigned long long)s.batches);
  for (int n = 1; n <= 32; ++n) {
    if (s.batch_size_hist[n]) std::printf(" %d:%llu", n, (unsigned long long)s.batch_size_hist[n]);
  }
  std::printf("\n");

  // Every accepted face reached exactly one final state that the cameras saw.
  const bool balanced = all.accepted == delivered && lost == 0 && all.other == 0 && consumed.other == 0 &&
                        s.accepted == all.accepted && s.rejected_full == all.queue_full &&
                        s.accepted == s.queued + s.in_flight + s.ready + s.popped + s.expired + s.cancelled;
  std::printf("accounting: %s\n", balanced ? "balanced" : "NOT BALANCED");
  return balanced && chips_ok ? 0 : 1;
}
