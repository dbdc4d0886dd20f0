/* A stand-in for libnvinfer, for the loader tests: reports FAKE_VERSION and returns FAKE_RUNTIME
 * from createInferRuntime without touching the logger. Built by the tests with cc. */
#include <stdint.h>

int32_t getInferLibVersion(void) { return FAKE_VERSION; }

void *createInferRuntime_INTERNAL(void *logger, int32_t version) {
    (void)logger;
    (void)version;
    return FAKE_RUNTIME;
}
