package execengine

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TCGETS

// openMaster opens a new pty master and returns the path of its slave.
func openMaster() (fd int, slave string, err error) {
	fd, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("pty: open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		unix.Close(fd)
		return -1, "", fmt.Errorf("pty: unlock: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("pty: slave number: %w", err)
	}
	return fd, "/dev/pts/" + strconv.Itoa(n), nil
}
