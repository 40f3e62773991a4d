package execengine

import (
	"context"
	"errors"
	"fmt"
)

// kindError is a sentinel that can sit under a broader one, so that
// errors.Is(ErrTimeoutTooLarge, ErrInvalidRequest) holds.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// Sentinel errors. Match them with [errors.Is]; the errors returned by the
// engine wrap them with a message that names the offending value.
var (
	// ErrNotFound: no execution with that id is in memory (never submitted,
	// or removed by Remove or a cleanup pass).
	ErrNotFound = errors.New("execengine: execution not found")
	// ErrNotCompleted: the execution has not reached a terminal status yet.
	ErrNotCompleted = errors.New("execengine: execution not completed")
	// ErrConcurrencyLimitReached: every slot is taken and the queue, if any, is full.
	ErrConcurrencyLimitReached = errors.New("execengine: concurrency limit reached")
	// ErrClosed: the engine was shut down or closed.
	ErrClosed = errors.New("execengine: engine closed")
	// ErrInvalidConfig: Config.Validate rejected the configuration.
	ErrInvalidConfig = errors.New("execengine: invalid config")
	// ErrInvalidRequest: Execute rejected the request before storing or running anything.
	ErrInvalidRequest = errors.New("execengine: invalid request")
	// ErrTimeoutTooLarge: the request's timeout is above Config.MaxTimeout. It also matches ErrInvalidRequest.
	ErrTimeoutTooLarge error = &kindError{"execengine: invalid request: timeout too large", ErrInvalidRequest}
	// ErrDuplicateID: an execution with the request's id is still in memory. It also matches ErrInvalidRequest.
	ErrDuplicateID error = &kindError{"execengine: invalid request: duplicate execution id", ErrInvalidRequest}
	// ErrOutputSizeExceeded: a stream went over Config.MaxOutputSizeBytes under FailExecution.
	ErrOutputSizeExceeded = errors.New("execengine: output size exceeded")
	// ErrSpawnFailed: the process could not be started (the program was
	// not found, was not executable, …). On a Result from the engine the
	// cause matches too: errors.Is(res.Err(), exec.ErrNotFound),
	// fs.ErrNotExist or fs.ErrPermission where that is why.
	ErrSpawnFailed = errors.New("execengine: spawn failed")
	// ErrStdinFull: WriteStdin found the stdin buffer full (the child
	// reads slower than it is written to); the bytes it reports were taken.
	ErrStdinFull = errors.New("execengine: stdin buffer full")
	// ErrStdinClosed: the execution's stdin was closed by CloseStdin, by
	// the child, or because the process ended.
	ErrStdinClosed = errors.New("execengine: stdin closed")
	// ErrAlreadyInitialized: InitGlobal was called more than once.
	ErrAlreadyInitialized = errors.New("execengine: global engine already initialized")
)

// ExitError reports a command that ran and ended unsuccessfully on its own:
// a non-zero exit code, or a signal it did not get from the engine.
type ExitError struct {
	Code   int    // exit code, or -1 when a signal ended the process
	Signal string // e.g. "SIGSEGV"; "" for a normal exit
}

// Error returns "command failed with exit code N", or "command terminated
// by signal SIG…" when a signal ended the process.
func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "command terminated by signal " + e.Signal
	}
	return fmt.Sprintf("command failed with exit code %d", e.Code)
}

// Error codes carried in Result.ErrorCode: a stable, machine-readable reason
// for a result that is not a success (the Rust crate's error_code()).
const (
	CodeExitStatus     = "command_failed"
	CodeTimeout        = "timeout"
	CodeCancelled      = "cancelled"
	CodeOutputExceeded = "output_size_exceeded"
	CodeSpawnFailed    = "spawn_failed"
	CodeIO             = "io"
	CodeClosed         = "engine_closed"
	// CodeOutputIncomplete: see Result.OutputIncomplete.
	CodeOutputIncomplete = "output_incomplete"
)

// resultError rebuilds the error that explains a result from its fields, so
// that Err works the same on a Result decoded from JSON.
func resultError(r *Result) error {
	if r.Status == StatusCompleted && r.ExitCode == 0 && r.ErrorCode == "" {
		return nil
	}
	msg := r.Error
	switch {
	case r.ErrorCode == CodeTimeout || r.Status == StatusTimeout:
		return &resultErr{msg, context.DeadlineExceeded}
	case r.ErrorCode == CodeClosed:
		return &resultErr{msg, errors.Join(ErrClosed, context.Canceled)}
	case r.ErrorCode == CodeCancelled || r.Status == StatusCancelled:
		return &resultErr{msg, context.Canceled}
	case r.ErrorCode == CodeOutputExceeded:
		return &resultErr{msg, ErrOutputSizeExceeded}
	case r.ErrorCode == CodeSpawnFailed:
		return &resultErr{msg, errors.Join(ErrSpawnFailed, r.cause)}
	case r.ErrorCode == CodeExitStatus || (r.ErrorCode == "" && (r.ExitCode != 0 || r.Signal != "")):
		return &ExitError{Code: r.ExitCode, Signal: r.Signal}
	case r.Status.IsTerminal():
		if msg == "" {
			msg = "execution " + string(r.Status)
		}
		if r.cause != nil {
			return &resultErr{msg, r.cause}
		}
		return errors.New(msg)
	default:
		return fmt.Errorf("%w: %s is %s", ErrNotCompleted, r.ID, r.Status)
	}
}

// resultErr keeps the result's own message while matching a standard cause.
type resultErr struct {
	msg   string
	cause error
}

func (e *resultErr) Error() string {
	if e.msg == "" {
		return e.cause.Error()
	}
	return e.msg
}
func (e *resultErr) Unwrap() error { return e.cause }
