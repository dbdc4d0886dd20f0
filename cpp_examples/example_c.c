/* The smallest C program: landmarks for one face. Usage: example_c FRAME.raw WIDTH HEIGHT X1 Y1 X2 Y2
 * (FRAME.raw: packed RGB8 rows). Prints the nose tip and the eye corners. */
#include <lmbatch.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s FRAME.raw WIDTH HEIGHT X1 Y1 X2 Y2\n", argv[0]);
    return 2;
  }
  uint32_t w = (uint32_t)atoi(argv[2]), h = (uint32_t)atoi(argv[3]);
  size_t bytes = (size_t)w * h * 3;
  unsigned char *rgb = malloc(bytes);
  FILE *f = fopen(argv[1], "rb");
  if (!rgb || !f || fread(rgb, 1, bytes, f) != bytes) {
    fprintf(stderr, "cannot read %zu bytes from %s\n", bytes, argv[1]);
    return 1;
  }
  fclose(f);

  lm_config cfg;
  lm_config_init(&cfg);
  lm_handle *lm = NULL;
  char err[256];
  lm_status st = lm_create(&cfg, &lm, err, sizeof err);
  if (st != LM_STATUS_OK) {
    fprintf(stderr, "lm_create: %s: %s\n", lm_status_string(st), err);
    return 1;
  }
  lm_image frame = {rgb, w, h, (size_t)w * 3, LM_PIXEL_FORMAT_RGB8};
  lm_box face = {(float)atof(argv[4]), (float)atof(argv[5]), (float)atof(argv[6]), (float)atof(argv[7])};
  st = lm_enqueue(lm, 1, &frame, &face);
  free(rgb); /* the library copied what it needs */
  float points[468 * 3];
  lm_landmarks out = {.struct_size = sizeof out, .points = points, .capacity = 468};
  if (st == LM_STATUS_OK) st = lm_pop_wait(lm, 1, 10000, &out);
  if (st != LM_STATUS_OK) {
    fprintf(stderr, "%s\n", lm_status_string(st));
    lm_destroy(lm);
    return 1;
  }
  printf("face score %.3f\n", out.face_score);
  printf("nose tip  (%.1f, %.1f)\n", points[1 * 3], points[1 * 3 + 1]);
  printf("eye outer (%.1f, %.1f) (%.1f, %.1f)\n", points[33 * 3], points[33 * 3 + 1], points[263 * 3],
         points[263 * 3 + 1]);
  lm_destroy(lm);
  return 0;
}
