package execengine

import (
	"syscall"
	"unsafe"
)

// waitExited blocks until the process pid has exited, without reaping it:
// the group keeps its id while the engine kills what the leader left behind,
// so the signal can never reach a process that reused the id.
func waitExited(pid int) bool {
	const (
		pPID    = 1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}

// setParentDeathSignal makes the kernel SIGKILL the child when the thread
// that started it exits: when the host process dies, crashes included, its
// commands die with it. The signal follows the thread, not the process, so
// children are started from threads that never exit (see spawnThread).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
