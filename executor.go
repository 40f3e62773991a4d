package execengine

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
	final       chan struct{} // closed once the result is final and the slot free
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
	exited    bool
	reaped    bool        // the leader was reaped before its streams drained
	straggled bool        // stopStragglers ran
	timer     *time.Timer // the timeout; set by run before the start path
	grace     *time.Timer // SIGKILL after SIGTERM
	streams   [2]*stream
	// tempFiles: spill files made in the OS temp dir, deleted when the
	// execution leaves memory (those in LogDir are kept).
	tempFiles []string
	result    *Result    // set once terminal
	secrets   *secretSet // what is masked in its output; nil in some tests
	stdin     *stdinFeed // Request.Interactive; nil otherwise
	term      *terminal  // Request.PTY; nil otherwise

	handler EventHandler // the request's own, besides Config.EventHandler; may be nil

	evMu sync.Mutex // serializes handler calls; guards seq
	seq  uint64

	drainLate atomic.Bool // a stream hit the drain deadline; counted once in Stats

	// Guarded by Engine.mu.
	queued  bool
	removed bool
	kept    int64 // bytes of its final Stdout and Stderr, once terminal
}

func newExecution(e *Engine, id uuid.UUID, p *plan, h EventHandler) *execution {
	return &execution{
		e: e, id: id, plan: p, status: StatusPending, submittedAt: time.Now(), timeout: p.timeout, handler: h,
		final: make(chan struct{}), done: make(chan struct{}),
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

// stopLocked sends SIGTERM (and SIGCONT) to the session, then SIGKILL
// after the grace period, unless the process has not started, its leader
// has exited, or the engine already stopped it; x.mu is held. The
// execution goroutine blocks in waitExited meanwhile, so timeouts and stop
// requests act here rather than in a select on another goroutine.
func (x *execution) stopLocked(why stopReason) {
	if x.pid == 0 || x.exited || x.why != stopNone {
		return
	}
	if leaderExited(x.pid) {
		return // it ended on its own before the stop: its exit decides
	}
	x.why = why
	pid := x.pid
	grace := x.e.cfg.KillGracePeriod
	if grace <= 0 {
		x.e.stats.forcedKills.Add(1)
		killSession(pid)
		return
	}
	terminateGroup(pid)
	x.grace = time.AfterFunc(grace, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if !x.exited {
			x.e.stats.forcedKills.Add(1)
			killSession(pid)
		}
	})
}

// sendLocked delivers ev to the handlers; x.evMu is held. It takes a
// pointer so a stream can reuse one Event for all its lines: each handler
// gets its own copy.
func (x *execution) sendLocked(ev *Event) {
	x.seq++
	ev.Seq = x.seq
	ev.ExecutionID = x.id
	if ev.Timestamp.IsZero() {
		ev.Timestamp = time.Now()
	}
	h := x.e.cfg.EventHandler
	if h == nil || x.handler == nil {
		if h == nil {
			h = x.handler
		}
		if h != nil {
			x.deliver(h, *ev)
		}
		return
	}
	// Two handlers: each gets its own Result.
	own := *ev
	if ev.Result != nil {
		r := *ev.Result
		own.Result = &r
	}
	x.deliver(h, *ev)
	x.deliver(x.handler, own)
}

// deliver calls h, recovering a panic.
func (x *execution) deliver(h EventHandler, ev Event) {
	defer func() {
		if v := recover(); v != nil {
			x.e.log.Error("execengine: event handler panicked", "execution_id", x.id,
				"event_type", ev.Type, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	h.HandleEvent(ev)
}

func (x *execution) hasHandler() bool { return x.e.cfg.EventHandler != nil || x.handler != nil }

func (x *execution) send(ev Event) {
	if !x.hasHandler() {
		return
	}
	x.evMu.Lock()
	defer x.evMu.Unlock()
	x.sendLocked(&ev)
}

// run takes the execution from pending to its final result.
func (x *execution) run() *Result {
	res := &Result{ID: x.id, ExitCode: -1, SubmittedAt: x.submittedAt}
	x.mu.Lock()
	p, why := x.plan, x.stop
	if why == stopNone {
		// The timeout counts from here: the start path (log files, pipes,
		// the fork) is bounded by it, and a stop during it is seen.
		x.timer = time.AfterFunc(p.timeout, func() { x.requestStop(stopTimeout, "") })
	}
	x.mu.Unlock()
	if why != stopNone {
		return x.neverStarted(res, why)
	}
	defer x.timer.Stop()
	return x.spawn(p, res)
}

// neverStarted ends an execution whose process was never started.
func (x *execution) neverStarted(res *Result, why stopReason) *Result {
	switch why {
	case stopTimeout:
		res.Status, res.ErrorCode = StatusTimeout, CodeTimeout
		res.Error = fmt.Sprintf("execution timed out after %v before it started", x.timeout)
	case stopClosed:
		res.Status, res.Error, res.ErrorCode = StatusCancelled, "execution cancelled before it started: engine closed", CodeClosed
	default:
		res.Status, res.Error, res.ErrorCode = StatusCancelled, "execution cancelled before it started", CodeCancelled
	}
	return res
}

// failStart ends an execution that could not be started; err is kept as
// the cause Result.Err wraps.
func failStart(res *Result, code string, err error) *Result {
	res.Status, res.Error, res.ErrorCode, res.cause = StatusFailed, err.Error(), code, err
	return res
}

// spawn starts the process and takes it to its end: streams drained,
// session gone, leader reaped.
func (x *execution) spawn(p *plan, res *Result) *Result {
	cfg := &x.e.cfg
	starting <- struct{}{}
	log, err := openLog(p.logPaths)
	if err != nil {
		<-starting
		return failStart(res, CodeIO, err)
	}
	var pp *pipes
	if x.term != nil {
		pp, err = x.term.open()
	} else {
		pp, err = openPipes(p.stdin != "" || x.stdin != nil)
	}
	if err != nil {
		<-starting
		log.close()
		return failStart(res, CodeSpawnFailed, fmt.Errorf("start %s: %w", p.argv[0], err))
	}
	events := cfg.StreamOutput && x.hasHandler()
	lines, chunks := events && !p.noLines, events && p.chunks
	outs := [2]*stream{
		{x: x, kind: EventStdout, limit: cfg.MaxOutputSizeBytes, events: lines, raw: chunks, log: log},
		{x: x, kind: EventStderr, limit: cfg.MaxOutputSizeBytes, events: lines, raw: chunks, log: log},
	}
	// The lock is held across the fork: a stop requested before it means
	// the process never starts, one requested during it signals the
	// process as soon as it exists.
	x.mu.Lock()
	why := x.stop
	var cmd *exec.Cmd
	if why == stopNone {
		cmd, err = x.e.startCmd(p, pp)
	}
	started := time.Now()
	if why == stopNone && err == nil {
		x.status, x.pid, x.startedAt, x.streams = StatusRunning, cmd.Process.Pid, started, outs
		x.e.stats.started.Add(1)
	}
	x.mu.Unlock()
	closeAll(pp.child) // the child has its copies
	<-starting
	if why != stopNone || err != nil {
		x.term.detach()
		pp.closeOwn()
		log.close()
		if why != stopNone {
			return x.neverStarted(res, why)
		}
		return failStart(res, CodeSpawnFailed, fmt.Errorf("start: %w", err))
	}
	// The process gets its whole timeout from its start (the start path
	// was bounded by the same timer); if it already fired, the process is
	// being stopped and firing again does nothing.
	x.timer.Reset(p.timeout)
	pid := cmd.Process.Pid
	x.send(Event{Type: EventStarted, Command: p.desc, Timestamp: started})
	x.send(Event{Type: EventStatusChanged, OldStatus: StatusPending, NewStatus: StatusRunning})

	var wg sync.WaitGroup
	for i, s := range outs {
		if pp.read[i] != nil { // a terminal is one stream, stdout
			wg.Go(func() { s.drain(pp.read[i]) })
		}
	}
	switch {
	case x.stdin != nil:
		x.stdin.eof = pp.eof
		wg.Go(func() { x.stdin.run(pp.stdin) })
	case pp.tty:
		// Not interactive: Stdin, then end of file the terminal way.
		feed := newStdinFeed(p.stdin)
		feed.closing, feed.eof = true, pp.eof
		wg.Go(func() { feed.run(pp.stdin) })
	case pp.stdin != nil:
		wg.Go(func() {
			io.WriteString(pp.stdin, p.stdin) // an error means the child stopped reading
			pp.stdin.Close()
		})
	}
	why, reaped, waitErr := x.waitLeader(cmd)
	if x.stdin != nil {
		x.stdin.shut()
	} else if pp.stdin != nil {
		pp.stdin.Close() // unblocks the writer if a grandchild holds stdin
	}
	drainTimer := time.AfterFunc(drainTimeout, func() {
		for _, r := range pp.read {
			if r != nil {
				r.SetReadDeadline(time.Now())
			}
		}
	})
	wg.Wait()
	drainTimer.Stop()
	x.term.detach()
	closeAll(pp.read[:])
	if !reaped {
		waitErr = cmd.Wait()
	}
	releaseProcess(pid)

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
	res.OutputIncomplete = outs[0].incomplete || outs[1].incomplete
	if res.OutputIncomplete {
		x.e.log.Warn("execengine: output incomplete: a process outside the execution held its pipes past the drain deadline",
			"execution_id", x.id, "drain_timeout", drainTimeout+settleTimeout)
	}

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
// Then it kills what the leader left in its group (its whole session when
// the engine stopped it). Where the exit can be awaited without reaping,
// the leader stays unreaped (reaped false), so its ids cannot be reused
// while the streams drain. It returns why the engine stopped the process,
// or stopNone.
func (x *execution) waitLeader(cmd *exec.Cmd) (why stopReason, reaped bool, waitErr error) {
	pid := cmd.Process.Pid
	if !waitExited(cmd.Process) {
		waitErr, reaped = cmd.Wait(), true
	}
	x.timer.Stop()
	x.mu.Lock()
	x.exited, x.reaped = true, reaped
	why = x.why
	stopped := x.stop != stopNone
	if x.grace != nil {
		x.grace.Stop()
	}
	x.mu.Unlock()
	if stopped && !reaped {
		killSession(pid)
	} else {
		killGroup(pid) // whatever the leader left running
	}
	return why, reaped, waitErr
}

// stopStragglers kills the execution's session once its streams found the
// pipes still held at the drain deadline: a process that moved to a
// group of its own holds them. It does nothing once the leader is reaped,
// as its ids may then belong to someone else.
func (x *execution) stopStragglers() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.straggled || x.reaped || x.pid == 0 {
		return
	}
	x.straggled = true
	killSession(x.pid)
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
		res.Status, res.ErrorCode, res.Error, res.cause = StatusFailed, CodeIO, ioErr.Error(), ioErr
	case res.ExitCode != 0:
		res.Status, res.ErrorCode = StatusFailed, CodeExitStatus
		res.Error = (&ExitError{Code: res.ExitCode, Signal: res.Signal}).Error()
	case res.OutputIncomplete:
		res.Status, res.ErrorCode = StatusFailed, CodeOutputIncomplete
		res.Error = "output incomplete: a process outside the execution's session held its output pipes past the drain deadline"
	default:
		res.Status, res.Success = StatusCompleted, true
	}
}

// pipes are an execution's own pipes: with os.File ends, exec.Cmd starts no
// copying goroutines, so Wait never waits for a grandchild to close them.
type pipes struct {
	read  [2]*os.File // stdout, stderr: the engine's ends
	child []*os.File  // stdout, stderr and stdin if any: the child's ends
	stdin *os.File    // the engine's end of stdin, or nil
	// tty: read[0] is a pty master, stdin another descriptor of it, and
	// child the slave alone; eof is its VEOF character.
	tty bool
	eof byte
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

// removeTempFiles deletes the spill files the engine made in the OS temp
// dir; the execution is terminal.
func (x *execution) removeTempFiles() {
	x.mu.Lock()
	files := x.tempFiles
	x.tempFiles = nil
	x.mu.Unlock()
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			x.e.log.Warn("execengine: remove spill file", "execution_id", x.id, "error", err)
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
	if !x.startedAt.IsZero() {
		r.Duration = time.Since(x.startedAt)
	}
	if s := x.streams; s[0] != nil {
		r.Stdout, r.Stderr = s[0].contents(), s[1].contents()
		r.StdoutFile, r.StderrFile = s[0].filePath, s[1].filePath
		r.Truncated = s[0].over || s[1].over
	}
	return r
}
