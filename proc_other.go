//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package execengine

// waitExited is not available here: the caller reaps the process with
// Wait and kills the rest of its group afterwards.
func waitExited(int) bool { return false }
