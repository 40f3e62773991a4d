package execengine

import (
	"os/exec"
	"runtime"
	"sync"
)

// spawner starts processes from OS threads locked for the engine's
// lifetime. Linux sends a child's parent-death signal when the thread that
// forked it exits, and the Go runtime ends a thread whenever a goroutine
// that locked it returns without unlocking, anywhere in the program. A
// child started from one of these threads outlives no thread but its
// engine's, which stops only after its executions have ended.
type spawner struct {
	reqs  chan spawnReq
	wg    sync.WaitGroup
	start sync.Once // the threads start with the first process
	stop  sync.Once
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawnThreads bounds the threads: a fork blocks its thread only until the
// child execs.
const spawnThreads = 2

func newSpawner() *spawner { return &spawner{reqs: make(chan spawnReq)} }

func (s *spawner) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for r := range s.reqs {
		r.done <- startProcess(r.cmd)
	}
}

// run calls cmd.Start on a spawner thread.
func (s *spawner) run(cmd *exec.Cmd) error {
	s.start.Do(func() {
		for range spawnThreads {
			s.wg.Go(s.loop)
		}
	})
	done := make(chan error, 1)
	s.reqs <- spawnReq{cmd, done}
	return <-done
}

// close stops the threads; no start may follow or be running.
func (s *spawner) close() {
	s.stop.Do(func() { close(s.reqs) })
	s.wg.Wait()
}
