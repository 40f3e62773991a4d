//go:build unix

package execengine

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr starts every child as the leader of a new session, hence of
// a new process group: the engine can signal the whole tree it spawns, and
// the child has no controlling terminal, so it cannot hang reading /dev/tty.
func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setsid: true}
	setParentDeathSignal(a)
	return a
}

// terminateGroup asks every process of the execution's session to stop:
// SIGTERM, then SIGCONT so that a stopped process gets to handle it (as
// systemd and runc do).
func terminateGroup(pid int) {
	groups := append([]int{pid}, sessionGroups(pid, true)...)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGCONT} {
		for _, g := range groups {
			_ = syscall.Kill(-g, sig)
		}
	}
}

// killGroup kills every process left in the leader's process group.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// killSession kills every process left in the execution's session: the
// leader's group and every other group of its session. Groups cannot span
// sessions, so no other process is reached.
func killSession(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for _, g := range sessionGroups(pid, false) {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
}

// openNoFollow: log files are opened without following a symlink and
// without waiting for a FIFO's reader.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func groupOrOtherWritable(fi os.FileInfo) bool { return fi.Mode().Perm()&0o022 != 0 }

// exitInfo reads the exit code and the signal name ("" if none) of a process.
func exitInfo(ps *os.ProcessState) (code int, signal string) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return -1, signalName(ws.Signal())
	}
	return ps.ExitCode(), ""
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return "SIG" + strconv.Itoa(int(s))
}

// readNow reads what is already in the pipe without waiting: n == 0 with a
// nil error means end of file, errWouldBlock means nothing is there yet.
func readNow(f *os.File, p []byte) (int, error) {
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	return readReady(f, p)
}

// readReady is readNow that leaves the read deadline as it is: once it
// passed, it reports errWouldBlock, and the next blocking read the deadline.
func readReady(f *os.File, p []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if rerr != syscall.EINTR {
				return true
			}
		}
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errWouldBlock
	}
	if err != nil {
		return 0, err
	}
	if errors.Is(rerr, syscall.EAGAIN) {
		return 0, errWouldBlock
	}
	if n < 0 {
		n = 0
	}
	return n, rerr
}

// waitForks returns once the forks in progress in this process have
// returned. A fork holds syscall.ForkLock until it returns, and on Linux
// (vfork) it returns only once its child has exec'd or died, so the
// copies of this process's pipes that the child had are closed by then.
// Elsewhere the child may still be on its way to exec.
func waitForks() {
	syscall.ForkLock.RLock()
	//lint:ignore SA2001 waiting for the writers is the point
	syscall.ForkLock.RUnlock()
}

// startProcess starts cmd; its session is its container (see sysProcAttr).
func startProcess(cmd *exec.Cmd) error { return cmd.Start() }

// outputPipe returns a pipe for a child's stdout or stderr.
func outputPipe() (r, w *os.File, err error) { return os.Pipe() }

// releaseProcess: nothing is held per process on unix.
func releaseProcess(int) {}
