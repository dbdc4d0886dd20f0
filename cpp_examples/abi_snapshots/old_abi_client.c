/* A VMS built against an OLDER lmbatch header, run against today's library.
 * Compiled once per snapshot (LMBATCH_SNAPSHOT_HEADER names it, e.g. "lmbatch_1_0.h"): the program
 * sees only that header's struct layouts and calls lm_config_init as that header declares it (the
 * exported symbol, no macro). Every struct the library writes into is allocated at exactly the
 * size the old header gives it, followed by canary bytes; the program checks that no byte past
 * the struct changed (and valgrind / ASan watch the heap block's end as well).
 * Usage: old_abi_client <astronaut_rgb8_native.raw> */
#include LMBATCH_SNAPSHOT_HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s (ABI 1.%d): %d: check failed: %s\n", __FILE__,         \
              LM_API_VERSION_MINOR, __LINE__, #cond);                            \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

enum { W = 512, H = 512, STRIDE = W * 3, POINTS = 468, CANARY = 64 };

/* A heap block of `size` bytes followed by CANARY bytes of 0xA5. */
static void *alloc_with_canary(size_t size) {
  unsigned char *p = malloc(size + CANARY);
  if (p != NULL) memset(p, 0xA5, size + CANARY);
  return p;
}

/* 1 when the CANARY bytes after `size` bytes of `block` are untouched. */
static int canary_intact(const void *block, size_t size) {
  const unsigned char *tail = (const unsigned char *)block + size;
  for (size_t i = 0; i < CANARY; i++) {
    if (tail[i] != 0xA5) {
      fprintf(stderr, "byte %zu past a %zu-byte struct was overwritten\n", i, size);
      return 0;
    }
  }
  return 1;
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  FILE *f = fopen(argv[1], "rb");
  CHECK(f != NULL);
  unsigned char *pixels = malloc((size_t)STRIDE * H);
  CHECK(pixels != NULL);
  CHECK(fread(pixels, 1, (size_t)STRIDE * H, f) == (size_t)STRIDE * H);
  fclose(f);

  uint32_t major = 0, minor = 0;
  lm_api_version(&major, &minor);
  /* The library is at least as new as the header the program was built with. */
  CHECK(major == LM_API_VERSION_MAJOR && minor + 1 > LM_API_VERSION_MINOR);

  /* init: the old binary's struct, exactly its size. */
  lm_config *cfg = alloc_with_canary(sizeof(lm_config));
  CHECK(cfg != NULL);
  lm_config_init(cfg);
  CHECK(canary_intact(cfg, sizeof(lm_config)));
  CHECK(cfg->struct_size >= offsetof(lm_config, log_user) + sizeof cfg->log_user);
  CHECK(cfg->struct_size <= sizeof(lm_config));
  CHECK(cfg->max_batch == 32 && cfg->queue_capacity == 96 && cfg->max_wait_us == 10000);
  cfg->backend = LM_BACKEND_CPU;
  cfg->max_wait_us = 0;

  lm_handle *h = NULL;
  char err[256] = "";
  lm_status st = lm_create(cfg, &h, err, sizeof err);
  if (st != LM_STATUS_OK) fprintf(stderr, "lm_create: %s (%s)\n", lm_status_string(st), err);
  CHECK(st == LM_STATUS_OK && h != NULL);
  CHECK(canary_intact(cfg, sizeof(lm_config)));
  free(cfg);

  /* enqueue */
  lm_image frame = {pixels, W, H, STRIDE, LM_PIXEL_FORMAT_RGB8};
  lm_box face = {177.2828f, 80.559f, 271.8469f, 175.1234f};
  CHECK(lm_enqueue(h, 7, &frame, &face) == LM_STATUS_OK);
  free(pixels);

  /* pop: the old lm_landmarks, exactly its size; the points buffer exactly 468 points. */
  float *points = alloc_with_canary(sizeof(float) * 3 * POINTS);
  lm_landmarks *out = alloc_with_canary(sizeof(lm_landmarks));
  CHECK(points != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  out->struct_size = sizeof *out;
  out->points = points;
  out->capacity = POINTS;
  st = lm_pop_wait(h, 7, 60000, out);
  CHECK(st == LM_STATUS_OK);
  CHECK(canary_intact(out, sizeof(lm_landmarks)));
  CHECK(canary_intact(points, sizeof(float) * 3 * POINTS));
  CHECK(out->num_points == POINTS && out->face_score > 0.9f);
  /* onnxruntime's reference nose tip for this face (tests/data/faces/manifest.json). */
  CHECK(fabsf(points[1 * 3] - 223.65218f) < 1.0f && fabsf(points[1 * 3 + 1] - 131.01866f) < 1.0f);
  CHECK(lm_pop(h, 7, out) == LM_STATUS_NOT_FOUND);
  free(out);
  free(points);

  /* stats and model info: the old structs, exactly their size. */
  lm_stats *stats = alloc_with_canary(sizeof(lm_stats));
  CHECK(stats != NULL);
  stats->struct_size = sizeof *stats;
  CHECK(lm_get_stats(h, stats) == LM_STATUS_OK);
  CHECK(canary_intact(stats, sizeof(lm_stats)));
  CHECK(stats->accepted == 1 && stats->popped == 1);
  free(stats);

  lm_model_info *info = alloc_with_canary(sizeof(lm_model_info));
  CHECK(info != NULL);
  info->struct_size = sizeof *info;
  CHECK(lm_get_model_info(h, info) == LM_STATUS_OK);
  CHECK(canary_intact(info, sizeof(lm_model_info)));
  CHECK(info->num_points == POINTS && strcmp(info->backend, "cpu-tract") == 0);
  free(info);

  lm_destroy(h);
  printf("ABI 1.%d client against library %u.%u: init, create, enqueue, pop, stats, info, destroy ok\n",
         LM_API_VERSION_MINOR, major, minor);
  return 0;
}
