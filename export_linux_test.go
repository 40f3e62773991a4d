package execengine

// ForceWaitFallback makes waitExited skip the pidfd, as on a kernel
// without one, until restore is called.
func ForceWaitFallback() (restore func()) {
	noPidfd.Store(true)
	return func() { noPidfd.Store(false) }
}

// WaitCounts reports how many waits went through a pidfd and through the
// blocking fallback since the test binary started.
func WaitCounts() (pidfd, fallback int64) { return pidfdWaits.Load(), fallbackWaits.Load() }
