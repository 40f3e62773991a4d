package execengine_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A child of another fork holds a copy of every pipe open in the host
// between its fork and its exec (O_CLOEXEC closes them at the exec). It is
// outside the execution's session, so it looked like an escaped writer:
// under load, one execution of a bridge flood ended output_incomplete. Here
// the test plays that fork: it holds a write end of the execution's stdout
// and syscall.ForkLock (as a fork does until its child has exec'd) past
// the drain deadline, then writes, closes and lets go. Not parallel: no
// other test may fork meanwhile.
func TestForkInProgressDoesNotCutOutput(t *testing.T) {
	e := newEngine(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "sleep", Args: []string{"0.3"}}})
	require.NoError(t, err)
	var pid int
	for pid == 0 {
		snap, err := e.Snapshot(id)
		require.NoError(t, err)
		require.NoError(t, ctx.Err(), "never running")
		pid = snap.PID
		time.Sleep(time.Millisecond)
	}
	w, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/1", pid), os.O_WRONLY, 0)
	require.NoError(t, err)
	syscall.ForkLock.Lock()
	var release sync.Once
	letGo := func() {
		release.Do(func() {
			_, _ = w.WriteString("late\n")
			_ = w.Close()
			syscall.ForkLock.Unlock()
		})
	}
	defer letGo()

	done, err := e.Done(id)
	require.NoError(t, err)
	select {
	case <-done: // the drain deadline is 250 + 100 ms after the exit at 300 ms
		res, _ := e.Result(id)
		t.Fatalf("ended while a fork in progress held its pipe: %+v", res)
	case <-time.After(1500 * time.Millisecond):
	}
	letGo()
	res, err := e.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, execengine.StatusCompleted, res.Status)
	assert.False(t, res.OutputIncomplete)
	assert.Equal(t, "late\n", res.Stdout)
}
