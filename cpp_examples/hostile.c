/* Hostile input at the C boundary: every bad argument gets its documented status, and no byte
 * outside the caller's buffers is touched. Frames are allocated to their exact size (the last
 * row without padding), so valgrind and AddressSanitizer see any read past them.
 * Usage: hostile (no arguments). */
#include <lmbatch.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define EXPECT(call, want)                                                                \
  do {                                                                                    \
    lm_status got_ = (call);                                                              \
    ++checks;                                                                             \
    if (got_ != (want)) {                                                                 \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #call, \
              (int)got_, lm_status_string(got_), (int)(want));                            \
      ++failures;                                                                         \
    }                                                                                     \
  } while (0)

#define CHECK(cond)                                                          \
  do {                                                                       \
    ++checks;                                                                \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                            \
    }                                                                        \
  } while (0)

/* A frame of exactly stride * (h - 1) + w * bpp bytes, filled with a gradient. */
static uint8_t *exact_frame(uint32_t w, uint32_t h, size_t stride, size_t bpp) {
  size_t n = stride * (h - 1) + w * bpp;
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7);
  return p;
}

static lm_handle *create_cpu(uint32_t max_wait_us) {
  lm_config cfg;
  lm_config_init(&cfg);
  cfg.backend = LM_BACKEND_CPU;
  cfg.max_batch = 4;
  cfg.queue_capacity = 32;
  cfg.max_wait_us = max_wait_us;
  lm_handle *h = NULL;
  char err[128];
  lm_status st = lm_create(&cfg, &h, err, sizeof err);
  if (st != LM_STATUS_OK) {
    fprintf(stderr, "lm_create: %s\n", err);
    exit(1);
  }
  return h;
}

static void config_edges(void) {
  lm_handle *h = NULL;
  char err[64];
  lm_config cfg;
  lm_config_init(&cfg);
  EXPECT(lm_create(NULL, &h, err, sizeof err), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_create(&cfg, NULL, NULL, 0), LM_STATUS_NULL_ARGUMENT);
  CHECK(h == NULL);
  size_t sizes[] = {0, 1, sizeof(size_t), sizeof(size_t) + 4};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    lm_config_init(&cfg);
    cfg.struct_size = sizes[i];
    EXPECT(lm_create(&cfg, &h, err, sizeof err), LM_STATUS_INVALID_ARGUMENT);
  }
  /* A config cut right after model_path, in a buffer of exactly that size: nothing past it is read. */
  size_t cut = offsetof(lm_config, backend);
  lm_config *small = malloc(cut);
  lm_config_init(&cfg);
  memcpy(small, &cfg, cut);
  small->struct_size = cut;
  EXPECT(lm_create(small, &h, err, sizeof err), LM_STATUS_OK);
  free(small);
  lm_destroy(h);
  h = NULL;
  int32_t bad_backends[] = {-1, 4, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < 4; i++) {
    lm_config_init(&cfg);
    cfg.backend = bad_backends[i];
    EXPECT(lm_create(&cfg, &h, NULL, 0), LM_STATUS_INVALID_ARGUMENT);
  }
  lm_config_init(&cfg);
  cfg.device_id = -5;
  EXPECT(lm_create(&cfg, &h, err, 1), LM_STATUS_INVALID_ARGUMENT);
  CHECK(err[0] == '\0'); /* a one-byte buffer holds just the terminator */
  lm_config_init(&cfg);
  cfg.max_batch = 33;
  EXPECT(lm_create(&cfg, &h, err, sizeof err), LM_STATUS_INVALID_ARGUMENT);
  lm_config_init(&cfg);
  cfg.model_path = "/definitely/not/here.onnx";
  EXPECT(lm_create(&cfg, &h, err, sizeof err), LM_STATUS_MODEL_ERROR);
  lm_config_init(&cfg);
  cfg.backend = LM_BACKEND_TENSORRT;
  EXPECT(lm_create(&cfg, &h, err, sizeof err), LM_STATUS_BACKEND_UNAVAILABLE);
  CHECK(h == NULL);
}

static void enqueue_edges(lm_handle *h) {
  const uint32_t w = 37, hgt = 23;
  const size_t stride = 37 * 3 + 5;
  uint8_t *px = exact_frame(w, hgt, stride, 3);
  lm_image ok = {px, w, hgt, stride, LM_PIXEL_FORMAT_BGR8};
  lm_box box = {5.f, 5.f, 30.f, 20.f};
  EXPECT(lm_enqueue(NULL, 1, &ok, &box), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_enqueue(h, 1, NULL, &box), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_enqueue(h, 1, &ok, NULL), LM_STATUS_NULL_ARGUMENT);

  lm_image bad;
  bad = ok; bad.data = NULL;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.width = 0;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.height = 0;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.stride = w * 3 - 1;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.stride = 0;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.width = 32769; bad.stride = SIZE_MAX;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.height = 32769;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  bad = ok; bad.width = 32768; bad.height = 32768; bad.stride = SIZE_MAX / 16; /* stride * height overflows */
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  if (sizeof(size_t) >= 8) {
    /* stride x (height - 1) + a row fits a size_t but no object can span it (> PTRDIFF_MAX):
       INVALID_ARGUMENT, never a view built over it. */
    lm_image tall = {px, 1, 3, (size_t)1 << (sizeof(size_t) * 8 - 2), LM_PIXEL_FORMAT_GRAY8};
    lm_box tall_box = {0.f, 0.f, 1.f, 3.f};
    EXPECT(lm_enqueue(h, 1, &tall, &tall_box), LM_STATUS_INVALID_ARGUMENT);
  }
  int32_t formats[] = {-1, 5, 6, 1000, INT32_MIN, INT32_MAX};
  for (size_t i = 0; i < 6; i++) {
    bad = ok; bad.format = formats[i];
    EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);
  }
  /* The same bytes read as a wider format no longer fit the stride. */
  bad = ok; bad.format = LM_PIXEL_FORMAT_BGRA8;
  EXPECT(lm_enqueue(h, 1, &bad, &box), LM_STATUS_INVALID_ARGUMENT);

  const float nan = NAN, inf = INFINITY;
  lm_box boxes[] = {
      {nan, 5, 30, 20},    {5, nan, 30, 20},     {5, 5, nan, 20},      {5, 5, 30, nan},
      {-inf, 5, 30, 20},   {5, 5, inf, 20},      {30, 5, 5, 20},       {5, 20, 30, 5},
      {5, 5, 5, 20},       {5, 5, 30, 5},        {-50, 5, 0, 20},      {37, 5, 60, 20},
      {5, -40, 30, 0},     {5, 23, 30, 60},      {-FLT_MAX, -FLT_MAX, FLT_MAX, FLT_MAX},
      {-1e6f, -1e6f, 1e6f, 1e6f}, {0.f, 0.f, 0.1f, 0.1f},
  };
  for (size_t i = 0; i < sizeof boxes / sizeof boxes[0]; i++) {
    EXPECT(lm_enqueue(h, 100 + i, &ok, &boxes[i]), LM_STATUS_INVALID_ARGUMENT);
  }
  /* Valid but extreme: boxes hanging off every edge and corner of the exact-size frame; the crop
   * replicates edge pixels and must never read past the buffer. */
  lm_box edges[] = {{-20, -20, 3, 3}, {34, 20, 60, 60}, {-10, 10, 2, 15}, {35, -10, 50, 2}, {0.5f, 0.5f, 36.5f, 22.5f}};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    EXPECT(lm_enqueue(h, 200 + i, &ok, &edges[i]), LM_STATUS_OK);
  }
  /* Every pixel format, each with an exact-size buffer. */
  const int32_t fmts[] = {LM_PIXEL_FORMAT_BGR8, LM_PIXEL_FORMAT_RGB8, LM_PIXEL_FORMAT_BGRA8, LM_PIXEL_FORMAT_RGBA8, LM_PIXEL_FORMAT_GRAY8};
  const size_t bpps[] = {3, 3, 4, 4, 1};
  for (size_t i = 0; i < 5; i++) {
    uint8_t *f = exact_frame(w, hgt, w * bpps[i] + 3, bpps[i]);
    lm_image img = {f, w, hgt, w * bpps[i] + 3, fmts[i]};
    EXPECT(lm_enqueue(h, 300 + i, &img, &edges[1]), LM_STATUS_OK);
    free(f); /* freed at once: the library must have copied what it needs */
  }
  EXPECT(lm_enqueue(h, 200, &ok, &box), LM_STATUS_DUPLICATE_ID);
  free(px);

  lm_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  EXPECT(lm_get_stats(h, &st), LM_STATUS_OK);
  /* 8 geometries (+1 past PTRDIFF_MAX on 64-bit), 6 formats, 1 wider format, the boxes. */
  CHECK(st.rejected_invalid == 8 + (sizeof(size_t) >= 8) + 6 + 1 + sizeof boxes / sizeof boxes[0]);
  CHECK(st.accepted == 10);

  /* Pop every accepted face with hostile landmark structs first. */
  float points[468 * 3];
  for (uint64_t id = 200; id < 305; id++) {
    if (id == 205) id = 300;
    lm_landmarks out = {.struct_size = sizeof out, .points = points, .capacity = 468};
    lm_landmarks bad_out = out;
    bad_out.points = NULL;
    EXPECT(lm_pop_wait(h, id, 60000, &bad_out), LM_STATUS_NULL_ARGUMENT);
    bad_out = out;
    bad_out.struct_size = 0;
    EXPECT(lm_pop_wait(h, id, 60000, &bad_out), LM_STATUS_INVALID_ARGUMENT);
    bad_out = out;
    bad_out.struct_size = offsetof(lm_landmarks, num_points);
    EXPECT(lm_pop_wait(h, id, 60000, &bad_out), LM_STATUS_INVALID_ARGUMENT);
    /* An exactly sized buffer one point too small. */
    float *few = malloc(467 * 3 * sizeof(float));
    bad_out = out;
    bad_out.points = few;
    bad_out.capacity = 467;
    EXPECT(lm_pop_wait(h, id, 60000, &bad_out), LM_STATUS_BUFFER_TOO_SMALL);
    CHECK(bad_out.num_points == 468);
    free(few);
    /* An older, smaller struct ending at num_points, allocated to exactly that size. */
    size_t older_size = offsetof(lm_landmarks, num_points) + sizeof(uint32_t);
    lm_landmarks *older = malloc(older_size);
    memcpy(older, &out, older_size);
    older->struct_size = older_size;
    EXPECT(lm_pop(h, id, older), LM_STATUS_OK);
    CHECK(older->num_points == 468);
    free(older);
    EXPECT(lm_pop(h, id, &out), LM_STATUS_NOT_FOUND);
  }
  EXPECT(lm_pop(h, 1, NULL), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_pop(NULL, 1, NULL), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_cancel(NULL, 1), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_cancel(h, 999999), LM_STATUS_NOT_FOUND);
  EXPECT(lm_get_stats(h, NULL), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_get_stats(NULL, &st), LM_STATUS_NULL_ARGUMENT);
  st.struct_size = 0;
  EXPECT(lm_get_stats(h, &st), LM_STATUS_INVALID_ARGUMENT);
  /* Out structs of exactly their declared (smaller) size. */
  lm_stats *tiny_stats = malloc(sizeof(size_t) + 8);
  tiny_stats->struct_size = sizeof(size_t) + 8;
  EXPECT(lm_get_stats(h, tiny_stats), LM_STATUS_OK);
  CHECK(tiny_stats->accepted == 10);
  free(tiny_stats);
  /* Too small for the backend name: only struct_size fits, the rest stays as it was. */
  unsigned char *tiny_info = malloc(sizeof(size_t) + 16);
  memset(tiny_info, 0xAB, sizeof(size_t) + 16);
  ((lm_model_info *)tiny_info)->struct_size = sizeof(size_t) + 16;
  EXPECT(lm_get_model_info(h, (lm_model_info *)tiny_info), LM_STATUS_OK);
  CHECK(tiny_info[sizeof(size_t)] == 0xAB && tiny_info[sizeof(size_t) + 15] == 0xAB);
  free(tiny_info);
  lm_model_info info;
  info.struct_size = 3;
  EXPECT(lm_get_model_info(h, &info), LM_STATUS_INVALID_ARGUMENT);
}

/* lm_enqueue_frame (ABI 1.3): planes of exactly their addressable size (stride * (rows - 1) + row
 * bytes), odd sizes, every planar format, rotated crops hanging off every edge, and every bad
 * frame or face refused with INVALID_ARGUMENT and counted. */
static uint8_t *exact_plane(size_t row_bytes, size_t rows, size_t stride) {
  size_t n = stride * (rows - 1) + row_bytes;
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 13 + 7);
  return p;
}

static lm_face face_of(lm_box box, uint32_t flags, float roll) {
  lm_face f;
  memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  f.box = box;
  f.flags = flags;
  f.right_eye[0] = box.x1 + 2; f.right_eye[1] = box.y1 + 3;
  f.left_eye[0] = box.x1 + 9;  f.left_eye[1] = box.y1 + 1;
  f.roll = roll;
  return f;
}

static void frame_edges(void) {
  lm_config cfg;
  lm_config_init(&cfg);
  cfg.backend = LM_BACKEND_CPU;
  cfg.max_batch = 4;
  cfg.queue_capacity = 64; /* every accepted face below fits */
  lm_handle *h = NULL;
  char err[128];
  if (lm_create(&cfg, &h, err, sizeof err) != LM_STATUS_OK) {
    fprintf(stderr, "lm_create: %s\n", err);
    exit(1);
  }
  const uint32_t w = 37, hgt = 23, cw = 19, ch = 12;
  uint8_t *y8 = exact_plane(w, hgt, w + 3), *uv8 = exact_plane(2 * cw, ch, 2 * cw + 1);
  uint8_t *u8p = exact_plane(cw, ch, cw + 2), *v8p = exact_plane(cw, ch, cw);
  uint8_t *y16 = exact_plane(2 * w, hgt, 2 * w + 4), *uv16 = exact_plane(4 * cw, ch, 4 * cw);
  lm_frame nv12;
  memset(&nv12, 0, sizeof nv12);
  nv12.struct_size = sizeof nv12;
  nv12.format = LM_PIXEL_FORMAT_NV12;
  nv12.width = w; nv12.height = hgt;
  nv12.planes[0] = y8; nv12.planes[1] = uv8;
  nv12.strides[0] = w + 3; nv12.strides[1] = 2 * cw + 1;
  nv12.color_matrix = LM_COLOR_MATRIX_BT709; nv12.color_range = LM_COLOR_RANGE_FULL;
  nv12.chroma_location = LM_CHROMA_LOCATION_CENTER; nv12.memory = LM_MEMORY_HOST;
  lm_frame i420 = nv12;
  i420.format = LM_PIXEL_FORMAT_I420;
  i420.planes[1] = u8p; i420.planes[2] = v8p;
  i420.strides[1] = cw + 2; i420.strides[2] = cw;
  lm_frame p010 = nv12;
  p010.format = LM_PIXEL_FORMAT_P010;
  p010.planes[0] = y16; p010.planes[1] = uv16;
  p010.strides[0] = 2 * w + 4; p010.strides[1] = 4 * cw;
  lm_box box = {5.f, 5.f, 30.f, 20.f};
  lm_face upright = face_of(box, 0, 0), eyes = face_of(box, LM_FACE_EYES, 0), roll = face_of(box, LM_FACE_ROLL, 2.5f);

  EXPECT(lm_enqueue_frame(NULL, 1, &nv12, &upright), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_enqueue_frame(h, 1, NULL, &upright), LM_STATUS_NULL_ARGUMENT);
  EXPECT(lm_enqueue_frame(h, 1, &nv12, NULL), LM_STATUS_NULL_ARGUMENT);

  uint64_t invalid = 0;
  lm_frame bad;
#define BAD_FRAME(stmt)                                                     \
  do {                                                                      \
    bad = nv12;                                                             \
    stmt;                                                                   \
    EXPECT(lm_enqueue_frame(h, 1, &bad, &upright), LM_STATUS_INVALID_ARGUMENT); \
    ++invalid;                                                              \
  } while (0)
  BAD_FRAME(bad.struct_size = 0);
  BAD_FRAME(bad.struct_size = offsetof(lm_frame, strides));
  BAD_FRAME(bad.memory = 1);
  BAD_FRAME(bad.memory = -1);
  BAD_FRAME(bad.format = 5);
  BAD_FRAME(bad.format = 15);
  BAD_FRAME(bad.format = 21);
  BAD_FRAME(bad.format = INT32_MIN);
  BAD_FRAME(bad.width = 0);
  BAD_FRAME(bad.height = 0);
  BAD_FRAME(bad.width = 32769; bad.strides[0] = 40000; bad.strides[1] = 40000);
  BAD_FRAME(bad.planes[0] = NULL);
  BAD_FRAME(bad.planes[1] = NULL);
  BAD_FRAME(bad.strides[0] = w - 1);
  BAD_FRAME(bad.strides[1] = 2 * cw - 1);
  BAD_FRAME(bad.strides[0] = SIZE_MAX / 8);
  BAD_FRAME(bad.color_matrix = 3);
  BAD_FRAME(bad.color_matrix = 10);
  BAD_FRAME(bad.color_matrix = -1);
  BAD_FRAME(bad.color_range = 3);
  BAD_FRAME(bad.chroma_location = 4);
  BAD_FRAME(bad.chroma_location = 5); /* BOTTOMLEFT: not supported */
  BAD_FRAME(bad.planes[1] = y8 + 4);  /* inside the Y plane: overlap */
  BAD_FRAME(bad.planes[1] = bad.planes[0]);
  BAD_FRAME(bad = p010; bad.strides[0] = 2 * w + 3);  /* odd stride for 16-bit samples */
  BAD_FRAME(bad = p010; bad.strides[1] = 4 * cw + 1);
  BAD_FRAME(bad = i420; bad.planes[2] = NULL);
  BAD_FRAME(bad = i420; bad.planes[2] = bad.planes[1]);
  BAD_FRAME(bad = i420; bad.strides[2] = cw - 1);
#undef BAD_FRAME
  const float nan = NAN, inf = INFINITY;
  lm_face bad_faces[] = {
      face_of(box, 4, 0), face_of(box, 0x80000000u, 0), face_of(box, LM_FACE_ROLL, nan),
      face_of(box, LM_FACE_ROLL, inf), face_of(box, LM_FACE_ROLL, -inf),
      face_of(box, LM_FACE_EYES, 0), face_of(box, LM_FACE_EYES, 0), face_of(box, LM_FACE_EYES, 0),
      face_of((lm_box){nan, 5, 30, 20}, 0, 0), face_of((lm_box){30, 5, 5, 20}, LM_FACE_ROLL, 1),
      face_of((lm_box){-50, 5, 0, 20}, LM_FACE_ROLL, 1), face_of(box, 0, 0),
  };
  bad_faces[5].right_eye[0] = nan;
  bad_faces[6].left_eye[1] = inf;
  bad_faces[7].right_eye[1] = -inf;
  bad_faces[11].struct_size = offsetof(lm_face, box) + 8; /* does not cover the box */
  for (size_t i = 0; i < sizeof bad_faces / sizeof bad_faces[0]; i++) {
    EXPECT(lm_enqueue_frame(h, 2, &nv12, &bad_faces[i]), LM_STATUS_INVALID_ARGUMENT);
    ++invalid;
  }
  /* A NaN roll is not read when the eyes are given (they win). */
  lm_face eyes_nan_roll = face_of(box, LM_FACE_EYES | LM_FACE_ROLL, nan);
  /* A face struct that ends after the box, allocated to exactly that size: upright. */
  size_t short_face = offsetof(lm_face, flags);
  lm_face *older = malloc(short_face);
  memcpy(older, &roll, short_face);
  older->struct_size = short_face;
  /* A frame struct that ends after strides: AUTO colorimetry, host memory. */
  size_t short_frame = offsetof(lm_frame, color_matrix);
  lm_frame *older_frame = malloc(short_frame);
  memcpy(older_frame, &nv12, short_frame);
  older_frame->struct_size = short_frame;

  lm_box edges[] = {{-20, -20, 3, 3}, {34, 20, 60, 60}, {-10, 10, 2, 15}, {35, -10, 50, 2}, {0.5f, 0.5f, 36.5f, 22.5f}};
  uint64_t id = 1000, accepted = 0;
  const lm_frame *frames[] = {&nv12, &i420, &p010};
  /* Every edge box on every planar layout, each with one of four orientations (kept few: each
   * accepted face is an inference, slow under valgrind). */
  for (size_t f = 0; f < 3; f++) {
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++) {
      lm_face faces[] = {face_of(edges[e], 0, 0), face_of(edges[e], LM_FACE_ROLL, 0.7f), face_of(edges[e], LM_FACE_ROLL, -3.1f),
                         face_of(edges[e], LM_FACE_EYES, 0)};
      EXPECT(lm_enqueue_frame(h, id++, frames[f], &faces[(f + e) % 4]), LM_STATUS_OK);
      ++accepted;
    }
  }
  (void)eyes; (void)upright;
  EXPECT(lm_enqueue_frame(h, id++, &nv12, &eyes_nan_roll), LM_STATUS_OK);
  EXPECT(lm_enqueue_frame(h, id++, &nv12, older), LM_STATUS_OK);
  EXPECT(lm_enqueue_frame(h, id++, older_frame, &roll), LM_STATUS_OK);
  accepted += 3;
  /* Other formats: NV21 and P016 share the layouts above; packed frames through lm_frame. */
  lm_frame nv21 = nv12;
  nv21.format = LM_PIXEL_FORMAT_NV21;
  lm_frame p016 = p010;
  p016.format = LM_PIXEL_FORMAT_P016;
  uint8_t *bgr = exact_frame(w, hgt, w * 3 + 1, 3);
  lm_frame packed;
  memset(&packed, 0, sizeof packed);
  packed.struct_size = sizeof packed;
  packed.format = LM_PIXEL_FORMAT_BGR8;
  packed.width = w; packed.height = hgt;
  packed.planes[0] = bgr; packed.strides[0] = w * 3 + 1;
  packed.color_matrix = 77; /* ignored for packed formats */
  EXPECT(lm_enqueue_frame(h, id++, &nv21, &roll), LM_STATUS_OK);
  EXPECT(lm_enqueue_frame(h, id++, &p016, &eyes), LM_STATUS_OK);
  EXPECT(lm_enqueue_frame(h, id++, &packed, &roll), LM_STATUS_OK);
  EXPECT(lm_enqueue_frame(h, id++, &packed, &upright), LM_STATUS_OK);
  accepted += 4;
  /* Planes freed at once: the library must have read what it needs during the call. */
  free(y8); free(uv8); free(u8p); free(v8p); free(y16); free(uv16); free(bgr); free(older); free(older_frame);

  lm_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  EXPECT(lm_get_stats(h, &st), LM_STATUS_OK);
  CHECK(st.rejected_invalid == invalid);
  CHECK(st.accepted == accepted);
  float points[468 * 3];
  for (uint64_t i = 1000; i < id; i++) {
    lm_landmarks out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    out.points = points;
    out.capacity = 468;
    EXPECT(lm_pop_wait(h, i, 300000, &out), LM_STATUS_OK); /* batches are slow under valgrind */
    CHECK(out.num_points == 468);
    CHECK(isfinite(out.roll) && isfinite(out.track_roll));
    CHECK(out.track_box.x2 > out.track_box.x1 && out.track_box.y2 > out.track_box.y1);
  }
  lm_destroy(h);
}

static void lifecycle(void) {
  /* Create and destroy with work queued and in flight. */
  static uint8_t rgb[64 * 64 * 3];
  lm_image img = {rgb, 64, 64, 64 * 3, LM_PIXEL_FORMAT_RGB8};
  lm_box box = {10, 10, 50, 50};
  for (int round = 0; round < 10; round++) {
    lm_handle *h = create_cpu(round % 2 ? 0 : 1000000);
    for (uint64_t id = 0; id < 12; id++) lm_enqueue(h, id, &img, &box);
    lm_destroy(h);
  }
  lm_destroy(NULL);
  lm_config_init(NULL);
  lm_api_version(NULL, NULL);
  CHECK(strcmp(lm_status_string(-1), "unknown status") == 0);
  CHECK(strcmp(lm_status_string(17), "unknown status") == 0);
}

int main(void) {
  config_edges();
  lm_handle *h = create_cpu(1000);
  enqueue_edges(h);
  lm_destroy(h);
  frame_edges();
  lifecycle();
  printf("hostile: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
