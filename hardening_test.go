//go:build unix

// Regression tests for what was found when the engine was tried from
// outside (issue 7): each failed before its fix. Process states come from
// procStats (/proc on Linux, ps elsewhere); the tests of Linux-only
// behaviour skip elsewhere, saying so.
package execengine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// linuxOnly skips a test of behaviour only Linux has, naming what is not
// checked.
func linuxOnly(t *testing.T, what string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("not checked on %s, where the engine cannot do it (README: Stopping processes): %s", runtime.GOOS, what)
	}
}

// sessionMembers lists the live processes of session sid.
func sessionMembers(sid int) []procStat {
	var live []procStat
	for _, p := range procStats() {
		if p.sid == sid && p.state != 'Z' && p.state != 'X' {
			live = append(live, p)
		}
	}
	return live
}

// requireSessionGone asserts that no process of session sid survives.
func requireSessionGone(t *testing.T, sid int) {
	t.Helper()
	require.Positive(t, sid)
	requireGone(t, fmt.Sprintf("session %d", sid), func() []procStat { return sessionMembers(sid) })
}

// waitEscapedSleep waits until the running execution's session has a sleep
// in a process group of its own (so a signal to the leader's group misses
// it) and returns the leader's pid.
func waitEscapedSleep(t *testing.T, e *execengine.Engine, id uuid.UUID) int {
	t.Helper()
	var pid int
	waitSnapshot(t, e, id, 0, func(r execengine.Result) bool {
		pid = r.PID
		for _, p := range sessionMembers(r.PID) {
			if p.comm == "sleep" && p.pgrp != r.PID {
				return true
			}
		}
		return false
	})
	return pid
}

// Descendants that moved to a process group of their own (coreutils
// timeout, job control) are stopped with the session by Cancel, the
// timeout, the output limit and Close.
func TestStopReachesTheWholeSession(t *testing.T) {
	t.Parallel()
	linuxOnly(t, "a process that moved to another process group of the session is stopped with it")
	commands := map[string]string{
		"coreutils timeout": "timeout 60 sleep 60; echo done",
		"job control":       "bash -c 'set -m; sleep 60 & wait'",
	}
	for name, command := range commands {
		t.Run(name+"/cancel", func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, nil)
			id := submit(t, e, shReq(command))
			pid := waitEscapedSleep(t, e, id)
			require.NoError(t, e.Cancel(id))
			res := waitFor(t, e, id)
			assert.Equal(t, execengine.StatusCancelled, res.Status)
			requireSessionGone(t, pid)
		})
		t.Run(name+"/timeout", func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, nil)
			req := shReq("echo $$; " + command)
			req.Timeout = time.Second
			res := run(t, e, req)
			assert.Equal(t, execengine.StatusTimeout, res.Status)
			requireSessionGone(t, res.PID)
		})
		t.Run(name+"/output limit", func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, func(c *execengine.Config) {
				c.MaxOutputSizeBytes = 1000
				c.OversizedOutputStrategy = execengine.FailExecution
			})
			// The output that breaks the limit comes once the sleep has its own group.
			req := shReq(strings.Replace(command, "sleep 60", "sleep 60 & sleep 0.5; head -c 5000 /dev/zero", 1))
			res := run(t, e, req)
			assert.Equal(t, execengine.StatusFailed, res.Status)
			assert.Equal(t, execengine.CodeOutputExceeded, res.ErrorCode)
			requireSessionGone(t, res.PID)
		})
		t.Run(name+"/close", func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, nil)
			id := submit(t, e, shReq(command))
			pid := waitEscapedSleep(t, e, id)
			require.NoError(t, e.Close())
			requireSessionGone(t, pid)
		})
	}
}

// A process of the session that moved to its own group and still holds the
// pipes after the leader exited is killed at the drain deadline; the output
// up to then is complete.
func TestGroupEscapeeHoldingPipesIsKilled(t *testing.T) {
	t.Parallel()
	linuxOnly(t, "a process of another group of the session holding the pipes is killed at the drain deadline")
	e := newEngine(t, nil)
	res := run(t, e, shReq("set -m; (sleep 30; echo late) & echo early"))
	assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	assert.False(t, res.OutputIncomplete)
	assert.Equal(t, "early\n", res.Stdout)
	requireSessionGone(t, res.PID)
}

// A stopped process gets SIGCONT after SIGTERM, so its TERM trap runs and
// it is never SIGKILLed after the grace period.
func TestStoppedProcessStopsGracefully(t *testing.T) {
	t.Parallel()
	e := newEngine(t, func(c *execengine.Config) { c.KillGracePeriod = time.Minute })
	id := submit(t, e, shReq(`trap 'echo cleanup; exit 0' TERM; kill -STOP $$; echo resumed`))
	waitSnapshot(t, e, id, 0, func(r execengine.Result) bool {
		for _, p := range procStats() {
			if p.pid == r.PID && p.state == 'T' {
				return true
			}
		}
		return false
	})
	require.NoError(t, e.Cancel(id))
	res := waitFor(t, e, id)
	assert.Equal(t, execengine.StatusCancelled, res.Status)
	assert.Equal(t, "cleanup\n", res.Stdout)
	assert.Equal(t, 0, res.ExitCode, "the trap ran: not killed by SIGKILL")
	assert.Empty(t, res.Signal)
}

// TestHostProcess is not a test: run by TestHostDeathKillsCommands as the
// host application, it starts a command, prints the command's pid and waits
// to be killed.
func TestHostProcess(t *testing.T) {
	if os.Getenv("EXECENGINE_TEST_HOST") != "1" {
		t.Skip("helper process for TestHostDeathKillsCommands")
	}
	cfg := execengine.DefaultConfig()
	cfg.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
		if ev.Type == execengine.EventStdout {
			fmt.Println(ev.Line)
		}
	})
	e, err := execengine.New(cfg)
	require.NoError(t, err)
	_, err = e.Execute(context.Background(), shReq("echo $$; exec sleep 60"))
	require.NoError(t, err)
	time.Sleep(time.Minute)
}

// A host that dies (SIGKILL: no Close, no deferred code) takes its running
// commands with it.
func TestHostDeathKillsCommands(t *testing.T) {
	t.Parallel()
	linuxOnly(t, "the commands die with their host (Pdeathsig)")
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	host := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostProcess$", "-test.v")
	host.Env = append(os.Environ(), "EXECENGINE_TEST_HOST=1")
	out, err := host.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, host.Start())
	defer host.Wait()
	var line []byte
	var pid int
	for buf := make([]byte, 1); pid == 0; {
		_, err := out.Read(buf)
		require.NoError(t, err, "the host printed no pid")
		if buf[0] != '\n' {
			line = append(line, buf[0])
			continue
		}
		pid, _ = strconv.Atoi(string(line))
		line = line[:0]
	}
	require.NoError(t, host.Process.Kill())
	_ = host.Wait()
	requireSessionGone(t, pid)
}

// A log target that is not a regular file is refused before anything runs:
// a FIFO would block the start, a symlink would redirect the output.
func TestLogTargetMustBeRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("precious\n"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))

	e := newEngine(t, nil)
	for path, kind := range map[string]string{fifo: "a named pipe", link: "a symbolic link", dir: "a directory"} {
		req := shReq("echo hi")
		req.OutputLogPath = path
		_, err := e.Execute(context.Background(), req)
		require.ErrorIs(t, err, execengine.ErrInvalidRequest)
		assert.ErrorContains(t, err, fmt.Sprintf("output log path %q is %s", path, kind))
	}
	assert.Empty(t, e.List(), "nothing stored")

	// The same for <LogDir>/<id>.log planted before the execution.
	logDir := filepath.Join(dir, "logs")
	le := newEngine(t, func(c *execengine.Config) { c.LogDir = logDir })
	for _, plant := range []func(string) error{
		func(p string) error { return syscall.Mkfifo(p, 0o600) },
		func(p string) error { return os.Symlink(target, p) },
	} {
		id := uuid.New()
		require.NoError(t, plant(filepath.Join(logDir, id.String()+".log")))
		_, err := le.Execute(context.Background(), execengine.Request{ID: id, Command: sh("echo hi")})
		require.ErrorIs(t, err, execengine.ErrInvalidRequest)
		assert.ErrorContains(t, err, id.String()+".log")
	}
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "precious\n", string(b), "the symlink's target is untouched")
}

// Log files are private whatever their mode was; a LogDir others can write
// is refused.
func TestLogFileModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.log")
	require.NoError(t, os.WriteFile(loose, nil, 0o600))
	require.NoError(t, os.Chmod(loose, 0o666))
	e := newEngine(t, nil)
	req := shReq("echo hi")
	req.OutputLogPath = loose
	res := run(t, e, req)
	require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	fi, err := os.Stat(loose)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())

	open := filepath.Join(dir, "open")
	require.NoError(t, os.Mkdir(open, 0o700))
	require.NoError(t, os.Chmod(open, 0o777))
	cfg := execengine.DefaultConfig()
	cfg.LogDir = open
	_, err = execengine.New(cfg)
	require.ErrorIs(t, err, execengine.ErrInvalidConfig)
	assert.ErrorContains(t, err, fmt.Sprintf("LogDir %q: writable by other users (mode -rwxrwxrwx)", open))

	made := filepath.Join(dir, "made", "logs")
	cfg.LogDir = made
	me, err := execengine.New(cfg)
	require.NoError(t, err)
	require.NoError(t, me.Close())
	fi, err = os.Stat(made)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
}

// An executable file without "#!" runs as execvp would run it: by the
// interpreter its extension names, else sh.
func TestScriptWithoutShebang(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("echo \"sh: $0\"\n"), 0o755))
	bashy := filepath.Join(dir, "bashy.sh")
	require.NoError(t, os.WriteFile(bashy, []byte("echo \"bash: ${BASH_VERSION:+yes}\"\n"), 0o755))
	e := newEngine(t, nil)
	for _, tc := range []struct {
		cmd  execengine.Command
		want string
	}{
		{execengine.Script{Path: plain}, "sh: " + plain + "\n"},
		{execengine.Exec{Program: plain}, "sh: " + plain + "\n"},
		{execengine.Script{Path: bashy}, "bash: yes\n"},
		{execengine.Exec{Program: bashy}, "bash: yes\n"},
	} {
		res := run(t, e, execengine.Request{Command: tc.cmd})
		assert.Equal(t, execengine.StatusCompleted, res.Status, "%s: %s", tc.cmd, res.Error)
		assert.Equal(t, tc.want, res.Stdout, tc.cmd.String())
	}
}

// Once a handler sees the terminal event, the execution is terminal for
// every call: its slot is free (the next step starts at once even with one
// slot), Remove works and Wait returns.
func TestTerminalEventSeesTerminalExecution(t *testing.T) {
	t.Parallel()
	type seen struct {
		next, remove, wait error
		status             execengine.Status
	}
	got := make(chan seen, 1)
	var e *execengine.Engine
	e = newEngine(t, func(c *execengine.Config) {
		c.MaxConcurrentExecutions = 1
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type != execengine.EventCompleted || ev.Result.Stdout != "step 1\n" {
				return
			}
			var s seen
			_, s.next = e.Execute(context.Background(), shReq("echo step 2"))
			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			var r execengine.Result
			r, s.wait = e.Wait(ctx, ev.ExecutionID)
			s.status = r.Status
			s.remove = e.Remove(ev.ExecutionID)
			got <- s
		})
	})
	submit(t, e, shReq("echo step 1"))
	s := <-got
	assert.NoError(t, s.next, "the slot is free")
	assert.NoError(t, s.wait)
	assert.Equal(t, execengine.StatusCompleted, s.status)
	assert.NoError(t, s.remove)
}

// A Result says when output was cut at the drain deadline.
func TestOutputCutAtDrainDeadline(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	// A writer in a session of its own keeps writing after the leader exits.
	res := run(t, e, shReq(`setsid sh -c 'trap "" TERM; while :; do echo x; done' & sleep 0.2; echo $!`))
	assert.Equal(t, execengine.StatusFailed, res.Status)
	assert.Equal(t, execengine.CodeOutputIncomplete, res.ErrorCode)
	assert.True(t, res.OutputIncomplete)
	assert.False(t, res.Truncated)
	lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	if pid, err := strconv.Atoi(lines[len(lines)-1]); err == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // it escaped the engine: clean up
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	var back execengine.Result
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, back.OutputIncomplete, "the JSON says so too")
}

// Run is Execute then Wait; when ctx ends the execution is cancelled and
// Run returns the final, cancelled result.
func TestRun(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	res, err := e.Run(context.Background(), shReq("echo hi"))
	require.NoError(t, err)
	assert.True(t, res.Success)
	assert.Equal(t, "hi\n", res.Stdout)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err = e.Run(ctx, shReq("echo $$; sleep 60"))
	require.NoError(t, err)
	assert.Equal(t, execengine.StatusCancelled, res.Status)
	assert.ErrorIs(t, res.Err(), context.Canceled)
	requireSessionGone(t, res.PID)

	_, err = e.Run(context.Background(), execengine.Request{})
	assert.ErrorIs(t, err, execengine.ErrInvalidRequest)
}

// Each request's EventHandler gets that execution's events, and only
// those, besides the engine's handler, with the same Seq.
func TestRequestEventHandler(t *testing.T) {
	t.Parallel()
	all := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = all })
	mine := [2]*recorder{newRecorder(t), newRecorder(t)}
	var ids [2]uuid.UUID
	for i := range ids {
		req := shReq(fmt.Sprintf("echo step %d", i))
		req.EventHandler = mine[i]
		ids[i] = submit(t, e, req)
	}
	for i, id := range ids {
		res := waitFor(t, e, id)
		assert.Equal(t, []string{fmt.Sprintf("step %d", i)}, mine[i].lines(id, execengine.EventStdout))
		assert.Len(t, mine[i].events, 1, "only its own execution's events")
		assert.Equal(t, all.of(id), mine[i].of(id))
		checkEvents(t, mine[i].of(id), res, true)
	}
}

// A spawn failure matches ErrSpawnFailed, and its cause where there is one;
// the JSON form keeps ErrSpawnFailed.
func TestSpawnFailureMatches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	require.NoError(t, os.WriteFile(notExec, []byte("x"), 0o644))
	e := newEngine(t, nil)
	for _, tc := range []struct {
		prog  string
		cause error
	}{
		{"no-such-program-execengine", exec.ErrNotFound},
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{notExec, fs.ErrPermission},
	} {
		res := run(t, e, execengine.Request{Command: execengine.Exec{Program: tc.prog}})
		assert.Equal(t, execengine.StatusFailed, res.Status)
		assert.Equal(t, execengine.CodeSpawnFailed, res.ErrorCode)
		assert.ErrorIs(t, res.Err(), execengine.ErrSpawnFailed, tc.prog)
		assert.ErrorIs(t, res.Err(), tc.cause, tc.prog)
		assert.Zero(t, res.PID)
		assert.True(t, res.StartedAt.IsZero(), "it never started")
		assert.Zero(t, res.Duration)
		b, err := json.Marshal(res)
		require.NoError(t, err)
		var back execengine.Result
		require.NoError(t, json.Unmarshal(b, &back))
		assert.ErrorIs(t, back.Err(), execengine.ErrSpawnFailed)
	}
}

// Spill files in the OS temp dir are deleted when their execution leaves
// memory (Remove, cleanup, Close); those in LogDir stay.
func TestSpillFilesDeleted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	spill := func(c *execengine.Config) {
		c.MaxOutputSizeBytes = 100
		c.OversizedOutputStrategy = execengine.StreamToFile
	}
	big := shReq("head -c 5000 /dev/zero")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	e := newEngine(t, spill)
	removed, cleaned, closed := run(t, e, big), run(t, e, big), run(t, e, big)
	for _, r := range []execengine.Result{removed, cleaned, closed} {
		require.True(t, strings.HasPrefix(r.StdoutFile, tmp), r.StdoutFile)
		require.True(t, exists(r.StdoutFile))
	}
	require.NoError(t, e.Remove(removed.ID))
	assert.False(t, exists(removed.StdoutFile), "Remove deletes it")
	assert.True(t, exists(cleaned.StdoutFile))
	require.NoError(t, e.Close())
	assert.False(t, exists(cleaned.StdoutFile), "Close deletes it")
	assert.False(t, exists(closed.StdoutFile))

	ce := newEngine(t, func(c *execengine.Config) { spill(c); c.ExecutionRetention = 0; c.EnableAutoCleanup = false })
	r := run(t, ce, big)
	require.True(t, exists(r.StdoutFile))
	assert.Equal(t, 1, ce.Cleanup())
	assert.False(t, exists(r.StdoutFile), "cleanup deletes it")

	logDir := filepath.Join(t.TempDir(), "logs")
	le := newEngine(t, func(c *execengine.Config) { spill(c); c.LogDir = logDir })
	r = run(t, le, big)
	require.True(t, strings.HasPrefix(r.StdoutFile, logDir), r.StdoutFile)
	require.NoError(t, le.Remove(r.ID))
	require.NoError(t, le.Close())
	assert.True(t, exists(r.StdoutFile), "files in LogDir stay")
}

// Output reads the kept output from an offset, while running and after.
func TestOutputFromOffset(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	id := submit(t, e, shReq("echo one; echo two; sleep 60"))
	rec.waitLine(t, id, "two")
	var got []byte
	require.Eventually(t, func() bool {
		b, err := e.Output(id, execengine.EventStdout, int64(len(got)))
		require.NoError(t, err)
		got = append(got, b...)
		return string(got) == "one\ntwo\n"
	}, hangBound, 5*time.Millisecond)
	b, err := e.Output(id, execengine.EventStdout, 4)
	require.NoError(t, err)
	assert.Equal(t, "two\n", string(b))
	require.NoError(t, e.Cancel(id))
	waitFor(t, e, id)
	b, err = e.Output(id, execengine.EventStdout, 4)
	require.NoError(t, err)
	assert.Equal(t, "two\n", string(b))
	b, err = e.Output(id, execengine.EventStderr, 100)
	require.NoError(t, err)
	assert.Empty(t, b)
	_, err = e.Output(id, "bogus", 0)
	assert.ErrorIs(t, err, execengine.ErrInvalidRequest)
	_, err = e.Output(id, execengine.EventStdout, -1)
	assert.ErrorIs(t, err, execengine.ErrInvalidRequest)
	_, err = e.Output(uuid.New(), execengine.EventStdout, 0)
	assert.ErrorIs(t, err, execengine.ErrNotFound)
}

// A rejected environment entry names its key, never its value.
func TestEnvErrorHidesValue(t *testing.T) {
	t.Parallel()
	e := newEngine(t, nil)
	const secret = "wJalrXUtnFEMI/K7MDENG"
	for _, env := range []map[string]string{
		{"AWS_SECRET_ACCESS_KEY=": secret},
		{"AWS_SECRET_ACCESS_KEY": secret + "\x00"},
	} {
		req := execengine.Request{Command: sh("true"), Env: env}
		_, err := e.Execute(context.Background(), req)
		require.ErrorIs(t, err, execengine.ErrInvalidRequest)
		assert.Contains(t, err.Error(), "AWS_SECRET_ACCESS_KEY")
		assert.NotContains(t, err.Error(), "wJalr")
		// The check a remote queue (natsexec) runs before it sends.
		err = execengine.DefaultConfig().ValidateRequest(req)
		require.ErrorIs(t, err, execengine.ErrInvalidRequest)
		assert.Contains(t, err.Error(), "AWS_SECRET_ACCESS_KEY")
		assert.NotContains(t, err.Error(), "wJalr")
	}
}

// A cancel while the execution is queued never starts it; its result has
// no pid and no start time.
func TestNeverStartedResult(t *testing.T) {
	t.Parallel()
	e := newEngine(t, func(c *execengine.Config) { c.MaxConcurrentExecutions = 1; c.MaxQueuedExecutions = 1 })
	first := submit(t, e, shReq("sleep 60"))
	queued := submit(t, e, shReq("echo never"))
	require.NoError(t, e.Cancel(queued))
	res := waitFor(t, e, queued)
	assert.Equal(t, execengine.StatusCancelled, res.Status)
	assert.Zero(t, res.PID)
	assert.True(t, res.StartedAt.IsZero())
	assert.Zero(t, res.Duration)
	assert.False(t, res.SubmittedAt.IsZero())
	require.NoError(t, e.Cancel(first))
	waitFor(t, e, first)
}

// A queued request is an entry in the engine's FIFO, not a goroutine parked
// on a semaphore (README: "A slot counter under the engine's mutex"):
// queueing 1000 adds no goroutines, and cancelling them while queued needs
// none either.
func TestQueuedRequestsHoldNoGoroutine(t *testing.T) {
	const n = 1000
	e := newEngine(t, func(c *execengine.Config) {
		c.MaxConcurrentExecutions = 1
		c.MaxQueuedExecutions = n
		c.MaxInMemoryExecutions = n + 1
	})
	g := newGate(t)
	blocker := submit(t, e, shReq(g.waitCmd()))
	require.Eventually(t, func() bool { return e.RunningCount() == 1 }, hangBound, 10*time.Millisecond)
	base := runtime.NumGoroutine()
	queued := make([]uuid.UUID, n)
	for i := range queued {
		queued[i] = submit(t, e, shReq("echo never"))
	}
	assert.Equal(t, int64(n), e.Stats().Queued)
	// Other tests' goroutines may still be winding down: allow a few, far
	// below one per queued request.
	growth := runtime.NumGoroutine() - base
	t.Logf("goroutines: %d before, %+d with %d queued", base, growth, n)
	assert.Less(t, growth, 50, "goroutines with %d queued", n)
	for _, id := range queued {
		require.NoError(t, e.Cancel(id))
	}
	for _, id := range queued {
		assert.Equal(t, execengine.StatusCancelled, waitFor(t, e, id).Status)
	}
	assert.Zero(t, e.Stats().Queued)
	g.open(t)
	assert.Equal(t, execengine.StatusCompleted, waitFor(t, e, blocker).Status)
}
