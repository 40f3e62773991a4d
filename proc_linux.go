package execengine

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Which way waitExited waited: the tests check that each path is taken
// and keeps the guarantees. noPidfd forces the fallback (tests only).
var (
	noPidfd       atomic.Bool
	pidfdWaits    atomic.Int64
	fallbackWaits atomic.Int64
	pidfdMissing  atomic.Bool // the kernel has no pidfd_open or no waitid P_PIDFD
)

// waitExited blocks until the process pid has exited, without reaping it:
// the group keeps its id while the engine kills what the leader left behind,
// so the signal can never reach a process that reused the id.
//
// It parks the goroutine on a pidfd in the runtime's poller, so a running
// execution holds no OS thread. Where the kernel has no pidfd (before Linux
// 5.3, or waitid P_PIDFD before 5.4) it blocks in waitid on this goroutine,
// which then holds a thread until the process exits.
func waitExited(pid int) bool {
	if !noPidfd.Load() && !pidfdMissing.Load() {
		if exited, ok := waitPidfd(pid); ok {
			pidfdWaits.Add(1)
			return exited
		}
	}
	fallbackWaits.Add(1)
	return waitPid(pid)
}

// waitPidfd waits through a pidfd; ok is false when the kernel cannot.
// The child is not reaped until the engine reaps it, so its pid cannot
// be reused and pidfd_open refers to it, zombie or not.
func waitPidfd(pid int) (exited, ok bool) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.EINVAL) { // before Linux 5.10: no PIDFD_NONBLOCK
		if fd, err = unix.PidfdOpen(pid, 0); err == nil {
			err = unix.SetNonblock(fd, true)
			if err != nil {
				unix.Close(fd)
			}
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			pidfdMissing.Store(true)
		}
		return false, false
	}
	// Non-blocking, so os.NewFile registers it with the poller.
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false, false
	}
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			var info unix.Siginfo
			werr = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
			switch {
			case werr == unix.EINTR:
				continue
			case werr == unix.EAGAIN: // PIDFD_NONBLOCK: not exited yet
				return false
			case werr == nil && info.Signo == 0: // WNOHANG: not exited yet
				return false
			}
			return true
		}
	})
	switch {
	case err != nil:
		return false, false
	case werr == unix.EINVAL: // Linux 5.3: pidfd_open but no P_PIDFD
		pidfdMissing.Store(true)
		return false, false
	}
	return werr == nil, true
}

// waitPid blocks in waitid(P_PID, WNOWAIT).
func waitPid(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}

// setParentDeathSignal makes the kernel SIGKILL the child when the thread
// that started it exits: when the host process dies, crashes included, its
// commands die with it. The signal follows the thread, not the process, so
// children are started from threads that never exit (see spawnThread).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
