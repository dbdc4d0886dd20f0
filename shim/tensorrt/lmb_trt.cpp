// The C API of lmb_trt.h over TensorRT's C++ classes. Only inline header code and virtual calls
// are used, so the object file has no undefined TensorRT symbol: the library is dlopened by the
// Rust side, which hands the factory functions in.

#include "lmb_trt.h"

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
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
    return 1;
}

bool copy_dims(const nvinfer1::Dims &dims, int64_t *out) {
    if (dims.nbDims < 0 || dims.nbDims > LMB_TRT_MAX_DIMS) {
        return false;
    }
    for (int32_t i = 0; i < LMB_TRT_MAX_DIMS; ++i) {
        out[i] = i < dims.nbDims ? dims.d[i] : 0;
    }
    return true;
}

} // namespace

// Forwards TensorRT's messages to the Rust log sink and counts errors, so a creation call that
// "succeeds" while logging an error is treated as the failure it is.
struct lmb_trt_logger final : public nvinfer1::ILogger {
    lmb_trt_log_fn sink;
    void *user;
    std::atomic<int32_t> errors{0};

    lmb_trt_logger(lmb_trt_log_fn s, void *u) : sink(s), user(u) {}

    void log(Severity severity, nvinfer1::AsciiChar const *msg) noexcept override {
        if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) {
            errors.fetch_add(1, std::memory_order_relaxed);
        }
        if (sink != nullptr) {
            sink(user, static_cast<int32_t>(severity), msg != nullptr ? msg : "");
        }
    }
};

struct lmb_trt_plan {
    std::unique_ptr<nvinfer1::IHostMemory> memory;
};

extern "C" {

int32_t lmb_trt_header_version(void) { return NV_TENSORRT_VERSION; }

lmb_trt_logger *lmb_trt_logger_new(lmb_trt_log_fn sink, void *user) {
    return new (std::nothrow) lmb_trt_logger(sink, user);
}

void lmb_trt_logger_free(lmb_trt_logger *logger) { delete logger; }

int32_t lmb_trt_logger_error_count(const lmb_trt_logger *logger) {
    return logger != nullptr ? logger->errors.load(std::memory_order_relaxed) : 0;
}

void lmb_trt_logger_reset(lmb_trt_logger *logger) {
    if (logger != nullptr) {
        logger->errors.store(0, std::memory_order_relaxed);
    }
}

int32_t lmb_trt_runtime_new(lmb_trt_create_fn create_runtime, lmb_trt_logger *logger,
                            void **runtime_out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (create_runtime == nullptr || logger == nullptr || runtime_out == nullptr) {
            set_error(err, err_len, "lmb_trt_runtime_new: NULL argument");
            return 1;
        }
        *runtime_out = nullptr;
        const int32_t errors_before = lmb_trt_logger_error_count(logger);
        void *raw = create_runtime(static_cast<nvinfer1::ILogger *>(logger), NV_TENSORRT_VERSION);
        if (raw == nullptr) {
            set_error(err, err_len, "createInferRuntime returned NULL");
            return 1;
        }
        if (!looks_valid(raw)) {
            // Not an object: never call through it, never delete it.
            char what[160];
            std::snprintf(what, sizeof what,
                          "createInferRuntime returned an invalid pointer %p (no usable GPU?)", raw);
            set_error(err, err_len, what);
            return 1;
        }
        auto *runtime = static_cast<nvinfer1::IRuntime *>(raw);
        if (lmb_trt_logger_error_count(logger) != errors_before) {
            delete runtime;
            set_error(err, err_len, "TensorRT logged an error while creating its runtime");
            return 1;
        }
        *runtime_out = runtime;
        return 0;
    });
}

void lmb_trt_runtime_free(void *runtime) { delete static_cast<nvinfer1::IRuntime *>(runtime); }

int32_t lmb_trt_engine_deserialize(void *runtime, const void *plan, size_t plan_len,
                                   void **engine_out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (runtime == nullptr || plan == nullptr || engine_out == nullptr) {
            set_error(err, err_len, "lmb_trt_engine_deserialize: NULL argument");
            return 1;
        }
        *engine_out = nullptr;
        auto *rt = static_cast<nvinfer1::IRuntime *>(runtime);
        nvinfer1::ICudaEngine *engine = rt->deserializeCudaEngine(plan, plan_len);
        if (engine == nullptr || !looks_valid(engine)) {
            set_error(err, err_len,
                      "TensorRT could not deserialize the plan (built by another TensorRT version or "
                      "for another GPU?)");
            return 1;
        }
        *engine_out = engine;
        return 0;
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
            return 1;
        }
        auto *e = static_cast<nvinfer1::ICudaEngine *>(engine);
        if (index < 0 || index >= e->getNbIOTensors()) {
            set_error(err, err_len, "lmb_trt_engine_io: index out of range");
            return 1;
        }
        std::memset(out, 0, sizeof *out);
        const char *name = e->getIOTensorName(index);
        if (name == nullptr) {
            set_error(err, err_len, "the engine has an I/O tensor without a name");
            return 1;
        }
        out->name = name;
        out->is_input = e->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
        out->dtype = static_cast<int32_t>(e->getTensorDataType(name));
        const nvinfer1::Dims dims = e->getTensorShape(name);
        out->nb_dims = dims.nbDims;
        if (!copy_dims(dims, out->dims)) {
            set_error(err, err_len, "an I/O tensor has an unsupported rank");
            return 1;
        }
        if (out->is_input != 0 && e->getNbOptimizationProfiles() > 0) {
            using Sel = nvinfer1::OptProfileSelector;
            if (!copy_dims(e->getProfileShape(name, 0, Sel::kMIN), out->min) ||
                !copy_dims(e->getProfileShape(name, 0, Sel::kOPT), out->opt) ||
                !copy_dims(e->getProfileShape(name, 0, Sel::kMAX), out->max)) {
                set_error(err, err_len, "an input's profile has an unsupported rank");
                return 1;
            }
        }
        return 0;
    });
}

int32_t lmb_trt_context_new(void *engine, void **context_out, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (engine == nullptr || context_out == nullptr) {
            set_error(err, err_len, "lmb_trt_context_new: NULL argument");
            return 1;
        }
        *context_out = nullptr;
        nvinfer1::IExecutionContext *context =
            static_cast<nvinfer1::ICudaEngine *>(engine)->createExecutionContext();
        if (context == nullptr || !looks_valid(context)) {
            set_error(err, err_len,
                      "TensorRT could not create an execution context (out of GPU memory?)");
            return 1;
        }
        *context_out = context;
        return 0;
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
            return 1;
        }
        nvinfer1::Dims shape{};
        shape.nbDims = nb_dims;
        for (int32_t i = 0; i < nb_dims; ++i) {
            shape.d[i] = dims[i];
        }
        if (!static_cast<nvinfer1::IExecutionContext *>(context)->setInputShape(name, shape)) {
            set_error(err, err_len, "TensorRT refused the input shape (outside the profile?)");
            return 1;
        }
        return 0;
    });
}

int32_t lmb_trt_context_set_address(void *context, const char *name, uint64_t device_address,
                                    char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr || name == nullptr) {
            set_error(err, err_len, "lmb_trt_context_set_address: NULL argument");
            return 1;
        }
        void *address = reinterpret_cast<void *>(static_cast<uintptr_t>(device_address));
        if (!static_cast<nvinfer1::IExecutionContext *>(context)->setTensorAddress(name, address)) {
            set_error(err, err_len, "TensorRT refused a tensor address");
            return 1;
        }
        return 0;
    });
}

int32_t lmb_trt_context_enqueue(void *context, void *stream, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (context == nullptr) {
            set_error(err, err_len, "lmb_trt_context_enqueue: NULL context");
            return 1;
        }
        auto *ctx = static_cast<nvinfer1::IExecutionContext *>(context);
        if (!ctx->enqueueV3(static_cast<cudaStream_t>(stream))) {
            set_error(err, err_len, "TensorRT enqueueV3 failed (see the log for its reason)");
            return 1;
        }
        return 0;
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
                                lmb_trt_parser_create_fn create_parser, lmb_trt_logger *logger,
                                const lmb_trt_build_request *request, lmb_trt_plan **plan_out,
                                int32_t *fp16_used, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int32_t {
        if (create_builder == nullptr || create_parser == nullptr || logger == nullptr ||
            request == nullptr || request->onnx == nullptr || request->input_name == nullptr ||
            plan_out == nullptr || fp16_used == nullptr) {
            set_error(err, err_len, "lmb_trt_build_from_onnx: NULL argument");
            return 1;
        }
        *plan_out = nullptr;
        *fp16_used = 0;
        if (request->batch_min < 1 || request->batch_opt < request->batch_min ||
            request->batch_max < request->batch_opt) {
            set_error(err, err_len, "the batch profile must satisfy 1 <= min <= opt <= max");
            return 1;
        }
        void *raw_builder =
            create_builder(static_cast<nvinfer1::ILogger *>(logger), NV_TENSORRT_VERSION);
        if (raw_builder == nullptr || !looks_valid(raw_builder)) {
            set_error(err, err_len, "createInferBuilder failed (no usable GPU?)");
            return 1;
        }
        std::unique_ptr<nvinfer1::IBuilder> builder(static_cast<nvinfer1::IBuilder *>(raw_builder));
        // TensorRT 10 made explicit batch the only mode; 0 asks for nothing else.
        std::unique_ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(0));
        if (!network) {
            set_error(err, err_len, "TensorRT could not create a network definition");
            return 1;
        }
        void *raw_parser = create_parser(network.get(), static_cast<nvinfer1::ILogger *>(logger),
                                         NV_ONNX_PARSER_VERSION);
        if (raw_parser == nullptr || !looks_valid(raw_parser)) {
            set_error(err, err_len, "createNvOnnxParser failed (libnvonnxparser of another version?)");
            return 1;
        }
        std::unique_ptr<nvonnxparser::IParser> parser(
            static_cast<nvonnxparser::IParser *>(raw_parser));
        if (!parser->parse(request->onnx, request->onnx_len, nullptr)) {
            const char *first = parser->getNbErrors() > 0 && parser->getError(0) != nullptr
                                    ? parser->getError(0)->desc()
                                    : "no detail";
            char what[512];
            std::snprintf(what, sizeof what, "TensorRT's ONNX parser rejected the model: %s",
                          first);
            set_error(err, err_len, what);
            return 1;
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
            return 1;
        }
        nvinfer1::Dims shape = input->getDimensions();
        if (shape.nbDims < 1) {
            set_error(err, err_len, "the model input has no batch dimension");
            return 1;
        }
        for (int32_t i = 1; i < shape.nbDims; ++i) {
            if (shape.d[i] < 1) {
                set_error(err, err_len, "only the batch dimension of the input may be dynamic");
                return 1;
            }
        }
        nvinfer1::IOptimizationProfile *profile = builder->createOptimizationProfile();
        std::unique_ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
        if (profile == nullptr || !config) {
            set_error(err, err_len, "TensorRT could not create a builder config");
            return 1;
        }
        using Sel = nvinfer1::OptProfileSelector;
        const std::pair<Sel, int32_t> sizes[] = {{Sel::kMIN, request->batch_min},
                                                 {Sel::kOPT, request->batch_opt},
                                                 {Sel::kMAX, request->batch_max}};
        for (const auto &size : sizes) {
            nvinfer1::Dims dims = shape;
            dims.d[0] = size.second;
            if (!profile->setDimensions(request->input_name, size.first, dims)) {
                set_error(err, err_len, "TensorRT refused the batch profile");
                return 1;
            }
        }
        if (config->addOptimizationProfile(profile) < 0) {
            set_error(err, err_len, "TensorRT refused the optimization profile");
            return 1;
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
        std::unique_ptr<nvinfer1::IHostMemory> memory(
            builder->buildSerializedNetwork(*network, *config));
        if (!memory || memory->size() == 0) {
            set_error(err, err_len, "TensorRT could not build the engine (see the log for why)");
            return 1;
        }
        *plan_out = new lmb_trt_plan{std::move(memory)};
        return 0;
    });
}

} // extern "C"
