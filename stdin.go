package execengine

import (
	"fmt"
	"os"
	"sync"

	"github.com/google/uuid"
)

// StdinBufferSize is how many bytes [Engine.WriteStdin] holds for a child
// that has not read them yet; a write that does not fit is cut short with
// [ErrStdinFull].
const StdinBufferSize = 1 << 20

// stdinFeed is the stdin of an interactive execution. WriteStdin adds to
// buf; one writer goroutine, owned by the execution's spawn, writes it to
// the pipe, so a caller never blocks on a child that does not read.
type stdinFeed struct {
	mu      sync.Mutex
	buf     []byte // written by WriteStdin, not yet taken by the writer
	closing bool   // CloseStdin: close the pipe once buf is written
	closed  bool   // no more writes: closed, broken, or the process ended
	pipe    *os.File
	wake    chan struct{} // one pending wake-up for the writer
	// eof: a terminal's VEOF character, written at CloseStdin instead of
	// closing (0: a pipe). Set before run, read by run only.
	eof byte
}

func newStdinFeed(initial string) *stdinFeed {
	return &stdinFeed{buf: []byte(initial), wake: make(chan struct{}, 1)}
}

func (f *stdinFeed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// write adds p to the buffer, as much as fits.
func (f *stdinFeed) write(id uuid.UUID, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.closing {
		return 0, fmt.Errorf("%w: %s", ErrStdinClosed, id)
	}
	n := min(len(p), max(0, StdinBufferSize-len(f.buf)))
	f.buf = append(f.buf, p[:n]...)
	if n > 0 {
		f.signal()
	}
	if n < len(p) {
		return n, fmt.Errorf("%w: %s: %d of %d bytes taken", ErrStdinFull, id, n, len(p))
	}
	return n, nil
}

// close asks for EOF once what was written has reached the child.
func (f *stdinFeed) close(id uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.closing {
		return fmt.Errorf("%w: %s", ErrStdinClosed, id)
	}
	f.closing = true
	f.signal()
	return nil
}

// shut ends the feed: later writes fail, and a write blocked on a pipe
// that a grandchild holds but does not read returns.
func (f *stdinFeed) shut() {
	f.mu.Lock()
	f.closed, f.buf = true, nil
	pipe := f.pipe
	f.mu.Unlock()
	f.signal()
	if pipe != nil {
		pipe.Close()
	}
}

// run writes the buffer to pipe until the feed is closed or shut, or the
// child stops reading (a broken pipe is not a failure of the execution).
func (f *stdinFeed) run(pipe *os.File) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		pipe.Close()
		return
	}
	f.pipe = pipe
	f.mu.Unlock()
	defer f.shut()
	var out []byte
	lineStart := true
	for {
		f.mu.Lock()
		out, f.buf = f.buf, out[:0]
		shut := f.closed
		done := shut || f.closing && len(out) == 0
		f.mu.Unlock()
		if len(out) > 0 {
			if _, err := pipe.Write(out); err != nil {
				return
			}
			last := out[len(out)-1]
			lineStart = last == '\n' || last == '\r'
			continue
		}
		if done {
			if f.eof != 0 && !shut {
				// A terminal reads EOF from VEOF at the start of a line;
				// elsewhere the first one only ends the pending line.
				eof := []byte{f.eof, f.eof}
				if lineStart {
					eof = eof[:1]
				}
				pipe.Write(eof)
			}
			return
		}
		<-f.wake
	}
}

// WriteStdin writes p to the stdin of an interactive execution
// ([Request.Interactive]), before or after it started. It never waits for
// the child: the bytes go to a buffer of [StdinBufferSize] that one writer
// per execution empties into the pipe. A write that does not fit returns
// how much was taken and an error matching [ErrStdinFull]; one after
// CloseStdin, after the process ended, or after the child closed its
// stdin returns [ErrStdinClosed]. Stdin is never logged or masked. It
// returns [ErrNotFound] for an unknown id and [ErrInvalidRequest] for an
// execution that is not interactive.
func (e *Engine) WriteStdin(id uuid.UUID, p []byte) (int, error) {
	f, err := e.stdinOf(id)
	if err != nil {
		return 0, err
	}
	return f.write(id, p)
}

// CloseStdin closes the stdin of an interactive execution once what was
// written before reaches the child, which then reads end of file. On a
// terminal ([Request.PTY]) it sends the terminal's VEOF character (^D) at
// the start of a line instead, as a person would. A second call, or one
// after the process ended, returns [ErrStdinClosed].
func (e *Engine) CloseStdin(id uuid.UUID) error {
	f, err := e.stdinOf(id)
	if err != nil {
		return err
	}
	return f.close(id)
}

func (e *Engine) stdinOf(id uuid.UUID) (*stdinFeed, error) {
	x, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	if x.stdin == nil {
		return nil, fmt.Errorf("%w: execution %s is not interactive (Request.Interactive)", ErrInvalidRequest, id)
	}
	return x.stdin, nil
}
