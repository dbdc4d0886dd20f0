/* Creates a pipeline on the bundled model, enqueues the astronaut face, pops it, checks the
 * points against onnxruntime's reference, and destroys the pipeline. Also checks the version
 * macros and a few documented edge cases from C. Usage: c_smoke <astronaut_rgb8_native.raw> */
#include <lmbatch.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                         \
    }                                                                   \
  } while (0)

enum { W = 512, H = 512, STRIDE = W * 3, POINTS = 468 };

/* onnxruntime's reference for this face (tests/data/faces/manifest.json), frame pixels. */
static const struct { int index; float x, y; } reference[] = {
    {1, 223.65218f, 131.01866f},   /* nose tip */
    {33, 194.38627f, 100.88255f},  /* right eye, outer corner */
    {263, 256.41855f, 103.96334f}, /* left eye, outer corner */
    {152, 221.54256f, 174.9834f},  /* chin */
};

int main(int argc, char **argv) {
  CHECK(argc == 2);
  FILE *f = fopen(argv[1], "rb");
  CHECK(f != NULL);
  unsigned char *pixels = malloc((size_t)STRIDE * H);
  CHECK(pixels != NULL);
  CHECK(fread(pixels, 1, (size_t)STRIDE * H, f) == (size_t)STRIDE * H);
  fclose(f);

  uint32_t major = 0, minor = 99;
  lm_api_version(&major, &minor);
  /* Built together with this header, so both numbers match exactly. */
  CHECK(major == LM_API_VERSION_MAJOR && minor == LM_API_VERSION_MINOR);
  CHECK(strcmp(lm_status_string(LM_STATUS_OK), "ok") == 0);
  CHECK(strcmp(lm_status_string(12345), "unknown status") == 0);
  lm_config_init(NULL);
  lm_destroy(NULL);

  lm_config cfg;
  lm_config_init(&cfg);
  CHECK(cfg.struct_size == sizeof(lm_config));
  cfg.backend = LM_BACKEND_CPU;
  cfg.max_wait_us = 0;
  lm_handle *h = NULL;
  char err[256] = "";
  lm_status st = lm_create(&cfg, &h, err, sizeof err);
  if (st != LM_STATUS_OK) fprintf(stderr, "lm_create: %s (%s)\n", lm_status_string(st), err);
  CHECK(st == LM_STATUS_OK && h != NULL);

  lm_image frame = {pixels, W, H, STRIDE, LM_PIXEL_FORMAT_RGB8};
  lm_box face = {177.2828f, 80.559f, 271.8469f, 175.1234f};
  CHECK(lm_enqueue(h, 42, &frame, &face) == LM_STATUS_OK);
  CHECK(lm_enqueue(h, 42, &frame, &face) == LM_STATUS_DUPLICATE_ID);
  lm_box bad = {10.f, 10.f, 5.f, 20.f};
  CHECK(lm_enqueue(h, 43, &frame, &bad) == LM_STATUS_INVALID_ARGUMENT);
  /* The frame may be freed as soon as enqueue returns. */
  memset(pixels, 0, (size_t)STRIDE * H);
  free(pixels);

  float points[POINTS * 3];
  lm_landmarks out;
  memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  out.points = points;
  out.capacity = POINTS;
  st = lm_pop_wait(h, 42, 60000, &out);
  CHECK(st == LM_STATUS_OK);
  CHECK(out.num_points == POINTS);
  CHECK(out.face_score > 0.9f);
  for (size_t i = 0; i < sizeof reference / sizeof reference[0]; i++) {
    float dx = points[reference[i].index * 3] - reference[i].x;
    float dy = points[reference[i].index * 3 + 1] - reference[i].y;
    printf("point %3d: (%.2f, %.2f), %.3f px from the reference\n", reference[i].index,
           points[reference[i].index * 3], points[reference[i].index * 3 + 1], sqrt(dx * dx + dy * dy));
    CHECK(sqrt(dx * dx + dy * dy) < 1.5); /* 1.5 px = 2.4% of the 62 px eye distance */
  }
  CHECK(lm_pop(h, 42, &out) == LM_STATUS_NOT_FOUND);

  lm_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK(lm_get_stats(h, &stats) == LM_STATUS_OK);
  CHECK(stats.accepted == 1 && stats.popped == 1 && stats.rejected_invalid == 1);

  lm_model_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  CHECK(lm_get_model_info(h, &info) == LM_STATUS_OK);
  CHECK(strcmp(info.backend, "cpu-tract") == 0 && info.num_points == POINTS);
  printf("backend %s, %u points, face score %.3f, queue %llu us, inference %llu us\n", info.backend,
         info.num_points, out.face_score, (unsigned long long)out.queue_us,
         (unsigned long long)out.infer_us);
  lm_destroy(h);
  printf("c_smoke: ok\n");
  return 0;
}
