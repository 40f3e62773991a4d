//go:build linux && !go1.26

package execengine

import "os"

// Built with Go before 1.26 (no os.Process.WithHandle), the engine cannot
// reach the pidfd os keeps for a child: every wait takes the fallback, one
// OS thread per running execution.
var exitPoller noPoller

type noPoller struct{}

func (noPoller) wait(*os.Process) (exited, ok bool) { return false, false }
