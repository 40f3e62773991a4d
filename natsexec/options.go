package natsexec

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// CodeWorkerLost is the Result.ErrorCode of an execution whose worker
// stopped heartbeating while it held it.
const CodeWorkerLost = "worker_lost"

// CodeInvalidRequest is the Result.ErrorCode of a request the worker's
// engine rejected (a WorkingDir or Script missing on that machine, …).
const CodeInvalidRequest = "invalid_request"

// Options are the settings every worker and client of one cluster share.
type Options struct {
	Prefix                string        // names every subject, stream and bucket; default "execengine"
	Heartbeat             time.Duration // how often a worker beats; default 2s
	Retention             time.Duration // records, events and results expire after this; default 1h
	MaxEventsPerExecution int64         // events kept per execution, oldest dropped first; default 100000
	Replicas              int           // JetStream replicas of every stream and bucket; default 1
}

// WorkerOptions configure a [Worker].
type WorkerOptions struct {
	Options Options
	// ID names the worker; default "<hostname>-<pid>-<random>". Letters,
	// digits, '-' and '_' only.
	ID string
	// Concurrency is how many executions the worker holds at once: it pulls
	// only what it has slots for. Default 100; it must not exceed the
	// engine's MaxConcurrentExecutions + MaxQueuedExecutions.
	Concurrency int
	// MaxOutputBytes caps the output lines published per stream of an
	// execution, like the engine's MaxOutputSizeBytes (give it the same
	// value); default 10 MiB.
	MaxOutputBytes int64
	// Relay must be the EventHandler of the engine's Config: it carries the
	// engine's events to the worker.
	Relay  *Relay
	Logger *slog.Logger // nil: slog.Default()
}

// ClientOptions configure a [Client].
type ClientOptions struct {
	Options Options
	// MaxTimeout rejects requests with a longer timeout before they are
	// queued; give it the workers' engine MaxTimeout. Default 1h.
	MaxTimeout time.Duration
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = "execengine"
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.Retention == 0 {
		o.Retention = time.Hour
	}
	if o.MaxEventsPerExecution == 0 {
		o.MaxEventsPerExecution = 100_000
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	switch {
	case !tokenRE.MatchString(o.Prefix):
		return o, fmt.Errorf("natsexec: prefix %q: letters, digits, '-' and '_' only", o.Prefix)
	case o.Heartbeat < 100*time.Millisecond:
		return o, fmt.Errorf("natsexec: heartbeat %v is below 100ms", o.Heartbeat)
	case o.Retention < time.Second:
		return o, fmt.Errorf("natsexec: retention %v is below 1s", o.Retention)
	case o.MaxEventsPerExecution < 0 || o.Replicas < 0:
		return o, fmt.Errorf("natsexec: MaxEventsPerExecution %d and Replicas %d must not be negative", o.MaxEventsPerExecution, o.Replicas)
	}
	return o, nil
}

// names are the subjects, streams and buckets under one prefix.
type names struct{ p string }

func (n names) queueStream() string        { return n.p + "_queue" }
func (n names) queueSubject(id any) string { return fmt.Sprintf("%s.queue.%v", n.p, id) }
func (n names) eventsStream() string       { return n.p + "_events" }
func (n names) eventSubject(id any) string { return fmt.Sprintf("%s.events.%v", n.p, id) }
func (n names) stateBucket() string        { return n.p + "_state" }
func (n names) workersBucket() string      { return n.p + "_workers" }
func (n names) resultsBucket() string      { return n.p + "_results" }
func (n names) cancelSubject(worker string) string {
	return n.p + ".cancel." + worker
}
func (n names) consumer() string { return "workers" }
