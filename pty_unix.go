//go:build linux || darwin || freebsd

package execengine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// ptySupported: this platform runs PTY requests.
const ptySupported = true

// openPTY opens a pseudo-terminal of cols × rows for one execution: the
// engine reads the master as the stdout stream and writes stdin to a
// second descriptor of it (so closing stdin never closes the reader); the
// slave becomes the child's stdin, stdout, stderr and controlling terminal.
func openPTY(cols, rows uint16) (*pipes, error) {
	mfd, slavePath, err := openMaster()
	if err != nil {
		return nil, err
	}
	// Nonblocking before os.NewFile: the master then goes through the
	// runtime poller, so read deadlines (the drain deadline) work on it.
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty: %w", err)
	}
	if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty: set window size: %w", err)
	}
	eof := byte(4) // ^D, unless the terminal says otherwise
	if t, err := unix.IoctlGetTermios(mfd, ioctlGetTermios); err == nil && t.Cc[unix.VEOF] != 0 {
		eof = t.Cc[unix.VEOF]
	}
	wfd, err := unix.FcntlInt(uintptr(mfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty: %w", err)
	}
	sfd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		unix.Close(wfd)
		return nil, fmt.Errorf("pty: open %s: %w", slavePath, err)
	}
	pp := &pipes{tty: true, eof: eof}
	pp.read[0] = os.NewFile(uintptr(mfd), "/dev/ptmx")
	pp.stdin = os.NewFile(uintptr(wfd), "/dev/ptmx")
	pp.child = []*os.File{os.NewFile(uintptr(sfd), slavePath)}
	return pp, nil
}

// setTerminal makes the slave the child's stdin, stdout, stderr and
// controlling terminal; the child leads its own session (sysProcAttr).
func setTerminal(cmd *exec.Cmd, slave *os.File) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0 // the child's descriptor 0: the slave
}

// setWinsize sets the window size of the terminal whose master is f; the
// kernel sends SIGWINCH to its foreground process group.
func setWinsize(f *os.File, cols, rows uint16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return err
	}
	return serr
}

// ptyEnd reports whether err from a read of a pty master means the end of
// the terminal's output: on Linux the master reads EIO once every
// descriptor of the slave is closed and what was written is read.
func ptyEnd(err error) bool { return errors.Is(err, syscall.EIO) }
