package execengine

import (
	"time"
)

// cleanupBatch bounds how many executions one lock hold removes, so a pass
// over many executions never blocks Execute or Status for long.
const cleanupBatch = 512

func (e *Engine) cleanupLoop() {
	t := time.NewTicker(e.cfg.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if n := e.Cleanup(); n > 0 {
				e.log.Debug("execengine: cleanup", "removed", n)
			}
		case <-e.stopTick:
			return
		}
	}
}

// Cleanup runs one cleanup pass now and returns how many executions it
// removed, oldest first: the terminal executions that completed more than
// Config.ExecutionRetention ago, then the oldest terminal ones while more
// than Config.MaxInMemoryExecutions are in memory or their output is above
// Config.MaxRetainedOutputBytes (the newest terminal execution is kept
// whatever its size). Pending and running executions are never removed,
// nor one whose terminal event is still being delivered (it goes in a
// later pass). The pass visits only executions it removes, a batch per
// lock hold. Spill files in the OS temp dir go with their executions.
func (e *Engine) Cleanup() int {
	cutoff := time.Now().Add(-e.cfg.ExecutionRetention)
	removed := 0
	var gone, held []*execution
	for more := true; more; {
		gone, held = gone[:0], held[:0]
		e.mu.Lock()
		more = false
		for n := 0; len(e.finished) > 0; {
			x := e.finished[0]
			if !x.removed {
				if n == cleanupBatch {
					more = true
					break
				}
				if !e.overdue(x, cutoff) {
					break
				}
				if x.delivered() {
					e.delete(x)
					gone = append(gone, x)
					n++
					removed++
				} else {
					held = append(held, x)
				}
			}
			e.finished[0] = nil
			e.finished = e.finished[1:]
		}
		if len(held) > 0 {
			e.finished = append(held, e.finished...)
		}
		e.compactFinished()
		e.mu.Unlock()
		for _, x := range gone {
			x.removeTempFiles() // after the lock: file system work
		}
	}
	return removed
}

// overdue reports whether the terminal execution x, the oldest left in
// e.finished, is due for removal; e.mu is held.
func (e *Engine) overdue(x *execution, cutoff time.Time) bool {
	switch {
	case !x.result.CompletedAt.After(cutoff), e.count > e.cfg.MaxInMemoryExecutions:
		return true
	case e.retained > e.cfg.MaxRetainedOutputBytes:
		return x != e.finished[len(e.finished)-1]
	}
	return false
}

// delivered reports whether x's terminal event has been delivered.
func (x *execution) delivered() bool {
	select {
	case <-x.done:
		return true
	default:
		return false
	}
}

// compactFinished drops executions removed by Remove from the cleanup list
// when they make up most of it, so it never outgrows the executions in
// memory by much; e.mu is held.
func (e *Engine) compactFinished() {
	if len(e.finished) < 64 || len(e.finished) < 2*e.count {
		return
	}
	kept := make([]*execution, 0, e.count)
	for _, x := range e.finished {
		if !x.removed {
			kept = append(kept, x)
		}
	}
	e.finished = kept
}
