package execengine

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
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

	mu         sync.Mutex // guards the fields below
	plan       *plan      // nil once terminal
	status     Status
	pid        int
	startedAt  time.Time
	stop       stopReason // the first stop request
	stopStream EventType  // the stream that broke the output limit
	// why the engine signalled the group (a stop request or the timeout,
	// whichever came first while the leader ran); stopNone if it did not.
	why stopReason
	// exited: the leader is gone, so the group is no longer signalled
	// from other goroutines (its id could be reused once reaped).
	exited  bool
	grace   *time.Timer // SIGKILL after SIGTERM
	streams [2]*stream
	result  *Result // set once terminal

	evMu sync.Mutex // serializes handler calls; guards seq
	seq  uint64

	// Guarded by Engine.mu.
	queued  bool
	removed bool
}

func newExecution(e *Engine, id uuid.UUID, p *plan) *execution {
	return &execution{
		e: e, id: id, plan: p, status: StatusPending, submittedAt: time.Now(), timeout: p.timeout,
		done: make(chan struct{}),
	}
}

// requestStop asks the execution to stop; only the first reason counts.
// It reports whether this reason was the first. A running process group is
// signalled at once, from the caller's goroutine.
func (x *execution) requestStop(why stopReason, stream EventType) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stop != stopNone {
		return false
	}
	x.stop, x.stopStream = why, stream
	x.stopLocked(why)
	return true
}

// stopLocked sends SIGTERM to the group, then SIGKILL after the grace
// period, unless the process has not started, its leader has exited, or
// the engine already stopped it; x.mu is held. The execution goroutine
// blocks in waitExited meanwhile, so timeouts and stop requests act here
// rather than in a select on another goroutine.
func (x *execution) stopLocked(why stopReason) {
	if x.pid == 0 || x.exited || x.why != stopNone {
		return
	}
	x.why = why
	pid := x.pid
	grace := x.e.cfg.KillGracePeriod
	if grace <= 0 {
		killGroup(pid)
		return
	}
	terminateGroup(pid)
	x.grace = time.AfterFunc(grace, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if !x.exited {
			killGroup(pid)
		}
	})
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

// spawn starts the process and takes it to its end: streams drained,
// leader reaped, group gone.
func (x *execution) spawn(p *plan, res *Result) *Result {
	cfg := &x.e.cfg
	var log *outputLog
	if len(p.logPaths) > 0 {
		var err error
		if log, err = openLog(p.logPaths); err != nil {
			return failStart(res, CodeIO, err)
		}
	}
	pp, err := openPipes(p.stdin != "")
	if err != nil {
		log.close()
		return failStart(res, CodeSpawnFailed, fmt.Errorf("start %s: %w", p.argv[0], err))
	}
	cmd := newCmd(p)
	cmd.Stdout, cmd.Stderr = pp.child[0], pp.child[1]
	if pp.stdin != nil {
		cmd.Stdin = pp.child[2]
	}
	err = startProcess(cmd)
	closeAll(pp.child) // the child has its copies
	if err != nil {
		pp.closeOwn()
		log.close()
		return failStart(res, CodeSpawnFailed, fmt.Errorf("start: %w", err))
	}
	events := cfg.StreamOutput && cfg.EventHandler != nil
	outs := [2]*stream{
		{x: x, kind: EventStdout, limit: cfg.MaxOutputSizeBytes, events: events, log: log},
		{x: x, kind: EventStderr, limit: cfg.MaxOutputSizeBytes, events: events, log: log},
	}
	pid := cmd.Process.Pid
	started := time.Now()
	x.mu.Lock()
	x.status, x.pid, x.startedAt, x.streams = StatusRunning, pid, started, outs
	if x.stop != stopNone {
		x.stopLocked(x.stop) // requested while the process was being started
	}
	x.mu.Unlock()
	timeout := time.AfterFunc(p.timeout, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.stopLocked(stopTimeout)
	})
	x.send(Event{Type: EventStarted, Command: p.desc, Timestamp: started})
	x.send(Event{Type: EventStatusChanged, OldStatus: StatusPending, NewStatus: StatusRunning})

	var wg sync.WaitGroup
	for i, s := range outs {
		wg.Go(func() { s.drain(pp.read[i]) })
	}
	if pp.stdin != nil {
		wg.Go(func() {
			io.WriteString(pp.stdin, p.stdin) // an error means the child stopped reading
			pp.stdin.Close()
		})
	}
	why, waitErr := x.waitLeader(cmd, timeout)
	if pp.stdin != nil {
		pp.stdin.Close() // unblocks the writer if a grandchild holds stdin
	}
	drainTimer := time.AfterFunc(drainTimeout, func() {
		for _, r := range pp.read {
			r.SetReadDeadline(time.Now())
		}
	})
	wg.Wait()
	drainTimer.Stop()
	closeAll(pp.read[:])

	res.PID, res.StartedAt = pid, started
	if cmd.ProcessState != nil {
		res.ExitCode, res.Signal = exitInfo(cmd.ProcessState)
	} else if waitErr != nil {
		waitErr = fmt.Errorf("wait: %w", waitErr)
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

	ioErr := cmp.Or(outs[0].err, outs[1].err)
	if err := log.close(); err != nil && ioErr == nil {
		ioErr = fmt.Errorf("write log: %w", err)
	}
	if cmd.ProcessState == nil {
		ioErr = cmp.Or(ioErr, waitErr)
	}
	x.conclude(res, why, stopStream, ioErr)
	return res
}

// waitLeader waits for the leader to exit, on this goroutine: a separate
// waiter goroutine and a select cost a goroutine and a handoff per command.
// Then it kills what the leader left in its group and reaps the leader. It
// returns why the engine stopped the process, or stopNone.
func (x *execution) waitLeader(cmd *exec.Cmd, timeout *time.Timer) (stopReason, error) {
	pid := cmd.Process.Pid
	var waitErr error
	reaped := false
	if !waitExited(pid) {
		waitErr, reaped = cmd.Wait(), true
	}
	timeout.Stop()
	x.mu.Lock()
	x.exited = true
	why := x.why
	if x.grace != nil {
		x.grace.Stop()
	}
	x.mu.Unlock()
	killGroup(pid) // whatever the leader left running
	if !reaped {
		waitErr = cmd.Wait()
	}
	releaseProcess(pid)
	return why, waitErr
}

// conclude sets the final status of a process that ran.
func (x *execution) conclude(res *Result, why stopReason, stopStream EventType, ioErr error) {
	switch {
	case why == stopTimeout:
		res.Status, res.ErrorCode = StatusTimeout, CodeTimeout
		res.Error = fmt.Sprintf("execution timed out after %v", x.timeout)
	case why == stopCancel:
		res.Status, res.ErrorCode, res.Error = StatusCancelled, CodeCancelled, "execution cancelled"
	case why == stopClosed:
		res.Status, res.ErrorCode, res.Error = StatusCancelled, CodeClosed, "execution cancelled: engine closed"
	case why == stopOutputLimit:
		res.Status, res.ErrorCode = StatusFailed, CodeOutputExceeded
		res.Error = fmt.Sprintf("%s exceeded the output limit of %d bytes", stopStream, x.e.cfg.MaxOutputSizeBytes)
	case ioErr != nil:
		res.Status, res.ErrorCode, res.Error = StatusFailed, CodeIO, ioErr.Error()
	case res.ExitCode == 0:
		res.Status, res.Success = StatusCompleted, true
	default:
		res.Status, res.ErrorCode = StatusFailed, CodeExitStatus
		res.Error = (&ExitError{Code: res.ExitCode, Signal: res.Signal}).Error()
	}
}

// pipes are an execution's own pipes: with os.File ends, exec.Cmd starts no
// copying goroutines, so Wait never waits for a grandchild to close them.
type pipes struct {
	read  [2]*os.File // stdout, stderr: the engine's ends
	child []*os.File  // stdout, stderr and stdin if any: the child's ends
	stdin *os.File    // the engine's end of stdin, or nil
}

func openPipes(withStdin bool) (*pipes, error) {
	pp := &pipes{}
	for i := range 2 {
		r, w, err := outputPipe()
		if err != nil {
			closeAll(pp.child)
			pp.closeOwn()
			return nil, err
		}
		pp.read[i], pp.child = r, append(pp.child, w)
	}
	if withStdin {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(pp.child)
			pp.closeOwn()
			return nil, err
		}
		pp.child, pp.stdin = append(pp.child, r), w
	}
	return pp, nil
}

// closeOwn closes the engine's ends, after a failed start; the child's
// ends are closed by then.
func (pp *pipes) closeOwn() {
	closeAll(pp.read[:])
	if pp.stdin != nil {
		pp.stdin.Close()
	}
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
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
