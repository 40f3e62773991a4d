package execengine

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// CoalesceOptions tune a [Coalescer]; the zero value is the defaults.
type CoalesceOptions struct {
	// Interval is how long output waits to be merged: at most this long
	// after the first event a merged one is passed on. 0: 16 ms (a frame
	// at 60 Hz).
	Interval time.Duration
	// MaxBytes bounds the output an execution holds: when the merged
	// bytes and lines reach it, they are passed on at once, on the
	// engine's goroutine, so a slow handler slows the child instead of
	// the buffer growing. 0: 256 KiB.
	MaxBytes int
}

// Coalescer is an [EventHandler] that merges each execution's output
// events before passing them to another handler, so that a UI is not
// called for every line or read of a chatty command (`yes`, a build):
//
//   - consecutive chunk events of one stream become one whose Data is
//     their bytes (still never ending inside a UTF-8 sequence), and line
//     events of one stream one whose Line is their lines joined by "\n";
//   - merged events are passed on every Interval, when MaxBytes is
//     reached, and before every other event of the execution (started,
//     status_changed, the terminal event), which then follows at once: the
//     terminal event is still the last;
//   - a merged event has the Seq and Timestamp of the first event it
//     holds, so Seq still increases per execution (with gaps where events
//     were merged), and the calls come in Seq order;
//   - calls for one execution never overlap (the timer's flush and the
//     engine's call take turns), and Data is valid only during the call,
//     as from the engine.
//
// Merging keeps the order within each kind (stdout_chunk, stdout,
// stderr_chunk, stderr): a merged chunk event comes before the merged
// lines it completes. Between streams the merged events come in the
// order their first events came.
//
// A panic in the wrapped handler during a timer's flush is recovered (the
// engine recovers the others). A Coalescer holds nothing for an execution
// after its terminal event.
type Coalescer struct {
	h        EventHandler
	interval time.Duration
	maxBytes int

	mu    sync.Mutex
	execs map[uuid.UUID]*coalesced
}

// NewCoalescer returns a Coalescer that passes merged events to h.
func NewCoalescer(h EventHandler, opt CoalesceOptions) *Coalescer {
	if opt.Interval <= 0 {
		opt.Interval = 16 * time.Millisecond
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 256 << 10
	}
	return &Coalescer{h: h, interval: opt.Interval, maxBytes: opt.MaxBytes, execs: map[uuid.UUID]*coalesced{}}
}

// coalesced is one execution's pending output.
type coalesced struct {
	c     *Coalescer
	mu    sync.Mutex // held while the wrapped handler runs: calls never overlap
	runs  []*run     // pending merged events, by their first Seq
	free  []*run     // runs to reuse
	bytes int
	timer *time.Timer
	armed bool // the timer will flush
	ended bool // the terminal event was passed on
}

// run is one merged event in the making.
type run struct {
	ev    Event
	data  []byte // chunks' bytes, or the lines joined by '\n'
	lines int    // line events merged
}

// kinds merged, by index.
func outputKind(t EventType) bool {
	switch t {
	case EventStdout, EventStderr, EventStdoutChunk, EventStderrChunk:
		return true
	}
	return false
}

// HandleEvent merges an output event, or passes the merged output and
// then ev on.
func (c *Coalescer) HandleEvent(ev Event) {
	st := c.state(ev)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !outputKind(ev.Type) {
		st.flushLocked()
		c.h.HandleEvent(ev)
		if ev.Type.IsTerminal() {
			st.ended = true
			if st.timer != nil {
				st.timer.Stop()
			}
			c.mu.Lock()
			delete(c.execs, ev.ExecutionID)
			c.mu.Unlock()
		}
		return
	}
	st.add(ev)
	if st.bytes >= c.maxBytes {
		st.flushLocked()
		return
	}
	if !st.armed {
		st.armed = true
		if st.timer == nil {
			st.timer = time.AfterFunc(c.interval, st.tick)
		} else {
			st.timer.Reset(c.interval)
		}
	}
}

func (c *Coalescer) state(ev Event) *coalesced {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.execs[ev.ExecutionID]
	if st == nil {
		st = &coalesced{c: c}
		if !ev.Type.IsTerminal() {
			c.execs[ev.ExecutionID] = st
		}
	}
	return st
}

// add merges ev into the pending run of its kind, or starts one.
func (st *coalesced) add(ev Event) {
	var r *run
	for _, p := range st.runs {
		if p.ev.Type == ev.Type {
			r = p
			break
		}
	}
	if r == nil {
		if n := len(st.free); n > 0 {
			r, st.free = st.free[n-1], st.free[:n-1]
		} else {
			r = &run{}
		}
		r.ev = ev
		r.ev.Data, r.ev.Line = nil, ""
		r.data, r.lines = r.data[:0], 0
		st.runs = append(st.runs, r)
	}
	switch ev.Type {
	case EventStdoutChunk, EventStderrChunk:
		r.data = append(r.data, ev.Data...) // ev.Data is valid only now
		st.bytes += len(ev.Data)
	default:
		if r.lines > 0 {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, ev.Line...)
		r.lines++
		st.bytes += len(ev.Line) + 1
	}
}

// flushLocked passes the pending runs on, in order; st.mu is held.
func (st *coalesced) flushLocked() {
	for i, r := range st.runs {
		ev := r.ev
		switch ev.Type {
		case EventStdoutChunk, EventStderrChunk:
			ev.Data = r.data
		default:
			ev.Line = string(r.data)
		}
		st.runs[i] = nil
		st.free = append(st.free, r)
		st.c.h.HandleEvent(ev)
	}
	st.runs, st.bytes = st.runs[:0], 0
}

// tick is the timer's flush.
func (st *coalesced) tick() {
	st.mu.Lock()
	defer st.mu.Unlock()
	defer func() { _ = recover() }() // runs before the unlock
	st.armed = false
	if !st.ended {
		st.flushLocked()
	}
}
