//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// secretForms are secret as given and base64 encoded at the three
// alignments, less the characters that depend on what follows.
func secretForms(secret string) []string {
	forms := []string{secret}
	for _, pre := range []string{"", "x", "xy"} {
		enc := base64.StdEncoding.EncodeToString([]byte(pre + secret))
		forms = append(forms, enc[(len(pre)*4+2)/3:len(enc)-4])
	}
	return forms
}

// requireNoForm fails if a form of secret shows in out.
func requireNoForm(t *testing.T, out []byte, secret, what string) {
	t.Helper()
	for _, form := range secretForms(secret) {
		require.False(t, bytes.Contains(out, []byte(form)), "%s leaks %q", what, form)
	}
}

// requireNoPiece fails if any 8 bytes of secret show in s.
func requireNoPiece(t *testing.T, s, secret, what string) {
	t.Helper()
	for i := 0; i+8 <= len(secret); i++ {
		require.NotContains(t, s, secret[i:i+8], "%s leaks part of the secret", what)
	}
}

// The bridge's whole output, byte for byte, holds no secret: request
// secrets and Env values matching the secret patterns are masked in line
// and chunk events, the started event's command, and the result.
func TestBridgeMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret, pass = "s3cr3t-P4ssw0rd-xyz", "hunter2-pass-abc"
	id := uuid.NewString()
	cmd := `printf 'key=s3cr3t-'; sleep 0.1; printf 'P4ssw0rd-xyz\n'; echo "pw=$DB_PASSWORD" >&2; ` +
		`printf '%s' 's3cr3t-P4ssw0rd-xyz' | base64; printf 'tail s3cr3t-P4ssw0rd-xyz'`
	req := request(id, cmd)
	req["secrets"] = []string{secret}
	req["env"] = map[string]string{"DB_PASSWORD": pass}
	req["chunks"] = true
	line, err := json.Marshal(req)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bridge := exec.CommandContext(ctx, bridgeBinary(t), "bridge")
	bridge.Stdin = bytes.NewReader(append(line, '\n'))
	var stderr bytes.Buffer
	bridge.Stderr = &stderr
	out, err := bridge.Output() // the bridge exits at stdin EOF, after the result
	require.NoError(t, err, stderr.String())
	requireNoForm(t, out, secret, "the bridge's stdout")
	requireNoForm(t, out, pass, "the bridge's stdout")
	requireNoForm(t, stderr.Bytes(), secret, "the bridge's stderr")

	red := execengine.Redacted
	var lines, chunks []string
	var res execengine.Result
	var started string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m msg
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		switch m.Type {
		case "event":
			ev := m.event(t)
			switch ev.Type {
			case execengine.EventStarted:
				started = ev.Command
			case execengine.EventStdout, execengine.EventStderr:
				lines = append(lines, string(ev.Type)+":"+ev.Line)
			case execengine.EventStdoutChunk:
				chunks = append(chunks, string(ev.Data))
			}
		case "result":
			res = m.result(t)
		}
	}
	require.NoError(t, sc.Err())
	// What the child wrote holds no piece of a secret either (the
	// command line holds pieces by design: it prints the secret in two).
	for _, s := range append(append(lines, chunks...), res.Stdout, res.Stderr) {
		requireNoPiece(t, s, secret, "output")
		requireNoPiece(t, s, pass, "output")
	}
	assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
	// base64 keeps its last characters, which depend on what follows.
	assert.Equal(t, "key="+red+"\n"+red+"g==\ntail "+red, res.Stdout)
	assert.Equal(t, "pw="+red+"\n", res.Stderr)
	assert.Contains(t, lines, "stdout:key="+red)
	assert.Contains(t, lines, "stdout:"+red+"g==", "the base64 form")
	assert.Contains(t, lines, "stdout:tail "+red)
	assert.Contains(t, lines, "stderr:pw="+red)
	joined := strings.Join(chunks, "")
	assert.Equal(t, res.Stdout, joined, "the stdout chunks")
	assert.Contains(t, started, red)
	assert.NotContains(t, started, secret)
}

// run masks the values of its environment variables named like secrets,
// and those it is told to with --secret-env.
func TestRunMasksSecretEnv(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bridgeBinary(t), "run", "--secret-env", "PLAIN_VALUE", "--shell",
		`echo "a=$DB_PASSWORD"; echo "b=$PLAIN_VALUE" >&2; echo "c=$SHORT_TOKEN"`)
	cmd.Env = append(cmd.Environ(), "DB_PASSWORD=hunter2-pass-abc", "PLAIN_VALUE=not-named-like-one", "SHORT_TOKEN=abc")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	red := execengine.Redacted
	assert.Equal(t, "a="+red+"\nc=abc\n", stdout.String())
	assert.Contains(t, stderr.String(), "stderr| b="+red+"\n")
	assert.Contains(t, stderr.String(), "$SHORT_TOKEN looks like a secret but is too short to mask")
	assert.NotContains(t, stderr.String(), "not-named-like-one")

	cmd = exec.CommandContext(ctx, bridgeBinary(t), "run", "--secret-env", "NO_SUCH_VAR_X", "--", "true")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 2, exitErr.ExitCode())
	assert.Contains(t, string(out), "--secret-env NO_SUCH_VAR_X: not set")
}
