//go:build unix

package execengine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// loginShellTimeout bounds LoginShellPath when ctx has no earlier deadline.
// A login profile that takes longer (a hung network mount, a prompt) is
// given up on rather than holding up the app's start. A var for tests.
var loginShellTimeout = 10 * time.Second

func loginShellPath(ctx context.Context) (string, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("execengine: login shell %s: "+format, append([]any{shell}, args...)...)
	}
	// The engine runs the shell: its session is killed on the deadline, and
	// a background process of the profile holding stdout cannot delay the
	// return beyond the drain bound.
	cfg := DefaultConfig()
	cfg.StreamOutput = false
	cfg.EnableAutoCleanup = false
	cfg.MaxConcurrentExecutions = 1
	cfg.MaxOutputSizeBytes = 1 << 20
	cfg.KillGracePeriod = 200 * time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	e, err := New(cfg)
	if err != nil {
		return fail("%w", err)
	}
	defer e.Close()

	marker := rand.Text()
	begin, end := "EXECENGINE_PATH_BEGIN_"+marker, "EXECENGINE_PATH_END_"+marker
	// printenv, not "$PATH": fish expands "$PATH" with spaces between the
	// entries; every shell exports PATH in its colon-separated form.
	script := "echo " + begin + "; printenv PATH; echo " + end
	res, err := e.Run(ctx, Request{
		Command: Exec{Program: shell, Args: []string{"-l", "-c", script}},
		Timeout: loginShellTimeout,
	})
	if err != nil {
		return fail("%w", err)
	}
	// A background process of the profile that kept stdout open past the
	// drain bound makes the result failed, but the PATH is there.
	if p, ok := parseLoginPath(res.Stdout, begin, end); ok && res.ExitCode == 0 {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return fail("%w", err)
	}
	if res.Status == StatusTimeout {
		return fail("no PATH within %v: %w", loginShellTimeout, context.DeadlineExceeded)
	}
	if err := res.Err(); err != nil {
		var exit *ExitError
		if errors.As(err, &exit) {
			return fail("stderr %q: %w", loginTail(res.Stderr), err)
		}
		return fail("%w", err)
	}
	return fail("printed no PATH between the markers (stdout %q, stderr %q)", loginTail(res.Stdout), loginTail(res.Stderr))
}

// loginTail is the end of s, at most 200 bytes, for an error message.
func loginTail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = "…" + s[len(s)-200:]
	}
	return s
}

// parseLoginPath returns what stdout holds between the markers begin and
// end, without the line endings around it.
func parseLoginPath(stdout, begin, end string) (string, bool) {
	_, rest, ok := strings.Cut(stdout, begin)
	if !ok {
		return "", false
	}
	p, _, ok := strings.Cut(rest, end)
	if !ok {
		return "", false
	}
	p = strings.Trim(p, "\r\n")
	return p, p != ""
}
