// Package execengine runs system commands asynchronously, for desktop and
// backend applications. It is a Go port of the Rust crate
// escher-execution-engine 0.1.2.
//
// # The model
//
// [Engine.Execute] validates a [Request] and returns its id at once. The
// command — a [Shell] string, an [Exec] program with arguments, a [Script]
// file or an [AWSCLI] call — runs in the background under
// Config.MaxConcurrentExecutions; beyond it Execute fails fast with
// [ErrConcurrencyLimitReached], or, with Config.MaxQueuedExecutions, the
// request waits in a FIFO queue. An execution goes
// pending → running → completed | failed | timeout | cancelled.
//
// While it runs, each line of stdout and stderr is delivered to the
// configured [EventHandler], with lifecycle events around them (see
// [EventHandler] for the ordering guarantees), and the raw bytes are kept
// in memory up to Config.MaxOutputSizeBytes per stream; beyond that the
// [OversizedOutputStrategy] decides. Query an execution with
// [Engine.Status], block on it with [Engine.Wait], read its [Result] with
// [Engine.Result], stop it with [Engine.Cancel]. A ticker removes old
// terminal executions (see [Engine.Cleanup]).
//
// Every execution leads a session of its own (on Windows, a Job Object).
// A timeout, a cancel, the output limit under FailExecution and
// [Engine.Close] send SIGTERM (then SIGCONT) to every process of it, on
// Linux those that moved to another process group included, and SIGKILL
// after Config.KillGracePeriod. When the main process exits, the output
// left in the pipes is read and whatever it left running is killed, so a
// background grandchild never makes Wait hang; only a process that starts
// a session of its own escapes, and output it still writes is cut at the
// drain deadline and reported (Result.OutputIncomplete).
//
// An Engine is safe for concurrent use. Its goroutines end with
// [Engine.Close], or [Engine.Shutdown] once the executions are done.
package execengine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Engine runs executions. Create one with [New]; stop it with Close or Shutdown.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	secrets *matcher // Config.Secrets; nil: none

	// execs maps uuid.UUID to *execution. It is read without mu, so that
	// Status, Wait and Result never wait for Execute or a cleanup pass;
	// it is written only with mu held, which keeps count and the duplicate
	// check exact.
	execs sync.Map

	mu       sync.Mutex
	count    int          // entries in execs
	retained int64        // output kept by the executions in finished (x.kept), for MaxRetainedOutputBytes
	queue    []*execution // FIFO of pending executions waiting for a slot
	running  int          // slots in use
	finished []*execution // terminal executions in completion order, for cleanup
	closed   bool
	stats    engineStats // behind Stats; atomics, updated without mu

	spawner  *spawner       // starts processes; stopped once the executions have ended
	wg       sync.WaitGroup // execution goroutines and the cleanup ticker
	stopTick chan struct{}  // closed by Shutdown and Close
	idle     chan struct{}  // closed once closed and no execution holds or waits for a slot
	isIdle   bool           // idle is closed; guarded by mu
}

// New validates cfg and returns an engine. With cfg.EnableAutoCleanup it
// starts the cleanup ticker; Close or Shutdown stops it. A LogDir is
// created (mode 0700) if it does not exist; one that other users can write
// is made private if the engine's user owns it, else refused.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LogDir != "" {
		if err := privateDir(cfg.LogDir); err != nil {
			return nil, fmt.Errorf("%w: LogDir %q: %v", ErrInvalidConfig, cfg.LogDir, err)
		}
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		stopTick: make(chan struct{}),
		idle:     make(chan struct{}),
		spawner:  newSpawner(),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.secrets = newMatcher(cfg.Secrets)
	if cfg.EnableAutoCleanup {
		e.wg.Go(e.cleanupLoop)
	}
	return e, nil
}

// Execute validates req and starts it in the background, or queues it, and
// returns its id at once (req.ID, or a new one when that is uuid.Nil).
// ctx bounds only the submission: the execution outlives it.
//
// A request that fails validation returns an error matching
// [ErrInvalidRequest] (and [ErrTimeoutTooLarge] or [ErrDuplicateID] where
// they apply), and nothing is stored. At the concurrency limit with a full
// (or no) queue it returns [ErrConcurrencyLimitReached]; after Shutdown or
// Close, [ErrClosed].
func (e *Engine) Execute(ctx context.Context, req Request) (uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return uuid.Nil, err
	}
	if req.ID == uuid.Nil {
		req.ID = uuid.New()
	}
	secrets, err := e.secretsFor(&req)
	if err != nil {
		return uuid.Nil, err
	}
	p, err := e.prepare(&req)
	if err != nil {
		return uuid.Nil, secrets.matcher().maskError(err)
	}
	p.desc = secrets.matcher().maskString(p.desc)
	x := newExecution(e, req.ID, p, req.EventHandler)
	if req.Interactive {
		x.stdin = newStdinFeed(req.Stdin)
	}
	if req.PTY != nil {
		x.term = newTerminal(req.PTY)
	}
	x.secrets = secrets

	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		e.stats.rejected.Add(1)
		return uuid.Nil, ErrClosed
	case e.get(req.ID) != nil:
		e.mu.Unlock()
		return uuid.Nil, fmt.Errorf("%w: %s is still in memory", ErrDuplicateID, req.ID)
	case e.running < e.cfg.MaxConcurrentExecutions:
		e.stats.submitted.Add(1)
		e.running++
		e.store(x)
		e.start(x)
	case len(e.queue) < e.cfg.MaxQueuedExecutions:
		e.stats.submitted.Add(1)
		e.stats.queued.Add(1)
		x.queued = true
		e.queue = append(e.queue, x)
		e.store(x)
	default:
		e.mu.Unlock()
		e.stats.rejected.Add(1)
		if e.cfg.MaxQueuedExecutions > 0 {
			return uuid.Nil, fmt.Errorf("%w: %d executions running and %d queued", ErrConcurrencyLimitReached,
				e.cfg.MaxConcurrentExecutions, e.cfg.MaxQueuedExecutions)
		}
		return uuid.Nil, fmt.Errorf("%w: %d executions running", ErrConcurrencyLimitReached, e.cfg.MaxConcurrentExecutions)
	}
	e.mu.Unlock()
	return req.ID, nil
}

// start runs x on a new goroutine; e.mu is held and x has a slot.
func (e *Engine) start(x *execution) {
	e.wg.Go(func() { e.finish(x, x.run(), true) })
}

// finish makes res the final state of x, frees the slot (starting the next
// queued execution), wakes Wait and then delivers the terminal events: a
// handler that sees the terminal event finds the execution terminal for
// every call (Remove works, its slot is free, Wait returns).
func (e *Engine) finish(x *execution, res *Result, slot bool) {
	if x.stdin != nil {
		x.stdin.shut() // a process that never started: writes fail from now
	}
	res.Error = x.secrets.matcher().maskString(res.Error)
	res.CompletedAt = time.Now()
	if !res.StartedAt.IsZero() {
		res.Duration = res.CompletedAt.Sub(res.StartedAt)
	}
	x.mu.Lock()
	old := x.status
	x.status, x.result, x.plan, x.streams = res.Status, res, nil, [2]*stream{}
	x.mu.Unlock()
	e.stats.finished(res)

	e.mu.Lock()
	e.finished = append(e.finished, x)
	x.kept = int64(len(res.Stdout) + len(res.Stderr))
	e.retained += x.kept
	trim := e.cfg.EnableAutoCleanup && e.retained > e.cfg.MaxRetainedOutputBytes
	if slot {
		e.running--
		for len(e.queue) > 0 && e.running < e.cfg.MaxConcurrentExecutions {
			next := e.queue[0]
			e.queue[0] = nil
			e.queue = e.queue[1:]
			next.queued = false
			e.stats.dequeued.Add(1)
			e.running++
			e.start(next)
		}
		e.noteIdleLocked()
	}
	e.mu.Unlock()
	close(x.final)

	x.send(Event{Type: EventStatusChanged, OldStatus: old, NewStatus: res.Status})
	final := *res
	terminal := Event{Type: EventCompleted, Result: &final}
	switch res.Status {
	case StatusFailed:
		terminal.Type, terminal.Error = EventFailed, res.Error
	case StatusTimeout:
		terminal.Type = EventTimeout
		terminal.TimeoutMS = x.timeout.Milliseconds()
	case StatusCancelled:
		terminal.Type = EventCancelled
	}
	x.send(terminal)
	if trim {
		// Before done: Close waits for this pass. x itself is held until
		// its terminal event is delivered, so it is never the one removed.
		e.Cleanup()
	}
	close(x.done)
}

// Run executes req and waits for its end, as exec.Cmd.Run does for
// os/exec. When ctx ends first, the execution is cancelled (its session
// gets SIGTERM, then SIGKILL after the grace period) and Run returns its
// final, cancelled Result. The error is non-nil only when there is no
// result: the request was refused (see [Engine.Execute]). Whether the
// command succeeded is res.Err().
func (e *Engine) Run(ctx context.Context, req Request) (Result, error) {
	id, err := e.Execute(ctx, req)
	if err != nil {
		return Result{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = e.Cancel(id) })
	defer stop()
	return e.Wait(context.WithoutCancel(ctx), id)
}

// Wait blocks until the execution is terminal and returns its result. It
// returns an error only when no final result can be had: [ErrNotFound] for
// an unknown id, or ctx's error. A command that fails, times out or is
// cancelled is a Result with that status; see [Result.Err].
//
// Every output event has been delivered when Wait returns; the terminal
// event may still be on its way, so that a handler can Wait for the
// execution whose terminal event it is handling. [Engine.Done] also waits
// for the terminal event.
func (e *Engine) Wait(ctx context.Context, id uuid.UUID) (Result, error) {
	x, err := e.lookup(id)
	if err != nil {
		return Result{}, err
	}
	select {
	case <-x.final:
		return x.snapshot(), nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Done returns a channel that is closed when the execution is terminal and
// its terminal event has been delivered: for select loops over many executions.
func (e *Engine) Done(id uuid.UUID) (<-chan struct{}, error) {
	x, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	return x.done, nil
}

// Status returns the execution's current status, or [ErrNotFound].
func (e *Engine) Status(id uuid.UUID) (Status, error) {
	x, err := e.lookup(id)
	if err != nil {
		return "", err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.status, nil
}

// Result returns the final result of a terminal execution, [ErrNotCompleted]
// while it is pending or running, or [ErrNotFound].
func (e *Engine) Result(id uuid.UUID) (Result, error) {
	x, err := e.lookup(id)
	if err != nil {
		return Result{}, err
	}
	r := x.snapshot()
	if !r.Status.IsTerminal() {
		return Result{}, fmt.Errorf("%w: %s is %s", ErrNotCompleted, id, r.Status)
	}
	return r, nil
}

// Snapshot returns the execution's state now, terminal or not: while it
// runs, the output stored so far (written in batches, so the last lines may
// be missing) and the duration so far.
func (e *Engine) Snapshot(id uuid.UUID) (Result, error) {
	x, err := e.lookup(id)
	if err != nil {
		return Result{}, err
	}
	return x.snapshot(), nil
}

// Output returns the kept output of one stream (EventStdout or
// EventStderr) from byte offset on: what is stored now while the
// execution runs (written in batches), all of Result.Stdout or Stderr
// once it is terminal. A UI that polls passes the length it already has
// and copies only what is new, where Snapshot copies the whole output.
func (e *Engine) Output(id uuid.UUID, stream EventType, offset int64) ([]byte, error) {
	if stream != EventStdout && stream != EventStderr {
		return nil, fmt.Errorf("%w: output stream %q is not stdout or stderr", ErrInvalidRequest, stream)
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: output offset %d is negative", ErrInvalidRequest, offset)
	}
	x, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	i := 0
	if stream == EventStderr {
		i = 1
	}
	if x.result != nil {
		return tail([]string{x.result.Stdout, x.result.Stderr}[i], offset), nil
	}
	if s := x.streams[i]; s != nil {
		return s.since(offset), nil
	}
	return []byte{}, nil
}

func tail(s string, offset int64) []byte {
	if offset >= int64(len(s)) {
		return []byte{}
	}
	return []byte(s[offset:])
}

// Cancel stops an execution: a pending one never starts; a running one's
// processes get SIGTERM, then SIGKILL after the grace period, and it ends
// cancelled, unless its leader had already exited on its own (see the
// README's "Stopping processes"). Cancelling a terminal execution does
// nothing and returns nil. It returns [ErrNotFound] for an unknown id.
func (e *Engine) Cancel(id uuid.UUID) error {
	e.mu.Lock()
	x := e.get(id)
	if x == nil {
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	queued := x.queued
	if queued {
		x.queued = false
		e.stats.dequeued.Add(1)
		e.queue = slices.DeleteFunc(e.queue, func(q *execution) bool { return q == x })
		e.noteIdleLocked()
		// Owned by the engine so Close waits for its events.
		e.wg.Add(1)
	}
	e.mu.Unlock()
	x.requestStop(stopCancel, "")
	if queued {
		defer e.wg.Done()
		e.finish(x, x.run(), false)
	}
	return nil
}

// List returns a summary of every execution in memory, oldest first.
func (e *Engine) List() []Summary {
	var xs []*execution
	e.execs.Range(func(_, v any) bool {
		xs = append(xs, v.(*execution))
		return true
	})
	slices.SortFunc(xs, func(a, b *execution) int { return a.submittedAt.Compare(b.submittedAt) })
	out := make([]Summary, len(xs))
	for i, x := range xs {
		x.mu.Lock()
		out[i] = Summary{ID: x.id, Status: x.status}
		out[i].StartedAt = x.startedAt
		if x.result != nil {
			out[i].StartedAt, out[i].Duration = x.result.StartedAt, x.result.Duration
		}
		x.mu.Unlock()
	}
	return out
}

// RunningCount returns how many executions hold a slot (starting or running).
func (e *Engine) RunningCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running
}

// Remove forgets a terminal execution, deleting the spill files the engine
// made for it in the OS temp dir (those in LogDir stay). It returns [ErrNotCompleted] for one
// that is pending or running, and [ErrNotFound] for an unknown id.
func (e *Engine) Remove(id uuid.UUID) error {
	x, err := e.lookup(id)
	if err != nil {
		return err
	}
	select {
	case <-x.final:
	default:
		st, _ := e.Status(id)
		return fmt.Errorf("%w: %s is %s", ErrNotCompleted, id, st)
	}
	e.mu.Lock()
	gone := e.get(id) == x
	if gone {
		e.delete(x)
		e.compactFinished()
	}
	e.mu.Unlock()
	if gone {
		x.removeTempFiles()
	}
	return nil
}

// Shutdown stops accepting executions and the cleanup ticker, then waits
// for the running and queued executions to end. If ctx ends first it
// returns ctx's error and the executions go on: call Close to stop them.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopAccepting()
	select {
	case <-e.idle:
		e.wg.Wait() // the last executions are returning, the ticker is stopping
		e.spawner.close()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting executions, cancels every pending and running one
// (they end cancelled, with an error matching [ErrClosed]) and returns once
// every goroutine of the engine has ended. It deletes the spill files the
// engine made in the OS temp dir. Calling it again is harmless.
func (e *Engine) Close() error {
	e.stopAccepting()
	e.mu.Lock()
	queued := e.queue
	e.queue = nil
	e.noteIdleLocked()
	e.wg.Add(len(queued))
	var running []*execution
	e.execs.Range(func(_, v any) bool {
		if x := v.(*execution); x.queued {
			x.queued = false
			e.stats.dequeued.Add(1)
		} else {
			running = append(running, x)
		}
		return true
	})
	e.mu.Unlock()
	end := stopBatch() // their SIGTERMs share one scan of the session groups
	for _, x := range running {
		x.requestStop(stopClosed, "")
	}
	end()
	for _, x := range queued {
		x.requestStop(stopClosed, "")
		e.finish(x, x.run(), false)
		e.wg.Done()
	}
	e.wg.Wait()
	e.spawner.close()
	e.execs.Range(func(_, v any) bool {
		v.(*execution).removeTempFiles()
		return true
	})
	return nil
}

func (e *Engine) stopAccepting() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.stopTick)
		e.noteIdleLocked()
	}
}

// noteIdleLocked closes e.idle once the engine is closed and no execution
// holds a slot or waits for one; e.mu is held.
func (e *Engine) noteIdleLocked() {
	if e.closed && !e.isIdle && e.running == 0 && len(e.queue) == 0 {
		e.isIdle = true
		close(e.idle)
	}
}

func (e *Engine) lookup(id uuid.UUID) (*execution, error) {
	x := e.get(id)
	if x == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return x, nil
}

func (e *Engine) get(id uuid.UUID) *execution {
	v, _ := e.execs.Load(id)
	x, _ := v.(*execution)
	return x
}

// store adds x; e.mu is held.
func (e *Engine) store(x *execution) {
	e.execs.Store(x.id, x)
	e.count++
	e.stats.stored.Add(1)
}

// delete forgets x; e.mu is held.
func (e *Engine) delete(x *execution) {
	e.execs.Delete(x.id)
	e.count--
	e.retained -= x.kept
	x.removed = true
	e.stats.forgotten(x)
}

var global struct {
	mu     sync.Mutex
	engine *Engine
}

// InitGlobal creates the process-wide engine returned by [Global], as the
// Rust crate's init_global does: it forces MaxConcurrentExecutions to 1
// (strict serial mode). A second call returns [ErrAlreadyInitialized].
func InitGlobal(cfg Config) error {
	global.mu.Lock()
	defer global.mu.Unlock()
	if global.engine != nil {
		return ErrAlreadyInitialized
	}
	cfg.MaxConcurrentExecutions = 1
	e, err := New(cfg)
	if err != nil {
		return err
	}
	global.engine = e
	return nil
}

// Global returns the engine made by [InitGlobal], or nil before it.
func Global() *Engine {
	global.mu.Lock()
	defer global.mu.Unlock()
	return global.engine
}
