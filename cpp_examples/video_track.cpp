// video_track: follows one face through a video file decoded with FFmpeg's libav*, from a detector
// box on the first frame only. Each decoded AVFrame goes to lm_enqueue_frame as it is (its planes,
// linesizes and colorimetry copied straight into an lm_frame, no conversion); every later frame's
// face is the previous result's track_box turned by its track_roll, so the crop follows the face
// as it moves, zooms and turns, upside down included.
//
// Usage:
//   video_track VIDEO --box X1 Y1 X2 Y2 [--sheet OUT.png] [--every N] [--shrink K] [--columns C]
//               [--sheet-bits B]
//               [--check-turn --max-nme PCT --min-score S] [--compare-upright] [--expect-pix-fmt NAME]
//   video_track --print-recipe [BITS]   prints "FRAMES FPS FILTER": how ffmpeg makes the test video
//                                       (BITS 10: the same motion drawn in yuv420p10le)
//
// --sheet writes a PNG contact sheet of every Nth frame, shrunk K times, with the points drawn
// (RGB built here from the frame's Y/U/V, 8- or 10-bit, for the picture only; libavcodec's PNG encoder), its
// picture cut to B bits per channel if asked (a smaller file).
// --check-turn checks the result against the known motion of the test video (TestMotion below):
// the first frame's points, carried by that motion, are the truth for every later frame.
// --compare-upright also follows the face with upright crops (track_box without the roll) and
// prints that loop's error, to show what the roll buys; it is not checked.
// --expect-pix-fmt fails unless every decoded frame has that FFmpeg pixel format (e.g. yuv420p10le:
// the test that the 10-bit video really goes through LM_PIXEL_FORMAT_I010).
#include <lmbatch.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr double kPi = 3.14159265358979323846;

// ---- The known motion of the test video ------------------------------------------------------
//
// Frame n (of kFrames, at kFps) shows the photo tests/data/astronaut.png (its top-left 480x360,
// edges replicated) under a similarity transform: a point p of the photo appears at
//   q = c(n) + s(n) * R(a(n)) * (p - anchor),  R(a) = [cos a, -sin a; sin a, cos a] (y down),
// in continuous coordinates ((0,0) is the top-left corner of the first pixel), with
//   a(n) = 2 pi n / kFrames                    a full clockwise turn over the video
//   s(n) = 1 + 0.3 sin(4 pi n / kFrames)       zoom between 0.7 and 1.3, twice
//   c(n) = (240 + 80 sin(2 pi n / kFrames), 180 + 40 sin(4 pi n / kFrames))   moving
//   anchor = (224.56485, 127.8412), the centre of the detector box of tests/data/crop.json.
// recipe() writes the same transform as an ffmpeg geq filter (inverse mapping, bilinear): the
// two must agree, and the NME check fails loudly if they do not.
struct TestMotion {
  static constexpr int kFrames = 120;
  static constexpr int kFps = 30;
  static constexpr int kWidth = 480, kHeight = 360;
  static constexpr double kAnchorX = 224.56485, kAnchorY = 127.8412;

  static double angle(int n) { return 2 * kPi * n / kFrames; }
  static double scale(int n) { return 1 + 0.3 * std::sin(4 * kPi * n / kFrames); }
  static double cx(int n) { return 240 + 80 * std::sin(2 * kPi * n / kFrames); }
  static double cy(int n) { return 180 + 40 * std::sin(4 * kPi * n / kFrames); }

  // Photo point -> frame n.
  static std::array<double, 2> forward(int n, double px, double py) {
    const double a = angle(n), s = scale(n), dx = px - kAnchorX, dy = py - kAnchorY;
    return {cx(n) + s * (std::cos(a) * dx - std::sin(a) * dy), cy(n) + s * (std::sin(a) * dx + std::cos(a) * dy)};
  }
  // Frame n -> photo point.
  static std::array<double, 2> inverse(int n, double qx, double qy) {
    const double a = angle(n), s = scale(n), dx = qx - cx(n), dy = qy - cy(n);
    return {kAnchorX + (std::cos(a) * dx + std::sin(a) * dy) / s, kAnchorY + (-std::sin(a) * dx + std::cos(a) * dy) / s};
  }

  // "FRAMES FPS FILTER". geq evaluates each plane at its own index (X, Y) and samples p() at an
  // index, bilinearly with clamped taps; SW/SH scale luma coordinates to the plane's (chroma is
  // placed at its centre, which moves colour by at most half a chroma pixel, never the geometry).
  // bits 10 draws the same motion in yuv420p10le (geq then works on 10-bit samples).
  static std::string recipe(int bits = 8) {
    char buf[1024];
    const std::string a = "(2*PI*N/" + std::to_string(kFrames) + ")";
    const std::string s = "(1+0.3*sin(4*PI*N/" + std::to_string(kFrames) + "))";
    const std::string cxs = "(240+80*sin(2*PI*N/" + std::to_string(kFrames) + "))";
    const std::string cys = "(180+40*sin(4*PI*N/" + std::to_string(kFrames) + "))";
    const std::string qx = "((X+0.5)/SW-" + cxs + ")", qy = "((Y+0.5)/SH-" + cys + ")";
    std::snprintf(buf, sizeof buf, "((%.5f+(cos(%s)*%s+sin(%s)*%s)/%s)*SW-0.5)", kAnchorX, a.c_str(), qx.c_str(),
                  a.c_str(), qy.c_str(), s.c_str());
    const std::string sx = buf;
    std::snprintf(buf, sizeof buf, "((%.4f+(cos(%s)*%s-sin(%s)*%s)/%s)*SH-0.5)", kAnchorY, a.c_str(), qy.c_str(),
                  a.c_str(), qx.c_str(), s.c_str());
    const std::string sy = buf;
    const std::string p = "p(" + sx + "," + sy + ")";
    return std::to_string(kFrames) + " " + std::to_string(kFps) + " crop=" + std::to_string(kWidth) + ":" +
           std::to_string(kHeight) + ":0:0,format=" + (bits == 10 ? "yuv420p10le" : "yuv420p") + ",geq=lum='" + p +
           "':cb='" + p + "':cr='" + p + "'";
  }
};

// ---- AVFrame -> lm_frame: straight across ----------------------------------------------------

// The lm_frame of a decoded frame: its planes and linesizes as they are, its colorimetry codes
// copied (lmbatch uses FFmpeg's AVColorSpace/AVColorRange/AVChromaLocation values). false for
// a pixel format lmbatch does not read.
bool frame_of(const AVFrame *f, lm_frame *out) {
  lm_frame fr;
  std::memset(&fr, 0, sizeof fr);
  fr.struct_size = sizeof fr;
  int planes = 1;
  switch (f->format) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P: fr.format = LM_PIXEL_FORMAT_I420; planes = 3; break;
    case AV_PIX_FMT_NV12: fr.format = LM_PIXEL_FORMAT_NV12; planes = 2; break;
    case AV_PIX_FMT_NV21: fr.format = LM_PIXEL_FORMAT_NV21; planes = 2; break;
    case AV_PIX_FMT_P010LE: fr.format = LM_PIXEL_FORMAT_P010; planes = 2; break;
    case AV_PIX_FMT_P016LE: fr.format = LM_PIXEL_FORMAT_P016; planes = 2; break;
    case AV_PIX_FMT_YUV420P10LE: fr.format = LM_PIXEL_FORMAT_I010; planes = 3; break;  // HEVC/AV1 Main10
    case AV_PIX_FMT_RGB24: fr.format = LM_PIXEL_FORMAT_RGB8; break;
    case AV_PIX_FMT_BGR24: fr.format = LM_PIXEL_FORMAT_BGR8; break;
    case AV_PIX_FMT_RGBA: fr.format = LM_PIXEL_FORMAT_RGBA8; break;
    case AV_PIX_FMT_BGRA: fr.format = LM_PIXEL_FORMAT_BGRA8; break;
    case AV_PIX_FMT_GRAY8: fr.format = LM_PIXEL_FORMAT_GRAY8; break;
    default: return false;
  }
  fr.width = static_cast<uint32_t>(f->width);
  fr.height = static_cast<uint32_t>(f->height);
  for (int i = 0; i < planes; ++i) {
    if (f->linesize[i] < 0) return false;  // bottom-up frames: lmbatch takes top-down rows
    fr.planes[i] = f->data[i];
    fr.strides[i] = static_cast<size_t>(f->linesize[i]);
  }
  fr.color_matrix = f->colorspace;
  // The "J" formats are full range even where the field says nothing.
  fr.color_range = f->format == AV_PIX_FMT_YUVJ420P && f->color_range == AVCOL_RANGE_UNSPECIFIED ? AVCOL_RANGE_JPEG
                                                                                                  : f->color_range;
  fr.chroma_location = f->chroma_location;
  fr.memory = LM_MEMORY_HOST;
  *out = fr;
  return true;
}

// ---- The contact sheet: RGB for the picture only ---------------------------------------------

struct Rgb {
  uint8_t r, g, b;
};

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::round(v)))); }

// The frame's pixel (x, y) in RGB: nearest chroma, the frame's matrix and range (AUTO as lmbatch).
Rgb rgb_at(const AVFrame *f, int x, int y) {
  const uint8_t *d0 = f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0];
  switch (f->format) {
    case AV_PIX_FMT_RGB24: return {d0[3 * x], d0[3 * x + 1], d0[3 * x + 2]};
    case AV_PIX_FMT_BGR24: return {d0[3 * x + 2], d0[3 * x + 1], d0[3 * x]};
    case AV_PIX_FMT_RGBA: return {d0[4 * x], d0[4 * x + 1], d0[4 * x + 2]};
    case AV_PIX_FMT_BGRA: return {d0[4 * x + 2], d0[4 * x + 1], d0[4 * x]};
    case AV_PIX_FMT_GRAY8: return {d0[x], d0[x], d0[x]};
    default: break;
  }
  double Y, U, V;
  const int cx = x / 2, cy = y / 2;
  const uint8_t *d1 = f->data[1] + static_cast<ptrdiff_t>(cy) * f->linesize[1];
  if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) {
    const uint8_t *d2 = f->data[2] + static_cast<ptrdiff_t>(cy) * f->linesize[2];
    Y = d0[x], U = d1[cx], V = d2[cx];
  } else if (f->format == AV_PIX_FMT_YUV420P10LE) {  // 10 low bits: sample/4 in 8-bit units, as lmbatch
    const uint8_t *d2 = f->data[2] + static_cast<ptrdiff_t>(cy) * f->linesize[2];
    auto s = [](const uint8_t *row, int i) { return std::min(1023, row[2 * i] | row[2 * i + 1] << 8) / 4.0; };
    Y = s(d0, x), U = s(d1, cx), V = s(d2, cx);
  } else if (f->format == AV_PIX_FMT_NV12 || f->format == AV_PIX_FMT_NV21) {
    const bool swap = f->format == AV_PIX_FMT_NV21;
    Y = d0[x], U = d1[2 * cx + (swap ? 1 : 0)], V = d1[2 * cx + (swap ? 0 : 1)];
  } else {  // P010/P016: the high byte is enough for a picture
    Y = d0[2 * x + 1], U = d1[4 * cx + 1], V = d1[4 * cx + 3];
  }
  const bool full = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P;
  int m = f->colorspace;
  if (m != AVCOL_SPC_BT709 && m != AVCOL_SPC_BT2020_NCL && m != AVCOL_SPC_BT470BG && m != AVCOL_SPC_SMPTE170M) {
    m = f->width >= 1280 || f->height > 576 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG;
  }
  // Kr, Kb of the matrix; the limited-range scales stretch 16..235 / 16..240.
  const double kr = m == AVCOL_SPC_BT709 ? 0.2126 : m == AVCOL_SPC_BT2020_NCL ? 0.2627 : 0.299;
  const double kb = m == AVCOL_SPC_BT709 ? 0.0722 : m == AVCOL_SPC_BT2020_NCL ? 0.0593 : 0.114;
  const double ys = full ? 1.0 : 255.0 / 219.0, cs = full ? 1.0 : 255.0 / 224.0;
  const double yy = (Y - (full ? 0 : 16)) * ys, u = (U - 128) * cs, v = (V - 128) * cs;
  const double kg = 1 - kr - kb;
  return {clamp8(yy + 2 * (1 - kr) * v), clamp8(yy - (2 * kb * (1 - kb) * u + 2 * kr * (1 - kr) * v) / kg),
          clamp8(yy + 2 * (1 - kb) * u)};
}

struct Sheet {
  int tile_w = 0, tile_h = 0, columns = 1, rows = 0, shrink = 2;
  uint8_t mask = 0xff;  // the picture's bits kept (fewer: a smaller PNG; the points stay exact)
  std::vector<uint8_t> rgb;  // columns*tile_w x rows*tile_h
  int tiles = 0;

  int width() const { return columns * tile_w; }
  int height() const { return rows * tile_h; }

  // Adds frame f shrunk `shrink` times (box filter) with the points drawn in green.
  void add(const AVFrame *f, const float *xyz, uint32_t n) {
    const int tw = f->width / shrink, th = f->height / shrink;
    if (tiles == 0) {
      tile_w = tw, tile_h = th;
    }
    if (tw != tile_w || th != tile_h) return;  // a size change mid-stream: keep the first size
    if (tiles % columns == 0) {
      ++rows;
      rgb.resize(static_cast<size_t>(width()) * static_cast<size_t>(height()) * 3, 0);
    }
    const int ox = (tiles % columns) * tile_w, oy = (tiles / columns) * tile_h;
    for (int ty = 0; ty < th; ++ty) {
      for (int tx = 0; tx < tw; ++tx) {
        int sum[3] = {0, 0, 0};
        for (int dy = 0; dy < shrink; ++dy) {
          for (int dx = 0; dx < shrink; ++dx) {
            const Rgb c = rgb_at(f, tx * shrink + dx, ty * shrink + dy);
            sum[0] += c.r, sum[1] += c.g, sum[2] += c.b;
          }
        }
        uint8_t *px = &rgb[(static_cast<size_t>(oy + ty) * static_cast<size_t>(width()) + static_cast<size_t>(ox + tx)) * 3];
        for (int k = 0; k < 3; ++k) px[k] = static_cast<uint8_t>(sum[k] / (shrink * shrink)) & mask;
      }
    }
    for (uint32_t i = 0; i < n; ++i) {
      const int x = static_cast<int>(std::floor(xyz[3 * i] / static_cast<float>(shrink)));
      const int y = static_cast<int>(std::floor(xyz[3 * i + 1] / static_cast<float>(shrink)));
      if (x < 0 || y < 0 || x >= tw || y >= th) continue;
      uint8_t *px = &rgb[(static_cast<size_t>(oy + y) * static_cast<size_t>(width()) + static_cast<size_t>(ox + x)) * 3];
      px[0] = 40, px[1] = 255, px[2] = 60;
    }
    ++tiles;
  }
};

struct CodecContextFree {
  void operator()(AVCodecContext *c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame *f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket *p) const { av_packet_free(&p); }
};
struct FormatClose {
  void operator()(AVFormatContext *f) const { avformat_close_input(&f); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
using FormatPtr = std::unique_ptr<AVFormatContext, FormatClose>;

// Encodes rgb (w x h RGB24) as a PNG file with libavcodec's encoder.
bool write_png(const std::string &path, const std::vector<uint8_t> &rgb, int w, int h) {
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) return false;
  CodecContextPtr c(avcodec_alloc_context3(codec));
  FramePtr f(av_frame_alloc());
  PacketPtr pkt(av_packet_alloc());
  if (!c || !f || !pkt) return false;
  c->width = w, c->height = h, c->pix_fmt = AV_PIX_FMT_RGB24, c->time_base = AVRational{1, 1};
  c->compression_level = 9;
  av_opt_set(c->priv_data, "pred", "mixed", 0);  // per-row filters: a much smaller file
  if (avcodec_open2(c.get(), codec, nullptr) < 0) return false;
  f->format = AV_PIX_FMT_RGB24, f->width = w, f->height = h;
  if (av_frame_get_buffer(f.get(), 0) < 0) return false;
  for (int y = 0; y < h; ++y) {
    std::memcpy(f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0], &rgb[static_cast<size_t>(y) * static_cast<size_t>(w) * 3],
                static_cast<size_t>(w) * 3);
  }
  if (avcodec_send_frame(c.get(), f.get()) < 0 || avcodec_send_frame(c.get(), nullptr) < 0) return false;
  std::FILE *out = std::fopen(path.c_str(), "wb");
  if (!out) return false;
  bool ok = true;
  while (avcodec_receive_packet(c.get(), pkt.get()) == 0) {
    ok = ok && std::fwrite(pkt->data, 1, static_cast<size_t>(pkt->size), out) == static_cast<size_t>(pkt->size);
    av_packet_unref(pkt.get());
  }
  return std::fclose(out) == 0 && ok;
}

// ---- Following the face -----------------------------------------------------------------------

struct Result {
  std::vector<float> xyz;  // 468 x 3, frame pixels
  std::vector<uint8_t> chip;  // kChipSide² RGB when --best-chip asks for chips
  float overall = 0;          // quality.overall: what picks the best chip
  float face_score = 0, roll = 0, track_roll = 0;
  lm_box track_box{};
  int pix_fmt = AV_PIX_FMT_NONE;  // the decoded frame's
};

// The side of the aligned recognition chip --best-chip writes (ArcFace's 112).
constexpr uint32_t kChipSide = 112;

struct Options {
  std::string video, sheet, expect_pix_fmt, best_chip;
  lm_box box{};
  bool have_box = false, check_turn = false, compare_upright = false;
  int every = 20, shrink = 2, columns = 3, sheet_bits = 8;
  double max_nme = -1, min_score = 0.5;
};

// Decodes the video and follows the face from `first` (frame 0's box): each frame's face is the
// previous result's track_box, turned by its track_roll when use_roll. Fills `results` (one per
// decoded frame); the sheet, if given, gets every o.every-th frame. false on a failure (printed).
bool follow(const Options &o, lm_handle *h, bool use_roll, std::vector<Result> &results, Sheet *sheet) {
  AVFormatContext *raw = nullptr;
  if (avformat_open_input(&raw, o.video.c_str(), nullptr, nullptr) < 0) {
    std::fprintf(stderr, "cannot open %s\n", o.video.c_str());
    return false;
  }
  FormatPtr fmt(raw);
  if (avformat_find_stream_info(fmt.get(), nullptr) < 0) return false;
  const AVCodec *codec = nullptr;
  const int stream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream < 0 || !codec) {
    std::fprintf(stderr, "%s has no video stream we can decode\n", o.video.c_str());
    return false;
  }
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  if (!dec || avcodec_parameters_to_context(dec.get(), fmt->streams[stream]->codecpar) < 0 ||
      avcodec_open2(dec.get(), codec, nullptr) < 0) {
    std::fprintf(stderr, "cannot open the %s decoder\n", codec->name);
    return false;
  }
  FramePtr frame(av_frame_alloc());
  PacketPtr pkt(av_packet_alloc());
  if (!frame || !pkt) return false;

  lm_face face;
  std::memset(&face, 0, sizeof face);
  face.struct_size = sizeof face;
  face.box = o.box;  // frame 0: the detector's box, upright
  uint64_t id = 0;
  bool failed = false;

  auto on_frame = [&](const AVFrame *f) {
    const char *pix_fmt = av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format));
    if (!o.expect_pix_fmt.empty() && (!pix_fmt || o.expect_pix_fmt != pix_fmt)) {
      std::fprintf(stderr, "frame %llu: pixel format %s, expected %s\n", (unsigned long long)id,
                   pix_fmt ? pix_fmt : "none", o.expect_pix_fmt.c_str());
      failed = true;
      return;
    }
    lm_frame fr;
    if (!frame_of(f, &fr)) {
      std::fprintf(stderr, "frame %llu: pixel format %s is not one lmbatch reads\n", (unsigned long long)id,
                   pix_fmt ? pix_fmt : "none");
      failed = true;
      return;
    }
    lm_status s = lm_enqueue_frame(h, id, &fr, &face);
    if (s != LM_STATUS_OK) {
      std::fprintf(stderr, "frame %llu: lm_enqueue_frame: %s\n", (unsigned long long)id, lm_status_string(s));
      failed = true;
      return;
    }
    Result r;
    r.xyz.resize(468 * 3);
    lm_landmarks out;
    std::memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    out.points = r.xyz.data();
    out.capacity = 468;
    if (!o.best_chip.empty()) {
      r.chip.resize(3 * kChipSide * kChipSide);
      out.chip = r.chip.data();
      out.chip_capacity = r.chip.size();
    }
    s = lm_pop_wait(h, id, 60000, &out);
    if (s != LM_STATUS_OK || out.num_points != 468) {
      std::fprintf(stderr, "frame %llu: lm_pop_wait: %s (%u points)\n", (unsigned long long)id, lm_status_string(s),
                   out.num_points);
      failed = true;
      return;
    }
    r.face_score = out.face_score, r.roll = out.roll, r.track_roll = out.track_roll, r.track_box = out.track_box;
    r.overall = out.quality.overall;
    if (out.chip_side != kChipSide) r.chip.clear();
    r.pix_fmt = f->format;
    if (sheet && o.every > 0 && id % static_cast<uint64_t>(o.every) == 0) sheet->add(f, r.xyz.data(), 468);
    // The next frame follows this result.
    face.box = out.track_box;
    face.flags = use_roll ? LM_FACE_ROLL : 0;
    face.roll = use_roll ? out.track_roll : 0;
    results.push_back(std::move(r));
    ++id;
  };

  auto drain = [&]() {
    while (!failed && avcodec_receive_frame(dec.get(), frame.get()) == 0) {
      on_frame(frame.get());
      av_frame_unref(frame.get());
    }
  };
  while (!failed && av_read_frame(fmt.get(), pkt.get()) >= 0) {
    if (pkt->stream_index == stream && avcodec_send_packet(dec.get(), pkt.get()) >= 0) drain();
    av_packet_unref(pkt.get());
  }
  if (!failed && avcodec_send_packet(dec.get(), nullptr) >= 0) drain();  // the decoder's last frames
  return !failed;
}

// NME (mean point distance over the distance of points 33 and 263) of each frame n >= 1 against
// frame 0's points carried by the test video's motion.
std::vector<double> nme_against_motion(const std::vector<Result> &results) {
  std::vector<double> nme(results.size(), 0);
  if (results.empty()) return nme;
  std::vector<std::array<double, 2>> photo(468);  // frame 0's points on the photo
  for (int i = 0; i < 468; ++i) photo[i] = TestMotion::inverse(0, results[0].xyz[3 * i], results[0].xyz[3 * i + 1]);
  for (size_t n = 1; n < results.size(); ++n) {
    std::vector<std::array<double, 2>> truth(468);
    for (int i = 0; i < 468; ++i) truth[i] = TestMotion::forward(static_cast<int>(n), photo[i][0], photo[i][1]);
    const double iod = std::hypot(truth[33][0] - truth[263][0], truth[33][1] - truth[263][1]);
    double sum = 0;
    for (int i = 0; i < 468; ++i) {
      sum += std::hypot(results[n].xyz[3 * i] - truth[i][0], results[n].xyz[3 * i + 1] - truth[i][1]);
    }
    nme[n] = sum / 468 / iod;
  }
  return nme;
}

double degrees(double rad) { return rad * 180 / kPi; }

bool parse(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&](int ahead) -> const char * { return i + ahead < argc ? argv[i + ahead] : nullptr; };
    if (k == "--box" && value(4)) {
      o.box = lm_box{std::strtof(argv[i + 1], nullptr), std::strtof(argv[i + 2], nullptr),
                     std::strtof(argv[i + 3], nullptr), std::strtof(argv[i + 4], nullptr)};
      o.have_box = true;
      i += 4;
    } else if (k == "--sheet" && value(1)) {
      o.sheet = argv[++i];
    } else if (k == "--best-chip" && value(1)) {
      o.best_chip = argv[++i];
    } else if (k == "--every" && value(1)) {
      o.every = std::atoi(argv[++i]);
    } else if (k == "--shrink" && value(1)) {
      o.shrink = std::atoi(argv[++i]);
    } else if (k == "--sheet-bits" && value(1)) {
      o.sheet_bits = std::atoi(argv[++i]);
    } else if (k == "--columns" && value(1)) {
      o.columns = std::atoi(argv[++i]);
    } else if (k == "--max-nme" && value(1)) {
      o.max_nme = std::atof(argv[++i]);
    } else if (k == "--min-score" && value(1)) {
      o.min_score = std::atof(argv[++i]);
    } else if (k == "--expect-pix-fmt" && value(1)) {
      o.expect_pix_fmt = argv[++i];
    } else if (k == "--check-turn") {
      o.check_turn = true;
    } else if (k == "--compare-upright") {
      o.compare_upright = true;
    } else if (k.rfind("--", 0) != 0 && o.video.empty()) {
      o.video = k;
    } else {
      std::fprintf(stderr, "bad argument %s\n", k.c_str());
      return false;
    }
  }
  return !o.video.empty() && o.have_box && o.every > 0 && o.shrink > 0 && o.columns > 0 && o.sheet_bits >= 1 &&
         o.sheet_bits <= 8;
}

}  // namespace

int main(int argc, char **argv) {
  if ((argc == 2 || argc == 3) && std::string(argv[1]) == "--print-recipe") {
    const int bits = argc == 3 ? std::atoi(argv[2]) : 8;
    if (bits != 8 && bits != 10) {
      std::fprintf(stderr, "--print-recipe: BITS is 8 or 10\n");
      return 2;
    }
    std::printf("%s\n", TestMotion::recipe(bits).c_str());
    return 0;
  }
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: %s VIDEO --box X1 Y1 X2 Y2 [--sheet OUT.png] [--every N] [--shrink K] [--columns C]\n"
                 "          [--sheet-bits B] [--best-chip OUT.png]\n"
                 "          [--check-turn --max-nme PCT --min-score S] [--compare-upright] [--expect-pix-fmt NAME]\n"
                 "       %s --print-recipe [BITS]\n",
                 argv[0], argv[0]);
    return 2;
  }

  lm_config cfg;
  lm_config_init(&cfg);
  cfg.max_wait_us = 0;  // one face at a time: no batch to wait for
  if (!o.best_chip.empty()) cfg.chip_size = kChipSide;  // every result carries its aligned chip
  lm_handle *h = nullptr;
  char err[512] = {0};
  if (lm_create(&cfg, &h, err, sizeof err) != LM_STATUS_OK) {
    std::fprintf(stderr, "lm_create: %s\n", err);
    return 1;
  }
  lm_model_info info;
  std::memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  lm_get_model_info(h, &info);

  Sheet sheet;
  sheet.shrink = o.shrink, sheet.columns = o.columns;
  sheet.mask = static_cast<uint8_t>(0xff00 >> o.sheet_bits);
  std::vector<Result> results;
  bool ok = follow(o, h, true, results, o.sheet.empty() ? nullptr : &sheet);
  std::vector<Result> upright;
  if (ok && o.compare_upright && !follow(o, h, false, upright, nullptr)) {
    std::printf("the upright-crop loop lost the face at frame %zu\n", upright.size());  // shown, not checked
  }
  lm_destroy(h);
  if (!ok) return 1;
  const char *pix_fmt = results.empty() ? nullptr : av_get_pix_fmt_name(static_cast<AVPixelFormat>(results[0].pix_fmt));
  std::printf("video_track: %s, %zu frames (%s), backend %s\n", o.video.c_str(), results.size(),
              pix_fmt ? pix_fmt : "none", info.backend);

  if (!o.sheet.empty()) {
    if (sheet.tiles == 0 || !write_png(o.sheet, sheet.rgb, sheet.width(), sheet.height())) {
      std::fprintf(stderr, "cannot write the contact sheet %s\n", o.sheet.c_str());
      return 1;
    }
    std::printf("contact sheet: %s, %d frames (every %d), %dx%d\n", o.sheet.c_str(), sheet.tiles, o.every,
                sheet.width(), sheet.height());
  }
  if (!o.best_chip.empty()) {
    // The track's best shot: the frame whose result scores highest on quality.overall.
    const Result *best = nullptr;
    size_t best_at = 0;
    for (size_t n = 0; n < results.size(); ++n) {
      if (!results[n].chip.empty() && (!best || results[n].overall > best->overall)) best = &results[n], best_at = n;
    }
    if (!best || !write_png(o.best_chip, best->chip, kChipSide, kChipSide)) {
      std::fprintf(stderr, "cannot write the best chip %s\n", o.best_chip.c_str());
      return 1;
    }
    std::printf("best shot: frame %zu (quality.overall %.3f, score %.3f), its %ux%u chip in %s\n", best_at,
                best->overall, best->face_score, kChipSide, kChipSide, o.best_chip.c_str());
  }
  if (!o.check_turn) {
    for (size_t n = 0; n < results.size(); ++n) {
      std::printf("frame %3zu: score %.3f, roll %7.1f deg\n", n, results[n].face_score, degrees(results[n].roll));
    }
    return 0;
  }

  // The check against the test video's known motion.
  bool pass = true;
  if (results.size() != static_cast<size_t>(TestMotion::kFrames)) {
    std::printf("FAIL: %zu frames decoded, the test video has %d\n", results.size(), TestMotion::kFrames);
    pass = false;
  }
  const std::vector<double> nme = nme_against_motion(results);
  const std::vector<double> nme_upright = nme_against_motion(upright);
  std::printf("frame  turn(deg)  roll used(deg)  score  NME%%  %s\n", o.compare_upright ? " upright-crop NME%" : "");
  double sum = 0, worst = 0;
  size_t worst_at = 0;
  for (size_t n = 0; n < results.size(); ++n) {
    const Result &r = results[n];
    const bool bad = (n > 0 && o.max_nme >= 0 && 100 * nme[n] > o.max_nme) || !(r.face_score >= o.min_score);
    std::printf("%5zu  %9.1f  %14.1f  %.3f  %5.2f", n, degrees(TestMotion::angle(static_cast<int>(n))), degrees(r.roll),
                r.face_score, 100 * nme[n]);
    if (n < nme_upright.size()) std::printf("  %6.2f (score %.3f)", 100 * nme_upright[n], upright[n].face_score);
    std::printf("%s\n", bad ? "  <- FAIL" : "");
    if (bad) pass = false;
    if (n > 0) {
      sum += nme[n];
      if (nme[n] > worst) worst = nme[n], worst_at = n;
    }
  }
  const double mean = results.size() > 1 ? sum / static_cast<double>(results.size() - 1) : 0;
  std::printf("NME against the known motion (frames 1..%zu): mean %.2f%%, max %.2f%% (frame %zu); bound %.2f%%\n",
              results.size() - 1, 100 * mean, 100 * worst, worst_at, o.max_nme);
  if (!nme_upright.empty()) {
    double usum = 0, uworst = 0;
    for (size_t n = 1; n < nme_upright.size(); ++n) usum += nme_upright[n], uworst = std::max(uworst, nme_upright[n]);
    std::printf("the same loop with upright crops: mean %.2f%%, max %.2f%%\n",
                100 * usum / static_cast<double>(nme_upright.size() - 1), 100 * uworst);
  }
  std::printf("%s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
