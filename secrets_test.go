//go:build unix

package execengine_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

const testSecret = "s3cr3t-P4ssw0rd-xyz"

// requireNoSecret fails if the secret or a piece of it of 8 bytes or more
// shows anywhere in s.
func requireNoSecret(t *testing.T, s, secret, what string) {
	t.Helper()
	for i := 0; i+8 <= len(secret); i++ {
		require.NotContains(t, s, secret[i:i+8], "%s leaks part of the secret", what)
	}
}

// TestSecretPrintedInPieces: the secret is written in pieces with sleeps
// between them, so it arrives in separate reads; stored output, line
// events and the log file are masked byte for byte.
func TestSecretPrintedInPieces(t *testing.T) {
	rec := newRecorder(t)
	logDir := t.TempDir()
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec; c.LogDir = logDir })
	own := filepath.Join(t.TempDir(), "own.log")
	req := shReq(`printf 'pw=s3c'; sleep 0.1; printf 'r3t-P4s'; sleep 0.1; printf 'sw0rd-x'; sleep 0.1; printf 'yz ok\n'; printf 'end s3cr3t-P4ssw0rd-xyz' >&2`)
	req.Secrets, req.OutputLogPath = []string{testSecret}, own
	res := run(t, e, req)
	require.True(t, res.Success, res.Error)
	assert.Equal(t, "pw=[REDACTED] ok\n", res.Stdout)
	assert.Equal(t, "end [REDACTED]", res.Stderr) // at the very end, no newline
	assert.Equal(t, []string{"pw=[REDACTED] ok"}, rec.lines(res.ID, execengine.EventStdout))
	assert.Equal(t, []string{"end [REDACTED]"}, rec.lines(res.ID, execengine.EventStderr))
	for _, p := range []string{filepath.Join(logDir, res.ID.String()+".log"), own} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var got []string
		for _, l := range splitLines(string(b)) {
			_, rest, _ := strings.Cut(l, " ") // drop the timestamp
			got = append(got, rest)
		}
		slices.Sort(got)
		assert.Equal(t, []string{"stderr end [REDACTED]", "stdout pw=[REDACTED] ok"}, got, p)
	}
}

// TestSecretFromEnv: a value in Request.Env whose name matches the default
// patterns is masked, also in a set -x trace.
func TestSecretFromEnv(t *testing.T) {
	e := newEngine(t, nil)
	req := shReq(`echo $AWS_SECRET_ACCESS_KEY; set -x; : "$AWS_SECRET_ACCESS_KEY"`)
	req.Env = map[string]string{"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "PLAIN": "not-a-secret"}
	res := run(t, e, req)
	require.True(t, res.Success, res.Error)
	assert.Equal(t, "[REDACTED]\n", res.Stdout)
	assert.Equal(t, "+ : [REDACTED]\n", res.Stderr)

	off := newEngine(t, func(c *execengine.Config) { c.SecretEnvPatterns = []string{} })
	res = run(t, off, req)
	assert.Equal(t, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", res.Stdout, "an empty pattern list turns env matching off")
}

// TestSecretEncodings: base64 (at any alignment, as in user:secret) and
// JSON-escaped forms printed by the child are masked.
func TestSecretEncodings(t *testing.T) {
	e := newEngine(t, nil)
	secret := `tok"en/with\quote`
	js, _ := json.Marshal(secret)
	req := shReq(`printf '%s' "$V" | base64; printf 'user:%s' "$V" | base64; printf '{"t":%s}\n' "$J"`)
	req.Env = map[string]string{"V": secret, "J": string(js)}
	req.Secrets = []string{secret}
	res := run(t, e, req)
	require.True(t, res.Success, res.Error)
	b64 := base64.StdEncoding.EncodeToString([]byte("user:" + secret))
	requireNoSecret(t, res.Stdout, base64.StdEncoding.EncodeToString([]byte(secret)), "stdout")
	requireNoSecret(t, res.Stdout, b64[8:], "stdout")
	lines := splitLines(res.Stdout)
	require.Len(t, lines, 3, res.Stdout)
	assert.Contains(t, lines[0], execengine.Redacted)
	assert.True(t, strings.HasPrefix(lines[1], "dXNlcj"), lines[1])
	assert.Contains(t, lines[1], execengine.Redacted)
	assert.Equal(t, `{"t":"[REDACTED]"}`, lines[2])
}

// TestSecretInExecCommandLine: the started event renders the command
// masked, and the echoed argument is masked.
func TestSecretInExecCommandLine(t *testing.T) {
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec; c.Secrets = []string{testSecret} })
	res := run(t, e, execengine.Request{Command: execengine.Exec{Program: "echo", Args: []string{"--token", testSecret}}})
	require.True(t, res.Success, res.Error)
	assert.Equal(t, "--token [REDACTED]\n", res.Stdout)
	evs := rec.of(res.ID)
	require.Equal(t, execengine.EventStarted, evs[0].Type)
	assert.Equal(t, "echo --token [REDACTED]", evs[0].Command)
}

// TestAddSecretsMidRun: a value added while the execution runs is masked
// in what it prints afterwards.
func TestAddSecretsMidRun(t *testing.T) {
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })
	flag := filepath.Join(t.TempDir(), "go")
	req := shReq(`echo ready; while [ ! -e "$F" ]; do sleep 0.01; done; echo "late $VALUE"`)
	req.Env = map[string]string{"F": flag, "VALUE": "fetched-token-123456"}
	id := submit(t, e, req)
	rec.waitLine(t, id, "ready")
	require.NoError(t, e.AddSecrets(id, "fetched-token-123456"))
	require.NoError(t, os.WriteFile(flag, nil, 0o600))
	res := waitFor(t, e, id)
	assert.Equal(t, "ready\nlate [REDACTED]\n", res.Stdout)
	assert.Equal(t, []string{"ready", "late [REDACTED]"}, rec.lines(id, execengine.EventStdout))

	err := e.AddSecrets(id, "abc")
	require.ErrorIs(t, err, execengine.ErrInvalidRequest)
}

// TestSecretAcrossBlockBoundary: a secret that straddles the 64 KiB read
// block, and the output limit counting masked bytes; the spill file holds
// the masked stream byte for byte.
func TestSecretAcrossBlockBoundary(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, func(c *execengine.Config) {
		c.Secrets = []string{testSecret}
		c.LogDir = dir
		c.MaxOutputSizeBytes = 65536
		c.OversizedOutputStrategy = execengine.StreamToFile
	})
	req := shReq(`head -c 65530 /dev/zero | tr '\0' x; printf '%s|' "$S" "$S"; echo`)
	req.Env = map[string]string{"S": testSecret}
	res := run(t, e, req)
	require.True(t, res.Success, res.Error)
	want := strings.Repeat("x", 65530) + "[REDACTED]|[REDACTED]|\n"
	assert.Equal(t, want[:65536], res.Stdout, "the limit counts masked bytes")
	require.NotEmpty(t, res.StdoutFile)
	b, err := os.ReadFile(res.StdoutFile)
	require.NoError(t, err)
	assert.Equal(t, want, string(b))
}

// TestShortSecretRefused: a secret under 6 bytes is refused, by position,
// never by value.
func TestShortSecretRefused(t *testing.T) {
	e := newEngine(t, nil)
	req := shReq("true")
	req.Secrets = []string{"long-enough", "q7z"}
	_, err := e.Execute(t.Context(), req)
	require.ErrorIs(t, err, execengine.ErrInvalidRequest)
	assert.Equal(t, "execengine: invalid request: Request.Secrets[1] is 3 bytes; a secret needs at least 6", err.Error())

	req = shReq("true")
	req.Env = map[string]string{"DB_PASSWORD": "q7z"}
	_, err = e.Execute(t.Context(), req)
	require.ErrorIs(t, err, execengine.ErrInvalidRequest)
	assert.NotContains(t, err.Error(), "q7z")
	assert.Contains(t, err.Error(), `Env["DB_PASSWORD"]`)

	cfg := execengine.DefaultConfig()
	cfg.Secrets = []string{"q7z"}
	_, err = execengine.New(cfg)
	require.ErrorIs(t, err, execengine.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "q7z")
}

// TestSecretInValidationError: an error that would quote the secret masks it.
func TestSecretInValidationError(t *testing.T) {
	e := newEngine(t, nil)
	req := execengine.Request{Command: execengine.Exec{Program: "echo", Args: []string{"x\x00" + testSecret}}, Secrets: []string{testSecret}}
	_, err := e.Execute(t.Context(), req)
	require.Error(t, err)
	assert.True(t, errors.Is(err, execengine.ErrInvalidRequest), err)
	requireNoSecret(t, err.Error(), testSecret, "the error")
	assert.Contains(t, err.Error(), execengine.Redacted)
}
