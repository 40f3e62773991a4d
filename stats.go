package execengine

import "sync/atomic"

// Stats is a snapshot of an engine's state and of what it did since [New],
// for dashboards and tests. The first four fields are gauges, the rest
// counters that only grow. Each field is read atomically on its own, so
// while executions come and go two fields may be a moment apart.
type Stats struct {
	// Running is the number of executions whose process is running (or
	// being reaped): started and not yet terminal.
	Running int64
	// Queued is the number of pending executions waiting for a slot.
	Queued int64
	// Retained is the number of executions in memory, in any state: what
	// Status, Result and List can still see.
	Retained int64
	// RetainedOutputBytes is the size of the stdout and stderr kept by the
	// terminal executions in memory (their Result.Stdout and Result.Stderr).
	RetainedOutputBytes int64

	// Submitted counts the requests Execute accepted (started or queued).
	Submitted int64
	// Rejected counts the requests Execute refused at the concurrency
	// limit ([ErrConcurrencyLimitReached]) or after Close or Shutdown
	// ([ErrClosed]). Requests that fail validation are not counted.
	Rejected int64
	// Started counts the processes started.
	Started int64
	// Completed counts the executions that ended completed (exit code 0).
	Completed int64
	// Failed counts the executions that ended failed: a non-zero exit, a
	// spawn failure, the output limit under FailExecution, an I/O error.
	Failed int64
	// TimedOut counts the executions that ended on their timeout.
	TimedOut int64
	// Cancelled counts the executions that ended cancelled, by Cancel or by
	// Close, pending or running.
	Cancelled int64
	// SpawnFailures counts the executions whose process could not be
	// started (ErrorCode "spawn_failed"); they count in Failed too.
	SpawnFailures int64
	// ForcedKills counts the process groups sent SIGKILL because they
	// outlived the grace period after SIGTERM (or at once, with a zero
	// Config.KillGracePeriod).
	ForcedKills int64
	// OutputTruncated counts the executions that ended with output over
	// Config.MaxOutputSizeBytes (Result.Truncated), whatever the strategy.
	OutputTruncated int64
	// DrainTimeouts counts the executions whose pipes were still held open
	// when the drain deadline passed after the leader's exit: a process
	// that left the group kept them.
	DrainTimeouts int64
}

// engineStats holds the atomics behind [Engine.Stats]. The gauges are kept
// as pairs of counters so that no path needs a lock to update them.
type engineStats struct {
	submitted, rejected, started, spawnFailures atomic.Int64
	completed, failed, timedOut, cancelled      atomic.Int64
	forcedKills, truncated, drainTimeouts       atomic.Int64
	endedRunning                                atomic.Int64 // terminal executions that had started
	queued, dequeued                            atomic.Int64
	stored, deleted                             atomic.Int64
	outputStored, outputDeleted                 atomic.Int64
}

// Stats returns the engine's current figures. It takes no lock: every
// field is an atomic counter, so it is cheap enough to poll.
func (e *Engine) Stats() Stats {
	s := &e.stats
	// The ends are read before the starts, so no gauge is ever negative.
	ended := s.endedRunning.Load()
	dequeued := s.dequeued.Load()
	deleted := s.deleted.Load()
	outDeleted := s.outputDeleted.Load()
	return Stats{
		Running:             s.started.Load() - ended,
		Queued:              s.queued.Load() - dequeued,
		Retained:            s.stored.Load() - deleted,
		RetainedOutputBytes: s.outputStored.Load() - outDeleted,
		Submitted:           s.submitted.Load(),
		Rejected:            s.rejected.Load(),
		Started:             s.started.Load(),
		Completed:           s.completed.Load(),
		Failed:              s.failed.Load(),
		TimedOut:            s.timedOut.Load(),
		Cancelled:           s.cancelled.Load(),
		SpawnFailures:       s.spawnFailures.Load(),
		ForcedKills:         s.forcedKills.Load(),
		OutputTruncated:     s.truncated.Load(),
		DrainTimeouts:       s.drainTimeouts.Load(),
	}
}

// finished counts res, the final result of an execution, before Wait can
// return it.
func (s *engineStats) finished(res *Result) {
	switch res.Status {
	case StatusCompleted:
		s.completed.Add(1)
	case StatusFailed:
		s.failed.Add(1)
	case StatusTimeout:
		s.timedOut.Add(1)
	case StatusCancelled:
		s.cancelled.Add(1)
	}
	if res.ErrorCode == CodeSpawnFailed {
		s.spawnFailures.Add(1)
	}
	if res.Truncated {
		s.truncated.Add(1)
	}
	s.outputStored.Add(int64(len(res.Stdout) + len(res.Stderr)))
	if res.PID != 0 {
		s.endedRunning.Add(1)
	}
}

// forgotten counts the removal of x from memory; e.mu is held.
func (s *engineStats) forgotten(x *execution) {
	if x.result != nil {
		s.outputDeleted.Add(int64(len(x.result.Stdout) + len(x.result.Stderr)))
	}
	s.deleted.Add(1)
}

// noteDrainTimeout counts x in DrainTimeouts, once whichever stream is late.
func (x *execution) noteDrainTimeout() {
	if x.drainLate.CompareAndSwap(false, true) {
		x.e.stats.drainTimeouts.Add(1)
	}
}
