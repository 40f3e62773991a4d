//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunSubcommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{"exit code passes through", []string{"run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n",
			[]string{"stderr| err\n", "execengine: failed exit_code=3", `error="command failed with exit code 3"`}},
		{"success", []string{"run", "--", "printf", "a\\nb"}, 0, "a\nb", []string{"execengine: completed exit_code=0"}},
		{"shell string", []string{"run", "--shell", "echo $((6*7))"}, 0, "42\n", nil},
		{"timeout", []string{"run", "--timeout", "100ms", "--grace", "50ms", "--shell", "echo start; sleep 10"}, 124, "start\n",
			[]string{"execengine: timeout exit_code=-1", "signal=SIGTERM"}},
		{"missing program", []string{"run", "--", "/no/such/program"}, 127, "", []string{"execengine: failed", "/no/such/program"}},
		{"signal", []string{"run", "--", "sh", "-c", "kill -SEGV $$"}, 139, "", []string{"signal=SIGSEGV"}},
		{"no command", []string{"run"}, 2, "", []string{"usage:"}},
		{"both shell and program", []string{"run", "--shell", "x", "--", "y"}, 2, "", []string{"not both"}},
		{"invalid request", []string{"run", "--dir", "/no/such/dir", "--", "true"}, 2, "", []string{`working directory "/no/such/dir": does not exist`}},
		{"unknown subcommand", []string{"frobnicate"}, 2, "", []string{`unknown subcommand "frobnicate"`}},
		{"no subcommand", nil, 2, "", []string{"usage:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			assert.Equal(t, tt.wantCode, code, stderr.String())
			assert.Equal(t, tt.wantStdout, stdout.String())
			for _, want := range tt.wantStderr {
				assert.Contains(t, stderr.String(), want)
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "--json", "--", "sh", "-c", "echo out; exit 2"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	var res execengine.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	assert.Equal(t, execengine.StatusFailed, res.Status)
	assert.Equal(t, 2, res.ExitCode)
	assert.Equal(t, "out\n", res.Stdout)
	assert.Equal(t, "out\n", stderr.String(), "with --json, live lines go to stderr")
}

// Ctrl-C on the real program cancels the execution and kills its group.
func TestRunInterrupt(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "execengine")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.CommandContext(ctx, bin, "run", "--grace", "1s", "--shell", "sleep 100 & echo $! > "+pidFile+"; echo ready; wait")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 6)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ready\n", string(buf))
	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	var sleepPID int
	_, err = fmtSscan(strings.TrimSpace(string(data)), &sleepPID)
	require.NoError(t, err)

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 130, exitErr.ExitCode())
	assert.Contains(t, stderr.String(), "execengine: cancelled")
	assert.Eventually(t, func() bool { return !alive(sleepPID) }, 5*time.Second, 10*time.Millisecond, "the background sleep was killed with its group")
}

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }

// alive reports whether pid is a live process; a zombie waiting for init
// to reap it is not.
func alive(pid int) bool {
	state, _, ok, err := procState(pid)
	if err != nil {
		panic(err) // no answer is not "gone"
	}
	return ok && state != 'Z'
}

// Every signal maps to 128 + its own number on this system, including the
// ones with no name in the library ("SIG40").
func TestRunSignalExitCodes(t *testing.T) {
	t.Parallel()
	sigs := []syscall.Signal{syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGSYS, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGKILL}
	if runtime.GOOS == "linux" {
		sigs = append(sigs, 34, 40, 64) // real-time signals
	}
	for _, sig := range sigs {
		t.Run(fmt.Sprint(int(sig)), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"run", "--", "sh", "-c", fmt.Sprintf("ulimit -c 0; kill -%d $$", int(sig))}, &stdout, &stderr)
			if code != 128+int(sig) {
				t.Errorf("signal %d (%v): exit code %d, want %d; stderr %q", int(sig), sig, code, 128+int(sig), stderr.String())
			}
		})
	}
	for name, want := range map[string]int{"SIGXCPU": int(syscall.SIGXCPU), "SIGSYS": int(syscall.SIGSYS), "SIG34": 34, "SIGUSR1": int(syscall.SIGUSR1)} {
		if n, ok := signalNumber(name); !ok || n != want {
			t.Errorf("signalNumber(%q) = %d, %v; want %d", name, n, ok, want)
		}
	}
	for _, name := range []string{"", "SIG", "SIGNOPE", "SIG-3", "USR1"} {
		if n, ok := signalNumber(name); ok {
			t.Errorf("signalNumber(%q) = %d, want not ok", name, n)
		}
	}
}

// Usage and error messages: no empty flag header, the prefix printed once.
func TestRunMessages(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run(nil, &stdout, &stderr))
	assert.Equal(t, usage+"\n", stderr.String(), "no run flags header without the flags")
	assert.NotContains(t, stderr.String(), "run flags:")

	stderr.Reset()
	assert.Equal(t, 2, run([]string{"run"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "run flags:\n  -dir string")

	stderr.Reset()
	assert.Equal(t, 2, run([]string{"run", "--dir", "/no/such/dir", "--", "true"}, &stdout, &stderr))
	assert.True(t, strings.HasPrefix(stderr.String(), "execengine: invalid request"), stderr.String())
	assert.NotContains(t, stderr.String(), "execengine: execengine:")

	stderr.Reset()
	assert.Equal(t, 2, runBridge(context.Background(), []string{"--concurrency", "0"}, strings.NewReader(""), io.Discard, &stderr))
	assert.Equal(t, "execengine bridge: invalid config: MaxConcurrentExecutions must be positive, got 0\n", stderr.String())
}

// SIGHUP (the terminal closed) and SIGTERM stop the command's whole
// session, then run exits 128+N.
func TestRunStopSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startWithSleep(t, "echo ready; wait")
			buf := make([]byte, 6)
			_, err := io.ReadFull(p.out, buf)
			require.NoError(t, err)
			sleepPID := p.sleepPID(t)
			require.NoError(t, p.cmd.Process.Signal(sig))
			p.wantStopped(t, 128+int(sig), sleepPID)
		})
	}
}

// withSleep is `execengine run` of a script that first starts a
// background `sleep 77` and writes its pid to pidFile.
type withSleep struct {
	cmd     *exec.Cmd
	out     io.ReadCloser
	stderr  bytes.Buffer
	pidFile string
}

func startWithSleep(t *testing.T, rest string) *withSleep {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p := &withSleep{pidFile: filepath.Join(t.TempDir(), "pid")}
	p.cmd = exec.CommandContext(ctx, bridgeBinary(t), "run", "--grace", "1s", "--shell",
		"sleep 77 & echo $! > "+p.pidFile+"; "+rest)
	p.cmd.Stderr = &p.stderr
	var err error
	p.out, err = p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	return p
}

// sleepPID reads the background sleep's pid, once the script has printed.
func (p *withSleep) sleepPID(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(p.pidFile)
	require.NoError(t, err)
	var pid int
	_, err = fmt.Sscan(strings.TrimSpace(string(data)), &pid)
	require.NoError(t, err)
	return pid
}

// wantStopped waits for run to exit with code, as cancelled, and for the
// background sleep to be gone.
func (p *withSleep) wantStopped(t *testing.T, code, sleepPID int) {
	t.Helper()
	err := p.cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, p.stderr.String())
	assert.Equal(t, code, exitErr.ExitCode(), p.stderr.String())
	assert.Contains(t, p.stderr.String(), "execengine: cancelled")
	assert.Eventually(t, func() bool { return !alive(sleepPID) }, 5*time.Second, 10*time.Millisecond, "the background sleep was stopped")
}

// run prints the bytes the command wrote: a 2 MB line stays one line,
// CRLF and a missing final newline are kept, stderr is marked at line
// starts only.
func TestRunExactBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := `{"k":"` + strings.Repeat("v", 2<<20) + `"}`
	path := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(path, []byte(line+"\n"), 0o600))
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "--max-output", "1024", "--", "cat", path}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, line+"\n", stdout.String(), "the 2 MB line came out changed")

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"run", "--shell", `printf 'a\r\nb\r1/2\r2/2'; printf 'e1\ne2 part' >&2; sleep 0.05; printf ' two\nno newline' >&2`}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Equal(t, "a\r\nb\r1/2\r2/2", stdout.String())
	want := "stderr| e1\nstderr| e2 part two\nstderr| no newline\nexecengine: completed"
	assert.True(t, strings.HasPrefix(stderr.String(), want), "stderr %q; want it to start %q", stderr.String(), want)
}

// A broken stdout (the reader went away, as with `| head -2`) stops the
// command's whole session, and run exits 141 as a shell's SIGPIPE would.
func TestRunBrokenStdout(t *testing.T) {
	t.Parallel()
	p := startWithSleep(t, "yes")
	buf := make([]byte, 4)
	_, err := io.ReadFull(p.out, buf) // like head -2
	require.NoError(t, err)
	assert.Equal(t, "y\ny\n", string(buf))
	sleepPID := p.sleepPID(t)
	require.NoError(t, p.out.Close())
	p.wantStopped(t, 141, sleepPID)
}

// run's stdin reaches the command when it is not a terminal, as it
// arrives (the command answers before the input ends); --stdin=false
// gives the command none.
func TestRunPassesStdin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bridgeBinary(t), "run", "--shell", `read a; echo "got $a"; cat`)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	_, err = io.WriteString(in, "one\n")
	require.NoError(t, err)
	got := make([]byte, len("got one\n"))
	_, err = io.ReadFull(out, got) // answered while stdin is still open
	require.NoError(t, err)
	assert.Equal(t, "got one\n", string(got))
	_, err = io.WriteString(in, "two\n")
	require.NoError(t, err)
	require.NoError(t, in.Close())
	rest, err := io.ReadAll(out)
	require.NoError(t, err)
	assert.Equal(t, "two\n", string(rest))
	require.NoError(t, cmd.Wait(), stderr.String())

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--", "cat"}, "x\n"},
		{[]string{"run", "--stdin", "--", "cat"}, "x\n"},
		{[]string{"run", "--stdin=false", "--", "cat"}, ""},
	} {
		cmd := exec.CommandContext(ctx, bridgeBinary(t), tc.args...)
		cmd.Stdin = strings.NewReader("x\n")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), stderr.String())
		assert.Equal(t, tc.want, stdout.String(), "%v", tc.args)
	}
}
