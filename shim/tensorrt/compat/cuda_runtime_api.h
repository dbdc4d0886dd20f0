/* Stand-in for the CUDA toolkit's cuda_runtime_api.h, used only when no CUDA headers are found.
 * TensorRT's headers need just the opaque stream and event handle types from it; the shim never
 * calls the CUDA runtime (streams come from the driver API, through cudarc, in Rust). */
#ifndef LMB_TRT_COMPAT_CUDA_RUNTIME_API_H
#define LMB_TRT_COMPAT_CUDA_RUNTIME_API_H
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
#endif
