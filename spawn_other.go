//go:build !linux

package execengine

import "os/exec"

// spawner starts processes on the caller's thread: only Linux ties a
// child's parent-death signal to the thread that started it.
type spawner struct{}

func newSpawner() *spawner               { return &spawner{} }
func (*spawner) run(cmd *exec.Cmd) error { return startProcess(cmd) }
func (*spawner) close()                  {}
