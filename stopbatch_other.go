//go:build !linux

package execengine

// stopBatch does nothing: only Linux scans /proc for a session's groups.
func stopBatch() (end func()) { return func() {} }
