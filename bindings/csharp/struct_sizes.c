/* Prints the C ABI's layout and constants as the compiler sees include/lmbatch.h, one per line:
 *   size STRUCT BYTES
 *   offset STRUCT FIELD BYTES
 *   const NAME VALUE
 * The C# tests compare every line with Marshal.SizeOf / Marshal.OffsetOf and the enums.
 * Build: gcc -std=c11 -Wall -Wextra -Werror -I../../include struct_sizes.c -o struct_sizes */
#include <stddef.h>
#include <stdio.h>

#include "lmbatch.h"

#define SIZE(s) printf("size %s %zu\n", #s, sizeof(s))
#define OFF(s, f) printf("offset %s %s %zu\n", #s, #f, offsetof(s, f))
#define CONST(c) printf("const %s %lld\n", #c, (long long)(c))

int main(void) {
    SIZE(lm_config);
    OFF(lm_config, struct_size);
    OFF(lm_config, model_path);
    OFF(lm_config, backend);
    OFF(lm_config, device_id);
    OFF(lm_config, max_batch);
    OFF(lm_config, queue_capacity);
    OFF(lm_config, max_wait_us);
    OFF(lm_config, result_capacity);
    OFF(lm_config, result_ttl_ms);
    OFF(lm_config, drain_timeout_ms);
    OFF(lm_config, engine_cache_dir);
    OFF(lm_config, log_fn);
    OFF(lm_config, log_user);
    OFF(lm_config, opt_batch);
    OFF(lm_config, self_check);
    OFF(lm_config, ready_fn);
    OFF(lm_config, ready_user);
    OFF(lm_config, remote_endpoints);
    OFF(lm_config, remote_model);
    OFF(lm_config, remote_model_version);
    OFF(lm_config, remote_timeout_ms);
    OFF(lm_config, remote_connect_timeout_ms);
    OFF(lm_config, remote_headers);
    OFF(lm_config, remote_ca_file);
    OFF(lm_config, cpu_threads);
    OFF(lm_config, precision);
    OFF(lm_config, model_desc_path);
    OFF(lm_config, chip_size);
    OFF(lm_config, chip_format);

    SIZE(lm_image);
    OFF(lm_image, data);
    OFF(lm_image, width);
    OFF(lm_image, height);
    OFF(lm_image, stride);
    OFF(lm_image, format);

    SIZE(lm_box);
    OFF(lm_box, x1);
    OFF(lm_box, y1);
    OFF(lm_box, x2);
    OFF(lm_box, y2);

    SIZE(lm_quality);
    OFF(lm_quality, sharpness);
    OFF(lm_quality, eyes_open);
    OFF(lm_quality, mouth_open);
    OFF(lm_quality, inter_eye_px);
    OFF(lm_quality, frontal);
    OFF(lm_quality, overall);

    SIZE(lm_landmarks);
    OFF(lm_landmarks, struct_size);
    OFF(lm_landmarks, points);
    OFF(lm_landmarks, capacity);
    OFF(lm_landmarks, num_points);
    OFF(lm_landmarks, face_score);
    OFF(lm_landmarks, queue_us);
    OFF(lm_landmarks, infer_us);
    OFF(lm_landmarks, roll);
    OFF(lm_landmarks, track_box);
    OFF(lm_landmarks, track_roll);
    OFF(lm_landmarks, yaw);
    OFF(lm_landmarks, pitch);
    OFF(lm_landmarks, head_roll);
    OFF(lm_landmarks, quality);
    OFF(lm_landmarks, chip);
    OFF(lm_landmarks, chip_capacity);
    OFF(lm_landmarks, chip_side);

    SIZE(lm_stats);
    OFF(lm_stats, struct_size);
    OFF(lm_stats, accepted);
    OFF(lm_stats, rejected_full);
    OFF(lm_stats, rejected_invalid);
    OFF(lm_stats, queued);
    OFF(lm_stats, in_flight);
    OFF(lm_stats, ready);
    OFF(lm_stats, popped);
    OFF(lm_stats, expired);
    OFF(lm_stats, cancelled);
    OFF(lm_stats, failed);
    OFF(lm_stats, batches);
    OFF(lm_stats, batch_size_hist);
    OFF(lm_stats, queue_us_p50);
    OFF(lm_stats, queue_us_p99);
    OFF(lm_stats, infer_us_p50);
    OFF(lm_stats, infer_us_p99);
    OFF(lm_stats, degraded);
    OFF(lm_stats, ready_callbacks);
    OFF(lm_stats, ready_callback_us);
    OFF(lm_stats, ready_callback_max_us);
    OFF(lm_stats, remote_retries);
    OFF(lm_stats, remote_failovers);

    SIZE(lm_model_info);
    OFF(lm_model_info, struct_size);
    OFF(lm_model_info, backend);
    OFF(lm_model_info, num_points);
    OFF(lm_model_info, input_width);
    OFF(lm_model_info, input_height);
    OFF(lm_model_info, max_batch);
    OFF(lm_model_info, fallback_reason);
    OFF(lm_model_info, dims);
    OFF(lm_model_info, scheme);
    OFF(lm_model_info, precision);

    SIZE(lm_frame);
    OFF(lm_frame, struct_size);
    OFF(lm_frame, format);
    OFF(lm_frame, width);
    OFF(lm_frame, height);
    OFF(lm_frame, planes);
    OFF(lm_frame, strides);
    OFF(lm_frame, color_matrix);
    OFF(lm_frame, color_range);
    OFF(lm_frame, chroma_location);
    OFF(lm_frame, memory);

    SIZE(lm_face);
    OFF(lm_face, struct_size);
    OFF(lm_face, box);
    OFF(lm_face, flags);
    OFF(lm_face, right_eye);
    OFF(lm_face, left_eye);
    OFF(lm_face, roll);

    CONST(LM_API_VERSION_MAJOR);
    CONST(LM_API_VERSION_MINOR);

    CONST(LM_STATUS_OK);
    CONST(LM_STATUS_NULL_ARGUMENT);
    CONST(LM_STATUS_INVALID_ARGUMENT);
    CONST(LM_STATUS_QUEUE_FULL);
    CONST(LM_STATUS_PENDING);
    CONST(LM_STATUS_NOT_FOUND);
    CONST(LM_STATUS_EXPIRED);
    CONST(LM_STATUS_CANCELLED);
    CONST(LM_STATUS_INFERENCE_FAILED);
    CONST(LM_STATUS_DUPLICATE_ID);
    CONST(LM_STATUS_TIMEOUT);
    CONST(LM_STATUS_BUFFER_TOO_SMALL);
    CONST(LM_STATUS_BACKEND_UNAVAILABLE);
    CONST(LM_STATUS_MODEL_ERROR);
    CONST(LM_STATUS_SHUTTING_DOWN);
    CONST(LM_STATUS_PANIC);
    CONST(LM_STATUS_INTERNAL);

    CONST(LM_PIXEL_FORMAT_BGR8);
    CONST(LM_PIXEL_FORMAT_RGB8);
    CONST(LM_PIXEL_FORMAT_BGRA8);
    CONST(LM_PIXEL_FORMAT_RGBA8);
    CONST(LM_PIXEL_FORMAT_GRAY8);
    CONST(LM_PIXEL_FORMAT_NV12);
    CONST(LM_PIXEL_FORMAT_NV21);
    CONST(LM_PIXEL_FORMAT_I420);
    CONST(LM_PIXEL_FORMAT_P010);
    CONST(LM_PIXEL_FORMAT_P016);
    CONST(LM_PIXEL_FORMAT_I010);

    CONST(LM_COLOR_MATRIX_AUTO);
    CONST(LM_COLOR_MATRIX_BT709);
    CONST(LM_COLOR_MATRIX_UNSPECIFIED);
    CONST(LM_COLOR_MATRIX_SMPTE170M);
    CONST(LM_COLOR_MATRIX_BT601);
    CONST(LM_COLOR_MATRIX_BT2020);
    CONST(LM_COLOR_RANGE_AUTO);
    CONST(LM_COLOR_RANGE_LIMITED);
    CONST(LM_COLOR_RANGE_FULL);
    CONST(LM_CHROMA_LOCATION_AUTO);
    CONST(LM_CHROMA_LOCATION_LEFT);
    CONST(LM_CHROMA_LOCATION_CENTER);
    CONST(LM_CHROMA_LOCATION_TOPLEFT);
    CONST(LM_MEMORY_HOST);
    CONST(LM_PRECISION_DEFAULT);
    CONST(LM_PRECISION_FP32);
    CONST(LM_PRECISION_REDUCED);
    CONST(LM_PRECISION_BF16);
    CONST(LM_PRECISION_FP16);
    CONST(LM_FACE_EYES);
    CONST(LM_FACE_ROLL);

    CONST(LM_BACKEND_AUTO);
    CONST(LM_BACKEND_CPU);
    CONST(LM_BACKEND_TENSORRT);
    CONST(LM_BACKEND_ONNXRUNTIME);
    CONST(LM_BACKEND_REMOTE);
    CONST(LM_BACKEND_OPENVINO);
    return 0;
}
