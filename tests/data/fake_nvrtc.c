/* A stand-in for libnvrtc for the tests of the NVRTC chain (no CUDA needed): the calls the
 * backend makes, nothing more. The tests build it with cc, one variant per set of macros:
 *   FAKE_TAG   the word the images start with ("fake13 -arch=sm_89"), so a test can tell whose
 *              image its loader was given
 *   FAKE_FAIL  every compile fails with NVRTC_ERROR_COMPILATION (6) and a log line */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct {
    char image[160];
} program;

static const char log_text[] = "fake: this NVRTC cannot compile for the device";

int nvrtcCreateProgram(void **out, const char *src, const char *name, int headers,
                       const char *const *contents, const char *const *names) {
    (void)src, (void)name, (void)headers, (void)contents, (void)names;
    *out = calloc(1, sizeof(program));
    return *out != NULL ? 0 : 1;
}

int nvrtcCompileProgram(void *p, int count, const char *const *options) {
#ifdef FAKE_FAIL
    (void)p, (void)count, (void)options;
    return 6;
#else
    snprintf(((program *)p)->image, sizeof ((program *)p)->image, "%s %s", STR(FAKE_TAG),
             count > 0 ? options[0] : "ptx");
    return 0;
#endif
}

int nvrtcDestroyProgram(void **p) {
    free(*p);
    *p = NULL;
    return 0;
}

const char *nvrtcGetErrorString(int status) {
    return status == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_SUCCESS";
}

int nvrtcGetProgramLogSize(void *p, size_t *size) {
    (void)p;
    *size = sizeof log_text;
    return 0;
}

int nvrtcGetProgramLog(void *p, char *out) {
    (void)p;
    memcpy(out, log_text, sizeof log_text);
    return 0;
}

static int image_size(void *p, size_t *size) {
    *size = strlen(((program *)p)->image) + 1;
    return 0;
}

static int image(void *p, char *out) {
    memcpy(out, ((program *)p)->image, strlen(((program *)p)->image) + 1);
    return 0;
}

int nvrtcGetCUBINSize(void *p, size_t *size) { return image_size(p, size); }
int nvrtcGetCUBIN(void *p, char *out) { return image(p, out); }
int nvrtcGetPTXSize(void *p, size_t *size) { return image_size(p, size); }
int nvrtcGetPTX(void *p, char *out) { return image(p, out); }
