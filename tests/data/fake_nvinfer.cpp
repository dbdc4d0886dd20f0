// A stand-in for libnvinfer for the loader and logger tests, which need no GPU. The tests build it
// with c++ against the same TensorRT headers as the shim, one variant per set of macros:
//   FAKE_VERSION  what getInferLibVersion reports (major*10000 + minor*100 + patch)
//   FAKE_RUNTIME  what createInferRuntime returns (a C++ expression: NULL, a garbage pointer)
//   FAKE_LOG      createInferRuntime first logs one kVERBOSE, one kINFO and one kERROR line through
//                 the logger it is given, as the real runtime does on a machine without a GPU
//   FAKE_BUILDER  also exports createInferBuilder, which logs an error and fails, and a
//                 createNvOnnxParser that is never reached
//   FAKE_PARSER   also exports a createNvOnnxParser whose parser ignores its network and fails
//                 every parse with one error whose code is the model's first byte (none for 0)
#include <NvInfer.h>
#include <NvOnnxParser.h>

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

#ifndef FAKE_PARSER
extern "C" void *createNvOnnxParser_INTERNAL(void *, void *, int) { return nullptr; }
#endif
#endif

#ifdef FAKE_PARSER
namespace {
using nvonnxparser::ErrorCode;

class FakeError final : public nvonnxparser::IParserError {
  public:
    ErrorCode code_ = ErrorCode::kSUCCESS;
    ErrorCode code() const override { return code_; }
    char const *desc() const override { return "fake parser error"; }
    char const *file() const override { return "fake_nvinfer.cpp"; }
    int line() const override { return 0; }
    char const *func() const override { return "parse"; }
    int node() const override { return -1; }
    char const *nodeName() const override { return ""; }
    char const *nodeOperator() const override { return ""; }
    char const *const *localFunctionStack() const override { return nullptr; }
    int32_t localFunctionStackSize() const override { return 0; }
};

// Only parse, getNbErrors and getError do anything; the rest is the interface's due.
class FakeParser final : public nvonnxparser::IParser {
  public:
    bool parse(void const *model, size_t size, const char *) noexcept override {
        has_error_ = size > 0 && static_cast<unsigned char const *>(model)[0] != 0;
        if (has_error_) {
            error_.code_ = static_cast<ErrorCode>(static_cast<unsigned char const *>(model)[0]);
        }
        return false;
    }
    bool parseFromFile(char const *, int) noexcept override { return false; }
    bool supportsOperator(const char *) const noexcept override { return false; }
    int getNbErrors() const noexcept override { return has_error_ ? 1 : 0; }
    nvonnxparser::IParserError const *getError(int index) const noexcept override {
        return has_error_ && index == 0 ? &error_ : nullptr;
    }
    void clearErrors() noexcept override { has_error_ = false; }
    char const *const *getUsedVCPluginLibraries(int64_t &count) const noexcept override {
        count = 0;
        return nullptr;
    }
    void setFlags(nvonnxparser::OnnxParserFlags) noexcept override {}
    nvonnxparser::OnnxParserFlags getFlags() const noexcept override { return 0; }
    void clearFlag(nvonnxparser::OnnxParserFlag) noexcept override {}
    void setFlag(nvonnxparser::OnnxParserFlag) noexcept override {}
    bool getFlag(nvonnxparser::OnnxParserFlag) const noexcept override { return false; }
    nvinfer1::ITensor const *getLayerOutputTensor(char const *, int64_t) noexcept override {
        return nullptr;
    }
    bool supportsModelV2(void const *, size_t, char const *) noexcept override { return false; }
    int64_t getNbSubgraphs() noexcept override { return 0; }
    bool isSubgraphSupported(int64_t const) noexcept override { return false; }
    int64_t *getSubgraphNodes(int64_t const, int64_t &length) noexcept override {
        length = 0;
        return nullptr;
    }
    bool loadModelProto(void const *, size_t, char const *) noexcept override { return false; }
    bool loadInitializer(char const *, void const *, size_t) noexcept override { return false; }
    bool parseModelProto() noexcept override { return false; }
    bool setBuilderConfig(const nvinfer1::IBuilderConfig *const) noexcept override { return false; }
    void setRefitObserver(nvonnxparser::IRefitterObserver *) noexcept override {}

  private:
    bool has_error_ = false;
    FakeError error_;
};
} // namespace

extern "C" void *createNvOnnxParser_INTERNAL(void *, void *, int) { return new FakeParser(); }
#endif
