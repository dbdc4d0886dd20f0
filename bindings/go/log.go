package lmbatch

/*
#include <stdint.h>
*/
import "C"

import "runtime/cgo"

// lmbatchGoLog receives the library's log calls through lmgo_log_trampoline (log_trampoline.c).
// user is the cgo.Handle of Config.Log; it lives until Close has returned from lm_destroy.
//
//export lmbatchGoLog
func lmbatchGoLog(level C.int32_t, message *C.char, user C.uintptr_t) {
	// A panic must never unwind into the library's thread.
	defer func() { _ = recover() }()
	if fn, ok := cgo.Handle(user).Value().(func(LogLevel, string)); ok && fn != nil {
		fn(LogLevel(level), C.GoString(message))
	}
}
