package execengine

import (
	"fmt"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TIOCGETA

// openMaster opens a new pty master (posix_openpt: FreeBSD's slaves need
// no grant nor unlock) and returns the path of its slave.
func openMaster() (fd int, slave string, err error) {
	r, _, errno := syscall.Syscall(unix.SYS_POSIX_OPENPT, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC), 0, 0)
	if errno != 0 {
		return -1, "", fmt.Errorf("pty: posix_openpt: %w", errno)
	}
	fd = int(r)
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("pty: slave number: %w", err)
	}
	return fd, "/dev/pts/" + strconv.Itoa(n), nil
}
