// The C side of Config.Log: lm_config.log_fn points here, and log_user carries a cgo.Handle.
#include <stdint.h>
#include "_cgo_export.h"

void lmgo_log_trampoline(int32_t level, const char *message, void *user) {
	lmbatchGoLog(level, (char *)message, (uintptr_t)user);
}
