//go:build unix && !linux

package execengine

import "syscall"

// Elsewhere the engine signals the leader's process group only: a process
// of the session that moved to a group of its own is not found (see the
// README's platform notes).
func sessionGroups(int) []int { return nil }

// leaderExited is not known without reaping here.
func leaderExited(int) bool { return false }

// setParentDeathSignal does nothing: only Linux has a parent-death signal.
// A host that dies leaves its commands running here.
func setParentDeathSignal(*syscall.SysProcAttr) {}
