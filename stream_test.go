//go:build unix

package execengine_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

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
