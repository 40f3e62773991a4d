//go:build unix

package execengine_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

func TestInteractiveStdin(t *testing.T) {
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })

	t.Run("a conversation", func(t *testing.T) {
		// A prompt answered after it was seen, as a UI would.
		cmd := `printf 'code? \n'; read code; echo "got $code"; cat`
		id := submit(t, e, execengine.Request{Command: sh(cmd), Interactive: true})
		rec.waitLine(t, id, "code? ")
		n, err := e.WriteStdin(id, []byte("123456\n"))
		require.NoError(t, err)
		require.Equal(t, 7, n)
		rec.waitLine(t, id, "got 123456")
		_, err = e.WriteStdin(id, []byte("rest"))
		require.NoError(t, err)
		require.NoError(t, e.CloseStdin(id))
		_, err = e.WriteStdin(id, []byte("late"))
		require.ErrorIs(t, err, execengine.ErrStdinClosed)
		require.ErrorIs(t, e.CloseStdin(id), execengine.ErrStdinClosed)
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCompleted, res.Status)
		assert.Equal(t, "code? \ngot 123456\nrest", res.Stdout)
		_, err = e.WriteStdin(id, []byte("x"))
		require.ErrorIs(t, err, execengine.ErrStdinClosed, "after the end")
	})

	t.Run("Stdin first, then writes", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh("cat"), Interactive: true, Stdin: "first\n"})
		_, err := e.WriteStdin(id, []byte("second\n"))
		require.NoError(t, err)
		require.NoError(t, e.CloseStdin(id))
		assert.Equal(t, "first\nsecond\n", waitFor(t, e, id).Stdout)
	})

	t.Run("written while queued", func(t *testing.T) {
		e := newEngine(t, func(c *execengine.Config) { c.MaxConcurrentExecutions, c.MaxQueuedExecutions = 1, 1 })
		g := newGate(t)
		first := submit(t, e, shReq(g.waitCmd()))
		id := submit(t, e, execengine.Request{Command: sh("cat"), Interactive: true})
		st, err := e.Status(id)
		require.NoError(t, err)
		require.Equal(t, execengine.StatusPending, st)
		_, err = e.WriteStdin(id, []byte("early"))
		require.NoError(t, err)
		require.NoError(t, e.CloseStdin(id))
		g.open(t)
		waitFor(t, e, first)
		assert.Equal(t, "early", waitFor(t, e, id).Stdout)
	})

	t.Run("a full buffer", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh("sleep 30"), Interactive: true})
		block := bytes.Repeat([]byte("y"), 256<<10)
		var total int
		var err error
		for i := 0; i < 64 && err == nil; i++ { // 16 MiB at most: far above the buffer and the pipe
			var n int
			n, err = e.WriteStdin(id, block)
			total += n
		}
		require.ErrorIs(t, err, execengine.ErrStdinFull)
		assert.Contains(t, err.Error(), id.String())
		assert.Less(t, total, 4*execengine.StdinBufferSize, "the buffer is bounded")
		require.NoError(t, e.Cancel(id))
		assert.Equal(t, execengine.StatusCancelled, waitFor(t, e, id).Status)
	})

	t.Run("a child that closes stdin", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh(`exec 0<&-; sleep 0.5; echo ok`), Interactive: true})
		// Writes fail once the writer meets the closed pipe; the
		// execution is not failed by it.
		deadline := time.Now().Add(hangBound)
		for {
			_, err := e.WriteStdin(id, bytes.Repeat([]byte("z"), 128<<10))
			if errors.Is(err, execengine.ErrStdinClosed) {
				break
			}
			if err != nil && !errors.Is(err, execengine.ErrStdinFull) {
				t.Fatal(err)
			}
			require.True(t, time.Now().Before(deadline), "writes never failed")
			time.Sleep(10 * time.Millisecond)
		}
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCompleted, res.Status)
		assert.Equal(t, "ok\n", res.Stdout)
	})

	t.Run("a grandchild holding stdin does not delay the end", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh(`sleep 30 & echo started`), Interactive: true})
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusCompleted, res.Status)
		_, err := e.WriteStdin(id, []byte("x"))
		require.ErrorIs(t, err, execengine.ErrStdinClosed)
	})

	t.Run("errors", func(t *testing.T) {
		id := submit(t, e, shReq("true"))
		waitFor(t, e, id)
		_, err := e.WriteStdin(id, []byte("x"))
		require.ErrorIs(t, err, execengine.ErrInvalidRequest)
		require.ErrorIs(t, e.CloseStdin(id), execengine.ErrInvalidRequest)
		_, err = e.WriteStdin(uuid.New(), []byte("x"))
		require.ErrorIs(t, err, execengine.ErrNotFound)
		require.ErrorIs(t, e.CloseStdin(uuid.New()), execengine.ErrNotFound)

		never := submit(t, e, execengine.Request{Command: execengine.Exec{Program: "/no/such/program"}, Interactive: true})
		assert.Equal(t, execengine.StatusFailed, waitFor(t, e, never).Status)
		_, err = e.WriteStdin(never, []byte("x"))
		require.ErrorIs(t, err, execengine.ErrStdinClosed)
	})
}
