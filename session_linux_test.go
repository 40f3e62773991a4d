package execengine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// Fresh lookups get a scan that began after they asked; recent ones reuse
// a scan that ended less than recentScan ago, and during a Close's stop
// batch any scan begun after the batch, however old.
func TestSessionScanReuse(t *testing.T) {
	var ix sessionIndex
	sid := os.Getpid()
	ix.groups(time.Now(), sid, false)
	require.Equal(t, int64(1), ix.scans.Load())
	ix.groups(time.Now(), sid, true)
	assert.Equal(t, int64(1), ix.scans.Load(), "recent: the scan that just ended")
	ix.groups(time.Now(), sid, false)
	assert.Equal(t, int64(2), ix.scans.Load(), "fresh: a new scan")
	time.Sleep(2 * recentScan)
	ix.groups(time.Now(), sid, true)
	assert.Equal(t, int64(3), ix.scans.Load(), "recent, but the last scan is too old")

	time.Sleep(2 * recentScan)
	ix.batches, ix.since = 1, time.Now()
	ix.groups(time.Now(), sid, true)
	assert.Equal(t, int64(4), ix.scans.Load(), "the batch's first stop scans")
	time.Sleep(2 * recentScan)
	for range 100 {
		ix.groups(time.Now(), sid, true)
	}
	assert.Equal(t, int64(4), ix.scans.Load(), "the batch's other stops reuse it")
	ix.groups(time.Now(), sid, false)
	assert.Equal(t, int64(5), ix.scans.Load(), "fresh lookups still scan during a batch")
	ix.batches = 0
	time.Sleep(2 * recentScan)
	ix.groups(time.Now(), sid, true)
	assert.Equal(t, int64(6), ix.scans.Load(), "after the batch, recency again")
}

// Concurrent fresh lookups share scans: each gets one that began after it
// asked, and 50 callers at once cost at most a few.
func TestSessionScanCoalesces(t *testing.T) {
	var ix sessionIndex
	var wg sync.WaitGroup
	// 50 lookups that asked at the same moment share the first scan that
	// began after it (each taking its own time.Now() made the count depend
	// on how the goroutines were spread out: 4 under load).
	asked := time.Now()
	for range 50 {
		wg.Go(func() { ix.groups(asked, os.Getpid(), false) })
	}
	wg.Wait()
	assert.LessOrEqual(t, ix.scans.Load(), int64(2), "one scan, or two if the first began in the same clock tick")
}
