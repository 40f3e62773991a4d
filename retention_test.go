//go:build unix

package execengine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// printBytes is a command that writes n bytes of stdout.
func printBytes(n int) execengine.Request {
	return shReq(fmt.Sprintf("head -c %d /dev/zero", n))
}

// inMemory returns which of ids are still in memory.
func inMemory(e *execengine.Engine, ids []uuid.UUID) []bool {
	out := make([]bool, len(ids))
	for i, id := range ids {
		_, err := e.Status(id)
		out[i] = err == nil
	}
	return out
}

// MaxRetainedOutputBytes bounds the output terminal executions keep: the
// oldest go first, checked when an execution ends (no tick needed).
func TestMaxRetainedOutputBytes(t *testing.T) {
	const kib = 1 << 10
	t.Run("oldest go first", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) {
			c.MaxRetainedOutputBytes = 100 * kib
			c.CleanupInterval = time.Hour // only the check at the end of an execution can act
		})
		var ids []uuid.UUID
		for range 4 {
			id := submit(t, e, printBytes(40*kib))
			waitFor(t, e, id)
			ids = append(ids, id)
		}
		// 4 × 40 KiB: after the third 120 KiB > 100 KiB, the first goes;
		// after the fourth, the second.
		assert.Equal(t, []bool{false, false, true, true}, inMemory(e, ids))
		assert.Equal(t, int64(80*kib), e.Stats().RetainedOutputBytes)
	})

	t.Run("the newest stays however large", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) {
			c.MaxRetainedOutputBytes = 10 * kib
			c.CleanupInterval = time.Hour
		})
		small := submit(t, e, printBytes(kib))
		waitFor(t, e, small)
		big := submit(t, e, printBytes(50*kib))
		res := waitFor(t, e, big)
		assert.Len(t, res.Stdout, 50*kib)
		assert.Equal(t, []bool{false, true}, inMemory(e, []uuid.UUID{small, big}))
		r, err := e.Result(big)
		require.NoError(t, err)
		assert.Len(t, r.Stdout, 50*kib)
	})

	t.Run("without auto cleanup only Cleanup removes", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) {
			c.MaxRetainedOutputBytes = 10 * kib
			c.EnableAutoCleanup = false
		})
		a := submit(t, e, printBytes(20*kib))
		waitFor(t, e, a)
		b := submit(t, e, printBytes(20*kib))
		waitFor(t, e, b)
		assert.Equal(t, []bool{true, true}, inMemory(e, []uuid.UUID{a, b}))
		assert.Equal(t, 1, e.Cleanup())
		assert.Equal(t, []bool{false, true}, inMemory(e, []uuid.UUID{a, b}))
	})

	t.Run("not while its terminal event is delivered", func(t *testing.T) {
		// The first execution's handler holds its terminal event while a
		// second one ends over the limit: the first stays until its
		// event is delivered, and goes in a later pass.
		release := make(chan struct{})
		inHandler := make(chan uuid.UUID, 1)
		var first uuid.UUID
		var e *execengine.Engine
		e = newEngine(t, func(c *execengine.Config) {
			c.MaxRetainedOutputBytes = 30 * kib
			c.CleanupInterval = time.Hour
			c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
				if ev.Type.IsTerminal() && ev.ExecutionID == first {
					inHandler <- ev.ExecutionID
					<-release
					// Terminal for every call while the handler runs.
					_, err := e.Status(ev.ExecutionID)
					assert.NoError(t, err, "the execution was removed while its terminal event was delivered")
				}
			})
		})
		first = uuid.New()
		req := printBytes(20 * kib)
		req.ID = first
		submit(t, e, req)
		ctx, cancel := context.WithTimeout(context.Background(), hangBound)
		defer cancel()
		select {
		case <-inHandler:
		case <-ctx.Done():
			t.Fatal("no terminal event")
		}
		second := submit(t, e, printBytes(20*kib))
		waitFor(t, e, second)
		assert.Equal(t, []bool{true, true}, inMemory(e, []uuid.UUID{first, second}), "held while its event is delivered")
		close(release)
		waitFor(t, e, first)
		third := submit(t, e, printBytes(kib))
		waitFor(t, e, third)
		assert.Equal(t, []bool{false, true, true}, inMemory(e, []uuid.UUID{first, second, third}))
	})
}
