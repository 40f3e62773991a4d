//go:build unix

package execengine

import "time"

// SetLoginShellTimeout changes LoginShellPath's own bound until restore is
// called.
func SetLoginShellTimeout(d time.Duration) (restore func()) {
	old := loginShellTimeout
	loginShellTimeout = d
	return func() { loginShellTimeout = old }
}
