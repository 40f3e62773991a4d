package execengine

import (
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
)

// waitExited blocks until process p has exited, without reaping it: the
// group keeps its id while the engine kills what the leader left behind,
// so the signal can never reach a process that reused the id.
//
// Built with Go 1.26+, where os holds a pidfd for the child (Linux 5.4+),
// one shared epoll goroutine watches that pidfd, so a running execution
// holds no OS thread and no descriptor of its own. Otherwise it blocks in
// waitid on this goroutine, which then holds a thread until the process
// exits.
func waitExited(p *os.Process) bool {
	if !noPidfd.Load() {
		if exited, ok := exitPoller.wait(p); ok {
			pidfdWaits.Add(1)
			return exited
		}
	}
	fallbackWaits.Add(1)
	return waitPid(p.Pid)
}

// waitPid blocks in waitid(P_PID, WNOWAIT).
func waitPid(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

// setParentDeathSignal makes the kernel SIGKILL the child when the thread
// that started it exits: when the host process dies, crashes included, its
// commands die with it. The signal follows the thread, not the process, so
// children are started from threads that never exit (see spawnThread).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
