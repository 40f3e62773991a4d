//go:build unix

package execengine_test

import (
	"context"
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

// Every counter and gauge of Stats, exactly, over real processes of each
// kind of ending.
func TestStats(t *testing.T) {
	t.Parallel()
	setsid, leads := escapeSession(t)
	e := newEngine(t, func(c *execengine.Config) {
		c.MaxConcurrentExecutions = 2
		c.MaxQueuedExecutions = 2
		c.MaxOutputSizeBytes = 10
		c.OversizedOutputStrategy = execengine.TruncateWithWarning
	})
	assert.Equal(t, execengine.Stats{}, e.Stats(), "a new engine")

	var results []execengine.Result
	keep := func(r execengine.Result) execengine.Result { results = append(results, r); return r }

	r := keep(run(t, e, shReq("echo hello")))
	assert.Equal(t, execengine.StatusCompleted, r.Status, r.Error)
	r = keep(run(t, e, shReq("exit 3")))
	assert.Equal(t, execengine.StatusFailed, r.Status, r.Error)
	r = keep(run(t, e, execengine.Request{Command: execengine.Exec{Program: "/nonexistent/program"}}))
	assert.Equal(t, execengine.StatusFailed, r.Status, r.Error)
	assert.Equal(t, execengine.CodeSpawnFailed, r.ErrorCode)
	r = keep(run(t, e, execengine.Request{Command: execengine.Exec{Program: "sleep", Args: []string{"30"}}, Timeout: 200 * time.Millisecond}))
	assert.Equal(t, execengine.StatusTimeout, r.Status, r.Error)
	assert.Equal(t, "SIGTERM", r.Signal, "no SIGKILL was needed")
	r = keep(run(t, e, shReq("printf 0123456789abcdef")))
	assert.Equal(t, execengine.StatusCompleted, r.Status, r.Error)
	assert.True(t, r.Truncated)

	// A tree that ignores SIGTERM: SIGKILL after the grace period.
	id := submit(t, e, shReq("trap '' TERM; echo ready; while :; do sleep 1; done"))
	waitSnapshot(t, e, id, 0, func(r execengine.Result) bool { return r.Stdout == "ready\n" })
	require.NoError(t, e.Cancel(id))
	r = keep(waitFor(t, e, id))
	assert.Equal(t, execengine.StatusCancelled, r.Status, r.Error)
	assert.Equal(t, "SIGKILL", r.Signal)

	// A grandchild in a session of its own holds the pipes past the drain
	// deadline.
	r = keep(run(t, e, shReq(setsid+` sleep 30 & p=$!
until `+leads+`; do sleep 0.01; done
echo $p`)))
	assert.Equal(t, execengine.CodeOutputIncomplete, r.ErrorCode, r.Error)
	if pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout)); assert.NoError(t, err) {
		_ = syscall.Kill(pid, syscall.SIGKILL) // it escaped the engine: clean up
	}

	// Two running, two queued, one rejected.
	var running, queued []uuid.UUID
	for range 2 {
		running = append(running, submit(t, e, execengine.Request{Command: execengine.Exec{Program: "sleep", Args: []string{"30"}}}))
	}
	for range 2 {
		queued = append(queued, submit(t, e, shReq("echo never")))
	}
	_, err := e.Execute(context.Background(), shReq("echo rejected"))
	require.ErrorIs(t, err, execengine.ErrConcurrencyLimitReached)
	for _, id := range running {
		waitSnapshot(t, e, id, 0, func(r execengine.Result) bool { return r.Status == execengine.StatusRunning })
	}
	bytes := func() int64 {
		var n int64
		for _, r := range results {
			n += int64(len(r.Stdout) + len(r.Stderr))
		}
		return n
	}
	want := execengine.Stats{
		Running: 2, Queued: 2, Retained: 11, RetainedOutputBytes: bytes(),
		Submitted: 11, Rejected: 1, Started: 8, Completed: 2, Failed: 3, TimedOut: 1, Cancelled: 1,
		SpawnFailures: 1, ForcedKills: 1, OutputTruncated: 1, DrainTimeouts: 1,
	}
	assert.Equal(t, want, e.Stats(), "two running, two queued")

	for _, id := range append(queued, running...) {
		require.NoError(t, e.Cancel(id))
		r := keep(waitFor(t, e, id))
		assert.Equal(t, execengine.StatusCancelled, r.Status, r.Error)
	}
	want.Running, want.Queued, want.Cancelled, want.RetainedOutputBytes = 0, 0, 5, bytes()
	assert.Equal(t, want, e.Stats(), "all cancelled")

	require.NoError(t, e.Remove(results[0].ID))
	want.Retained--
	want.RetainedOutputBytes -= int64(len(results[0].Stdout))
	assert.Equal(t, want, e.Stats(), "one removed")

	require.NoError(t, e.Close())
	_, err = e.Execute(context.Background(), shReq("echo closed"))
	require.ErrorIs(t, err, execengine.ErrClosed)
	want.Rejected++
	assert.Equal(t, want, e.Stats(), "closed")
}
