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
  CHECK(st.rejected_invalid == 8 + 6 + 1 + sizeof boxes / sizeof boxes[0]);
  CHECK(st.accepted == 10);

  /* Pop every accepted face with hostile landmark structs first. */
  float points[468 * 3];
  for (uint64_t id = 200; id < 305; id++) {
    if (id == 205) id = 300;
    lm_landmarks out = {sizeof out, points, 468, 0, 0, 0, 0};
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
  lifecycle();
  printf("hostile: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
