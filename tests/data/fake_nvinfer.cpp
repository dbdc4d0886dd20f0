// A stand-in for libnvinfer for the loader and logger tests, which need no GPU. The tests build it
// with c++ against the same TensorRT headers as the shim, one variant per set of macros:
//   FAKE_VERSION  what getInferLibVersion reports (major*10000 + minor*100 + patch)
//   FAKE_RUNTIME  what createInferRuntime returns (a C++ expression: NULL, a garbage pointer)
//   FAKE_LOG      createInferRuntime first logs one kVERBOSE, one kINFO and one kERROR line through
//                 the logger it is given, as the real runtime does on a machine without a GPU
//   FAKE_BUILDER  also exports createInferBuilder, which logs an error and fails, and a
//                 createNvOnnxParser that is never reached
#include <NvInfer.h>

#include <cstdint>

namespace {
using Severity = nvinfer1::ILogger::Severity;

void say(void *logger, Severity severity, const char *message) {
    static_cast<nvinfer1::ILogger *>(logger)->log(severity, message);
}
} // namespace

extern "C" int32_t getInferLibVersion() { return FAKE_VERSION; }

extern "C" void *createInferRuntime_INTERNAL(void *logger, int32_t) {
#ifdef FAKE_LOG
    say(logger, Severity::kVERBOSE, "fake verbose line");
    say(logger, Severity::kINFO, "fake info line");
    say(logger, Severity::kERROR, "fake: CUDA initialization failure with error: 35");
#else
    (void)logger;
#endif
    return FAKE_RUNTIME;
}

#ifdef FAKE_BUILDER
extern "C" void *createInferBuilder_INTERNAL(void *logger, int32_t) {
    say(logger, Severity::kERROR, "fake builder: out of GPU memory");
    return nullptr;
}

extern "C" void *createNvOnnxParser_INTERNAL(void *, void *, int) { return nullptr; }
#endif
