package lmbatch

/*
#include "lmbatch.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// cLayout is the C ABI's layout as cgo sees it, in the line format of
// bindings/csharp/struct_sizes.c ("size STRUCT BYTES", "offset STRUCT FIELD BYTES"), for every
// struct this package builds or reads. layout_test.go compares it with what the C compiler says,
// so a struct that grows in the header without the binding following is caught.
func cLayout() []string {
	var (
		cfg C.lm_config
		img C.lm_image
		box C.lm_box
		lm  C.lm_landmarks
		st  C.lm_stats
		mi  C.lm_model_info
		fr  C.lm_frame
		fc  C.lm_face
		q   C.lm_quality
	)
	size := func(name string, n uintptr) string { return fmt.Sprintf("size %s %d", name, n) }
	off := func(name, field string, n uintptr) string { return fmt.Sprintf("offset %s %s %d", name, field, n) }
	return []string{
		size("lm_config", unsafe.Sizeof(cfg)),
		off("lm_config", "struct_size", unsafe.Offsetof(cfg.struct_size)),
		off("lm_config", "model_path", unsafe.Offsetof(cfg.model_path)),
		off("lm_config", "backend", unsafe.Offsetof(cfg.backend)),
		off("lm_config", "device_id", unsafe.Offsetof(cfg.device_id)),
		off("lm_config", "max_batch", unsafe.Offsetof(cfg.max_batch)),
		off("lm_config", "queue_capacity", unsafe.Offsetof(cfg.queue_capacity)),
		off("lm_config", "max_wait_us", unsafe.Offsetof(cfg.max_wait_us)),
		off("lm_config", "result_capacity", unsafe.Offsetof(cfg.result_capacity)),
		off("lm_config", "result_ttl_ms", unsafe.Offsetof(cfg.result_ttl_ms)),
		off("lm_config", "drain_timeout_ms", unsafe.Offsetof(cfg.drain_timeout_ms)),
		off("lm_config", "engine_cache_dir", unsafe.Offsetof(cfg.engine_cache_dir)),
		off("lm_config", "log_fn", unsafe.Offsetof(cfg.log_fn)),
		off("lm_config", "log_user", unsafe.Offsetof(cfg.log_user)),
		off("lm_config", "opt_batch", unsafe.Offsetof(cfg.opt_batch)),
		off("lm_config", "self_check", unsafe.Offsetof(cfg.self_check)),
		off("lm_config", "ready_fn", unsafe.Offsetof(cfg.ready_fn)),
		off("lm_config", "ready_user", unsafe.Offsetof(cfg.ready_user)),
		off("lm_config", "remote_endpoints", unsafe.Offsetof(cfg.remote_endpoints)),
		off("lm_config", "remote_model", unsafe.Offsetof(cfg.remote_model)),
		off("lm_config", "remote_model_version", unsafe.Offsetof(cfg.remote_model_version)),
		off("lm_config", "remote_timeout_ms", unsafe.Offsetof(cfg.remote_timeout_ms)),
		off("lm_config", "remote_connect_timeout_ms", unsafe.Offsetof(cfg.remote_connect_timeout_ms)),
		off("lm_config", "remote_headers", unsafe.Offsetof(cfg.remote_headers)),
		off("lm_config", "remote_ca_file", unsafe.Offsetof(cfg.remote_ca_file)),
		off("lm_config", "cpu_threads", unsafe.Offsetof(cfg.cpu_threads)),
		off("lm_config", "precision", unsafe.Offsetof(cfg.precision)),
		off("lm_config", "model_desc_path", unsafe.Offsetof(cfg.model_desc_path)),
		off("lm_config", "chip_size", unsafe.Offsetof(cfg.chip_size)),
		off("lm_config", "chip_format", unsafe.Offsetof(cfg.chip_format)),

		size("lm_image", unsafe.Sizeof(img)),
		off("lm_image", "data", unsafe.Offsetof(img.data)),
		off("lm_image", "width", unsafe.Offsetof(img.width)),
		off("lm_image", "height", unsafe.Offsetof(img.height)),
		off("lm_image", "stride", unsafe.Offsetof(img.stride)),
		off("lm_image", "format", unsafe.Offsetof(img.format)),

		size("lm_box", unsafe.Sizeof(box)),
		off("lm_box", "x1", unsafe.Offsetof(box.x1)),
		off("lm_box", "y1", unsafe.Offsetof(box.y1)),
		off("lm_box", "x2", unsafe.Offsetof(box.x2)),
		off("lm_box", "y2", unsafe.Offsetof(box.y2)),

		size("lm_quality", unsafe.Sizeof(q)),
		off("lm_quality", "sharpness", unsafe.Offsetof(q.sharpness)),
		off("lm_quality", "eyes_open", unsafe.Offsetof(q.eyes_open)),
		off("lm_quality", "mouth_open", unsafe.Offsetof(q.mouth_open)),
		off("lm_quality", "inter_eye_px", unsafe.Offsetof(q.inter_eye_px)),
		off("lm_quality", "frontal", unsafe.Offsetof(q.frontal)),
		off("lm_quality", "overall", unsafe.Offsetof(q.overall)),

		size("lm_landmarks", unsafe.Sizeof(lm)),
		off("lm_landmarks", "struct_size", unsafe.Offsetof(lm.struct_size)),
		off("lm_landmarks", "points", unsafe.Offsetof(lm.points)),
		off("lm_landmarks", "capacity", unsafe.Offsetof(lm.capacity)),
		off("lm_landmarks", "num_points", unsafe.Offsetof(lm.num_points)),
		off("lm_landmarks", "face_score", unsafe.Offsetof(lm.face_score)),
		off("lm_landmarks", "queue_us", unsafe.Offsetof(lm.queue_us)),
		off("lm_landmarks", "infer_us", unsafe.Offsetof(lm.infer_us)),
		off("lm_landmarks", "roll", unsafe.Offsetof(lm.roll)),
		off("lm_landmarks", "track_box", unsafe.Offsetof(lm.track_box)),
		off("lm_landmarks", "track_roll", unsafe.Offsetof(lm.track_roll)),
		off("lm_landmarks", "yaw", unsafe.Offsetof(lm.yaw)),
		off("lm_landmarks", "pitch", unsafe.Offsetof(lm.pitch)),
		off("lm_landmarks", "head_roll", unsafe.Offsetof(lm.head_roll)),
		off("lm_landmarks", "quality", unsafe.Offsetof(lm.quality)),
		off("lm_landmarks", "chip", unsafe.Offsetof(lm.chip)),
		off("lm_landmarks", "chip_capacity", unsafe.Offsetof(lm.chip_capacity)),
		off("lm_landmarks", "chip_side", unsafe.Offsetof(lm.chip_side)),

		size("lm_stats", unsafe.Sizeof(st)),
		off("lm_stats", "struct_size", unsafe.Offsetof(st.struct_size)),
		off("lm_stats", "accepted", unsafe.Offsetof(st.accepted)),
		off("lm_stats", "rejected_full", unsafe.Offsetof(st.rejected_full)),
		off("lm_stats", "rejected_invalid", unsafe.Offsetof(st.rejected_invalid)),
		off("lm_stats", "queued", unsafe.Offsetof(st.queued)),
		off("lm_stats", "in_flight", unsafe.Offsetof(st.in_flight)),
		off("lm_stats", "ready", unsafe.Offsetof(st.ready)),
		off("lm_stats", "popped", unsafe.Offsetof(st.popped)),
		off("lm_stats", "expired", unsafe.Offsetof(st.expired)),
		off("lm_stats", "cancelled", unsafe.Offsetof(st.cancelled)),
		off("lm_stats", "failed", unsafe.Offsetof(st.failed)),
		off("lm_stats", "batches", unsafe.Offsetof(st.batches)),
		off("lm_stats", "batch_size_hist", unsafe.Offsetof(st.batch_size_hist)),
		off("lm_stats", "queue_us_p50", unsafe.Offsetof(st.queue_us_p50)),
		off("lm_stats", "queue_us_p99", unsafe.Offsetof(st.queue_us_p99)),
		off("lm_stats", "infer_us_p50", unsafe.Offsetof(st.infer_us_p50)),
		off("lm_stats", "infer_us_p99", unsafe.Offsetof(st.infer_us_p99)),
		off("lm_stats", "degraded", unsafe.Offsetof(st.degraded)),
		off("lm_stats", "ready_callbacks", unsafe.Offsetof(st.ready_callbacks)),
		off("lm_stats", "ready_callback_us", unsafe.Offsetof(st.ready_callback_us)),
		off("lm_stats", "ready_callback_max_us", unsafe.Offsetof(st.ready_callback_max_us)),
		off("lm_stats", "remote_retries", unsafe.Offsetof(st.remote_retries)),
		off("lm_stats", "remote_failovers", unsafe.Offsetof(st.remote_failovers)),

		size("lm_model_info", unsafe.Sizeof(mi)),
		off("lm_model_info", "struct_size", unsafe.Offsetof(mi.struct_size)),
		off("lm_model_info", "backend", unsafe.Offsetof(mi.backend)),
		off("lm_model_info", "num_points", unsafe.Offsetof(mi.num_points)),
		off("lm_model_info", "input_width", unsafe.Offsetof(mi.input_width)),
		off("lm_model_info", "input_height", unsafe.Offsetof(mi.input_height)),
		off("lm_model_info", "max_batch", unsafe.Offsetof(mi.max_batch)),
		off("lm_model_info", "fallback_reason", unsafe.Offsetof(mi.fallback_reason)),
		off("lm_model_info", "dims", unsafe.Offsetof(mi.dims)),
		off("lm_model_info", "scheme", unsafe.Offsetof(mi.scheme)),
		off("lm_model_info", "precision", unsafe.Offsetof(mi.precision)),

		size("lm_frame", unsafe.Sizeof(fr)),
		off("lm_frame", "struct_size", unsafe.Offsetof(fr.struct_size)),
		off("lm_frame", "format", unsafe.Offsetof(fr.format)),
		off("lm_frame", "width", unsafe.Offsetof(fr.width)),
		off("lm_frame", "height", unsafe.Offsetof(fr.height)),
		off("lm_frame", "planes", unsafe.Offsetof(fr.planes)),
		off("lm_frame", "strides", unsafe.Offsetof(fr.strides)),
		off("lm_frame", "color_matrix", unsafe.Offsetof(fr.color_matrix)),
		off("lm_frame", "color_range", unsafe.Offsetof(fr.color_range)),
		off("lm_frame", "chroma_location", unsafe.Offsetof(fr.chroma_location)),
		off("lm_frame", "memory", unsafe.Offsetof(fr.memory)),

		size("lm_face", unsafe.Sizeof(fc)),
		off("lm_face", "struct_size", unsafe.Offsetof(fc.struct_size)),
		off("lm_face", "box", unsafe.Offsetof(fc.box)),
		off("lm_face", "flags", unsafe.Offsetof(fc.flags)),
		off("lm_face", "right_eye", unsafe.Offsetof(fc.right_eye)),
		off("lm_face", "left_eye", unsafe.Offsetof(fc.left_eye)),
		off("lm_face", "roll", unsafe.Offsetof(fc.roll)),
	}
}
