//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// natsBinary builds execengine-nats (module natsexec) next to the
// execengine binary of the tests.
func natsBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(bridgeBinary(t))
	path := filepath.Join(dir, natsCommand)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-C", "../../natsexec", "-o", path, "./cmd/execengine-nats").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return path
}

// "execengine worker" and "execengine bridge --nats" are execengine-nats.
func TestNATSSubcommands(t *testing.T) {
	natsBinary(t)
	bin := bridgeBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runBin := func(path string, env []string, args ...string) (int, string) {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode(), out.String()
		}
		require.NoError(t, err)
		return 0, out.String()
	}

	code, out := runBin(bin, nil, "worker", "-h")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "-heartbeat", "the worker's own flags")
	assert.Contains(t, out, "-concurrency")

	code, out = runBin(bin, nil, "bridge", "--nats", "nats://127.0.0.1:1")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, out, "execengine-nats bridge: connecting to nats://127.0.0.1:1", "the cluster bridge ran")

	// Alone, with no companion next to it or in PATH.
	alone := filepath.Join(t.TempDir(), "execengine")
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(alone, data, 0o700))
	code, out = runBin(alone, []string{"PATH=/nonexistent"}, "worker", "--nats", "nats://127.0.0.1:1")
	assert.Equal(t, 127, code)
	assert.Contains(t, out, "execengine worker: execengine-nats not found next to this program or in PATH; install it with: go install")
}

func TestWantsNATS(t *testing.T) {
	for args, want := range map[string]bool{
		"--nats x": true, "-nats x": true, "--nats=x": true, "--max-line 5 --nats x": true,
		"": false, "--concurrency 4": false, "--natsy": false, "-- --nats": false,
	} {
		assert.Equal(t, want, wantsNATS(fieldsOf(args)), "%q", args)
	}
}

func fieldsOf(s string) []string { return strings.Fields(s) }
