//go:build unix

package execengine_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/escher-dbai/execengine"
)

// coalescedEngine is an engine whose handler is rec behind a Coalescer.
func coalescedEngine(t *testing.T, rec *recorder, opt execengine.CoalesceOptions) *execengine.Engine {
	co := execengine.NewCoalescer(rec, opt)
	return newEngine(t, func(c *execengine.Config) { c.EventHandler = co })
}

// checkMerged asserts the shape of a coalesced execution's events: Seq
// increasing from 1, started and status_changed first, status_changed and
// the terminal event last.
func checkMerged(t *testing.T, evs []execengine.Event) {
	t.Helper()
	require.GreaterOrEqual(t, len(evs), 4)
	assert.Equal(t, execengine.EventStarted, evs[0].Type)
	assert.Equal(t, uint64(1), evs[0].Seq)
	assert.Equal(t, execengine.EventStatusChanged, evs[1].Type)
	assert.Equal(t, execengine.EventStatusChanged, evs[len(evs)-2].Type)
	assert.True(t, evs[len(evs)-1].Type.IsTerminal())
	for i := 1; i < len(evs); i++ {
		assert.Greater(t, evs[i].Seq, evs[i-1].Seq, "event %d (%s) after %s", i, evs[i].Type, evs[i-1].Type)
	}
}

func TestCoalescer(t *testing.T) {
	t.Run("merges into one event per kind", func(t *testing.T) {
		rec := newRecorder(t)
		// Never by time: only the status_changed before the end flushes.
		e := coalescedEngine(t, rec, execengine.CoalesceOptions{Interval: time.Hour, MaxBytes: 1 << 30})
		id := submit(t, e, execengine.Request{Command: sh("seq 1 20000; echo err >&2"), Chunks: true})
		res := waitFor(t, e, id)
		evs := rec.of(id)
		checkMerged(t, evs)
		var types []execengine.EventType
		for _, ev := range evs[2 : len(evs)-2] {
			types = append(types, ev.Type)
		}
		assert.ElementsMatch(t, []execengine.EventType{execengine.EventStdoutChunk, execengine.EventStdout,
			execengine.EventStderrChunk, execengine.EventStderr}, types)
		var lines []string
		for i := 1; i <= 20000; i++ {
			lines = append(lines, strconv.Itoa(i))
		}
		assert.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		assert.Equal(t, []string{strings.Join(lines, "\n")}, rec.lines(id, execengine.EventStdout))
		assert.Equal(t, []string{"err"}, rec.lines(id, execengine.EventStderr))
		// The chunk run came before the lines it completes.
		for i, ev := range evs {
			if ev.Type == execengine.EventStdout {
				assert.Less(t, slicesIndexType(evs, execengine.EventStdoutChunk), i)
			}
		}
	})

	t.Run("flushes every interval", func(t *testing.T) {
		rec := newRecorder(t)
		e := coalescedEngine(t, rec, execengine.CoalesceOptions{Interval: 10 * time.Millisecond})
		id := submit(t, e, execengine.Request{Command: sh("printf a; sleep 0.3; printf b; sleep 0.3; echo"), Chunks: true})
		waitFor(t, e, id)
		var chunks []string
		for _, ev := range rec.of(id) {
			if ev.Type == execengine.EventStdoutChunk {
				chunks = append(chunks, string(ev.Data))
			}
		}
		assert.Equal(t, []string{"a", "b", "\n"}, chunks, "each read was alone in its interval")
		assert.Equal(t, []string{"ab"}, rec.lines(id, execengine.EventStdout))
		checkMerged(t, rec.of(id))
	})

	t.Run("bounded by MaxBytes", func(t *testing.T) {
		rec := newRecorder(t)
		var calls atomic.Int64
		rec.hook = func(ev execengine.Event) {
			if ev.Type == execengine.EventStdoutChunk {
				calls.Add(1)
				time.Sleep(time.Millisecond) // slower than the child: back-pressure
			}
		}
		const max = 64 << 10
		e := coalescedEngine(t, rec, execengine.CoalesceOptions{Interval: time.Hour, MaxBytes: max})
		id := submit(t, e, execengine.Request{Command: sh(`head -c 3000000 /dev/zero | tr '\0' x`), NoLineEvents: true})
		res := waitFor(t, e, id)
		require.Equal(t, 3000000, len(res.Stdout))
		assert.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
		for _, ev := range rec.of(id) {
			// One read (at most 64 KiB) can come on top of what is held.
			assert.LessOrEqual(t, len(ev.Data), max+64<<10)
		}
		assert.GreaterOrEqual(t, calls.Load(), int64(3000000/(max+64<<10)))
		checkMerged(t, rec.of(id))
	})

	t.Run("many executions, no overlap", func(t *testing.T) {
		rec := newRecorder(t) // fails the test on overlapping calls for one execution
		rec.hook = func(execengine.Event) { time.Sleep(100 * time.Microsecond) }
		e := coalescedEngine(t, rec, execengine.CoalesceOptions{Interval: time.Millisecond, MaxBytes: 4096})
		var ids []uuid.UUID
		for i := range 8 {
			ids = append(ids, submit(t, e, execengine.Request{
				Command: sh(fmt.Sprintf("for i in $(seq 1 3000); do echo %d-$i; done", i)), Chunks: true}))
		}
		for i, id := range ids {
			res := waitFor(t, e, id)
			evs := rec.of(id)
			checkMerged(t, evs)
			assert.Equal(t, res.Stdout, string(rec.chunkData(t, id, execengine.EventStdoutChunk)))
			var got []string
			for _, l := range rec.lines(id, execengine.EventStdout) {
				got = append(got, strings.Split(l, "\n")...)
			}
			require.Len(t, got, 3000)
			assert.Equal(t, fmt.Sprintf("%d-1", i), got[0])
			assert.Equal(t, fmt.Sprintf("%d-3000", i), got[2999])
		}
	})

	t.Run("an execution that never starts", func(t *testing.T) {
		rec := newRecorder(t)
		e := coalescedEngine(t, rec, execengine.CoalesceOptions{})
		id := submit(t, e, execengine.Request{Command: execengine.Exec{Program: "/no/such/program"}})
		res := waitFor(t, e, id)
		assert.Equal(t, execengine.StatusFailed, res.Status)
		evs := rec.of(id)
		require.Len(t, evs, 2)
		assert.Equal(t, execengine.EventFailed, evs[1].Type)
	})
}

func slicesIndexType(evs []execengine.Event, typ execengine.EventType) int {
	for i, ev := range evs {
		if ev.Type == typ {
			return i
		}
	}
	return -1
}

// spinHandler costs about cost per call, on the CPU as a UI's rendering
// would, and counts its calls.
type spinHandler struct {
	cost  time.Duration
	calls atomic.Int64
	bytes atomic.Int64
}

func (h *spinHandler) HandleEvent(ev execengine.Event) {
	h.calls.Add(1)
	h.bytes.Add(int64(len(ev.Data)))
	for start := time.Now(); time.Since(start) < h.cost; {
	}
}

// BenchmarkCoalescer: `yes | head -c N` with chunk and line events into a
// handler that costs 50 µs per call, without and with a Coalescer. N is
// EXECENGINE_BENCH_BYTES, else 2 MiB: at 50 MiB the plain handler takes
// about 25 minutes (26 million calls). It reports the handler's calls per
// second and per run, and the output rate.
func BenchmarkCoalescer(b *testing.B) {
	n := 2 << 20
	if v, err := strconv.Atoi(os.Getenv("EXECENGINE_BENCH_BYTES")); err == nil && v > 0 {
		n = v
	}
	for _, coalesce := range []bool{false, true} {
		b.Run(fmt.Sprintf("coalesce=%v", coalesce), func(b *testing.B) {
			h := &spinHandler{cost: 50 * time.Microsecond}
			var handler execengine.EventHandler = h
			if coalesce {
				handler = execengine.NewCoalescer(h, execengine.CoalesceOptions{})
			}
			e := benchEngine(b, func(c *execengine.Config) { c.MaxOutputSizeBytes = int64(n) })
			req := execengine.Request{Command: execengine.Shell{Command: fmt.Sprintf("yes | head -c %d", n), Shell: "sh"},
				Chunks: true, EventHandler: handler}
			b.SetBytes(int64(n))
			start := time.Now()
			for b.Loop() {
				res := runWait(b, e, req)
				if len(res.Stdout) != n {
					b.Fatalf("%d bytes of output, want %d", len(res.Stdout), n)
				}
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(h.calls.Load())/secs, "calls/s")
			b.ReportMetric(float64(h.calls.Load())/float64(b.N), "calls/op")
		})
	}
}
