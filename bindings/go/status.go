package lmbatch

/*
#include "lmbatch.h"
*/
import "C"

// Status is an lm_status value: the outcome of every library call.
//
// A Status is also an error; the Err* variables below are Status values, so that
// errors.Is(err, lmbatch.ErrQueueFull) matches any error this package returns for that status.
type Status int32

// Every lm_status of the C ABI, with the header's values.
const (
	StatusOK                 = Status(C.LM_STATUS_OK)
	StatusNullArgument       = Status(C.LM_STATUS_NULL_ARGUMENT)
	StatusInvalidArgument    = Status(C.LM_STATUS_INVALID_ARGUMENT)
	StatusQueueFull          = Status(C.LM_STATUS_QUEUE_FULL)
	StatusPending            = Status(C.LM_STATUS_PENDING)
	StatusNotFound           = Status(C.LM_STATUS_NOT_FOUND)
	StatusExpired            = Status(C.LM_STATUS_EXPIRED)
	StatusCancelled          = Status(C.LM_STATUS_CANCELLED)
	StatusInferenceFailed    = Status(C.LM_STATUS_INFERENCE_FAILED)
	StatusDuplicateID        = Status(C.LM_STATUS_DUPLICATE_ID)
	StatusTimeout            = Status(C.LM_STATUS_TIMEOUT)
	StatusBufferTooSmall     = Status(C.LM_STATUS_BUFFER_TOO_SMALL)
	StatusBackendUnavailable = Status(C.LM_STATUS_BACKEND_UNAVAILABLE)
	StatusModelError         = Status(C.LM_STATUS_MODEL_ERROR)
	StatusShuttingDown       = Status(C.LM_STATUS_SHUTTING_DOWN)
	StatusPanic              = Status(C.LM_STATUS_PANIC)
	StatusInternal           = Status(C.LM_STATUS_INTERNAL)
)

// Sentinel errors, one per failing status: compare with errors.Is.
var (
	ErrNullArgument       error = StatusNullArgument
	ErrInvalidArgument    error = StatusInvalidArgument
	ErrQueueFull          error = StatusQueueFull
	ErrPending            error = StatusPending
	ErrNotFound           error = StatusNotFound
	ErrExpired            error = StatusExpired
	ErrCancelled          error = StatusCancelled
	ErrInferenceFailed    error = StatusInferenceFailed
	ErrDuplicateID        error = StatusDuplicateID
	ErrTimeout            error = StatusTimeout
	ErrBufferTooSmall     error = StatusBufferTooSmall
	ErrBackendUnavailable error = StatusBackendUnavailable
	ErrModelError         error = StatusModelError
	ErrShuttingDown       error = StatusShuttingDown
	ErrPanic              error = StatusPanic
	ErrInternal           error = StatusInternal
)

// String is the library's description of the status (lm_status_string), e.g. "queue full";
// "unknown status" for a value the library does not know.
func (s Status) String() string {
	// lm_status_string returns a static string: nothing to free.
	return C.GoString(C.lm_status_string(C.int32_t(s)))
}

// Error makes a Status usable as an error: "lmbatch: queue full".
func (s Status) Error() string { return "lmbatch: " + s.String() }

// StatusError is the error every failing call of this package returns: the operation, its
// status and, where there is one, a message (lm_create's error buffer, or the binding's own
// reason for refusing an argument before calling the library).
type StatusError struct {
	Op      string // "create", "enqueue", "pop", "pop_wait", "cancel", "stats", "model_info"
	Status  Status
	Message string
}

func (e *StatusError) Error() string {
	s := "lmbatch: " + e.Op + ": " + e.Status.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the Status, so errors.Is(err, lmbatch.ErrX) and errors.As(err, &status) work.
func (e *StatusError) Unwrap() error { return e.Status }

// Is matches a Status (the Err* sentinels) or another *StatusError with the same status.
func (e *StatusError) Is(target error) bool {
	switch t := target.(type) {
	case Status:
		return e.Status == t
	case *StatusError:
		return t != nil && e.Status == t.Status
	}
	return false
}

// fail turns a status of the library into nil (StatusOK) or a *StatusError.
func fail(op string, st C.lm_status) error {
	if Status(st) == StatusOK {
		return nil
	}
	return &StatusError{Op: op, Status: Status(st)}
}
