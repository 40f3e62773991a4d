package execengine

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The shell's syntax follows its name, the same on every platform.
func TestShellArgvBySyntax(t *testing.T) {
	for _, tc := range []struct {
		shell string
		want  []string
	}{
		{"bash", []string{"bash", "-c", "x"}},
		{"/bin/zsh", []string{"/bin/zsh", "-c", "x"}},
		{"sh", []string{"sh", "-c", "x"}},
		{"cmd", []string{"cmd", "/d", "/s", "/c", "x"}},
		{`C:\Windows\System32\CMD.EXE`, []string{`C:\Windows\System32\CMD.EXE`, "/d", "/s", "/c", "x"}},
		{"powershell", []string{"powershell", "-NoProfile", "-NonInteractive", "-Command", "x"}},
		{"pwsh.exe", []string{"pwsh.exe", "-NoProfile", "-NonInteractive", "-Command", "x"}},
		{"/usr/local/bin/pwsh", []string{"/usr/local/bin/pwsh", "-NoProfile", "-NonInteractive", "-Command", "x"}},
	} {
		assert.Equal(t, tc.want, shellArgv(tc.shell, "x"), "shell %q", tc.shell)
	}
}

// Shell{} runs the platform's default shell: bash on unix, cmd.exe on Windows.
func TestShellDefault(t *testing.T) {
	assert.Equal(t, shellArgv(defaultShell, "x"), shellArgv("", "x"))
	want := map[bool]string{false: "bash", true: "cmd.exe"}[runtime.GOOS == "windows"]
	assert.Equal(t, want, defaultShell)
}
