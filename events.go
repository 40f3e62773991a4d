package execengine

import (
	"time"

	"github.com/google/uuid"
)

// EventType names an [Event]; its JSON form is the Rust crate's event_type.
type EventType string

// The event types.
const (
	EventStarted       EventType = "started"        // the process started; Command is set
	EventStdout        EventType = "stdout"         // one stdout line; Line is set
	EventStderr        EventType = "stderr"         // one stderr line; Line is set
	EventStdoutChunk   EventType = "stdout_chunk"   // raw stdout bytes as read (Request.Chunks); Data is set
	EventStderrChunk   EventType = "stderr_chunk"   // raw stderr bytes as read (Request.Chunks); Data is set
	EventCompleted     EventType = "completed"      // terminal: exit code 0; Result is set
	EventFailed        EventType = "failed"         // terminal: Error and Result are set
	EventCancelled     EventType = "cancelled"      // terminal: Result is set
	EventTimeout       EventType = "timeout"        // terminal: TimeoutMS and Result are set
	EventStatusChanged EventType = "status_changed" // OldStatus and NewStatus are set
	EventProgress      EventType = "progress"       // reserved for plan progress; the engine does not emit it
)

// IsTerminal reports whether t is the last event of an execution.
func (t EventType) IsTerminal() bool {
	switch t {
	case EventCompleted, EventFailed, EventCancelled, EventTimeout:
		return true
	}
	return false
}

// Event is one thing that happened to an execution. Only the fields of its
// Type are set.
type Event struct {
	Type        EventType
	ExecutionID uuid.UUID
	Seq         uint64 // 1, 2, 3 … per execution, no gaps
	Timestamp   time.Time
	Command     string // started: a readable rendering of the command
	Line        string // stdout / stderr: one line without its line ending, raw bytes
	// Data is the bytes of a stdout_chunk / stderr_chunk event, exactly as
	// the child wrote them (after secret masking), never ending inside a
	// UTF-8 sequence. As with io.Writer, it is valid only during the
	// HandleEvent call and must not be modified: a handler that keeps the
	// bytes copies them (this spares a copy of all output per handler).
	Data      []byte
	Result    *Result // every terminal event carries the final result
	Error     string  // failed
	TimeoutMS int64   // timeout
	OldStatus Status  // status_changed
	NewStatus Status  // status_changed
}

// EventHandler receives events.
//
// For one execution, calls never overlap and come in Seq order: started
// first (absent when the process never started), output lines (each
// read's chunk event, with [Request.Chunks], comes before the lines it
// completes), then exactly one terminal event, last. Calls for different executions may run
// concurrently, so a handler shared by executions must be safe for
// concurrent use. Output events are delivered on the goroutine that reads
// the pipe: a slow handler slows its own execution's child (back-pressure,
// nothing is dropped) and no other execution. A panic in HandleEvent is
// recovered and logged; the execution still ends with its correct result.
// The Event, and the Result it points to, belong to the handler; the
// bytes of Event.Data only for the call.
//
// A handler may call the engine (Status, Cancel, Execute…), but must not
// wait for its own execution (Wait, Shutdown, Close) from inside a call:
// the execution cannot end while its handler is running.
type EventHandler interface {
	HandleEvent(Event)
}

// EventHandlerFunc adapts a function to [EventHandler].
type EventHandlerFunc func(Event)

// HandleEvent calls f(ev).
func (f EventHandlerFunc) HandleEvent(ev Event) { f(ev) }
