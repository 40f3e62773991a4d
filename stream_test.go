//go:build unix

package execengine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// A stream goes from small reads (idle pipe) to blocks (busy pipe) and back,
// within and past the limit: the kept bytes and the lines are exact.
func TestIdleAndBusyReads(t *testing.T) {
	t.Parallel()
	// 3 small writes with pauses, a 300,000-byte burst of 1,000-byte lines,
	// more small writes.
	const cmd = `printf 'a\n'; sleep 0.05; printf 'bb'; sleep 0.05; printf 'b\n'; sleep 0.05
i=0; while [ $i -lt 300 ]; do printf '%0999d\n' $i; i=$((i+1)); done; sleep 0.05
printf 'c\n'; sleep 0.05; printf 'd'`
	var want strings.Builder
	want.WriteString("a\nbbb\n")
	for i := range 300 {
		want.WriteString(strings.Repeat("0", 999-len(strconv.Itoa(i))) + strconv.Itoa(i) + "\n")
	}
	want.WriteString("c\nd")
	for _, tc := range []struct {
		name  string
		limit int64
	}{
		{"all kept", 1 << 20},
		{"limit in the burst", 100_000},
		{"limit in the small reads", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t)
			e := newEngine(t, func(c *execengine.Config) {
				c.MaxOutputSizeBytes = tc.limit
				c.StreamOutput = true
				c.EventHandler = rec
			})
			res := run(t, e, shReq(cmd))
			assert.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			kept := want.String()
			if int64(len(kept)) > tc.limit {
				kept = kept[:tc.limit]
				assert.True(t, res.Truncated)
				assert.True(t, strings.HasPrefix(res.Stdout, kept), "kept bytes")
				assert.Contains(t, res.Stdout[len(kept):], "[OUTPUT TRUNCATED")
			} else {
				assert.Equal(t, kept, res.Stdout)
			}
			var lines []string
			for _, ev := range rec.of(res.ID) {
				if ev.Type == execengine.EventStdout {
					lines = append(lines, ev.Line)
				}
			}
			assert.Equal(t, splitLines(want.String()), lines)
		})
	}
}

// Past 1 MiB kept, a stream keeps its output in one reservation that
// becomes Result.Stdout (grown once more at 16 MiB here): the kept bytes,
// the truncation warning, the spill file, Snapshot and Output stay exact.
func TestLargeKeptOutput(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; b.Len() < 20*mib; i++ {
		fmt.Fprintf(&b, "line %08d %s\n", i, strings.Repeat("z", i%97))
	}
	text := b.String()
	path := filepath.Join(t.TempDir(), "text")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	for _, tc := range []struct {
		name     string
		limit    int64
		strategy execengine.OversizedOutputStrategy
		size     int // bytes of text written; 0: all
	}{
		{"all kept", 64 * mib, execengine.TruncateWithWarning, 0},
		{"all kept, copied to its size", 64 * mib, execengine.TruncateWithWarning, 3*mib/2 + 7},
		{"truncated after the first reservation", 3*mib + 5, execengine.TruncateWithWarning, 0},
		{"truncated after the second", 17 * mib, execengine.TruncateWithWarning, 0},
		{"spilled", 3 * mib, execengine.StreamToFile, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, func(c *execengine.Config) {
				c.MaxOutputSizeBytes = tc.limit
				c.OversizedOutputStrategy = tc.strategy
				c.LogDir = t.TempDir()
			})
			text := text
			if tc.size > 0 {
				text = text[:tc.size]
			}
			res := run(t, e, execengine.Request{Command: execengine.Exec{Program: "head", Args: []string{"-c", strconv.Itoa(len(text)), path}}})
			require.Equal(t, execengine.StatusCompleted, res.Status, res.Error)
			kept := text
			if int64(len(kept)) > tc.limit {
				kept = kept[:tc.limit]
				if tc.strategy == execengine.TruncateWithWarning {
					warn := "[OUTPUT TRUNCATED: stdout exceeded the limit of " + strconv.FormatInt(tc.limit, 10) + " bytes]\n"
					if !strings.HasSuffix(kept, "\n") {
						warn = "\n" + warn
					}
					kept += warn
				}
			}
			require.Equal(t, len(kept), len(res.Stdout))
			require.True(t, kept == res.Stdout, "Stdout differs from the kept bytes")
			assert.Equal(t, int64(len(text)) > tc.limit, res.Truncated)
			if tc.strategy == execengine.StreamToFile {
				spilled, err := os.ReadFile(res.StdoutFile)
				require.NoError(t, err)
				require.True(t, string(spilled) == text, "the spill file holds the whole stream")
			}
		})
	}
	t.Run("while running", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, func(c *execengine.Config) { c.MaxOutputSizeBytes = 64 * mib })
		id := submit(t, e, execengine.Request{Command: execengine.Exec{Program: "sh", Args: []string{"-c", "cat \"$0\"; exec sleep 600", path}}})
		deadline := time.Now().Add(hangBound)
		for {
			out, err := e.Output(id, execengine.EventStdout, 0)
			require.NoError(t, err)
			if len(out) == len(text) {
				require.True(t, string(out) == text)
				break
			}
			require.True(t, time.Now().Before(deadline), "%d of %d bytes kept after %v", len(out), len(text), hangBound)
			time.Sleep(10 * time.Millisecond)
		}
		snap, err := e.Snapshot(id)
		require.NoError(t, err)
		require.True(t, snap.Stdout == text, "Snapshot")
		for _, off := range []int{0, 1, mib - 1, mib, 16*mib + 3, len(text) - 1, len(text), len(text) + 5} {
			out, err := e.Output(id, execengine.EventStdout, int64(off))
			require.NoError(t, err)
			require.True(t, string(out) == text[min(off, len(text)):], "Output from %d", off)
		}
		require.NoError(t, e.Cancel(id))
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCancelled, res.Status)
		require.True(t, res.Stdout == text, "Result.Stdout")
		require.True(t, snap.Stdout == text, "the Snapshot string is unchanged")
	})
}
