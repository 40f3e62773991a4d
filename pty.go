package execengine

import (
	"cmp"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// PTY asks for an execution on a pseudo-terminal ([Request.PTY]): the child
// leads its own session with the terminal's slave as its controlling
// terminal and as its stdin, stdout and stderr, so it colours its output,
// draws progress and prompts as it does for a person. What it writes is
// one stream, reported as stdout (Result.Stderr stays empty), with the
// terminal's line endings ("\r\n"); a PTY request implies [Request.Chunks].
//
// Stdin: without [Request.Interactive] the child reads Stdin and then end
// of file, as with pipes; with it, [Engine.WriteStdin] types into the
// terminal (which echoes, as terminals do) and [Engine.CloseStdin] sends
// the terminal's end-of-file character (VEOF, ^D) at the start of a line.
//
// PTY requests run on Linux, macOS and FreeBSD. Elsewhere, Windows
// included (where a ConPTY may follow), Execute refuses them with
// [ErrInvalidRequest].
type PTY struct {
	Cols, Rows uint16 // the window size; 0: 80 columns, 24 rows
	Term       string // TERM in the child's environment (Request.Env may override it); "": xterm-256color
}

// DefaultTerm is the TERM of a [PTY] that names none.
const DefaultTerm = "xterm-256color"

// terminal is the pty of one execution: its window size, kept while the
// execution is pending, and its master while the process runs.
type terminal struct {
	mu         sync.Mutex
	cols, rows uint16
	master     *os.File // set by open, nil again once detached
}

func newTerminal(p *PTY) *terminal {
	return &terminal{cols: cmp.Or(p.Cols, 80), rows: cmp.Or(p.Rows, 24)}
}

// open opens the pty at the current window size.
func (t *terminal) open() (*pipes, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp, err := openPTY(t.cols, t.rows)
	if err == nil {
		t.master = pp.read[0]
	}
	return pp, err
}

// detach forgets the master before the spawn closes it: a Resize after
// that does nothing.
func (t *terminal) detach() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.master = nil
	t.mu.Unlock()
}

func (t *terminal) resize(cols, rows uint16) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cols, t.rows = cols, rows
	if t.master == nil {
		return nil
	}
	return setWinsize(t.master, cols, rows)
}

// Resize sets the window size of a PTY execution ([Request.PTY]); the
// child gets SIGWINCH. While the execution is pending the size is kept
// for its start; once it ended Resize does nothing. It returns
// [ErrNotFound] for an unknown id and [ErrInvalidRequest] for an execution
// without a PTY or a size of 0.
func (e *Engine) Resize(id uuid.UUID, cols, rows uint16) error {
	x, err := e.lookup(id)
	if err != nil {
		return err
	}
	if x.term == nil {
		return fmt.Errorf("%w: execution %s has no terminal (Request.PTY)", ErrInvalidRequest, id)
	}
	if cols == 0 || rows == 0 {
		return invalid("window size %d×%d: both must be at least 1", cols, rows)
	}
	if err := x.term.resize(cols, rows); err != nil {
		return fmt.Errorf("resize %s: %w", id, err)
	}
	return nil
}

// ptyEnv returns the TERM entry of a PTY request's environment, or an
// error matching ErrInvalidRequest when the platform has no PTY or Term
// cannot be an environment value.
func ptyEnv(p *PTY) (string, error) {
	if !ptySupported {
		return "", invalid("PTY requests are not supported on this platform (pipes only)")
	}
	term := cmp.Or(p.Term, DefaultTerm)
	if strings.IndexByte(term, 0) >= 0 {
		return "", invalid("PTY.Term %q contains a NUL byte", term)
	}
	return "TERM=" + term, nil
}
