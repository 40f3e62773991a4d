//go:build windows

package execengine

import (
	"os"
	"syscall"
)

// Windows has no process groups or signals here: the engine stops the
// leader only. Job objects would be needed to reach its descendants.

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func terminateGroup(pid int) { killGroup(pid) }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func waitExited(*os.Process) bool { return false }

func exitInfo(ps *os.ProcessState) (int, string) { return ps.ExitCode(), "" }

func readNow(*os.File, []byte) (int, error) { return 0, errWouldBlock }

func killSession(pid int) { killGroup(pid) }

// openNoFollow: Windows has no such open flags; log targets are checked
// with Lstat before the start.
const openNoFollow = 0

// groupOrOtherWritable: access is an ACL matter on Windows, which the
// mode bits do not show; directories are used as they are (see the README).
func groupOrOtherWritable(os.FileInfo) bool { return false }

// leaderExited: the leader is stopped through its handle here, which
// cannot reach a reused pid.
func leaderExited(int) bool { return false }
