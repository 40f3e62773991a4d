//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package execengine

import "os"

// waitExited is not available here: the caller reaps the process with
// Wait and kills the rest of its group afterwards.
func waitExited(*os.Process) bool { return false }
