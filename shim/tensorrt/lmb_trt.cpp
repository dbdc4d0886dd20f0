// The C API of lmb_trt.h over TensorRT's C++ classes. Only inline header code and virtual calls
// are used, so the object file has no undefined TensorRT symbol: the library is dlopened by the
// Rust side, which hands the factory functions in.

#include "lmb_trt.h"

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>

namespace {

// Pointers below this are not objects: TensorRT was seen to return 0x228 from createInferRuntime
// on a machine without a usable GPU.
constexpr uintptr_t kLowestValidPointer = 0x10000;

bool looks_valid(const void *p) { return reinterpret_cast<uintptr_t>(p) >= kLowestValidPointer; }

void set_error(char *err, size_t err_len, const char *what) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    std::snprintf(err, err_len, "%s", what);
}

// Runs `body` and turns any escaping C++ exception into a failure status with its message.
template <typename F> int32_t guarded(char *err, size_t err_len, F &&body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        set_error(err, err_len, "out of memory in the TensorRT shim");
    } catch (const std::exception &e) {
        set_error(err, err_len, e.what());
    } catch (...) {
        set_error(err, err_len, "unknown C++ exception in the TensorRT shim");
    }
    return LMB_TRT_FAILED;
}

// What TensorRT logged on this thread: the count of errors and the text of the last one.
thread_local int32_t t_errors = 0;
thread_local char t_last_error[256] = "";

// The errors TensorRT logs during one shim call, to name the reason when the call fails.
class ErrorWatch {
  public:
    ErrorWatch() : before_(t_errors) {}
    bool logged() const { return t_errors != before_; }

    // Sets `what`, followed by TensorRT's last logged error when it logged one during the call.
    int32_t fail(char *err, size_t err_len, const char *what, int32_t status = LMB_TRT_FAILED) const {
        if (logged() && err != nullptr && err_len > 0) {
            std::snprintf(err, err_len, "%s; TensorRT said: %s", what, t_last_error);
        } else {
            set_error(err, err_len, what);
        }
        return status;
    }

  private:
    int32_t before_;
};

bool copy_dims(const nvinfer1::Dims &dims, int64_t *out) {
    if (dims.nbDims < 0 || dims.nbDims > LMB_TRT_MAX_DIMS) {
        return false;
    }
    for (int32_t i = 0; i < LMB_TRT_MAX_DIMS; ++i) {
        out[i] = i < dims.nbDims ? dims.d[i] : 0;
    }
    return true;
}

// Whether an ONNX parser error says the model itself is broken. The others (unsupported nodes,
// attributes or types, internal errors, allocation failures, ...) say that this TensorRT cannot
// take the model, which another backend may still run.
bool is_models_fault(nvonnxparser::ErrorCode code) {
    using Code = nvonnxparser::ErrorCode;
    return code == Code::kMODEL_DESERIALIZE_FAILED || code == Code::kINVALID_GRAPH ||
           code == Code::kINVALID_NODE;
}

const char *code_name(nvonnxparser::ErrorCode code) {
    using Code = nvonnxparser::ErrorCode;
    switch (code) {
    case Code::kSUCCESS: return "kSUCCESS";
    case Code::kINTERNAL_ERROR: return "kINTERNAL_ERROR";
    case Code::kMEM_ALLOC_FAILED: return "kMEM_ALLOC_FAILED";
    case Code::kMODEL_DESERIALIZE_FAILED: return "kMODEL_DESERIALIZE_FAILED";
    case Code::kINVALID_VALUE: return "kINVALID_VALUE";
    case Code::kINVALID_GRAPH: return "kINVALID_GRAPH";
    case Code::kINVALID_NODE: return "kINVALID_NODE";
    case Code::kUNSUPPORTED_GRAPH: return "kUNSUPPORTED_GRAPH";
    case Code::kUNSUPPORTED_NODE: return "kUNSUPPORTED_NODE";
    case Code::kUNSUPPORTED_NODE_ATTR: return "kUNSUPPORTED_NODE_ATTR";
    case Code::kUNSUPPORTED_NODE_INPUT: return "kUNSUPPORTED_NODE_INPUT";
    case Code::kUNSUPPORTED_NODE_DATATYPE: return "kUNSUPPORTED_NODE_DATATYPE";
    case Code::kUNSUPPORTED_NODE_DYNAMIC: return "kUNSUPPORTED_NODE_DYNAMIC";
    case Code::kUNSUPPORTED_NODE_SHAPE: return "kUNSUPPORTED_NODE_SHAPE";
    case Code::kREFIT_FAILED: return "kREFIT_FAILED";
    }
    return "an unknown code";
}

// Parses `onnx` into the parser's network. On failure: LMB_TRT_BAD_MODEL when one of the parser's
// errors blames the model (that error is named), else LMB_TRT_FAILED with the first error.
int32_t parse_onnx(nvonnxparser::IParser &parser, const void *onnx, size_t onnx_len, char *err,
                   size_t err_len) {
    if (parser.parse(onnx, onnx_len, nullptr)) {
        return LMB_TRT_OK;
    }
    const nvonnxparser::IParserError *named = nullptr;
    bool models_fault = false;
    for (int i = 0; i < parser.getNbErrors() && !models_fault; ++i) {
        const nvonnxparser::IParserError *error = parser.getError(i);
        if (error == nullptr) {
            continue;
        }
        models_fault = is_models_fault(error->code());
        if (named == nullptr || models_fault) {
            named = error;
        }
    }
    const char *desc = named != nullptr && named->desc() != nullptr ? named->desc() : "no detail";
    const char *code = named != nullptr ? code_name(named->code()) : "no error code";
    char what[512];
    if (models_fault) {
        std::snprintf(what, sizeof what, "TensorRT's ONNX parser rejected the model (%s): %s", code,
                      desc);
    } else {
        std::snprintf(what, sizeof what,
                      "this TensorRT's ONNX parser cannot take the model (%s): %s", code, desc);
    }
    set_error(err, err_len, what);
    return models_fault ? LMB_TRT_BAD_MODEL : LMB_TRT_FAILED;
}

} // namespace

namespace {

// Counts errors per thread (so a creation call that "succeeds" while logging an error is treated
// as the failure it is) and passes messages on to the sink. kVERBOSE is dropped here, before any
// work: an engine build emits thousands of such lines.
class ProcessLogger final : public nvinfer1::ILogger {
  public:
    void log(Severity severity, nvinfer1::AsciiChar const *msg) noexcept override {
        if (severity == Severity::kVERBOSE) {
            return;
        }
        const char *text = msg != nullptr ? msg : "";
        if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) {
            ++t_errors;
            std::snprintf(t_last_error, sizeof t_last_error, "%s", text);
        }
        lmb_trt_log_fn sink = nullptr;
        void *user = nullptr;
        try {
            std::lock_guard<std::mutex> hold(lock_);
            sink = sink_;
            user = user_;
        } catch (...) {
            // A lock that cannot be taken loses the message, never the process.
        }
        // Called unlocked: the sink runs user code, which may create or destroy a pipeline and
        // so make TensorRT log again on this thread.
        if (sink != nullptr) {
            sink(user, static_cast<int32_t>(severity), text);
        }
    }

    void set_sink(lmb_trt_log_fn sink, void *user) {
        std::lock_guard<std::mutex> hold(lock_);
        sink_ = sink;
        user_ = user;
    }

  private:
    std::mutex lock_;
    lmb_trt_log_fn sink_ = nullptr;
    void *user_ = nullptr;
};

// Made on first use and deliberately never freed (see lmb_trt.h).
ProcessLogger &process_logger() {
    static ProcessLogger *const logger = new ProcessLogger();
    return *logger;
}

nvinfer1::ILogger *logger_arg() { return &process_logger(); }

} // namespace

struct lmb_trt_plan {
    std::unique_ptr<nvinfer1::IHostMemory> memory;
};

extern "C" {

int32_t lmb_trt_header_version(void) { return NV_TENSORRT_VERSION; }

void lmb_trt_logger_set_sink(lmb_trt_log_fn sink, void *user) {
    try {
        process_logger().set_sink(sink, user);
    } catch (...) {
        // std::mutex::lock throws only when the lock is unusable; the sink stays as it was.
    }
}

int32_t lmb_trt_logger_thread_errors(void) { return t_errors; }

int32_t lmb_trt_runtime_new(lmb_trt_create_fn create_runtime, void **runtime_out, char *err,
                            size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (create_runtime == nullptr || runtime_out == nullptr) {
            set_error(err, err_len, "lmb_trt_runtime_new: NULL argument");
            return LMB_TRT_FAILED;
        }
        *runtime_out = nullptr;
        const ErrorWatch watch;
        void *raw = create_runtime(logger_arg(), NV_TENSORRT_VERSION);
        if (raw == nullptr) {
            return watch.fail(err, err_len, "createInferRuntime returned NULL");
        }
        if (!looks_valid(raw)) {
            // Not an object: never call through it, never delete it.
            char what[160];
            std::snprintf(what, sizeof what,
                          "createInferRuntime returned an invalid pointer %p (no usable GPU?)", raw);
            return watch.fail(err, err_len, what);
        }
        auto *runtime = static_cast<nvinfer1::IRuntime *>(raw);
        if (watch.logged()) {
            delete runtime;
            return watch.fail(err, err_len, "TensorRT logged an error while creating its runtime");
        }
        *runtime_out = runtime;
        return LMB_TRT_OK;
    });
}

void lmb_trt_runtime_free(void *runtime) { delete static_cast<nvinfer1::IRuntime *>(runtime); }

int32_t lmb_trt_engine_deserialize(void *runtime, const void *plan, size_t plan_len,
                                   void **engine_out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (runtime == nullptr || plan == nullptr || engine_out == nullptr) {
            set_error(err, err_len, "lmb_trt_engine_deserialize: NULL argument");
            return LMB_TRT_FAILED;
        }
        *engine_out = nullptr;
        const ErrorWatch watch;
        auto *rt = static_cast<nvinfer1::IRuntime *>(runtime);
        nvinfer1::ICudaEngine *engine = rt->deserializeCudaEngine(plan, plan_len);
        if (engine == nullptr || !looks_valid(engine)) {
            // The caller knows whether the plan was given (then the plan is at fault) or just
            // built here (then TensorRT or the GPU is).
            return watch.fail(err, err_len,
                              "TensorRT could not deserialize the plan (built by another TensorRT "
                              "version or for another GPU, or out of GPU memory?)");
        }
        *engine_out = engine;
        return LMB_TRT_OK;
    });
}

void lmb_trt_engine_free(void *engine) { delete static_cast<nvinfer1::ICudaEngine *>(engine); }

int32_t lmb_trt_engine_io_count(void *engine) {
    if (engine == nullptr) {
        return 0;
    }
    return static_cast<nvinfer1::ICudaEngine *>(engine)->getNbIOTensors();
}

int32_t lmb_trt_engine_profile_count(void *engine) {
    if (engine == nullptr) {
        return 0;
    }
    return static_cast<nvinfer1::ICudaEngine *>(engine)->getNbOptimizationProfiles();
}

int32_t lmb_trt_engine_io(void *engine, int32_t index, lmb_trt_io *out, char *err,
                          size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (engine == nullptr || out == nullptr) {
            set_error(err, err_len, "lmb_trt_engine_io: NULL argument");
            return LMB_TRT_FAILED;
        }
        auto *e = static_cast<nvinfer1::ICudaEngine *>(engine);
        if (index < 0 || index >= e->getNbIOTensors()) {
            set_error(err, err_len, "lmb_trt_engine_io: index out of range");
            return LMB_TRT_FAILED;
        }
        std::memset(out, 0, sizeof *out);
        const char *name = e->getIOTensorName(index);
        if (name == nullptr) {
            set_error(err, err_len, "the engine has an I/O tensor without a name");
            return LMB_TRT_BAD_MODEL;
        }
        out->name = name;
        out->is_input = e->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
        out->dtype = static_cast<int32_t>(e->getTensorDataType(name));
        const nvinfer1::Dims dims = e->getTensorShape(name);
        out->nb_dims = dims.nbDims;
        if (!copy_dims(dims, out->dims)) {
            set_error(err, err_len, "an I/O tensor has an unsupported rank");
            return LMB_TRT_BAD_MODEL;
        }
        if (out->is_input != 0 && e->getNbOptimizationProfiles() > 0) {
            using Sel = nvinfer1::OptProfileSelector;
            if (!copy_dims(e->getProfileShape(name, 0, Sel::kMIN), out->min) ||
                !copy_dims(e->getProfileShape(name, 0, Sel::kOPT), out->opt) ||
                !copy_dims(e->getProfileShape(name, 0, Sel::kMAX), out->max)) {
                set_error(err, err_len, "an input's profile has an unsupported rank");
                return LMB_TRT_BAD_MODEL;
            }
        }
        return LMB_TRT_OK;
    });
}

int32_t lmb_trt_context_new(void *engine, void **context_out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (engine == nullptr || context_out == nullptr) {
            set_error(err, err_len, "lmb_trt_context_new: NULL argument");
            return LMB_TRT_FAILED;
        }
        *context_out = nullptr;
        const ErrorWatch watch;
        nvinfer1::IExecutionContext *context =
            static_cast<nvinfer1::ICudaEngine *>(engine)->createExecutionContext();
        if (context == nullptr || !looks_valid(context)) {
            return watch.fail(err, err_len,
                              "TensorRT could not create an execution context (out of GPU memory?)");
        }
        *context_out = context;
        return LMB_TRT_OK;
    });
}

void lmb_trt_context_free(void *context) {
    delete static_cast<nvinfer1::IExecutionContext *>(context);
}

int32_t lmb_trt_context_set_input_shape(void *context, const char *name, int32_t nb_dims,
                                        const int64_t *dims, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr || name == nullptr || dims == nullptr || nb_dims < 0 ||
            nb_dims > LMB_TRT_MAX_DIMS) {
            set_error(err, err_len, "lmb_trt_context_set_input_shape: bad argument");
            return LMB_TRT_FAILED;
        }
        const ErrorWatch watch;
        nvinfer1::Dims shape{};
        shape.nbDims = nb_dims;
        for (int32_t i = 0; i < nb_dims; ++i) {
            shape.d[i] = dims[i];
        }
        if (!static_cast<nvinfer1::IExecutionContext *>(context)->setInputShape(name, shape)) {
            return watch.fail(err, err_len,
                              "TensorRT refused the input shape (outside the profile?)");
        }
        return LMB_TRT_OK;
    });
}

int32_t lmb_trt_context_tensor_shape(void *context, const char *name, int32_t *nb_dims,
                                     int64_t dims[LMB_TRT_MAX_DIMS], char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr || name == nullptr || nb_dims == nullptr || dims == nullptr) {
            set_error(err, err_len, "lmb_trt_context_tensor_shape: NULL argument");
            return LMB_TRT_FAILED;
        }
        const nvinfer1::Dims shape =
            static_cast<nvinfer1::IExecutionContext *>(context)->getTensorShape(name);
        if (!copy_dims(shape, dims)) {
            set_error(err, err_len, "TensorRT gave no shape for the tensor (unknown name?)");
            return LMB_TRT_BAD_MODEL;
        }
        *nb_dims = shape.nbDims;
        return LMB_TRT_OK;
    });
}

int32_t lmb_trt_context_set_address(void *context, const char *name, uint64_t device_address,
                                    char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr || name == nullptr) {
            set_error(err, err_len, "lmb_trt_context_set_address: NULL argument");
            return LMB_TRT_FAILED;
        }
        const ErrorWatch watch;
        void *address = reinterpret_cast<void *>(static_cast<uintptr_t>(device_address));
        if (!static_cast<nvinfer1::IExecutionContext *>(context)->setTensorAddress(name, address)) {
            return watch.fail(err, err_len, "TensorRT refused a tensor address");
        }
        return LMB_TRT_OK;
    });
}

int32_t lmb_trt_context_enqueue(void *context, void *stream, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr) {
            set_error(err, err_len, "lmb_trt_context_enqueue: NULL context");
            return LMB_TRT_FAILED;
        }
        const ErrorWatch watch;
        auto *ctx = static_cast<nvinfer1::IExecutionContext *>(context);
        if (!ctx->enqueueV3(static_cast<cudaStream_t>(stream))) {
            return watch.fail(err, err_len, "TensorRT enqueueV3 failed");
        }
        return LMB_TRT_OK;
    });
}

const void *lmb_trt_plan_data(const lmb_trt_plan *plan) {
    return plan != nullptr ? plan->memory->data() : nullptr;
}

size_t lmb_trt_plan_size(const lmb_trt_plan *plan) {
    return plan != nullptr ? plan->memory->size() : 0;
}

void lmb_trt_plan_free(lmb_trt_plan *plan) { delete plan; }

int32_t lmb_trt_build_from_onnx(lmb_trt_create_fn create_builder,
                                lmb_trt_parser_create_fn create_parser,
                                const lmb_trt_build_request *request, lmb_trt_plan **plan_out,
                                int32_t *fp16_used, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (create_builder == nullptr || create_parser == nullptr || request == nullptr ||
            request->onnx == nullptr || request->input_name == nullptr || plan_out == nullptr ||
            fp16_used == nullptr) {
            set_error(err, err_len, "lmb_trt_build_from_onnx: NULL argument");
            return LMB_TRT_FAILED;
        }
        *plan_out = nullptr;
        *fp16_used = 0;
        if (request->batch_min < 1 || request->batch_opt < request->batch_min ||
            request->batch_max < request->batch_opt) {
            set_error(err, err_len, "the batch profile must satisfy 1 <= min <= opt <= max");
            return LMB_TRT_FAILED;
        }
        const ErrorWatch watch;
        // From here on, every failure is TensorRT's or the GPU's (LMB_TRT_FAILED) except the
        // ones that name the model (LMB_TRT_BAD_MODEL).
        void *raw_builder = create_builder(logger_arg(), NV_TENSORRT_VERSION);
        if (raw_builder == nullptr || !looks_valid(raw_builder)) {
            return watch.fail(err, err_len, "createInferBuilder failed (no usable GPU?)");
        }
        std::unique_ptr<nvinfer1::IBuilder> builder(static_cast<nvinfer1::IBuilder *>(raw_builder));
        // TensorRT 10 made explicit batch the only mode; 0 asks for nothing else.
        std::unique_ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(0));
        if (!network) {
            return watch.fail(err, err_len, "TensorRT could not create a network definition");
        }
        void *raw_parser = create_parser(network.get(), logger_arg(), NV_ONNX_PARSER_VERSION);
        if (raw_parser == nullptr || !looks_valid(raw_parser)) {
            return watch.fail(err, err_len,
                              "createNvOnnxParser failed (libnvonnxparser of another version?)");
        }
        std::unique_ptr<nvonnxparser::IParser> parser(
            static_cast<nvonnxparser::IParser *>(raw_parser));
        const int32_t parsed = parse_onnx(*parser, request->onnx, request->onnx_len, err, err_len);
        if (parsed != LMB_TRT_OK) {
            return parsed;
        }
        nvinfer1::ITensor *input = nullptr;
        for (int32_t i = 0; i < network->getNbInputs(); ++i) {
            nvinfer1::ITensor *candidate = network->getInput(i);
            if (candidate != nullptr && std::strcmp(candidate->getName(), request->input_name) == 0) {
                input = candidate;
            }
        }
        if (input == nullptr) {
            set_error(err, err_len, "the ONNX model has no input with the expected name");
            return LMB_TRT_BAD_MODEL;
        }
        nvinfer1::Dims shape = input->getDimensions();
        if (shape.nbDims != 4) {
            set_error(err, err_len,
                      "the model input is not 4-D (batch and the descriptor's three dimensions)");
            return LMB_TRT_BAD_MODEL;
        }
        // The profile's shape after the batch is the descriptor's (input.size, layout, channels,
        // transpose): a dynamic dimension takes it, a fixed one must agree with it.
        for (int32_t i = 1; i < shape.nbDims; ++i) {
            const int64_t described = request->input_dims[i - 1];
            if (shape.d[i] < 0) {
                shape.d[i] = described;
            } else if (shape.d[i] != described) {
                set_error(err, err_len,
                          "the model input's shape disagrees with its descriptor (input.size, "
                          "input.layout, input.channels, input.transpose)");
                return LMB_TRT_BAD_MODEL;
            }
        }
        nvinfer1::IOptimizationProfile *profile = builder->createOptimizationProfile();
        std::unique_ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
        if (profile == nullptr || !config) {
            return watch.fail(err, err_len, "TensorRT could not create a builder config");
        }
        using Sel = nvinfer1::OptProfileSelector;
        const std::pair<Sel, int32_t> sizes[] = {{Sel::kMIN, request->batch_min},
                                                 {Sel::kOPT, request->batch_opt},
                                                 {Sel::kMAX, request->batch_max}};
        for (const auto &size : sizes) {
            nvinfer1::Dims dims = shape;
            dims.d[0] = size.second;
            if (!profile->setDimensions(request->input_name, size.first, dims)) {
                return watch.fail(err, err_len, "TensorRT refused the batch profile");
            }
        }
        if (config->addOptimizationProfile(profile) < 0) {
            return watch.fail(err, err_len, "TensorRT refused the optimization profile");
        }
        config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE,
                                   static_cast<std::size_t>(request->workspace_bytes));
#if NV_TENSORRT_MAJOR < 11
        // Late TensorRT 10 releases deprecate weakly typed precision flags; 10 still honours them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        if (request->fp16 != 0) {
            config->setFlag(nvinfer1::BuilderFlag::kFP16);
            *fp16_used = 1;
        }
#pragma GCC diagnostic pop
#endif
        // Out of GPU memory, a GPU this TensorRT does not support, libnvinfer_builder_resource
        // missing from the loader path: all end here, with TensorRT's logged reason.
        std::unique_ptr<nvinfer1::IHostMemory> memory(
            builder->buildSerializedNetwork(*network, *config));
        if (!memory || memory->size() == 0) {
            return watch.fail(err, err_len, "TensorRT could not build the engine");
        }
        *plan_out = new lmb_trt_plan{std::move(memory)};
        return LMB_TRT_OK;
    });
}

int32_t lmb_trt_parse_onnx_without_network(lmb_trt_parser_create_fn create_parser,
                                           const void *onnx, size_t onnx_len, char *err,
                                           size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (create_parser == nullptr || onnx == nullptr) {
            set_error(err, err_len, "lmb_trt_parse_onnx_without_network: NULL argument");
            return LMB_TRT_FAILED;
        }
        void *raw = create_parser(nullptr, logger_arg(), NV_ONNX_PARSER_VERSION);
        if (raw == nullptr || !looks_valid(raw)) {
            set_error(err, err_len, "createNvOnnxParser failed");
            return LMB_TRT_FAILED;
        }
        std::unique_ptr<nvonnxparser::IParser> parser(static_cast<nvonnxparser::IParser *>(raw));
        return parse_onnx(*parser, onnx, onnx_len, err, err_len);
    });
}

} // extern "C"
