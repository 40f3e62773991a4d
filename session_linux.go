package execengine

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A child is the leader of its own session. A process of the session may
// move to a process group of its own (coreutils timeout, a shell with job
// control), where a signal to the leader's group does not reach it; only a
// process that starts a new session leaves the execution for good. Linux
// has no call that signals a session, so the engine finds the session's
// groups in /proc. The scan costs about 10 µs per process on the machine,
// so it runs only when the engine stops an execution (not on every exit),
// and concurrent stops share one scan.

// sessionGroups returns the process groups of session sid other than sid
// itself, from a scan of /proc that started after the call, or with
// recent, from one that ended at most recentScan ago (or, while a Close
// stops its executions, from one that began after that Close did): SIGTERM
// and SIGCONT may miss a group made that moment (the later SIGKILL uses a
// fresh scan), so that Close stopping thousands of executions one after
// another costs a scan or two rather than one per execution. Recency
// counts from the scan's end: a scan of a busy machine can take longer
// than recentScan, and counted from its start it would be stale on
// arrival, every stop then scanning again (Close of 300 took 55 s so).
func sessionGroups(sid int, recent bool) []int {
	return procScans.groups(time.Now(), sid, recent)
}

const recentScan = 50 * time.Millisecond

var procScans sessionIndex

// sessionIndex coalesces /proc scans: a caller may use a scan that began
// after it asked, so a thousand executions stopped at once (Close) cost a
// couple of scans rather than a thousand. A scan runs outside the lock, so
// a caller that can use the last one never waits for the next.
type sessionIndex struct {
	mu      sync.Mutex
	last    *sessionScan // the latest finished scan
	running *sessionScan // the scan in progress, if any
	batches int          // Closes stopping their executions
	since   time.Time    // when the first of them began
	scans   atomic.Int64 // scans made, for tests
}

type sessionScan struct {
	began, ended time.Time
	bySID        map[int][]int // session id → process groups other than the session's own
	done         chan struct{} // closed when the scan has ended
}

func (ix *sessionIndex) groups(asked time.Time, sid int, recent bool) []int {
	ix.mu.Lock()
	for {
		if s := ix.last; s != nil && (s.began.After(asked) ||
			recent && (s.ended.After(asked.Add(-recentScan)) || ix.batches > 0 && !s.began.Before(ix.since))) {
			ix.mu.Unlock()
			return s.bySID[sid]
		}
		if r := ix.running; r != nil {
			ix.mu.Unlock()
			<-r.done // then look again: it may serve, or a later one is needed
			ix.mu.Lock()
			continue
		}
		r := &sessionScan{began: time.Now(), done: make(chan struct{})}
		ix.running = r
		ix.mu.Unlock()
		r.bySID = scanSessions()
		r.ended = time.Now()
		ix.scans.Add(1)
		ix.mu.Lock()
		ix.last, ix.running = r, nil
		close(r.done)
	}
}

// stopBatch marks a Close stopping its executions one after another: until
// the returned func is called, their SIGTERMs share a scan that began
// after the batch did.
func stopBatch() (end func()) {
	ix := &procScans
	ix.mu.Lock()
	if ix.batches == 0 {
		ix.since = time.Now()
	}
	ix.batches++
	ix.mu.Unlock()
	return func() {
		ix.mu.Lock()
		ix.batches--
		ix.mu.Unlock()
	}
}

// scanSessions reads the session and process group of every process.
func scanSessions() map[int][]int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := map[int][]int{}
	var buf [512]byte
	for _, name := range names {
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		fd, err := syscall.Open("/proc/"+name+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // it exited
		}
		n, _ := syscall.Read(fd, buf[:])
		syscall.Close(fd)
		pgrp, sid, ok := parseStat(buf[:max(n, 0)])
		if !ok || pgrp == sid {
			continue
		}
		out[sid] = appendNew(out[sid], pgrp)
	}
	return out
}

// parseStat reads the pgrp and session fields of /proc/<pid>/stat:
// "pid (comm) state ppid pgrp session …"; comm may hold spaces and parens.
func parseStat(b []byte) (pgrp, sid int, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 4 {
		return 0, 0, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	sid, err2 := strconv.Atoi(string(f[3]))
	return pgrp, sid, err1 == nil && err2 == nil
}

func appendNew(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// leaderExited reports whether the process pid has exited (it is a zombie
// not yet reaped), without reaping it.
func leaderExited(pid int) bool {
	const (
		pPID    = 1
		wNoHang = 0x1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t: three int32, then si_pid, aligned as a pointer
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait|wNoHang, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		return errno == 0 && *(*int32)(unsafe.Pointer(&info[off])) != 0
	}
}
