//go:build unix

// Integration tests: the engine against real processes (sh, sleep, yes,
// printf, cat, …). Each pitfall of peers-and-pitfalls.md §3 that applies
// to a local engine is a case here. Every wait is bounded by a context, so
// a regression fails instead of hanging the suite.
package execengine_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/escher-dbai/execengine"
)

// hangBound bounds every Wait: far above anything a passing test needs,
// far below the go test timeout.
const hangBound = 60 * time.Second

// grace is the KillGracePeriod of the test engines.
const grace = 300 * time.Millisecond

const mib = 1 << 20

var quiet = slog.New(slog.DiscardHandler)

// newEngine returns an engine with test defaults (sh, short grace period,
// no log noise), changed by mut, closed when the test ends.
func newEngine(t *testing.T, mut func(*execengine.Config)) *execengine.Engine {
	t.Helper()
	cfg := execengine.DefaultConfig()
	cfg.KillGracePeriod = grace
	cfg.Logger = quiet
	if mut != nil {
		mut(&cfg)
	}
	e, err := execengine.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func sh(command string) execengine.Shell { return execengine.Shell{Command: command, Shell: "sh"} }

func shReq(command string) execengine.Request { return execengine.Request{Command: sh(command)} }

func waitFor(t *testing.T, e *execengine.Engine, id uuid.UUID) execengine.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	res, err := e.Wait(ctx, id)
	require.NoError(t, err, "Wait(%s)", id)
	// Wait returns once the result is final; the tests also look at the
	// terminal event, which Done waits for.
	done, err := e.Done(id)
	require.NoError(t, err)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the terminal event of %s was not delivered in %v", id, hangBound)
	}
	return res
}

func submit(t *testing.T, e *execengine.Engine, req execengine.Request) uuid.UUID {
	t.Helper()
	id, err := e.Execute(context.Background(), req)
	require.NoError(t, err)
	return id
}

// run executes req and waits for its result.
func run(t *testing.T, e *execengine.Engine, req execengine.Request) execengine.Result {
	t.Helper()
	return waitFor(t, e, submit(t, e, req))
}

// waitSnapshot polls the execution's state until it is still running after
// at least minRun and cond holds; it fails if the execution ends first.
// cond is called on every poll.
func waitSnapshot(t *testing.T, e *execengine.Engine, id uuid.UUID, minRun time.Duration, cond func(execengine.Result) bool) {
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(hangBound)
	for {
		r, err := e.Snapshot(id)
		require.NoError(t, err)
		require.False(t, r.Status.IsTerminal(), "the execution ended (%s: %s) before the test stopped it", r.Status, r.Error)
		if cond(r) && time.Since(begin) >= minRun {
			return
		}
		require.True(t, time.Now().Before(deadline), "condition not reached in %v", hangBound)
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder is an EventHandler that keeps every event per execution and
// counts overlapping calls for one execution. hook, if set, runs after the
// event is recorded (it may sleep or panic).
type recorder struct {
	mu       sync.Mutex
	events   map[uuid.UUID][]execengine.Event
	inFlight map[uuid.UUID]*atomic.Int32
	overlaps atomic.Int32
	hook     func(execengine.Event)
}

// newRecorder returns a recorder that, when the test ends, asserts that no
// two handler calls for one execution overlapped.
func newRecorder(t *testing.T) *recorder {
	r := &recorder{events: map[uuid.UUID][]execengine.Event{}, inFlight: map[uuid.UUID]*atomic.Int32{}}
	t.Cleanup(func() { assert.Zero(t, r.overlaps.Load(), "handler calls for one execution overlapped") })
	return r
}

func (r *recorder) HandleEvent(ev execengine.Event) {
	r.mu.Lock()
	c := r.inFlight[ev.ExecutionID]
	if c == nil {
		c = new(atomic.Int32)
		r.inFlight[ev.ExecutionID] = c
	}
	r.mu.Unlock()
	if c.Add(1) != 1 {
		r.overlaps.Add(1)
	}
	defer c.Add(-1)
	runtime.Gosched()              // widen the window an overlap would need
	ev.Data = bytes.Clone(ev.Data) // valid only during the call
	r.mu.Lock()
	r.events[ev.ExecutionID] = append(r.events[ev.ExecutionID], ev)
	r.mu.Unlock()
	if r.hook != nil {
		r.hook(ev)
	}
}

func (r *recorder) of(id uuid.UUID) []execengine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[id])
}

// lines returns the Line of every event of type typ of the execution.
func (r *recorder) lines(id uuid.UUID, typ execengine.EventType) []string {
	var out []string
	for _, ev := range r.of(id) {
		if ev.Type == typ {
			out = append(out, ev.Line)
		}
	}
	return out
}

// waitLine waits until the execution has delivered line on stdout.
func (r *recorder) waitLine(t *testing.T, id uuid.UUID, line string) {
	t.Helper()
	require.Eventually(t, func() bool { return slices.Contains(r.lines(id, execengine.EventStdout), line) },
		hangBound, 5*time.Millisecond, "stdout line %q never came", line)
}

// checkEvents asserts the event contract for one finished execution: Seq
// 1..n without gaps, started first then status_changed pending→running
// (only if it started), a status_changed to the final status right before
// exactly one terminal event, last, that carries res.
func checkEvents(t *testing.T, evs []execengine.Event, res execengine.Result, started bool) {
	t.Helper()
	require.GreaterOrEqual(t, len(evs), 2, "events: %v", evs)
	for i, ev := range evs {
		assert.Equal(t, uint64(i+1), ev.Seq, "event %d (%s) seq", i, ev.Type)
		assert.Equal(t, res.ID, ev.ExecutionID, "event %d execution id", i)
		assert.False(t, ev.Timestamp.IsZero(), "event %d timestamp", i)
		if i < len(evs)-1 {
			assert.False(t, ev.Type.IsTerminal(), "event %d (%s) is terminal but not last", i, ev.Type)
		}
	}
	from := execengine.StatusPending
	if started {
		require.GreaterOrEqual(t, len(evs), 4)
		assert.Equal(t, execengine.EventStarted, evs[0].Type)
		assert.NotEmpty(t, evs[0].Command)
		assert.Equal(t, execengine.EventStatusChanged, evs[1].Type)
		assert.Equal(t, execengine.StatusPending, evs[1].OldStatus)
		assert.Equal(t, execengine.StatusRunning, evs[1].NewStatus)
		from = execengine.StatusRunning
	}
	for i, ev := range evs {
		if !started {
			assert.NotEqual(t, execengine.EventStarted, ev.Type, "event %d: never-started execution has a started event", i)
		} else if i > 0 {
			assert.NotEqual(t, execengine.EventStarted, ev.Type, "event %d: second started event", i)
		}
	}
	sc := evs[len(evs)-2]
	assert.Equal(t, execengine.EventStatusChanged, sc.Type, "event before the terminal one")
	assert.Equal(t, from, sc.OldStatus)
	assert.Equal(t, res.Status, sc.NewStatus)

	last := evs[len(evs)-1]
	want := map[execengine.Status]execengine.EventType{
		execengine.StatusCompleted: execengine.EventCompleted, execengine.StatusFailed: execengine.EventFailed,
		execengine.StatusTimeout: execengine.EventTimeout, execengine.StatusCancelled: execengine.EventCancelled,
	}[res.Status]
	assert.Equal(t, want, last.Type, "terminal event type")
	if assert.NotNil(t, last.Result, "terminal event carries the result") {
		assert.Equal(t, res, *last.Result, "terminal event result equals Wait's")
	}
	if last.Type == execengine.EventFailed {
		assert.Equal(t, res.Error, last.Error)
	}
	if last.Type == execengine.EventTimeout {
		assert.Positive(t, last.TimeoutMS)
	}
}

// groupMembers lists the processes of process group pgid that are alive.
// A zombie is dead: it only waits for its parent (init, for the orphans a
// killed group leaves) to reap it, so it is not counted. That matters on
// systems whose PID 1 does not reap orphans, where kill(-pgid, 0) keeps
// succeeding for a group of zombies.
func groupMembers(pgid int) []string {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return nil
	}
	var live []string
	for _, p := range procStats() {
		if p.pgrp == pgid && p.state != 'Z' && p.state != 'X' {
			live = append(live, fmt.Sprintf("%d(%s,%c)", p.pid, p.comm, p.state))
		}
	}
	return live
}

// requireGroupGone asserts that no process of group pgid survives. The
// engine sends SIGKILL before Wait returns; delivery takes a moment.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	require.Positive(t, pgid)
	requireGone(t, fmt.Sprintf("process group %d", pgid), func() []string { return groupMembers(pgid) })
}

// requireGone polls members until none is left, for up to 5 s.
func requireGone[T any](t *testing.T, what string, members func() []T) {
	t.Helper()
	var live []T
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if live = members(); len(live) == 0 {
			return
		}
	}
	require.Empty(t, live, "%s still has live members", what)
}

// splitLines splits LF-terminated text (final newline optional) into lines.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func zombieChildren() []string {
	var z []string
	me := os.Getpid()
	for _, p := range procStats() {
		if p.ppid == me && p.state == 'Z' {
			z = append(z, fmt.Sprintf("%d(%s)", p.pid, p.comm))
		}
	}
	return z
}

// ---------------------------------------------------------------------------
// Processes: grandchildren, process groups, kill escalation.

// Pitfall 1 (golang/go#23019): a background grandchild holding the pipes
// must not make Wait hang, and must not outlive the execution.
func TestBackgroundGrandchildDoesNotHang(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	for _, tc := range []struct{ name, cmd, stdout, stderr string }{
		{"stdout", "sleep 30 & echo hi", "hi\n", ""},
		{"stderr", "sleep 30 & echo hi >&2", "", "hi\n"},
		{"stdin-and-out", "cat >/dev/null & sleep 30 & echo hi", "hi\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			res := run(t, e, shReq(tc.cmd))
			elapsed := time.Since(begin)
			assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			assert.True(t, res.Success)
			assert.Equal(t, 0, res.ExitCode)
			assert.Equal(t, tc.stdout, res.Stdout)
			assert.Equal(t, tc.stderr, res.Stderr)
			assert.Less(t, elapsed, 15*time.Second, "Wait waited for the background sleep 30")
			requireGroupGone(t, res.PID)
		})
	}
}

// Pitfalls 2 and 11: a child and a grandchild that both ignore SIGTERM die
// by SIGKILL after the grace period, on a timeout and on Cancel.
func TestTermIgnoringTreeKilledAfterGrace(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	// The leader ignores TERM and waits for a grandchild that ignores it too
	// (sleep inherits the ignored disposition).
	const cmd = `trap '' TERM; sh -c 'trap "" TERM; echo ready; while :; do sleep 1; done' & wait; echo leader-done`
	for _, tc := range []struct {
		name   string
		cancel bool
		status execengine.Status
		is     error
	}{
		{"timeout", false, execengine.StatusTimeout, context.DeadlineExceeded},
		{"cancel", true, execengine.StatusCancelled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := shReq(cmd)
			if tc.cancel {
				req.Timeout = time.Hour
			} else {
				req.Timeout = 3 * time.Second // the traps are set long before
			}
			id := submit(t, e, req)
			rec.waitLine(t, id, "ready") // the traps are in place
			var cancelledAt time.Time
			if tc.cancel {
				cancelledAt = time.Now()
				require.NoError(t, e.Cancel(id))
			}
			res := waitFor(t, e, id)
			assert.Equal(t, tc.status, res.Status, res.Error)
			assert.Equal(t, "SIGKILL", res.Signal, "the leader ignored SIGTERM, so SIGKILL ended it")
			assert.Equal(t, -1, res.ExitCode)
			assert.False(t, res.Success)
			assert.ErrorIs(t, res.Err(), tc.is)
			assert.NotContains(t, res.Stdout, "leader-done")
			if tc.cancel {
				assert.GreaterOrEqual(t, res.CompletedAt.Sub(cancelledAt), grace, "SIGKILL came before the grace period")
			} else {
				assert.GreaterOrEqual(t, res.Duration, req.Timeout+grace)
				evs := rec.of(id)
				assert.Equal(t, req.Timeout.Milliseconds(), evs[len(evs)-1].TimeoutMS)
			}
			assert.Less(t, res.Duration, req.Timeout+grace+20*time.Second)
			if tc.cancel {
				assert.Less(t, res.CompletedAt.Sub(cancelledAt), grace+20*time.Second)
			}
			requireGroupGone(t, res.PID)
			checkEvents(t, rec.of(id), res, true)
		})
	}
}

// Pitfall 10: a timeout kills every process of the group, not only the shell.
func TestTimeoutKillsWholeGroup(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	for _, tc := range []struct{ name, cmd string }{
		{"sequence", "sleep 100; echo x"},
		{"pipeline", "sleep 100 | cat"},
		{"background", "sleep 100 & sleep 100; echo x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := shReq(tc.cmd)
			req.Timeout = 300 * time.Millisecond
			res := run(t, e, req)
			assert.Equal(t, execengine.StatusTimeout, res.Status, res.Error)
			assert.ErrorIs(t, res.Err(), context.DeadlineExceeded)
			assert.Empty(t, res.Stdout)
			assert.Equal(t, "SIGTERM", res.Signal)
			assert.GreaterOrEqual(t, res.CompletedAt.Sub(res.SubmittedAt), req.Timeout) // the timeout counts from before the start
			assert.Less(t, res.Duration, req.Timeout+grace+20*time.Second)
			requireGroupGone(t, res.PID)
		})
	}
}

// Pitfall 16: the first reason to stop wins, even when the other one comes
// during the grace period.
func TestStopReasonIsDeterministic(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = rec
		c.KillGracePeriod = 2 * time.Second
	})
	// The shell reports SIGTERM (after the current sleep) and carries on.
	const cmd = `trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done`
	t.Run("timeout-then-cancel", func(t *testing.T) {
		t.Parallel()
		req := shReq(cmd)
		req.Timeout = time.Second // the trap is set long before
		id := submit(t, e, req)
		rec.waitLine(t, id, "got-term") // the timeout fired; the grace period runs
		require.NoError(t, e.Cancel(id))
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusTimeout, res.Status, res.Error)
		assert.ErrorIs(t, res.Err(), context.DeadlineExceeded)
		assert.Equal(t, "SIGKILL", res.Signal)
		requireGroupGone(t, res.PID)
	})
	t.Run("cancel-then-timeout", func(t *testing.T) {
		t.Parallel()
		req := shReq(cmd)
		req.Timeout = time.Second // less than the grace period
		id := submit(t, e, req)
		rec.waitLine(t, id, "ready")
		require.NoError(t, e.Cancel(id))
		rec.waitLine(t, id, "got-term")
		res := waitFor(t, e, id) // the timeout passes during the grace period
		assert.Equal(t, execengine.StatusCancelled, res.Status, res.Error)
		assert.ErrorIs(t, res.Err(), context.Canceled)
		assert.Equal(t, "SIGKILL", res.Signal)
		requireGroupGone(t, res.PID)
	})
}

// Pitfall 3: a grandchild that leaves the process group (setsid) and keeps
// the pipes open cannot be killed by the group kill, but it does not make
// Wait hang either, and the output written before is kept.
func TestEscapedGrandchildDoesNotHang(t *testing.T) {
	t.Parallel()
	setsid, leads := escapeSession(t)
	e := newEngine(t, nil)
	// The leader waits until the grandchild leads its own session, so the
	// group kill cannot catch it.
	res := run(t, e, shReq(setsid+` sleep 30 & p=$!
until `+leads+`; do sleep 0.01; done
echo $p; echo hi`))
	// Output after the drain deadline would be lost: the result says so.
	assert.Equal(t, execengine.StatusFailed, res.Status, res.Error)
	assert.Equal(t, execengine.CodeOutputIncomplete, res.ErrorCode)
	assert.True(t, res.OutputIncomplete)
	assert.False(t, res.Success)
	pidLine, rest, _ := strings.Cut(res.Stdout, "\n")
	assert.Equal(t, "hi\n", rest)
	pid, err := strconv.Atoi(pidLine)
	require.NoError(t, err)
	escaped := slices.ContainsFunc(procStats(), func(p procStat) bool { return p.pid == pid && p.comm == "sleep" && p.state != 'Z' })
	assert.True(t, escaped, "the escaped sleep is still running, holding the pipes")
	if escaped {
		_ = syscall.Kill(pid, syscall.SIGKILL) // it escaped the engine: clean up
	}
	assert.Less(t, res.Duration, 15*time.Second, "Wait waited for the escaped sleep 30")
	requireGroupGone(t, res.PID)
}

// Wait returns ctx's error, not a result, when ctx ends first; the
// execution goes on.
func TestWaitContext(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	id := submit(t, e, shReq("sleep 0.5; echo late"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Wait(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	res := waitFor(t, e, id)
	assert.Equal(t, "late\n", res.Stdout)
	_, err = e.Wait(context.Background(), uuid.New())
	assert.ErrorIs(t, err, execengine.ErrNotFound)
}

// KillGracePeriod 0: SIGKILL at once.
func TestZeroGracePeriodKillsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEngine(t, func(c *execengine.Config) { c.KillGracePeriod = 0 })
	req := shReq("trap '' TERM; sleep 100")
	req.Timeout = 200 * time.Millisecond
	res := run(t, e, req)
	assert.Equal(t, execengine.StatusTimeout, res.Status, res.Error)
	assert.Equal(t, "SIGKILL", res.Signal)
	requireGroupGone(t, res.PID)
}

// Pitfall 13: the child has no controlling terminal, so opening /dev/tty
// fails at once instead of stopping the child.
func TestDevTTYFailsInsteadOfHanging(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	req := shReq("cat /dev/tty && echo got")
	req.Timeout = 30 * time.Second
	res := run(t, e, req)
	assert.Equal(t, execengine.StatusFailed, res.Status, res.Error)
	assert.NotContains(t, res.Stdout, "got")
	assert.NotEmpty(t, res.Stderr)
}

// ---------------------------------------------------------------------------
// Output: lines, bytes, limits.

// Pitfalls 24 and 29: a line far longer than any scanner buffer comes in
// 1 MiB pieces and the lines after it are all delivered.
func TestLongLine(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	const n = 3 * mib
	res := run(t, e, shReq(fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x; printf '\nnext1\nnext2\n'; printf 'last'`, n)))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	want := strings.Repeat("x", n) + "\nnext1\nnext2\nlast"
	require.Equal(t, len(want), len(res.Stdout))
	require.True(t, want == res.Stdout, "Stdout is not byte-exact")

	lines := rec.lines(res.ID, execengine.EventStdout)
	var lens []int
	for _, l := range lines {
		lens = append(lens, len(l))
	}
	require.Equal(t, []int{mib, mib, mib, 5, 5, 4}, lens)
	for i := range 3 {
		require.True(t, strings.Count(lines[i], "x") == mib, "piece %d is not all x", i)
	}
	require.Equal(t, []string{"next1", "next2", "last"}, lines[3:])
	checkEvents(t, rec.of(res.ID), res, true)

	// A CRLF right after a 1 MiB boundary, and a final line without newline.
	res = run(t, e, shReq(fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x; printf '\r\n'; head -c %d /dev/zero | tr '\0' z`, 2*mib, mib+10)))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	require.True(t, res.Stdout == strings.Repeat("x", 2*mib)+"\r\n"+strings.Repeat("z", mib+10), "Stdout is not byte-exact")
	lines = rec.lines(res.ID, execengine.EventStdout)
	lens = lens[:0]
	for _, l := range lines {
		lens = append(lens, len(l))
	}
	require.Equal(t, []int{mib, mib, mib, 10}, lens)
	assert.NotContains(t, strings.Join(lines, ""), "\r")
}

// Pitfall 28: a long line of multibyte text is cut into pieces of at most
// 1 MiB on rune boundaries, and the pieces put together give the line.
func TestLongMultibyteLine(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	// 3-byte runes: 1 MiB is not a multiple of 3.
	const runes = 1200000
	res := run(t, e, shReq(fmt.Sprintf(`yes '€' | head -n %d | tr -d '\n'; echo; echo after`, runes)))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	line := strings.Repeat("€", runes)
	require.True(t, res.Stdout == line+"\nafter\n", "Stdout is not byte-exact")
	lines := rec.lines(res.ID, execengine.EventStdout)
	require.GreaterOrEqual(t, len(lines), 4)
	require.Equal(t, "after", lines[len(lines)-1])
	pieces := lines[:len(lines)-1]
	for i, p := range pieces {
		assert.LessOrEqual(t, len(p), mib, "piece %d", i)
		assert.True(t, utf8.ValidString(p), "piece %d cut inside a rune", i)
	}
	assert.Len(t, pieces, 4, "3.6 MB in pieces of just under 1 MiB")
	assert.True(t, strings.Join(pieces, "") == line, "pieces do not reassemble the line")
}

// Pitfalls 26 and 27, 8, 28: CRLF (also split across writes), a final line
// without newline, invalid UTF-8 and NUL bytes, and runes written one byte
// at a time. Stdout keeps the raw bytes; events get the lines.
func TestLineSplitting(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	for _, tc := range []struct {
		name, cmd, stdout string
		lines             []string
	}{
		{"crlf", `printf 'a\r\nbb\r\nccc'`, "a\r\nbb\r\nccc", []string{"a", "bb", "ccc"}},
		{"crlf-split", `printf 'a\r'; sleep 0.05; printf '\nb\n'`, "a\r\nb\n", []string{"a", "b"}},
		{"final-no-newline", `printf 'x'`, "x", []string{"x"}},
		{"empty-lines", `printf '\n\nz\n'`, "\n\nz\n", []string{"", "", "z"}},
		{"lone-cr-kept", `printf 'p\rq\n'`, "p\rq\n", []string{"p\rq"}},
		// dash's printf has no \x: octal 377 376 000 are 0xff 0xfe 0x00.
		{"invalid-utf8-nul", `printf '\377\376\000z\nafter\n'`, "\xff\xfe\x00z\nafter\n", []string{"\xff\xfe\x00z", "after"}},
		{"rune-bytewise", `for b in '\303' '\251' '\360' '\237' '\230' '\200' '\n'; do printf "$b"; sleep 0.02; done; echo tail`,
			"é😀\ntail\n", []string{"é😀", "tail"}},
		{"no-output", `true`, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, shReq(tc.cmd))
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			assert.Equal(t, []byte(tc.stdout), []byte(res.Stdout))
			assert.Equal(t, tc.lines, rec.lines(res.ID, execengine.EventStdout))
			checkEvents(t, rec.of(res.ID), res, true)
		})
	}
}

// Pitfalls 4 and 5: the leader exits right after a large fast output;
// nothing still in the pipe is lost.
func TestLargeFastOutputNoLoss(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	var want strings.Builder
	for i := 1; i <= 100000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	for _, tc := range []struct{ name, cmd string }{
		{"seq", "seq 1 100000; exit 0"},
		{"exec", "exec seq 1 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, shReq(tc.cmd))
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			require.Equal(t, want.Len(), len(res.Stdout))
			require.True(t, want.String() == res.Stdout, "Stdout differs")
			lines := rec.lines(res.ID, execengine.EventStdout)
			require.Len(t, lines, 100000)
			assert.Equal(t, "1", lines[0])
			assert.Equal(t, "100000", lines[99999])
			checkEvents(t, rec.of(res.ID), res, true)
		})
	}
}

// The three oversized-output strategies with a small limit. Pitfalls 6, 7.
func TestOutputLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 * mib
	// 64-byte lines: a per-line handler under -race cannot slow the child
	// below what the tests need, and the limit falls on a line end.
	word := strings.Repeat("y", 63)
	yes := "yes " + word
	prefix := strings.Repeat(word+"\n", limit/64)
	engine := func(t *testing.T, s execengine.OversizedOutputStrategy) *execengine.Engine {
		return newEngine(t, func(c *execengine.Config) {
			c.MaxOutputSizeBytes = limit
			c.OversizedOutputStrategy = s
			if s == execengine.StreamToFile {
				c.LogDir = t.TempDir() // the spill files go here
			}
			c.EventHandler = execengine.EventHandlerFunc(func(execengine.Event) {})
		})
	}
	checkWarning := func(t *testing.T, stdout string) {
		t.Helper()
		require.Greater(t, len(stdout), limit)
		require.True(t, stdout[:limit] == prefix, "Stdout does not start with the first %d bytes", limit)
		warn := stdout[limit:]
		assert.Equal(t, 1, strings.Count(warn, "\n"), "one warning line: %q", warn)
		assert.True(t, strings.HasSuffix(warn, "\n"))
		assert.Contains(t, warn, strconv.Itoa(limit), "the warning states the limit")
	}

	t.Run("truncate/endless", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.TruncateWithWarning)
		req := shReq(yes)
		req.Timeout = 3 * time.Second // yes reaches the limit in milliseconds
		res := run(t, e, req)
		assert.Equal(t, execengine.StatusTimeout, res.Status, "the command ran on until its timeout: %s", res.Error)
		assert.True(t, res.Truncated)
		checkWarning(t, res.Stdout)
		requireGroupGone(t, res.PID)
	})
	t.Run("truncate/runs-to-end", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.TruncateWithWarning)
		res := run(t, e, shReq(yes+" | head -c 20000000; echo finished >&2"))
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.True(t, res.Success)
		assert.True(t, res.Truncated)
		assert.Equal(t, "finished\n", res.Stderr, "the command ran to its end")
		checkWarning(t, res.Stdout)
	})
	t.Run("truncate/exact-limit-is-not-truncated", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.TruncateWithWarning)
		res := run(t, e, shReq(fmt.Sprintf("%s | head -c %d", yes, limit)))
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.False(t, res.Truncated)
		assert.True(t, res.Stdout == prefix)
	})
	t.Run("fail/endless", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.FailExecution)
		req := shReq(yes)
		req.Timeout = time.Minute
		res := run(t, e, req)
		assert.Equal(t, execengine.StatusFailed, res.Status, res.Error)
		assert.ErrorIs(t, res.Err(), execengine.ErrOutputSizeExceeded)
		assert.False(t, res.Success)
		assert.True(t, res.Truncated)
		assert.LessOrEqual(t, len(res.Stdout), limit)
		assert.True(t, strings.HasPrefix(prefix, res.Stdout))
		assert.Less(t, res.Duration, 30*time.Second, "killed for the limit, not the timeout")
		requireGroupGone(t, res.PID)
	})
	t.Run("fail/term-ignoring", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.FailExecution)
		req := shReq("trap '' TERM; " + yes)
		req.Timeout = time.Minute
		res := run(t, e, req)
		assert.Equal(t, execengine.StatusFailed, res.Status, res.Error)
		assert.ErrorIs(t, res.Err(), execengine.ErrOutputSizeExceeded)
		assert.Less(t, res.Duration, 30*time.Second)
		requireGroupGone(t, res.PID)
	})
	// The child writes past the limit and exits before the engine has read
	// its output: the limit still fails the execution.
	t.Run("fail/fast-exit", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, func(c *execengine.Config) {
			c.MaxOutputSizeBytes = 100
			c.OversizedOutputStrategy = execengine.FailExecution
		})
		for i := range 20 {
			res := run(t, e, shReq("head -c 1000 /dev/zero"))
			require.Equal(t, execengine.StatusFailed, res.Status, "run %d: %s", i, res.Error)
			require.ErrorIs(t, res.Err(), execengine.ErrOutputSizeExceeded)
			require.Equal(t, strings.Repeat("\x00", 100), res.Stdout)
		}
	})
	t.Run("file/finite", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.StreamToFile)
		const total = 5000000
		res := run(t, e, shReq(fmt.Sprintf("%s | head -c %d", yes, total)))
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.True(t, res.Truncated)
		assert.True(t, res.Stdout == prefix, "the first %d bytes stay in memory", limit)
		assert.Empty(t, res.StderrFile, "stderr stayed under the limit")
		require.NotEmpty(t, res.StdoutFile)
		fi, err := os.Stat(res.StdoutFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		assert.Equal(t, int64(total), fi.Size())
		b, err := os.ReadFile(res.StdoutFile)
		require.NoError(t, err)
		assert.True(t, string(b) == strings.Repeat(word+"\n", total/64), "the file holds the whole stream")
	})
	t.Run("file/endless", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.StreamToFile)
		id := submit(t, e, shReq(yes))
		// Let it stream into the file for a while, then stop it.
		waitSnapshot(t, e, id, 300*time.Millisecond, func(r execengine.Result) bool { return r.StdoutFile != "" })
		require.NoError(t, e.Cancel(id))
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCancelled, res.Status, res.Error)
		assert.True(t, res.Truncated)
		assert.True(t, res.Stdout == prefix)
		require.NotEmpty(t, res.StdoutFile)
		f, err := os.Open(res.StdoutFile)
		require.NoError(t, err)
		defer f.Close()
		fi, err := f.Stat()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		assert.Greater(t, fi.Size(), int64(limit))
		head := make([]byte, limit)
		_, err = io.ReadFull(f, head)
		require.NoError(t, err)
		assert.True(t, string(head) == prefix)
		requireGroupGone(t, res.PID)
	})
	t.Run("stderr", func(t *testing.T) {
		t.Parallel()
		e := engine(t, execengine.TruncateWithWarning)
		res := run(t, e, shReq(yes+" | head -c 3000000 >&2; echo ok"))
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.Equal(t, "ok\n", res.Stdout)
		checkWarning(t, res.Stderr)
		assert.Contains(t, res.Stderr[limit:], "stderr")
	})
}

// StreamToFile without a LogDir spills to the OS temp directory. Not
// parallel: it sets TMPDIR for the whole process.
func TestStreamToFileTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEngine(t, func(c *execengine.Config) {
		c.MaxOutputSizeBytes = 1000
		c.OversizedOutputStrategy = execengine.StreamToFile
	})
	res := run(t, e, shReq("seq 1 1000 >&2"))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Empty(t, res.StdoutFile)
	require.NotEmpty(t, res.StderrFile)
	assert.Equal(t, tmp, filepath.Dir(res.StderrFile))
	b, err := os.ReadFile(res.StderrFile)
	require.NoError(t, err)
	out, err := exec.Command("seq", "1", "1000").Output()
	require.NoError(t, err)
	assert.Equal(t, string(out), string(b))
	assert.Equal(t, string(out[:1000]), res.Stderr)
}

// Pitfall 7: memory stays bounded while an endless writer runs, whatever
// the strategy. Not parallel: the heap is the whole test binary's.
func TestOutputLimitMemoryBounded(t *testing.T) {
	const limit = 1 * mib
	const bound = 3*limit + 16*mib
	for _, tc := range []struct {
		name     string
		strategy execengine.OversizedOutputStrategy
		events   bool
		cmd      string
		runFor   time.Duration
	}{
		{"truncate/lines", execengine.TruncateWithWarning, true, "yes 'a line of output that is longer than two bytes'", 2 * time.Second},
		// Without events the child writes as fast as the pipe allows.
		{"truncate/no-events", execengine.TruncateWithWarning, false, "yes", 2 * time.Second},
		// Pitfall 25: no newline at all; events come in 1 MiB pieces.
		{"truncate/no-newline", execengine.TruncateWithWarning, true, "cat /dev/zero", 2 * time.Second},
		{"file/lines", execengine.StreamToFile, true, "yes 'a line of output that is longer than two bytes'", 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, func(c *execengine.Config) {
				c.MaxOutputSizeBytes = limit
				c.OversizedOutputStrategy = tc.strategy
				if tc.strategy == execengine.StreamToFile {
					// The spill file goes here. (Per-line log files are
					// left out: under -race they slow the reader so much
					// that the child may not reach the limit in time.)
					c.LogDir = t.TempDir()
				}
				c.StreamOutput = tc.events
				c.EventHandler = execengine.EventHandlerFunc(func(execengine.Event) {})
			})
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse

			id := submit(t, e, shReq(tc.cmd))
			// Sample while the child writes past the limit for a while
			// (tc.runFor, short for StreamToFile to keep the file small).
			var peak uint64
			sample := func() {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			waitSnapshot(t, e, id, tc.runFor, func(r execengine.Result) bool { sample(); return r.Truncated })
			require.NoError(t, e.Cancel(id))
			res := waitFor(t, e, id)
			sample()
			growth := int64(peak) - int64(base)
			t.Logf("heap in use: base %d MiB, peak %d MiB", base/mib, peak/mib)
			assert.Less(t, growth, int64(bound), "heap grew by %d bytes", growth)
			assert.Equal(t, execengine.StatusCancelled, res.Status, res.Error)
			assert.True(t, res.Truncated, "stdout %d bytes, stderr %q", len(res.Stdout), res.Stderr)
		})
	}
}

// ---------------------------------------------------------------------------
// Queue, cancel, concurrency limit.

// gate is a file-based barrier: commands from waitCmd block until open.
type gate string

func newGate(t *testing.T) gate { return gate(filepath.Join(t.TempDir(), "open")) }

func (g gate) waitCmd() string {
	return fmt.Sprintf("while [ ! -e '%s' ]; do sleep 0.01; done", string(g))
}

func (g gate) open(t *testing.T) { require.NoError(t, os.WriteFile(string(g), nil, 0o600)) }

// Pitfall 18: a cancel while pending never starts the process.
func TestCancelWhilePendingNeverStarts(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) {
		c.MaxConcurrentExecutions = 1
		c.MaxQueuedExecutions = 1
		c.EventHandler = rec
	})
	g := newGate(t)
	blocker := submit(t, e, shReq(g.waitCmd()))
	marker := filepath.Join(t.TempDir(), "touched")
	queued := submit(t, e, shReq("touch '"+marker+"'"))
	st, err := e.Status(queued)
	require.NoError(t, err)
	require.Equal(t, execengine.StatusPending, st)
	_, err = e.Result(queued)
	require.ErrorIs(t, err, execengine.ErrNotCompleted)

	require.NoError(t, e.Cancel(queued))
	res := waitFor(t, e, queued)
	g.open(t)
	bres := waitFor(t, e, blocker)
	require.Equal(t, execengine.StatusCompleted, bres.Status, bres.Error)

	assert.Equal(t, execengine.StatusCancelled, res.Status)
	assert.ErrorIs(t, res.Err(), context.Canceled)
	assert.False(t, errors.Is(res.Err(), execengine.ErrClosed))
	assert.Zero(t, res.PID)
	assert.Equal(t, -1, res.ExitCode)
	assert.NoFileExists(t, marker, "the cancelled command ran")
	checkEvents(t, rec.of(queued), res, false)
	assert.NoError(t, e.Cancel(queued), "cancelling a terminal execution is a no-op")
	// The slot it would have used is free: the engine still runs commands.
	assert.Equal(t, "ok\n", run(t, e, shReq("echo ok")).Stdout)
}

// Pitfall 22: FIFO start order in queue mode, ErrConcurrencyLimitReached
// when the queue is full; fail-fast without a queue.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var startOrder []uuid.UUID
		e := newEngine(t, func(c *execengine.Config) {
			c.MaxConcurrentExecutions = 1
			c.MaxQueuedExecutions = 3
			c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
				if ev.Type == execengine.EventStarted {
					mu.Lock()
					startOrder = append(startOrder, ev.ExecutionID)
					mu.Unlock()
				}
			})
		})
		g := newGate(t)
		out := filepath.Join(t.TempDir(), "order")
		ids := []uuid.UUID{submit(t, e, shReq(g.waitCmd()))}
		for i := range 3 {
			ids = append(ids, submit(t, e, shReq(fmt.Sprintf("echo %d >> '%s'", i, out))))
		}
		for _, id := range ids[1:] {
			st, err := e.Status(id)
			require.NoError(t, err)
			assert.Equal(t, execengine.StatusPending, st)
		}
		assert.Equal(t, 1, e.RunningCount())
		_, err := e.Execute(context.Background(), shReq("true"))
		require.ErrorIs(t, err, execengine.ErrConcurrencyLimitReached, "queue full")

		g.open(t)
		for _, id := range ids {
			res := waitFor(t, e, id)
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		}
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, "0\n1\n2\n", string(b))
		mu.Lock()
		assert.Equal(t, ids, startOrder, "FIFO start order")
		mu.Unlock()
		assert.Equal(t, 0, e.RunningCount())
	})
	// Pitfall 22: many concurrent submissions against a small limit: no
	// deadlock, never more than the limit running, every one completes.
	t.Run("stress", func(t *testing.T) {
		t.Parallel()
		const limit, n = 4, 150
		// The commands count themselves: each one is alive between its
		// touch and its rm, and holds a slot all that time, so no command
		// may ever see more than limit files. The slot is given back
		// before the terminal event (so a handler can start the next
		// step), so started/terminal events cannot count slots; the
		// engine's own count is checked at every start instead.
		dir := t.TempDir()
		var maxRunning atomic.Int64
		var e *execengine.Engine
		e = newEngine(t, func(c *execengine.Config) {
			c.MaxConcurrentExecutions = limit
			c.MaxQueuedExecutions = n
			c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
				if ev.Type == execengine.EventStarted {
					r := int64(e.RunningCount())
					for m := maxRunning.Load(); r > m && !maxRunning.CompareAndSwap(m, r); m = maxRunning.Load() {
					}
				}
			})
		})
		ids := make([]uuid.UUID, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				f := filepath.Join(dir, strconv.Itoa(i))
				id, err := e.Execute(context.Background(), shReq(fmt.Sprintf(
					"echo %d; touch %s; sleep 0.02; ls %s | wc -l >&2; rm %s", i, f, dir, f)))
				assert.NoError(t, err)
				ids[i] = id
			})
		}
		wg.Wait()
		for i, id := range ids {
			res := waitFor(t, e, id)
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			require.Equal(t, strconv.Itoa(i)+"\n", res.Stdout)
			seen, err := strconv.Atoi(strings.TrimSpace(res.Stderr))
			require.NoError(t, err, "stderr %q", res.Stderr)
			require.LessOrEqual(t, seen, limit, "command %d saw %d commands alive", i, seen)
			require.GreaterOrEqual(t, seen, 1)
		}
		assert.LessOrEqual(t, maxRunning.Load(), int64(limit))
		assert.Equal(t, 0, e.RunningCount())
	})
	t.Run("fail-fast", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, func(c *execengine.Config) { c.MaxConcurrentExecutions = 2 })
		g := newGate(t)
		a := submit(t, e, shReq(g.waitCmd()))
		b := submit(t, e, shReq(g.waitCmd()))
		_, err := e.Execute(context.Background(), shReq("true"))
		require.ErrorIs(t, err, execengine.ErrConcurrencyLimitReached)
		assert.Len(t, e.List(), 2, "the refused request is not stored")
		g.open(t)
		waitFor(t, e, a)
		waitFor(t, e, b)
		assert.Equal(t, "again\n", run(t, e, shReq("echo again")).Stdout, "slots are freed")
	})
}

// ---------------------------------------------------------------------------
// Events and handlers.

// A handler that panics on every output event is recovered: the execution
// still ends with its correct result, and the engine keeps working.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	var panics atomic.Int32
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout {
				panics.Add(1)
				panic("handler bug")
			}
		})
	})
	res := run(t, e, shReq("seq 1 1000"))
	assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Equal(t, 0, res.ExitCode)
	assert.Len(t, strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n"), 1000)
	assert.Equal(t, int32(1000), panics.Load())
	res = run(t, e, shReq("echo still-working; exit 2"))
	assert.Equal(t, execengine.StatusFailed, res.Status)
	assert.Equal(t, "still-working\n", res.Stdout)
}

// Pitfall 9: a slow handler slows only its own execution.
func TestSlowHandlerDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	var slow sync.Map // execution id -> struct{}
	var slowOn atomic.Bool
	var slowLines atomic.Int32
	slowOn.Store(true)
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if _, ok := slow.Load(ev.ExecutionID); ok && ev.Type == execengine.EventStdout {
				slowLines.Add(1)
				if slowOn.Load() {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	})
	slowID := uuid.New()
	slow.Store(slowID, struct{}{})
	req := shReq("seq 1 400") // 400 lines x 50 ms: 20 s while the handler is slow
	req.ID = slowID
	submit(t, e, req)
	require.Eventually(t, func() bool { return slowLines.Load() > 0 }, hangBound, time.Millisecond)
	fast := run(t, e, shReq("seq 1 1000"))
	require.Equal(t, execengine.StatusCompleted, fast.Status, fast.Error)
	st, err := e.Status(slowID)
	require.NoError(t, err)
	assert.Equal(t, execengine.StatusRunning, st, "the fast execution finished first")
	assert.Less(t, slowLines.Load(), int32(400))
	slowOn.Store(false)
	res := waitFor(t, e, slowID)
	assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Len(t, strings.Fields(res.Stdout), 400, "back-pressure, no loss")
}

// The drain after the leader exits has a deadline (for grandchildren that
// escaped the group), but output still in the pipe is never dropped, even
// when a slow handler makes reading it take longer than that deadline.
func TestSlowHandlerAfterExitNoLoss(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout || ev.Type == execengine.EventStderr {
				got.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	})
	// About 3 KB per stream, written in pieces: it fits in the pipes, so the
	// shell exits at once, long before 1200 slow events are delivered.
	res := run(t, e, shReq("seq 1 600; seq 1 600 >&2"))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Len(t, strings.Fields(res.Stdout), 600)
	assert.Len(t, strings.Fields(res.Stderr), 600)
	assert.Equal(t, int32(1200), got.Load(), "line events")
	assert.Greater(t, res.Duration, 250*time.Millisecond, "the handler made reading slower than the drain deadline")
}

// The event contract over many kinds of ends, and handler calls that never
// overlap for one execution.
func TestEventContract(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	for _, tc := range []struct {
		name    string
		req     execengine.Request
		status  execengine.Status
		started bool
	}{
		{"completed", shReq("echo a; echo b >&2; echo c"), execengine.StatusCompleted, true},
		{"interleaved", shReq("for i in $(seq 1 300); do echo out$i; echo err$i >&2; done"), execengine.StatusCompleted, true},
		{"exit-3", shReq("echo x; exit 3"), execengine.StatusFailed, true},
		{"timeout", execengine.Request{Command: sh("echo before; sleep 100"), Timeout: 200 * time.Millisecond}, execengine.StatusTimeout, true},
		{"exec", execengine.Request{Command: execengine.Exec{Program: "printf", Args: []string{"%s|", "a b", "$HOME", "*"}}}, execengine.StatusCompleted, true},
		{"spawn-failure-path", execengine.Request{Command: execengine.Exec{Program: "/nonexistent/program"}}, execengine.StatusFailed, false},
		{"spawn-failure-lookup", execengine.Request{Command: execengine.Exec{Program: "no-such-program-execengine"}}, execengine.StatusFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, tc.req)
			assert.Equal(t, tc.status, res.Status, res.Error)
			evs := rec.of(res.ID)
			checkEvents(t, evs, res, tc.started)
			if !tc.started {
				assert.Zero(t, res.PID)
				assert.Equal(t, -1, res.ExitCode)
				assert.Error(t, res.Err())
				assert.NotEmpty(t, res.Error)
				return
			}
			// Output events: in order per stream, equal to Stdout/Stderr.
			for _, s := range []struct {
				typ  execengine.EventType
				text string
			}{{execengine.EventStdout, res.Stdout}, {execengine.EventStderr, res.Stderr}} {
				assert.Equal(t, splitLines(s.text), rec.lines(res.ID, s.typ), "%s events", s.typ)
			}
		})
	}
	t.Run("exec-args-verbatim", func(t *testing.T) {
		t.Parallel()
		res := run(t, e, execengine.Request{Command: execengine.Exec{Program: "printf", Args: []string{"%s|", "a b", "$HOME", "*", ""}}})
		assert.Equal(t, "a b|$HOME|*||", res.Stdout)
	})
	t.Run("no-overlap", func(t *testing.T) {
		t.Parallel()
		var ids []uuid.UUID
		for range 4 {
			ids = append(ids, submit(t, e, shReq("for i in $(seq 1 200); do echo o$i; echo e$i >&2; done")))
		}
		for _, id := range ids {
			res := waitFor(t, e, id)
			checkEvents(t, rec.of(id), res, true)
		}
	})
}

// With StreamOutput off the handler gets the lifecycle events only.
func TestEventsWithoutStreamOutput(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = rec
		c.StreamOutput = false
	})
	res := run(t, e, shReq("echo out; echo err >&2"))
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Equal(t, "out\n", res.Stdout)
	assert.Equal(t, "err\n", res.Stderr)
	evs := rec.of(res.ID)
	checkEvents(t, evs, res, true)
	var types []execengine.EventType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	assert.Equal(t, []execengine.EventType{execengine.EventStarted, execengine.EventStatusChanged,
		execengine.EventStatusChanged, execengine.EventCompleted}, types)
}

// ---------------------------------------------------------------------------
// Exit codes and signals.

func TestExitCodesAndSignals(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	for _, tc := range []struct {
		name, cmd string
		status    execengine.Status
		code      int
		signal    string
	}{
		{"exit-0", "exit 0", execengine.StatusCompleted, 0, ""},
		{"exit-3", "exit 3", execengine.StatusFailed, 3, ""},
		{"exit-255", "exit 255", execengine.StatusFailed, 255, ""},
		{"own-sigsegv", "kill -SEGV $$", execengine.StatusFailed, -1, "SIGSEGV"},
		{"own-sigkill", "kill -9 $$", execengine.StatusFailed, -1, "SIGKILL"},
		{"own-sigterm", "kill -TERM $$", execengine.StatusFailed, -1, "SIGTERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, shReq(tc.cmd))
			assert.Equal(t, tc.status, res.Status, res.Error)
			assert.Equal(t, tc.code, res.ExitCode)
			assert.Equal(t, tc.signal, res.Signal)
			assert.Equal(t, tc.status == execengine.StatusCompleted, res.Success)
			if tc.status == execengine.StatusCompleted {
				assert.NoError(t, res.Err())
				assert.Empty(t, res.Error)
				return
			}
			var xe *execengine.ExitError
			require.ErrorAs(t, res.Err(), &xe)
			assert.Equal(t, tc.code, xe.Code)
			assert.Equal(t, tc.signal, xe.Signal)
			if tc.signal == "" {
				assert.EqualError(t, res.Err(), fmt.Sprintf("command failed with exit code %d", tc.code))
			}
			assert.False(t, errors.Is(res.Err(), context.Canceled) || errors.Is(res.Err(), context.DeadlineExceeded))
		})
	}
}

// ---------------------------------------------------------------------------
// Request fields: env, working directory, stdin.

func TestEnvDirStdin(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	dir := t.TempDir()
	realDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	home := os.Getenv("HOME")
	big := strings.Repeat("0123456789abcde\n", mib/16)

	for _, tc := range []struct {
		name   string
		req    execengine.Request
		stdout string
	}{
		{"env-added-to-inherited", execengine.Request{Command: sh(`printf '%s|%s' "$EXECENGINE_TEST_VAR" "$HOME"`),
			Env: map[string]string{"EXECENGINE_TEST_VAR": "v a=l"}}, "v a=l|" + home},
		{"env-overrides-inherited", execengine.Request{Command: sh(`printf '%s' "$HOME"`),
			Env: map[string]string{"HOME": "/elsewhere"}}, "/elsewhere"},
		{"working-dir", execengine.Request{Command: sh("pwd -P"), WorkingDir: dir}, realDir + "\n"},
		{"stdin", execengine.Request{Command: sh("cat"), Stdin: "line1\nline2"}, "line1\nline2"},
		{"stdin-1mib", execengine.Request{Command: sh("cat"), Stdin: big}, big},
		{"stdin-unread", execengine.Request{Command: sh("echo ignored-stdin"), Stdin: big}, "ignored-stdin\n"},
		{"empty-stdin-is-devnull", execengine.Request{Command: sh("cat; echo eof"), Timeout: 30 * time.Second}, "eof\n"},
		// The test binary as the child (helper "stdin" in main_test.go):
		// fstat of its stdin is /dev/null's file; no /proc needed.
		{"devnull-same-file", execengine.Request{Command: execengine.Exec{Program: os.Args[0]},
			Env: map[string]string{"EXECENGINE_TEST_HELPER": "stdin"}}, "/dev/null\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, tc.req)
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			assert.True(t, tc.stdout == res.Stdout, "stdout: got %d bytes %.80q, want %d bytes %.80q",
				len(res.Stdout), res.Stdout, len(tc.stdout), tc.stdout)
		})
	}
}

// ---------------------------------------------------------------------------
// Command types.

// Shell "" is bash, as in the Rust crate.
func TestShellDefaultsToBash(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	res := run(t, e, execengine.Request{Command: execengine.Shell{Command: `echo "${BASH_VERSION:+bash}"; [[ x == x ]] && echo ok`}})
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Equal(t, "bash\nok\n", res.Stdout)
}

func TestScript(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	td, err := filepath.Abs("testdata/scripts")
	require.NoError(t, err)
	cases := []struct {
		name   string
		req    execengine.Request
		stdout string
	}{
		{"extension-sh-is-bash", execengine.Request{Command: execengine.Script{Path: filepath.Join(td, "sub/whoami.sh")}}, "comm=bash args=\n"},
		{"interpreter", execengine.Request{Command: execengine.Script{Path: filepath.Join(td, "sub/whoami.sh"), Interpreter: "sh"}}, "comm=sh args=\n"},
		{"shebang", execengine.Request{Command: execengine.Script{Path: filepath.Join(td, "shebang")}}, "shebang ran\n"},
		{"fallback-sh", execengine.Request{Command: execengine.Script{Path: filepath.Join(td, "plain")}}, "comm=sh\n"},
		{"relative-to-working-dir", execengine.Request{Command: execengine.Script{Path: "whoami.sh"}, WorkingDir: filepath.Join(td, "sub")}, "comm=bash args=\n"},
		{"relative-to-working-dir-nested", execengine.Request{Command: execengine.Script{Path: "sub/whoami.sh", Interpreter: "sh"}, WorkingDir: td}, "comm=sh args=\n"},
	}
	for _, x := range []struct{ interp, file, stdout string }{
		{"python3", "hello.py", "python 3\n"},
		{"perl", "hello.pl", "perl 5"},
		{"node", "hello.js", "node string\n"},
	} {
		if _, err := exec.LookPath(x.interp); err == nil {
			cases = append(cases, struct {
				name   string
				req    execengine.Request
				stdout string
			}{"extension-" + filepath.Ext(x.file)[1:], execengine.Request{Command: execengine.Script{Path: filepath.Join(td, x.file)}}, x.stdout})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, e, tc.req)
			require.Equal(t, execengine.StatusCompleted, res.Status, "%s; stderr %q", res.Error, res.Stderr)
			if strings.HasPrefix(tc.name, "extension-pl") {
				assert.True(t, strings.HasPrefix(res.Stdout, tc.stdout), "stdout %q", res.Stdout)
				return
			}
			assert.Equal(t, tc.stdout, res.Stdout)
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := e.Execute(context.Background(), execengine.Request{Command: execengine.Script{Path: "whoami.sh"}, WorkingDir: td})
		require.ErrorIs(t, err, execengine.ErrInvalidRequest, "whoami.sh is in sub/, not in the working dir")
	})
}

// Pitfall 32: the AWS CLI helper's argv order and AWS_PAGER="". Not
// parallel: it changes PATH for the whole process.
func TestAWSCLI(t *testing.T) {
	fake, err := filepath.Abs("testdata/fakeaws")
	require.NoError(t, err)
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("AWS_PAGER", "less")
	e := newEngine(t, nil)
	res := run(t, e, execengine.Request{Command: execengine.AWSCLI{
		Service: "s3", Operation: "ls", Args: []string{"s3://b"}, Profile: "p", Region: "r",
	}})
	require.Equal(t, execengine.StatusCompleted, res.Status, "%s; stderr %q", res.Error, res.Stderr)
	assert.Equal(t, "arg=s3\narg=ls\narg=s3://b\narg=--profile\narg=p\narg=--region\narg=r\nAWS_PAGER=[]\n", res.Stdout)

	res = run(t, e, execengine.Request{Command: execengine.AWSCLI{Service: "sts", Operation: "get-caller-identity"},
		Env: map[string]string{"OTHER": "x"}})
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.Equal(t, "arg=sts\narg=get-caller-identity\nAWS_PAGER=[]\n", res.Stdout)
}

// ---------------------------------------------------------------------------
// Log files.

func TestLogFiles(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	logDir := filepath.Join(base, "logs", "nested")
	e := newEngine(t, func(c *execengine.Config) {
		c.LogDir = logDir
		c.StreamOutput = false // log files do not depend on events
	})
	fi, err := os.Stat(logDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "LogDir mode")

	outLog := filepath.Join(base, "own", "out.log")
	req := shReq(`echo out1; echo err1 >&2; printf 'out2\r\n'; printf 'tail'`)
	req.OutputLogPath = outLog
	res := run(t, e, req)
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)

	fi, err = os.Stat(filepath.Dir(outLog))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "OutputLogPath dir mode")
	for _, path := range []string{filepath.Join(logDir, res.ID.String()+".log"), outLog} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s mode", path)
		f, err := os.Open(path)
		require.NoError(t, err)
		got := map[string][]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			ts, rest, ok := strings.Cut(sc.Text(), " ")
			require.True(t, ok, "line %q", sc.Text())
			when, err := time.Parse(time.RFC3339Nano, ts)
			require.NoError(t, err, "timestamp of %q", sc.Text())
			assert.False(t, when.Before(res.StartedAt.Add(-time.Second)) || when.After(res.CompletedAt.Add(time.Second)),
				"timestamp %v outside the run", when)
			stream, line, ok := strings.Cut(rest, " ")
			require.True(t, ok, "line %q", sc.Text())
			got[stream] = append(got[stream], line)
		}
		require.NoError(t, sc.Err())
		f.Close()
		assert.Equal(t, map[string][]string{"stdout": {"out1", "out2", "tail"}, "stderr": {"err1"}}, got, path)
	}
}

// ---------------------------------------------------------------------------
// Close and Shutdown.

func TestClose(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	cfg := execengine.DefaultConfig()
	cfg.KillGracePeriod = grace
	cfg.Logger = quiet
	cfg.MaxConcurrentExecutions = 2
	cfg.MaxQueuedExecutions = 2
	cfg.EventHandler = rec
	e, err := execengine.New(cfg)
	require.NoError(t, err)
	running := []uuid.UUID{submit(t, e, shReq("echo ready; sleep 100")), submit(t, e, shReq("trap '' TERM; echo ready; sleep 100"))}
	queued := []uuid.UUID{submit(t, e, shReq("echo never")), submit(t, e, shReq("echo never"))}
	for _, id := range running {
		rec.waitLine(t, id, "ready")
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(hangBound):
		t.Fatal("Close hung")
	}
	for i, id := range append(running, queued...) {
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCancelled, res.Status, "execution %d: %s", i, res.Error)
		assert.ErrorIs(t, res.Err(), execengine.ErrClosed, "execution %d", i)
		assert.ErrorIs(t, res.Err(), context.Canceled, "execution %d", i)
		checkEvents(t, rec.of(id), res, i < len(running))
		if i < len(running) {
			requireGroupGone(t, res.PID)
		} else {
			assert.Empty(t, res.Stdout)
			assert.Zero(t, res.PID)
		}
	}
	_, err = e.Execute(context.Background(), shReq("true"))
	assert.ErrorIs(t, err, execengine.ErrClosed)
	assert.NoError(t, e.Close(), "a second Close is harmless")
	assert.Equal(t, 0, e.RunningCount())
}

// Close racing with Cancel and Execute: no panic, no hang, every execution
// ends exactly once with its own consistent events.
func TestCloseRacesCancelAndExecute(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	cfg := execengine.DefaultConfig()
	cfg.KillGracePeriod = 50 * time.Millisecond
	cfg.Logger = quiet
	cfg.MaxConcurrentExecutions = 3
	cfg.MaxQueuedExecutions = 100
	cfg.EventHandler = rec
	e, err := execengine.New(cfg)
	require.NoError(t, err)
	var mu sync.Mutex
	var ids []uuid.UUID
	for range 30 {
		ids = append(ids, submit(t, e, shReq("sleep 100")))
	}
	first := slices.Clone(ids)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := len(first) - 1; i >= 0; i -= 2 {
			assert.NoError(t, e.Cancel(first[i]))
		}
	})
	wg.Go(func() {
		for {
			id, err := e.Execute(context.Background(), shReq("sleep 100"))
			if errors.Is(err, execengine.ErrConcurrencyLimitReached) {
				time.Sleep(time.Millisecond) // the queue is full: wait for Close
				continue
			}
			if err != nil {
				assert.ErrorIs(t, err, execengine.ErrClosed)
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}
	})
	wg.Go(func() {
		time.Sleep(5 * time.Millisecond)
		assert.NoError(t, e.Close())
	})
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(hangBound):
		t.Fatal("Close, Cancel or Execute hung")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCancelled, res.Status, res.Error)
		assert.ErrorIs(t, res.Err(), context.Canceled)
		checkEvents(t, rec.of(id), res, res.PID != 0)
	}
	assert.Equal(t, 0, e.RunningCount())
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	cfg := execengine.DefaultConfig()
	cfg.Logger = quiet
	cfg.MaxConcurrentExecutions = 1
	cfg.MaxQueuedExecutions = 1
	e, err := execengine.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	a := submit(t, e, shReq("sleep 0.3; echo a-done"))
	b := submit(t, e, shReq("echo b-done"))
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	require.NoError(t, e.Shutdown(ctx))
	for id, want := range map[uuid.UUID]string{a: "a-done\n", b: "b-done\n"} {
		res, err := e.Result(id)
		require.NoError(t, err, "Shutdown returned before the executions ended")
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.Equal(t, want, res.Stdout)
	}
	_, err = e.Execute(context.Background(), shReq("true"))
	assert.ErrorIs(t, err, execengine.ErrClosed)

	// A Shutdown whose ctx ends first returns its error; Close then stops the rest.
	e2, err := execengine.New(cfg)
	require.NoError(t, err)
	c := submit(t, e2, shReq("sleep 100"))
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	assert.ErrorIs(t, e2.Shutdown(short), context.DeadlineExceeded)
	require.NoError(t, e2.Close())
	res := waitFor(t, e2, c)
	assert.Equal(t, execengine.StatusCancelled, res.Status)
	assert.ErrorIs(t, res.Err(), execengine.ErrClosed)
}

// ---------------------------------------------------------------------------
// Leaks.

// Pitfalls 20 and 21: many timeouts and cancels leave no goroutine, no file
// descriptor and no zombie behind. Not parallel: it counts process-wide
// resources.
func TestNoLeaksAfterTimeoutsAndCancels(t *testing.T) {
	// Warm up the runtime's poller and the os/exec paths so their one-time
	// descriptors and goroutines are not counted.
	{
		e := newEngine(t, nil)
		run(t, e, shReq("echo warm"))
		require.NoError(t, e.Close())
	}
	ignore := goleak.IgnoreCurrent()
	fdsBefore := countFDs(t)

	rec := newRecorder(t)
	cfg := execengine.DefaultConfig()
	cfg.KillGracePeriod = 100 * time.Millisecond
	cfg.Logger = quiet
	cfg.MaxConcurrentExecutions = 10
	cfg.MaxQueuedExecutions = 100
	cfg.EventHandler = rec
	cfg.LogDir = t.TempDir()
	cfg.MaxOutputSizeBytes = mib
	cfg.OversizedOutputStrategy = execengine.FailExecution
	e, err := execengine.New(cfg)
	require.NoError(t, err)

	cmds := []string{"sleep 100", "sleep 100 | cat", "sleep 100 & echo bg; wait", "trap '' TERM; sleep 100", "yes >/dev/null", "cat; sleep 100"}
	var ids []uuid.UUID
	for i := range 50 {
		req := shReq(cmds[i%len(cmds)])
		req.Stdin = strings.Repeat("some input\n", 10000) // more than a pipe holds
		if i%2 == 0 {
			req.Timeout = 50 * time.Millisecond
		}
		ids = append(ids, submit(t, e, req))
	}
	for i, id := range ids {
		if i%2 == 1 {
			require.NoError(t, e.Cancel(id))
		}
	}
	for i, id := range ids {
		res := waitFor(t, e, id)
		if i%2 == 0 {
			assert.Equal(t, execengine.StatusTimeout, res.Status, "execution %d: %s", i, res.Error)
		} else {
			assert.Equal(t, execengine.StatusCancelled, res.Status, "execution %d: %s", i, res.Error)
		}
		if res.PID != 0 {
			requireGroupGone(t, res.PID)
		}
		checkEvents(t, rec.of(id), res, res.PID != 0)
	}
	// Spawn failures and output-limit failures release what they opened too.
	for _, req := range []execengine.Request{
		{Command: execengine.Exec{Program: "/nonexistent/program"}, Stdin: "x"},
		{Command: execengine.Exec{Program: "no-such-program-execengine"}, Stdin: "x"},
		{Command: sh("cat /dev/zero"), OutputLogPath: filepath.Join(t.TempDir(), "out.log")},
	} {
		res := run(t, e, req)
		assert.Equal(t, execengine.StatusFailed, res.Status, res.Error)
	}
	require.NoError(t, e.Close())

	assert.Empty(t, zombieChildren(), "zombie children of the test process")
	assert.Equal(t, fdsBefore, countFDs(t), "file descriptors before and after")
	goleak.VerifyNone(t, ignore)
}
