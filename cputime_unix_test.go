//go:build unix

package execengine_test

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time this process has used: on a
// shared machine a steadier measure of the engine's own work than wall
// time (the child's CPU is not in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
