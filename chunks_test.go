//go:build unix

package execengine_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// chunkData joins the Data of the execution's chunk events of type typ and
// checks that each one is non-empty and ends on a UTF-8 boundary where the
// whole text is UTF-8.
func (r *recorder) chunkData(t *testing.T, id uuid.UUID, typ execengine.EventType) []byte {
	t.Helper()
	var all []byte
	for _, ev := range r.of(id) {
		if ev.Type != typ {
			continue
		}
		require.NotEmpty(t, ev.Data, "an empty %s event", typ)
		all = append(all, ev.Data...)
	}
	return all
}

func TestChunkEvents(t *testing.T) {
	rec := newRecorder(t)
	e := newEngine(t, func(c *execengine.Config) { c.EventHandler = rec })

	t.Run("exact bytes and lines", func(t *testing.T) {
		// Progress redrawn with \r, a CRLF, output without a final newline.
		cmd := `printf 'get 1/4\r'; sleep 0.05; printf '2/4\r4/4\r\nok\r\n'; printf err >&2; sleep 0.05; printf tail`
		id := submit(t, e, execengine.Request{Command: sh(cmd), Chunks: true})
		res := waitFor(t, e, id)
		require.Equal(t, execengine.StatusCompleted, res.Status)
		const out = "get 1/4\r2/4\r4/4\r\nok\r\ntail"
		assert.Equal(t, out, string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		assert.Equal(t, "err", string(rec.chunkData(t, id, execengine.EventStderrChunk)))
		assert.Equal(t, out, res.Stdout)
		assert.Equal(t, []string{"get 1/4\r2/4\r4/4", "ok", "tail"}, rec.lines(id, execengine.EventStdout))
		evs := rec.of(id)
		checkEvents(t, evs, res, true)
		// Each line comes after the chunk that completes it.
		var seen []byte
		for _, ev := range evs {
			switch ev.Type {
			case execengine.EventStdoutChunk:
				seen = append(seen, ev.Data...)
			case execengine.EventStdout:
				require.True(t, bytes.Contains(seen, []byte(ev.Line)), "line %q came before its chunk", ev.Line)
			}
		}
	})

	t.Run("a UTF-8 sequence split across writes", func(t *testing.T) {
		// é is \303\251; the pause makes the two bytes two reads.
		id := submit(t, e, execengine.Request{Command: sh(`printf 'caf\303'; sleep 0.2; printf '\251!\n'`), Chunks: true})
		res := waitFor(t, e, id)
		require.Equal(t, "café!\n", res.Stdout)
		var n int
		for _, ev := range rec.of(id) {
			if ev.Type == execengine.EventStdoutChunk {
				n++
				require.True(t, utf8.Valid(ev.Data), "chunk %q cuts a UTF-8 sequence", ev.Data)
			}
		}
		require.Equal(t, 2, n, "two reads, two chunks")
		assert.Equal(t, "café!\n", string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
	})

	t.Run("invalid UTF-8 at the end is delivered", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh(`printf 'ab\303'`), Chunks: true})
		waitFor(t, e, id)
		assert.Equal(t, "ab\303", string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
	})

	t.Run("large binary output", func(t *testing.T) {
		blob := make([]byte, 3*mib+17)
		_, _ = rand.Read(blob)
		path := filepath.Join(t.TempDir(), "blob")
		require.NoError(t, os.WriteFile(path, blob, 0o600))
		id := submit(t, e, execengine.Request{Command: sh("cat " + path), Chunks: true})
		res := waitFor(t, e, id)
		require.Equal(t, execengine.StatusCompleted, res.Status)
		require.True(t, bytes.Equal(blob, rec.chunkData(t, id, execengine.EventStdoutChunk)), "chunks differ from the bytes written")
	})

	t.Run("no line events", func(t *testing.T) {
		id := submit(t, e, execengine.Request{Command: sh(`printf 'a\nb\n'; printf 'c\n' >&2`), NoLineEvents: true})
		res := waitFor(t, e, id)
		assert.Equal(t, "a\nb\n", res.Stdout)
		assert.Equal(t, "c\n", res.Stderr)
		assert.Empty(t, rec.lines(id, execengine.EventStdout))
		assert.Empty(t, rec.lines(id, execengine.EventStderr))
		assert.Equal(t, "a\nb\n", string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		assert.Equal(t, "c\n", string(rec.chunkData(t, id, execengine.EventStderrChunk)))
		checkEvents(t, rec.of(id), res, true)
	})

	t.Run("without chunks none", func(t *testing.T) {
		id := submit(t, e, shReq(`echo hi`))
		waitFor(t, e, id)
		assert.Empty(t, rec.chunkData(t, id, execengine.EventStdoutChunk))
	})

	t.Run("secrets are masked", func(t *testing.T) {
		const secret = "hunter2-s3cr3t"
		cmd := `printf 'pw=hunter'; sleep 0.1; printf '2-s3'; sleep 0.1; printf 'cr3t done\n'`
		id := submit(t, e, execengine.Request{Command: sh(cmd), Chunks: true, Secrets: []string{secret}})
		res := waitFor(t, e, id)
		assert.Equal(t, "pw="+execengine.Redacted+" done\n", string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		assert.Equal(t, "pw="+execengine.Redacted+" done\n", res.Stdout)
	})
}

// TestChunkDataBothHandlers: the engine's handler and the request's see
// the same bytes.
func TestChunkDataBothHandlers(t *testing.T) {
	var engines, mine []byte
	e := newEngine(t, func(c *execengine.Config) {
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) { engines = append(engines, ev.Data...) })
	})
	req := execengine.Request{Command: sh("printf hello; sleep 0.05; printf ' world'"), Chunks: true,
		EventHandler: execengine.EventHandlerFunc(func(ev execengine.Event) { mine = append(mine, ev.Data...) })}
	res := run(t, e, req)
	assert.Equal(t, "hello world", res.Stdout)
	assert.Equal(t, "hello world", string(engines))
	assert.Equal(t, "hello world", string(mine))
}
