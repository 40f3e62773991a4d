package execengine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zombie starts a process that exits at once and waits until it is a
// zombie, not reaped.
func zombie(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		return err == nil && strings.Contains(string(b), ") Z ")
	}, 10*time.Second, time.Millisecond)
	return cmd
}

func TestLeaderExited(t *testing.T) {
	z := zombie(t)
	assert.True(t, leaderExited(z.Process.Pid), "a zombie has exited")
	assert.True(t, leaderExited(z.Process.Pid), "and is still not reaped")
	live := exec.Command("sleep", "60")
	require.NoError(t, live.Start())
	defer func() { _ = live.Process.Kill(); _ = live.Wait() }()
	assert.False(t, leaderExited(live.Process.Pid))
}

// A stop that comes after the leader exited on its own (before the engine
// saw it) signals nothing and does not decide the status.
func TestStopAfterLeaderExited(t *testing.T) {
	e := newTestEngine(t, nil)
	z := zombie(t)
	x := newExecution(e, [16]byte{1}, &plan{}, nil)
	x.pid = z.Process.Pid
	require.True(t, x.requestStop(stopCancel, ""))
	assert.Equal(t, stopNone, x.why, "the exit decides, not the cancel")
	assert.Nil(t, x.grace, "no SIGKILL is scheduled")
}

// The log opens never block, even for a FIFO made after validation.
func TestOpenLogNeverBlocks(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() {
		l, err := openLog([]string{fifo})
		l.close()
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("opening a FIFO without a reader blocked")
	}
}

func TestParseStat(t *testing.T) {
	pgrp, sid, ok := parseStat([]byte("42 (a) b) (c) S 1 7 9 0 -1"))
	assert.True(t, ok)
	assert.Equal(t, 7, pgrp)
	assert.Equal(t, 9, sid)
	_, _, ok = parseStat([]byte("42 (x"))
	assert.False(t, ok)
}
