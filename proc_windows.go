//go:build windows

package execengine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows has no process groups to signal: every execution gets a Job
// Object instead. The leader is started suspended, put in its job and only
// then resumed, so everything it starts is in the job too; stopping the
// execution terminates the job, which reaches the whole tree, and the job
// is created with kill-on-close, so nothing outlives the engine's process.
//
// The hooks below are called with the leader's pid, which cannot be reused
// while the engine holds its handle (from the start to releaseProcess).

// jobKilledExitCode is the exit code TerminateJobObject gives the tree:
// NTSTATUS-shaped (error severity, customer bit) so no program picks it by
// chance, and 9 as in SIGKILL. exitInfo reports it as ExitCode -1, Signal
// "SIGKILL".
const jobKilledExitCode = 0xE0000009

// statusControlCExit is the exit code of a process ended by CTRL_BREAK (or
// CTRL_C) when it has no handler of its own.
const statusControlCExit = 0xC000013A

var (
	// hasConsole: the engine's process has a console its children can share,
	// so CTRL_BREAK can reach them. A GUI app has none.
	hasConsole = sync.OnceValue(func() bool {
		r, _, _ := procGetConsoleWindow.Call()
		if r != 0 {
			return true
		}
		var mode uint32
		return windows.GetConsoleMode(windows.Stdout, &mode) == nil ||
			windows.GetConsoleMode(windows.Stderr, &mode) == nil
	})
	procGetConsoleWindow = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetConsoleWindow")
	procNtResumeProcess  = windows.NewLazySystemDLL("ntdll.dll").NewProc("NtResumeProcess")
	procPeekNamedPipe    = windows.NewLazySystemDLL("kernel32.dll").NewProc("PeekNamedPipe")

	// Replaced by tests: Wine has no GenerateConsoleCtrlEvent, and a failing
	// assignment cannot be provoked otherwise.
	sendCtrlBreak = func(pid int) error {
		return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(pid))
	}
	assignToJob = windows.AssignProcessToJobObject
)

// job is one execution's Job Object and the engine's handle on its leader.
type job struct {
	h       windows.Handle
	leader  windows.Handle
	console bool // the leader shares the engine's console: CTRL_BREAK first
}

// jobs maps a leader's pid to its job, from startProcess to releaseProcess.
var jobs sync.Map

func jobOf(pid int) *job {
	if j, ok := jobs.Load(pid); ok {
		return j.(*job)
	}
	return nil
}

// sysProcAttr starts every child suspended (it joins its job before it
// runs) and as the root of a new process group (a CTRL_BREAK reaches its
// tree, never the engine). A child of an engine with a console shares that
// console, which opens no window; without one (a GUI app) the child gets
// CREATE_NO_WINDOW, so no console window flashes up per command.
func sysProcAttr() *syscall.SysProcAttr {
	flags := uint32(windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP)
	if !hasConsole() {
		flags |= windows.CREATE_NO_WINDOW
	}
	return &syscall.SysProcAttr{CreationFlags: flags}
}

// startProcess starts cmd inside a new job. If the process cannot be put
// in its job it is terminated before it ran a single instruction of its
// own, and the start fails: nothing runs uncontained.
func startProcess(cmd *exec.Cmd) error {
	setCmdLine(cmd)
	j, err := newJob()
	if err != nil {
		return err
	}
	j.console = hasConsole()
	if err := cmd.Start(); err != nil {
		windows.CloseHandle(j.h)
		return err
	}
	pid := cmd.Process.Pid
	fail := func(what string, err error) error {
		if j.leader != 0 {
			windows.TerminateProcess(j.leader, jobKilledExitCode)
			windows.CloseHandle(j.leader)
		} else {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
		windows.CloseHandle(j.h) // kill on close: whatever got in goes too
		return fmt.Errorf("%s pid %d: %w", what, pid, err)
	}
	const access = windows.PROCESS_SET_QUOTA | windows.PROCESS_TERMINATE | windows.PROCESS_SUSPEND_RESUME |
		windows.PROCESS_QUERY_INFORMATION | windows.SYNCHRONIZE
	if j.leader, err = windows.OpenProcess(access, false, uint32(pid)); err != nil {
		return fail("open process", err)
	}
	if err := assignToJob(j.h, j.leader); err != nil {
		return fail("assign to job object", err)
	}
	if r, _, _ := procNtResumeProcess.Call(uintptr(j.leader)); r != 0 {
		return fail("resume", fmt.Errorf("NtResumeProcess: NTSTATUS %#x", r))
	}
	jobs.Store(pid, j)
	return nil
}

// newJob creates a job whose processes die when its last handle closes
// (the engine's process ending included) and which none can leave.
func newJob() (*job, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	// DIE_ON_UNHANDLED_EXCEPTION: a crash ends the process instead of
	// leaving it waiting on an error-report dialog nobody sees.
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
		windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
	if _, err := windows.SetInformationJobObject(h, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("set job object limits: %w", err)
	}
	return &job{h: h}, nil
}

// terminateGroup is the graceful stop: CTRL_BREAK to the leader's process
// group when it shares the engine's console; the job is terminated after
// the grace period. Without a console (or if the event cannot be sent)
// there is no way to ask, and the tree is terminated now: the Result then
// has Signal "SIGKILL".
func terminateGroup(pid int) {
	j := jobOf(pid)
	if j == nil {
		return
	}
	if j.console && sendCtrlBreak(pid) == nil {
		return
	}
	killGroup(pid)
}

// killGroup terminates every process of the execution's job.
func killGroup(pid int) {
	if j := jobOf(pid); j != nil {
		windows.TerminateJobObject(j.h, jobKilledExitCode)
	}
}

// waitExited waits on the engine's own handle to the leader, which does not
// reap it: the job is terminated after this, by handle, never by pid.
func waitExited(p *os.Process) bool {
	j := jobOf(p.Pid)
	if j == nil {
		return false
	}
	_, err := windows.WaitForSingleObject(j.leader, windows.INFINITE)
	return err == nil
}

// releaseProcess closes the execution's job, killing anything still in it,
// once the leader is reaped.
func releaseProcess(pid int) {
	j, ok := jobs.LoadAndDelete(pid)
	if !ok {
		return
	}
	windows.TerminateJobObject(j.(*job).h, jobKilledExitCode)
	windows.CloseHandle(j.(*job).h)
	windows.CloseHandle(j.(*job).leader)
}

// exitInfo reads the exit code; a tree the engine terminated reports
// ExitCode -1 and Signal "SIGKILL", a process ended by CTRL_BREAK without
// a handler of its own -1 and "CTRL_BREAK".
func exitInfo(ps *os.ProcessState) (int, string) {
	switch uint32(ps.ExitCode()) {
	case jobKilledExitCode:
		return -1, "SIGKILL"
	case statusControlCExit:
		return -1, "CTRL_BREAK"
	}
	return ps.ExitCode(), ""
}

// setCmdLine passes the command of `cmd /d /s /c <command>` verbatim:
// cmd.exe parses its command line itself, so the C runtime's quoting that
// os/exec applies would reach it as literal backslashes. With /s, cmd
// strips the outer quotes added here and runs the rest as written.
func setCmdLine(cmd *exec.Cmd) {
	a := cmd.Args
	if len(a) != 5 || !isCmdExe(a[0]) || !strings.EqualFold(a[1], "/d") ||
		!strings.EqualFold(a[2], "/s") || !strings.EqualFold(a[3], "/c") {
		return
	}
	cmd.SysProcAttr.CmdLine = syscall.EscapeArg(a[0]) + ` /d /s /c "` + a[4] + `"`
}

// pipeSeq numbers the engine's named pipes within its process.
var pipeSeq atomic.Uint64

// outputPipe returns a pipe for a child's stdout or stderr. Anonymous
// pipes take no read deadlines on Windows, so the engine's end is an
// overlapped named pipe (os.NewFile makes it pollable: deadlines work),
// and the child's end a plain synchronous handle, as children expect.
func outputPipe() (r, w *os.File, err error) {
	name := fmt.Sprintf(`\\.\pipe\execengine-%d-%d-%d`, os.Getpid(), time.Now().UnixNano(), pipeSeq.Add(1))
	n16, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, nil, err
	}
	// FIRST_PIPE_INSTANCE: fails if someone else created the name first.
	rh, err := windows.CreateNamedPipe(n16,
		windows.PIPE_ACCESS_INBOUND|windows.FILE_FLAG_OVERLAPPED|windows.FILE_FLAG_FIRST_PIPE_INSTANCE,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
		1, blockSize, blockSize, 0, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("create named pipe %s: %w", name, err)
	}
	wh, err := windows.CreateFile(n16, windows.GENERIC_WRITE|windows.FILE_READ_ATTRIBUTES, 0, nil,
		windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		windows.CloseHandle(rh)
		return nil, nil, fmt.Errorf("open named pipe %s: %w", name, err)
	}
	return os.NewFile(uintptr(rh), name), os.NewFile(uintptr(wh), name), nil
}

// waitForks has nothing to wait for: a child inherits only the handles
// its own StartProcess lists, never another execution's pipes.
func waitForks() {}

// readNow reads what is already in the pipe without waiting: n == 0 with a
// nil error means end of file, errWouldBlock means nothing is there yet.
func readNow(f *os.File, p []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var avail uint32
	var perr error
	if err := rc.Control(func(fd uintptr) {
		r, _, e := procPeekNamedPipe.Call(fd, 0, 0, 0, uintptr(unsafe.Pointer(&avail)), 0)
		if r == 0 {
			perr = e
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case errors.Is(perr, windows.ERROR_BROKEN_PIPE):
		return 0, nil
	case perr != nil:
		return 0, perr
	case avail == 0:
		return 0, errWouldBlock
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	return f.Read(p[:min(len(p), int(avail))]) // never blocks: the bytes are there
}

// readReady: on Windows a busy stream reads with the blocking path, which
// the drain deadline bounds; nothing is probed.
func readReady(*os.File, []byte) (int, error) { return 0, errWouldBlock }

// killSession: the job is the whole execution, session and all.
func killSession(pid int) { killGroup(pid) }

// openNoFollow: Windows has no such open flags; log targets are checked
// with Lstat before the start.
const openNoFollow = 0

// groupOrOtherWritable: access is an ACL matter on Windows, which the
// mode bits do not show; directories are used as they are (see the README).
func groupOrOtherWritable(os.FileInfo) bool { return false }

// leaderExited reports, through the engine's handle (never by pid),
// whether the leader has already exited.
func leaderExited(pid int) bool {
	j := jobOf(pid)
	if j == nil {
		return false
	}
	ev, err := windows.WaitForSingleObject(j.leader, 0)
	return err == nil && ev == windows.WAIT_OBJECT_0
}
