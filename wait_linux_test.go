package execengine_test

import (
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// The two ways of waiting for a leader's exit on Linux: through a pidfd in
// the runtime's poller, and the blocking waitid fallback for kernels
// without pidfd. Neither test is parallel: the fallback switch and the
// counters are process-wide, and no parallel test runs meanwhile.

func osThreads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	return len(ents)
}

// runningSleeps starts n `sleep 60`s and waits until all are running.
func runningSleeps(t *testing.T, e *execengine.Engine, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = submit(t, e, execengine.Request{Command: execengine.Exec{Program: "sleep", Args: []string{"60"}}})
	}
	deadline := time.Now().Add(hangBound)
	for _, id := range ids {
		for {
			st, err := e.Status(id)
			require.NoError(t, err)
			if st == execengine.StatusRunning {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s still %s after %v", id, st, hangBound)
			time.Sleep(5 * time.Millisecond)
		}
	}
	return ids
}

func TestWaitPaths(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name     string
		fallback bool
	}{
		{"pidfd", false},
		{"fallback", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fallback {
				defer execengine.ForceWaitFallback()()
			}
			e := newEngine(t, func(c *execengine.Config) { c.MaxConcurrentExecutions = n + 1 })
			pidfd0, fallback0 := execengine.WaitCounts()
			// Go never ends idle threads: an earlier fallback run (-count)
			// leaves its threads behind, so the pidfd path is judged by growth.
			threads0 := osThreads(t)
			ids := runningSleeps(t, e, n)
			// A leader that leaves a grandchild behind: the group is
			// killed before the leader is reaped.
			bg := run(t, e, shReq("sleep 30 & echo $!"))
			assert.Equal(t, execengine.StatusCompleted, bg.Status, bg.Error)
			requireGroupGone(t, bg.PID)

			threads := osThreads(t)
			if tc.fallback {
				// One thread per execution blocked in waitid.
				assert.GreaterOrEqual(t, threads, n, "OS threads with %d running", n)
			} else {
				assert.Less(t, threads-threads0, 64, "OS threads added with %d running", n)
			}
			require.NoError(t, e.Close())
			for _, id := range ids {
				res := waitFor(t, e, id)
				assert.Equal(t, execengine.StatusCancelled, res.Status, res.Error)
				assert.Equal(t, "SIGTERM", res.Signal)
				requireGroupGone(t, res.PID)
			}
			assert.Empty(t, zombieChildren(), "zombie children of the test process")
			pidfd1, fallback1 := execengine.WaitCounts()
			if tc.fallback {
				assert.Equal(t, int64(0), pidfd1-pidfd0, "waits through a pidfd")
				assert.Equal(t, int64(n+1), fallback1-fallback0, "waits through the fallback")
			} else {
				assert.Equal(t, int64(n+1), pidfd1-pidfd0, "waits through a pidfd")
				assert.Equal(t, int64(0), fallback1-fallback0, "waits through the fallback")
			}
		})
	}
}

// The guarantees of the process tests hold on the fallback path too: they
// run again with it forced.
func TestWaitFallbackGuarantees(t *testing.T) {
	restore := execengine.ForceWaitFallback()
	pidfd0, fallback0 := execengine.WaitCounts()
	t.Cleanup(func() {
		restore()
		pidfd1, fallback1 := execengine.WaitCounts()
		assert.Equal(t, int64(0), pidfd1-pidfd0, "waits through a pidfd")
		assert.Positive(t, fallback1-fallback0, "waits through the fallback")
	})
	t.Run("BackgroundGrandchildDoesNotHang", TestBackgroundGrandchildDoesNotHang)
	t.Run("TermIgnoringTreeKilledAfterGrace", TestTermIgnoringTreeKilledAfterGrace)
	t.Run("TimeoutKillsWholeGroup", TestTimeoutKillsWholeGroup)
	t.Run("EscapedGrandchildDoesNotHang", TestEscapedGrandchildDoesNotHang)
	t.Run("ExitCodesAndSignals", TestExitCodesAndSignals)
	t.Run("Close", TestClose)
	t.Run("NoLeaksAfterTimeoutsAndCancels", TestNoLeaksAfterTimeoutsAndCancels)
}
