//go:build unix

package execengine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeShell writes an executable login shell stand-in to a temp dir and
// makes it $SHELL for the test. It insists on "-l -c CMD", sources the
// profile next to it (body), then runs CMD, as a login shell does.
func fakeShell(t *testing.T, profile string) (shell, dir string) {
	t.Helper()
	dir = t.TempDir()
	shell = filepath.Join(dir, "fakesh")
	script := `#!/bin/sh
[ "$1" = -l ] && [ "$2" = -c ] || { echo "fakesh: want -l -c, got: $*" >&2; exit 64; }
. "` + filepath.Join(dir, "profile") + `"
eval "$3"
echo "noise from the logout script"
`
	require.NoError(t, os.WriteFile(shell, []byte(script), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "profile"), []byte(profile), 0o600))
	t.Setenv("SHELL", shell)
	return shell, dir
}

// The PATH the profile sets comes back exactly, whatever the profile and
// the logout script print around it, on stdout and stderr.
func TestLoginShellPath(t *testing.T) {
	want := "/opt/homebrew/bin:/Applications/My Tools/bin:" + os.Getenv("PATH")
	fakeShell(t, `echo "Last login: Wed Dec  2 13:47:45 on ttys000"
printf 'a line with no newline, then the markers'
echo "profile noise on stderr" >&2
PATH="/opt/homebrew/bin:/Applications/My Tools/bin:$PATH"; export PATH
echo "PATH=/not/this/one"
`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := execengine.LoginShellPath(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// With SHELL unset, /bin/sh is the login shell: it reads $HOME/.profile.
func TestLoginShellPathDefaultsToBinSh(t *testing.T) {
	home := t.TempDir()
	const want = "/from/dot-profile/bin:/usr/bin:/bin"
	require.NoError(t, os.WriteFile(filepath.Join(home, ".profile"), []byte("PATH="+want+"; export PATH\n"), 0o600))
	t.Setenv("HOME", home)
	t.Setenv("SHELL", "")
	got, err := execengine.LoginShellPath(context.Background())
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// A profile that hangs: LoginShellPath returns when ctx's deadline passes,
// with ctx's error, and the shell and its background child are gone.
func TestLoginShellPathHonoursDeadline(t *testing.T) {
	shell, dir := fakeShell(t, `sleep 30 & echo $$ > "$(dirname "$0")/pid"; wait`)
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := execengine.LoginShellPath(ctx)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), shell)
	assert.GreaterOrEqual(t, elapsed, deadline)
	assert.Less(t, elapsed, deadline+2*time.Second, "returned long after ctx's deadline")
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	requireGroupGone(t, pid) // the shell leads its session's only group
}

// Without a deadline on ctx, LoginShellPath's own bound ends a hung profile.
func TestLoginShellPathOwnTimeout(t *testing.T) {
	defer execengine.SetLoginShellTimeout(300 * time.Millisecond)()
	shell, _ := fakeShell(t, `exec sleep 30`)
	start := time.Now()
	_, err := execengine.LoginShellPath(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), shell)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// A shell that fails: the error names it, is an *ExitError with its code,
// and shows what it wrote to stderr.
func TestLoginShellPathShellFails(t *testing.T) {
	shell, _ := fakeShell(t, `echo "fakesh: bad profile" >&2; exit 3`)
	_, err := execengine.LoginShellPath(context.Background())
	require.Error(t, err)
	var exit *execengine.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 3, exit.Code)
	assert.Equal(t, `execengine: login shell `+shell+`: stderr "fakesh: bad profile": command failed with exit code 3`, err.Error())
}

// A shell that cannot be started, and one that exits 0 without running
// the command (as `cmd -c` does): errors naming the shell.
func TestLoginShellPathShellMissingOrIgnoresCommand(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-shell")
	t.Setenv("SHELL", missing)
	_, err := execengine.LoginShellPath(context.Background())
	assert.ErrorIs(t, err, execengine.ErrSpawnFailed)
	assert.Contains(t, err.Error(), "login shell "+missing)

	shell, _ := fakeShell(t, `echo "I ignore -c"; exit 0`)
	_, err = execengine.LoginShellPath(context.Background())
	require.Error(t, err)
	assert.Equal(t, `execengine: login shell `+shell+`: printed no PATH between the markers (stdout "I ignore -c", stderr "")`, err.Error())
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
