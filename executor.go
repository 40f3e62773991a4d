package execengine

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
)

// drainTimeout bounds how long output is read after the process group is
// gone. Only a process that left the group (setsid, a daemon) can hold the
// pipes past it; what is already in the pipes is still read.
const drainTimeout = 250 * time.Millisecond

// stopReason says why the engine stopped a process. The first one wins.
type stopReason int

const (
	stopNone stopReason = iota
	stopCancel
	stopClosed
	stopTimeout
	stopOutputLimit
)

// execution is one request from Execute to its final Result.
type execution struct {
	e           *Engine
	id          uuid.UUID
	submittedAt time.Time
	timeout     time.Duration
	done        chan struct{} // closed after the terminal event
	stopCh      chan struct{} // closed by requestStop

	mu         sync.Mutex // guards the fields below
	plan       *plan      // nil once terminal
	status     Status
	pid        int
	startedAt  time.Time
	stop       stopReason
	stopStream EventType // the stream that broke the output limit
	streams    [2]*stream
	result     *Result // set once terminal

	evMu sync.Mutex // serializes handler calls; guards seq
	seq  uint64

	// Guarded by Engine.mu.
	queued  bool
	removed bool
}

func newExecution(e *Engine, id uuid.UUID, p *plan) *execution {
	return &execution{
		e: e, id: id, plan: p, status: StatusPending, submittedAt: time.Now(), timeout: p.timeout,
		done: make(chan struct{}), stopCh: make(chan struct{}),
	}
}

// requestStop asks the execution to stop; only the first reason counts.
// It reports whether this reason was the first.
func (x *execution) requestStop(why stopReason, stream EventType) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stop == stopNone {
		x.stop, x.stopStream = why, stream
		close(x.stopCh)
		return true
	}
	return false
}

// sendLocked delivers ev to the handler; x.evMu is held. It takes a
// pointer so a stream can reuse one Event for all its lines: the handler
// gets its own copy.
func (x *execution) sendLocked(ev *Event) {
	x.seq++
	ev.Seq = x.seq
	ev.ExecutionID = x.id
	if ev.Timestamp.IsZero() {
		ev.Timestamp = time.Now()
	}
	defer func() {
		if v := recover(); v != nil {
			x.e.log.Error("execengine: event handler panicked", "execution_id", x.id,
				"event_type", ev.Type, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	x.e.cfg.EventHandler.HandleEvent(*ev)
}

func (x *execution) send(ev Event) {
	if x.e.cfg.EventHandler == nil {
		return
	}
	x.evMu.Lock()
	defer x.evMu.Unlock()
	x.sendLocked(&ev)
}

// run takes the execution from pending to its final result.
func (x *execution) run() *Result {
	x.mu.Lock()
	p, why := x.plan, x.stop
	x.mu.Unlock()
	res := &Result{ID: x.id, ExitCode: -1, SubmittedAt: x.submittedAt}
	if why != stopNone {
		return x.neverStarted(res, why)
	}
	return x.spawn(p, res)
}

// neverStarted ends an execution whose process was never started.
func (x *execution) neverStarted(res *Result, why stopReason) *Result {
	res.StartedAt = res.SubmittedAt
	res.Status, res.Error, res.ErrorCode = StatusCancelled, "execution cancelled before it started", CodeCancelled
	if why == stopClosed {
		res.Error, res.ErrorCode = "execution cancelled before it started: engine closed", CodeClosed
	}
	return res
}

// failStart ends an execution that could not be started.
func failStart(res *Result, code string, err error) *Result {
	res.StartedAt = res.SubmittedAt
	res.Status, res.Error, res.ErrorCode = StatusFailed, err.Error(), code
	return res
}

func (x *execution) spawn(p *plan, res *Result) *Result {
	cfg := &x.e.cfg
	var log *outputLog
	if len(p.logPaths) > 0 {
		var err error
		if log, err = openLog(p.logPaths); err != nil {
			return failStart(res, CodeIO, err)
		}
	}
	events := cfg.StreamOutput && cfg.EventHandler != nil
	outs := [2]*stream{
		{x: x, kind: EventStdout, limit: cfg.MaxOutputSizeBytes, events: events, log: log},
		{x: x, kind: EventStderr, limit: cfg.MaxOutputSizeBytes, events: events, log: log},
	}
	var readEnds, writeEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readEnds)
			closeAll(writeEnds)
			log.close()
			return failStart(res, CodeSpawnFailed, fmt.Errorf("start %s: %w", p.argv[0], err))
		}
		readEnds, writeEnds = append(readEnds, r), append(writeEnds, w)
	}
	cmd := newCmd(p)
	cmd.Stdout, cmd.Stderr = writeEnds[0], writeEnds[1]
	var stdinW *os.File
	if p.stdin != "" {
		r, w, err := os.Pipe()
		if err == nil {
			cmd.Stdin, stdinW = r, w
			writeEnds = append(writeEnds, r)
		}
	}
	err := cmd.Start()
	closeAll(writeEnds) // the child has its copies
	if err != nil {
		closeAll(readEnds)
		if stdinW != nil {
			stdinW.Close()
		}
		log.close()
		return failStart(res, CodeSpawnFailed, fmt.Errorf("start: %w", err))
	}
	pid := cmd.Process.Pid
	started := time.Now()
	x.mu.Lock()
	x.status, x.pid, x.startedAt, x.streams = StatusRunning, pid, started, outs
	x.mu.Unlock()
	x.send(Event{Type: EventStarted, Command: p.desc, Timestamp: started})
	x.send(Event{Type: EventStatusChanged, OldStatus: StatusPending, NewStatus: StatusRunning})

	var wg sync.WaitGroup
	for i, s := range outs {
		wg.Go(func() { s.drain(readEnds[i]) })
	}
	if stdinW != nil {
		wg.Go(func() {
			io.WriteString(stdinW, p.stdin) // an error means the child stopped reading
			stdinW.Close()
		})
	}
	var reaped bool
	var waitErr error
	exited := make(chan struct{})
	wg.Go(func() {
		if !waitExited(pid) {
			waitErr, reaped = cmd.Wait(), true
		}
		close(exited)
	})

	why := x.supervise(pid, p.timeout, exited)
	killGroup(pid) // whatever the leader left running
	if !reaped {
		waitErr = cmd.Wait()
	}
	if stdinW != nil {
		stdinW.Close() // unblocks the writer if a grandchild holds stdin
	}
	drainTimer := time.AfterFunc(drainTimeout, func() {
		for _, r := range readEnds {
			r.SetReadDeadline(time.Now())
		}
	})
	wg.Wait()
	drainTimer.Stop()
	closeAll(readEnds)

	res.PID, res.StartedAt = pid, started
	if cmd.ProcessState != nil {
		res.ExitCode, res.Signal = exitInfo(cmd.ProcessState)
	}
	x.mu.Lock()
	if why == stopNone && x.stop == stopOutputLimit {
		// The output that broke the limit was read after the leader had
		// exited: the execution still fails for it.
		why = stopOutputLimit
	}
	stopStream := x.stopStream
	res.Stdout, res.Stderr = outs[0].output(), outs[1].output()
	res.StdoutFile, res.StderrFile = outs[0].filePath, outs[1].filePath
	res.Truncated = outs[0].over || outs[1].over
	x.mu.Unlock()

	ioErr := outs[0].err
	if ioErr == nil {
		ioErr = outs[1].err
	}
	if err := log.close(); err != nil && ioErr == nil {
		ioErr = fmt.Errorf("write log: %w", err)
	}
	switch {
	case why == stopTimeout:
		res.Status, res.ErrorCode = StatusTimeout, CodeTimeout
		res.Error = fmt.Sprintf("execution timed out after %v", p.timeout)
	case why == stopCancel:
		res.Status, res.ErrorCode, res.Error = StatusCancelled, CodeCancelled, "execution cancelled"
	case why == stopClosed:
		res.Status, res.ErrorCode, res.Error = StatusCancelled, CodeClosed, "execution cancelled: engine closed"
	case why == stopOutputLimit:
		res.Status, res.ErrorCode = StatusFailed, CodeOutputExceeded
		res.Error = fmt.Sprintf("%s exceeded the output limit of %d bytes", stopStream, cfg.MaxOutputSizeBytes)
	case ioErr != nil:
		res.Status, res.ErrorCode, res.Error = StatusFailed, CodeIO, ioErr.Error()
	case waitErr != nil && cmd.ProcessState == nil:
		res.Status, res.ErrorCode, res.Error = StatusFailed, CodeIO, "wait: "+waitErr.Error()
	case res.ExitCode == 0:
		res.Status, res.Success = StatusCompleted, true
	default:
		res.Status, res.ErrorCode = StatusFailed, CodeExitStatus
		res.Error = (&ExitError{Code: res.ExitCode, Signal: res.Signal}).Error()
	}
	return res
}

// supervise waits for the leader to exit. On a timeout or a stop request it
// sends SIGTERM to the group, then SIGKILL after the grace period. It
// returns why the engine stopped the process, or stopNone.
func (x *execution) supervise(pid int, timeout time.Duration, exited <-chan struct{}) stopReason {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	timeoutC, stopC := timer.C, x.stopCh
	var graceC <-chan time.Time
	why := stopNone
	for {
		select {
		case <-exited:
			return why
		case <-graceC:
			killGroup(pid)
			graceC = nil
			continue
		case <-timeoutC:
			why = stopTimeout
		case <-stopC:
			x.mu.Lock()
			why = x.stop
			x.mu.Unlock()
		}
		timeoutC, stopC = nil, nil
		if grace := x.e.cfg.KillGracePeriod; grace > 0 {
			terminateGroup(pid)
			t := time.NewTimer(grace)
			defer t.Stop()
			graceC = t.C
		} else {
			killGroup(pid)
		}
	}
}

// snapshot returns the execution's current state as a Result.
func (x *execution) snapshot() Result {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.result != nil {
		return *x.result
	}
	r := Result{ID: x.id, Status: x.status, ExitCode: -1, PID: x.pid, SubmittedAt: x.submittedAt, StartedAt: x.startedAt}
	if x.startedAt.IsZero() {
		r.StartedAt = x.submittedAt
	} else {
		r.Duration = time.Since(x.startedAt)
	}
	if s := x.streams; s[0] != nil {
		r.Stdout, r.Stderr = s[0].contents(), s[1].contents()
		r.StdoutFile, r.StderrFile = s[0].filePath, s[1].filePath
		r.Truncated = s[0].over || s[1].over
	}
	return r
}
