//go:build linux

package execengine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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

func ptyReq(command string) execengine.Request {
	return execengine.Request{Command: sh(command), PTY: &execengine.PTY{}}
}

// waitChunks waits until the execution's chunk events hold want.
func (r *recorder) waitChunks(t *testing.T, id uuid.UUID, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var all []byte
		for _, ev := range r.of(id) {
			all = append(all, ev.Data...)
		}
		return strings.Contains(string(all), want)
	}, hangBound, 5*time.Millisecond, "output %q never came", want)
}

// ptyFDs counts this process's descriptors of pty masters and slaves.
func ptyFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && (target == "/dev/ptmx" || strings.HasPrefix(target, "/dev/pts/")) {
			n++
		}
	}
	return n
}

func TestPTY(t *testing.T) {
	before := ptyFDs(t)
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })

	t.Run("a terminal, controlling, in its own session", func(t *testing.T) {
		// /dev/tty opens only for a process with a controlling terminal.
		cmd := `test -t 0 && test -t 1 && test -t 2 && echo tty; exec 3</dev/tty && echo ctty
[ "$(cut -d' ' -f6 /proc/$$/stat)" = $$ ] && echo leader; echo "$TERM"; stty size; tty`
		id := submit(t, e, ptyReq(cmd))
		res := waitFor(t, e, id)
		require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.Regexp(t, regexp.MustCompile(`\Atty\r\nctty\r\nleader\r\nxterm-256color\r\n24 80\r\n/dev/pts/[0-9]+\r\n\z`), res.Stdout)
		assert.Equal(t, "", res.Stderr)
		assert.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)), "a PTY implies chunks")
		assert.Equal(t, []string{"tty", "ctty", "leader", "xterm-256color", "24 80"}, rec.lines(id, execengine.EventStdout)[:5])
		checkEvents(t, rec.of(id), res, true)
	})

	t.Run("size and term", func(t *testing.T) {
		req := ptyReq(`echo "$TERM"; stty size`)
		req.PTY = &execengine.PTY{Cols: 132, Rows: 50, Term: "vt100"}
		assert.Equal(t, "vt100\r\n50 132\r\n", run(t, e, req).Stdout)
		req.PTY = &execengine.PTY{Cols: 100}
		req.Env = map[string]string{"TERM": "dumb"}
		assert.Equal(t, "dumb\r\n24 100\r\n", run(t, e, req).Stdout, "Env overrides Term")
	})

	t.Run("stderr is the same stream", func(t *testing.T) {
		id := submit(t, e, ptyReq(`echo out; echo err >&2; echo out2`))
		res := waitFor(t, e, id)
		assert.Equal(t, "out\r\nerr\r\nout2\r\n", res.Stdout)
		assert.Equal(t, "", res.Stderr)
		assert.Equal(t, []string{"out", "err", "out2"}, rec.lines(id, execengine.EventStdout))
		assert.Empty(t, rec.lines(id, execengine.EventStderr))
		assert.Empty(t, rec.chunkData(t, id, execengine.EventStderrChunk))
	})

	t.Run("all output written right before exit", func(t *testing.T) {
		// 1 MiB with no newline (no \r\n translation), then an exit at
		// once: every byte arrives before the terminal event.
		for i := range 10 {
			id := submit(t, e, ptyReq(`head -c 1048576 /dev/zero | tr '\0' x; printf end; exit 3`))
			res := waitFor(t, e, id)
			require.Equal(t, execengine.StatusFailed, res.Status)
			require.Equal(t, 3, res.ExitCode)
			require.Equal(t, mib+3, len(res.Stdout), "run %d", i)
			require.Equal(t, strings.Repeat("x", mib)+"end", res.Stdout, "run %d", i)
			require.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)), "run %d", i)
			require.False(t, res.OutputIncomplete)
		}
	})

	t.Run("stdin then end of file", func(t *testing.T) {
		req := ptyReq(`read a; echo "got $a"; cat; echo end`)
		req.Stdin = "x y\n"
		// The terminal echoes the input as it arrives.
		assert.Equal(t, "x y\r\ngot x y\r\nend\r\n", run(t, e, req).Stdout)
		res := run(t, e, ptyReq(`cat; echo end`))
		assert.Equal(t, execengine.StatusCompleted, res.Status)
		assert.Equal(t, "end\r\n", res.Stdout, "no Stdin: end of file at once")
	})

	t.Run("interactive prompt", func(t *testing.T) {
		req := ptyReq(`printf 'Name? '; read n; echo "hi $n"; cat; echo done`)
		req.Interactive = true
		id := submit(t, e, req)
		rec.waitChunks(t, id, "Name? ")
		n, err := e.WriteStdin(id, []byte("bob\n"))
		require.NoError(t, err)
		require.Equal(t, 4, n)
		rec.waitChunks(t, id, "hi bob\r\n")
		// CloseStdin mid-line: the line reaches cat, then end of file.
		_, err = e.WriteStdin(id, []byte("abc"))
		require.NoError(t, err)
		require.NoError(t, e.CloseStdin(id))
		_, err = e.WriteStdin(id, []byte("late"))
		require.ErrorIs(t, err, execengine.ErrStdinClosed)
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCompleted, res.Status)
		assert.Equal(t, "Name? bob\r\nhi bob\r\nabcabcdone\r\n", res.Stdout)
	})

	t.Run("CloseStdin at the start of a line", func(t *testing.T) {
		req := ptyReq(`cat; echo done`)
		req.Interactive = true
		id := submit(t, e, req)
		_, err := e.WriteStdin(id, []byte("a\n"))
		require.NoError(t, err)
		require.NoError(t, e.CloseStdin(id))
		assert.Equal(t, "a\r\na\r\ndone\r\n", waitFor(t, e, id).Stdout)
	})

	t.Run("resize", func(t *testing.T) {
		req := ptyReq(`trap 'echo winch' WINCH; stty size; until read x; do :; done; stty size`) // the signal interrupts read
		req.Interactive = true
		id := submit(t, e, req)
		rec.waitChunks(t, id, "24 80\r\n")
		require.NoError(t, e.Resize(id, 120, 40))
		rec.waitChunks(t, id, "winch\r\n") // SIGWINCH reached the foreground group
		_, err := e.WriteStdin(id, []byte("\n"))
		require.NoError(t, err)
		res := waitFor(t, e, id)
		assert.Equal(t, "24 80\r\nwinch\r\n\r\n40 120\r\n", res.Stdout)
		assert.NoError(t, e.Resize(id, 10, 10), "after the end: nothing to do")

		require.ErrorIs(t, e.Resize(uuid.New(), 80, 24), execengine.ErrNotFound)
		plain := submit(t, e, shReq("true"))
		waitFor(t, e, plain)
		require.ErrorIs(t, e.Resize(plain, 80, 24), execengine.ErrInvalidRequest)
		require.ErrorIs(t, e.Resize(id, 0, 24), execengine.ErrInvalidRequest)
	})

	t.Run("resize while pending", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) { c.MaxConcurrentExecutions, c.MaxQueuedExecutions = 1, 1 })
		g := newGate(t)
		first := submit(t, e, shReq(g.waitCmd()))
		id := submit(t, e, ptyReq(`stty size`))
		require.NoError(t, e.Resize(id, 90, 30))
		g.open(t)
		waitFor(t, e, first)
		assert.Equal(t, "30 90\r\n", waitFor(t, e, id).Stdout)
	})

	t.Run("timeout, cancel", func(t *testing.T) {
		req := ptyReq(`echo up; sleep 60`)
		req.Timeout = 300 * time.Millisecond
		res := run(t, e, req)
		assert.Equal(t, execengine.StatusTimeout, res.Status)
		assert.Equal(t, "up\r\n", res.Stdout)
		requireGroupGone(t, res.PID)

		req.Timeout = 0
		id := submit(t, e, req)
		rec.waitChunks(t, id, "up\r\n")
		require.NoError(t, e.Cancel(id))
		res = waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCancelled, res.Status)
		assert.Less(t, res.Duration, 10*time.Second)
		requireGroupGone(t, res.PID)
	})

	t.Run("a background grandchild does not delay the end", func(t *testing.T) {
		res := run(t, e, ptyReq(`sleep 30 & echo started`))
		assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
		assert.Equal(t, "started\r\n", res.Stdout)
		assert.Less(t, res.Duration, 10*time.Second)
		requireGroupGone(t, res.PID)
	})

	t.Run("a setsid grandchild does not delay the end", func(t *testing.T) {
		res := run(t, e, ptyReq(`setsid sleep 30 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat)" != "$p" ]; do sleep 0.01; done
echo $p; echo hi`))
		// As with pipes: it holds the terminal past the drain deadline.
		assert.Equal(t, execengine.CodeOutputIncomplete, res.ErrorCode, res.Error)
		assert.True(t, res.OutputIncomplete)
		pidLine, rest, _ := strings.Cut(res.Stdout, "\r\n")
		assert.Equal(t, "hi\r\n", rest)
		pid, err := strconv.Atoi(pidLine)
		require.NoError(t, err)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		assert.Less(t, res.Duration, 10*time.Second)
	})

	t.Run("output limit, log file, secrets", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) { c.MaxOutputSizeBytes = 1000; c.EventHandler = rec })
		res := run(t, e, ptyReq(`head -c 5000 /dev/zero | tr '\0' x`))
		assert.True(t, res.Truncated)
		assert.Equal(t, strings.Repeat("x", 1000)+"\n[OUTPUT TRUNCATED: stdout exceeded the limit of 1000 bytes]\n", res.Stdout)

		log := filepath.Join(t.TempDir(), "out.log")
		req := ptyReq(`echo pw=hunter2-s3cr3t; echo two`)
		req.OutputLogPath, req.Secrets = log, []string{"hunter2-s3cr3t"}
		id := submit(t, e, req)
		res = waitFor(t, e, id)
		assert.Equal(t, "pw="+execengine.Redacted+"\r\ntwo\r\n", res.Stdout)
		assert.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		b, err := os.ReadFile(log)
		require.NoError(t, err)
		var got []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			_, rest, _ := strings.Cut(l, " ") // the time
			got = append(got, rest)
		}
		assert.Equal(t, []string{"stdout pw=" + execengine.Redacted, "stdout two"}, got)
	})

	t.Run("Close stops a terminal session", func(t *testing.T) {
		e := newEngine(t, nil)
		id := submit(t, e, ptyReq(`sleep 60`))
		waitSnapshot(t, e, id, 0, func(r execengine.Result) bool { return r.PID != 0 })
		require.NoError(t, e.Close())
		res, err := e.Result(id)
		require.NoError(t, err)
		assert.Equal(t, execengine.StatusCancelled, res.Status)
		assert.Equal(t, execengine.CodeClosed, res.ErrorCode)
		requireGroupGone(t, res.PID)
	})

	t.Run("no descriptor is left", func(t *testing.T) {
		e := newEngine(t, nil)
		for range 20 {
			req := ptyReq(`echo x`)
			req.Interactive = true
			id := submit(t, e, req)
			waitFor(t, e, id)
		}
		require.NoError(t, e.Close())
		assert.Equal(t, before, ptyFDs(t))
	})
}

// TestPTYRequestJSON: the "pty" field as the bridge sends it.
func TestPTYRequestJSON(t *testing.T) {
	var req execengine.Request
	require.NoError(t, json.Unmarshal([]byte(`{"command":{"type":"shell","command":"stty size"},"pty":{"cols":100,"rows":30,"term":"vt100"}}`), &req))
	assert.Equal(t, &execengine.PTY{Cols: 100, Rows: 30, Term: "vt100"}, req.PTY)
	b, err := json.Marshal(req)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"pty":{"cols":100,"rows":30,"term":"vt100"}`)
	require.NoError(t, json.Unmarshal([]byte(`{"command":{"type":"shell","command":"x"},"pty":{}}`), &req))
	assert.Equal(t, &execengine.PTY{}, req.PTY, "an empty object: the defaults")
	require.NoError(t, json.Unmarshal([]byte(`{"command":{"type":"shell","command":"x"}}`), &req))
	assert.Nil(t, req.PTY)
	b, err = json.Marshal(req)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "pty")
}
