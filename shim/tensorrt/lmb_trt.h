/* A small C API over TensorRT's C++ runtime and builder, for lmbatch's Rust side.
 *
 * Nothing here links against TensorRT: the Rust side dlopens libnvinfer / libnvonnxparser and
 * passes in their factory functions; everything else is a virtual call through the objects they
 * return. Every function catches C++ exceptions and reports failure as a non-zero return with a
 * message in `err` (always NUL-terminated when err_len > 0). Objects are opaque pointers freed by
 * the matching *_free function; freeing NULL is a no-op. */
#ifndef LMB_TRT_H
#define LMB_TRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMB_TRT_MAX_DIMS 8

/* The factory functions the Rust side resolves with dlsym. */
typedef void *(*lmb_trt_create_fn)(void *logger, int32_t version);
typedef void *(*lmb_trt_parser_create_fn)(void *network, void *logger, int version);

/* Receives TensorRT's log messages, kVERBOSE excepted (an engine build emits thousands).
 * severity: 0 internal error, 1 error, 2 warning, 3 info (TensorRT's ILogger::Severity). */
typedef void (*lmb_trt_log_fn)(void *user, int32_t severity, const char *message);

/* Return values of the functions below that can fail. */
#define LMB_TRT_OK 0
/* TensorRT, the GPU or the builder failed (out of memory, unsupported GPU or operator, a missing
 * builder resource library, ...): the model is not at fault, another backend may run it. */
#define LMB_TRT_FAILED 1
/* The model is at fault: the ONNX does not deserialize, its graph or a node is invalid, or its
 * input does not fit. */
#define LMB_TRT_BAD_MODEL 2

/* NV_TENSORRT_VERSION of the headers the shim was compiled against (major*10000+minor*100+patch). */
int32_t lmb_trt_header_version(void);

/* ONE logger for the whole process, made on first use and never freed: TensorRT may keep a
 * pointer to the first logger it was given (plugin registry, singletons) for the life of the
 * process. Every runtime and builder gets this one.
 *
 * lmb_trt_logger_set_sink: where messages go (NULL: nowhere, and nothing is passed on). The sink
 * is called with no lock of the shim held (it may make TensorRT log again), so a delivery that
 * began before a swap may still be running after it: set it once and keep it valid. */
void lmb_trt_logger_set_sink(lmb_trt_log_fn sink, void *user);
/* Errors (internal or not) TensorRT logged on the calling thread so far; only ever grows, so a
 * caller compares the values before and after a call (per thread: pipelines created in parallel
 * never see each other's errors). */
int32_t lmb_trt_logger_thread_errors(void);

/* Error messages end with the last error TensorRT logged during the call, when it logged one. */

/* Creates an IRuntime. Fails when the factory returns NULL, a pointer below 0x10000 (what a
 * runtime created without a usable GPU was seen to return), or logs an error while creating. */
int32_t lmb_trt_runtime_new(lmb_trt_create_fn create_runtime, void **runtime_out, char *err,
                            size_t err_len);
void lmb_trt_runtime_free(void *runtime);

int32_t lmb_trt_engine_deserialize(void *runtime, const void *plan, size_t plan_len,
                                   void **engine_out, char *err, size_t err_len);
void lmb_trt_engine_free(void *engine);

/* One I/O tensor of an engine. `name` points into the engine and lives as long as it does.
 * dtype is TensorRT's DataType (0 float, 1 half, 5 uint8, ...). For inputs, min/opt/max are the
 * shapes of optimization profile 0. */
typedef struct lmb_trt_io {
    const char *name;
    int32_t is_input;
    int32_t dtype;
    int32_t nb_dims;
    int64_t dims[LMB_TRT_MAX_DIMS];
    int64_t min[LMB_TRT_MAX_DIMS];
    int64_t opt[LMB_TRT_MAX_DIMS];
    int64_t max[LMB_TRT_MAX_DIMS];
} lmb_trt_io;

int32_t lmb_trt_engine_io_count(void *engine);
int32_t lmb_trt_engine_profile_count(void *engine);
int32_t lmb_trt_engine_io(void *engine, int32_t index, lmb_trt_io *out, char *err, size_t err_len);

int32_t lmb_trt_context_new(void *engine, void **context_out, char *err, size_t err_len);
void lmb_trt_context_free(void *context);
int32_t lmb_trt_context_set_input_shape(void *context, const char *name, int32_t nb_dims,
                                        const int64_t *dims, char *err, size_t err_len);
/* The shape of tensor `name` for the input shape set last (outputs resolved by TensorRT). */
int32_t lmb_trt_context_tensor_shape(void *context, const char *name, int32_t *nb_dims,
                                     int64_t dims[LMB_TRT_MAX_DIMS], char *err, size_t err_len);
int32_t lmb_trt_context_set_address(void *context, const char *name, uint64_t device_address,
                                    char *err, size_t err_len);
/* enqueueV3 on `stream` (a CUstream): queues the run and returns; nothing is waited for. */
int32_t lmb_trt_context_enqueue(void *context, void *stream, char *err, size_t err_len);

/* A serialized plan built by lmb_trt_build_from_onnx. */
typedef struct lmb_trt_plan lmb_trt_plan;
const void *lmb_trt_plan_data(const lmb_trt_plan *plan);
size_t lmb_trt_plan_size(const lmb_trt_plan *plan);
void lmb_trt_plan_free(lmb_trt_plan *plan);

/* What to build: the ONNX bytes, which input carries the batch on dimension 0, the profile on
 * that dimension, FP16 if the TensorRT version has the flag, and the workspace cap in bytes. */
typedef struct lmb_trt_build_request {
    const void *onnx;
    size_t onnx_len;
    const char *input_name;
    int32_t batch_min;
    int32_t batch_opt;
    int32_t batch_max;
    int32_t fp16;
    uint64_t workspace_bytes;
    /* The input's dimensions after the batch, from the model's descriptor: a dynamic one takes
     * its value here; a fixed one must equal it. */
    int64_t input_dims[3];
} lmb_trt_build_request;

/* Parses the ONNX model and builds a serialized plan with one optimization profile. Reports in
 * *fp16_used whether FP16 was enabled (TensorRT 11 networks are strongly typed: no FP16 flag).
 * LMB_TRT_BAD_MODEL when the parser says the model is broken (kMODEL_DESERIALIZE_FAILED,
 * kINVALID_GRAPH, kINVALID_NODE) or its input does not fit; LMB_TRT_FAILED when the parser cannot
 * take it (unsupported operators, internal errors, ...) or the builder or the GPU fails. */
int32_t lmb_trt_build_from_onnx(lmb_trt_create_fn create_builder,
                                lmb_trt_parser_create_fn create_parser,
                                const lmb_trt_build_request *request, lmb_trt_plan **plan_out,
                                int32_t *fp16_used, char *err, size_t err_len);

/* For the tests: the parse step of lmb_trt_build_from_onnx alone, with a parser made for no
 * network (a stand-in parser's errors are classified without a GPU). Never for a real parser. */
int32_t lmb_trt_parse_onnx_without_network(lmb_trt_parser_create_fn create_parser,
                                           const void *onnx, size_t onnx_len, char *err,
                                           size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
