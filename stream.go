package execengine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

const (
	readBufSize   = 64 << 10 // one pipe's worth; also the byte size of a stored batch
	batchLines    = 100      // lines per stored batch
	maxLineLen    = 1 << 20  // longer lines are delivered in pieces of this size
	maxFinalDrain = 1 << 20  // bytes read without waiting once the drain deadline passed
)

var (
	errWouldBlock = errors.New("execengine: read would block")
	noDeadline    time.Time
)

// stream reads one pipe of the child. The same code serves stdout and
// stderr: it keeps the bytes within the limit, applies the oversized-output
// strategy, and splits lines for events and logs.
type stream struct {
	x      *execution
	kind   EventType // EventStdout or EventStderr
	limit  int64
	events bool       // deliver line events
	log    *outputLog // nil: no log file

	partial []byte    // the current line so far; reader goroutine only
	err     error     // a write error of the spill file; reader goroutine only
	readAt  time.Time // when the chunk being split was read; stamps its events
	// tripped: this stream broke the limit under FailExecution and stopped
	// the execution; no more lines are shown. Reader goroutine only, so
	// checking it per chunk takes no lock.
	tripped bool

	// Guarded by x.mu: the stored state.
	kept     []byte
	over     bool
	filePath string

	file *os.File // StreamToFile spill; reader goroutine only
}

func (s *stream) name() string { return string(s.kind) }

// drain reads r to its end, storing output in batches of batchLines lines
// or readBufSize bytes, so the execution's lock is taken once per batch.
func (s *stream) drain(r *os.File) {
	buf := make([]byte, readBufSize)
	n, lines := 0, 0
	for {
		m, err := r.Read(buf[n:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Someone outside the process group holds the pipe: take what
			// is already there, then stop.
			for total := 0; total < maxFinalDrain; total += m {
				if n == len(buf) {
					s.store(buf[:n])
					n, lines = 0, 0
				}
				m, err = readNow(r, buf[n:])
				if m == 0 || err != nil {
					break
				}
				lines += s.split(buf[n : n+m])
				n += m
			}
			break
		}
		if m > 0 {
			lines += s.split(buf[n : n+m])
			n += m
			if n == len(buf) || lines >= batchLines {
				s.store(buf[:n])
				n, lines = 0, 0
			}
		}
		if err != nil {
			break
		}
	}
	s.store(buf[:n])
	if len(s.partial) > 0 {
		s.lockSinks()
		s.emit(s.partial)
		s.unlockSinks()
		s.partial = s.partial[:0]
	}
	if s.file != nil {
		if err := s.file.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("write %s file: %w", s.name(), err)
		}
	}
}

// split delivers the complete lines in chunk and keeps the rest for later.
func (s *stream) split(chunk []byte) (lines int) {
	if !s.events && s.log == nil {
		return 0
	}
	if s.tripped {
		return 0 // FailExecution tripped on this stream: nothing more is shown
	}
	s.lockSinks()
	defer s.unlockSinks()
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			s.partial = append(s.partial, chunk...)
			s.emitLongPieces()
			return lines
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, chunk[:i]...)
			s.emit(s.partial)
			s.partial = s.partial[:0]
		} else {
			s.emit(chunk[:i])
		}
		chunk = chunk[i+1:]
		lines++
	}
	return lines
}

// emitLongPieces delivers the partial line in maxLineLen pieces while it is
// longer than that. A trailing '\r' waits, as it may start a CRLF.
func (s *stream) emitLongPieces() {
	for {
		content := len(s.partial)
		if content > 0 && s.partial[content-1] == '\r' {
			content--
		}
		if content <= maxLineLen {
			return
		}
		k := s.emitPiece(s.partial[:content])
		s.partial = s.partial[:copy(s.partial, s.partial[k:])]
	}
}

// emit delivers one complete line, in maxLineLen pieces if it is longer.
func (s *stream) emit(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	for len(line) > maxLineLen {
		line = line[s.emitPiece(line):]
	}
	s.deliver(line)
}

// emitPiece delivers the first maxLineLen bytes of a long line, cut on a
// rune boundary when the text is UTF-8 there.
func (s *stream) emitPiece(line []byte) int {
	k := maxLineLen
	for back := 0; back < utf8.UTFMax && k > 0 && !utf8.RuneStart(line[k]); back++ {
		k--
	}
	if !utf8.RuneStart(line[k]) || k == 0 {
		k = maxLineLen
	}
	s.deliver(line[:k])
	return k
}

func (s *stream) deliver(line []byte) {
	text := string(line)
	if s.events {
		s.x.sendLocked(Event{Type: s.kind, Line: text, Timestamp: s.readAt})
	}
	if s.log != nil {
		s.log.writeLocked(s.kind, text)
	}
}

// lockSinks takes the sinks' locks for one chunk and reads the clock once:
// every line of a chunk arrived at the same read, and time.Now per line
// cost about a third of the line path.
func (s *stream) lockSinks() {
	s.readAt = time.Now()
	if s.events {
		s.x.evMu.Lock()
	}
	if s.log != nil {
		s.log.mu.Lock()
		s.log.now = s.readAt
	}
}

func (s *stream) unlockSinks() {
	if s.log != nil {
		s.log.mu.Unlock()
	}
	if s.events {
		s.x.evMu.Unlock()
	}
}

// store appends a batch to the stored output and applies the limit.
func (s *stream) store(b []byte) {
	if len(b) == 0 {
		return
	}
	x := s.x
	x.mu.Lock()
	if !s.over && int64(len(s.kept))+int64(len(b)) <= s.limit {
		s.kept = grow(s.kept, len(b), s.limit)
		s.kept = append(s.kept, b...)
		x.mu.Unlock()
		return
	}
	first := !s.over
	if first {
		room := s.limit - int64(len(s.kept))
		s.kept = append(grow(s.kept, int(room), s.limit), b[:room]...)
		b = b[room:]
		s.over = true
	}
	strategy := x.e.cfg.OversizedOutputStrategy
	var head []byte
	switch {
	case first && strategy == TruncateWithWarning:
		s.kept = append(s.kept, s.warning()...)
	case first && strategy == StreamToFile:
		head = s.kept // never changes again: safe to read unlocked
	}
	x.mu.Unlock()

	switch strategy {
	case FailExecution:
		if first {
			s.tripped = x.requestStop(stopOutputLimit, s.kind)
		}
	case StreamToFile:
		if first {
			s.openSpill(head)
		}
		s.spill(b)
	}
}

// grow makes room for n more bytes without ever reserving past the limit.
func grow(b []byte, n int, limit int64) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	c := max(2*cap(b), len(b)+n, 512)
	c = int(min(int64(c), limit+256)) // room for the warning line
	nb := make([]byte, len(b), max(c, len(b)+n))
	copy(nb, b)
	return nb
}

func (s *stream) warning() string {
	w := "[OUTPUT TRUNCATED: " + s.name() + " exceeded the limit of " + strconv.FormatInt(s.limit, 10) + " bytes]\n"
	if len(s.kept) > 0 && s.kept[len(s.kept)-1] != '\n' {
		w = "\n" + w
	}
	return w
}

func (s *stream) openSpill(head []byte) {
	dir := s.x.e.cfg.LogDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "execengine-"+s.x.id.String()+"-"+s.name()+"-*.log")
	if err != nil {
		s.err = fmt.Errorf("create %s file: %w", s.name(), err)
		return
	}
	s.file = f
	s.x.mu.Lock()
	s.filePath = f.Name()
	s.x.mu.Unlock()
	s.spill(head)
}

func (s *stream) spill(b []byte) {
	if s.file == nil || s.err != nil {
		return
	}
	if _, err := s.file.Write(b); err != nil {
		s.err = fmt.Errorf("write %s file %s: %w", s.name(), s.file.Name(), err)
	}
}

// output returns the kept bytes as a string without copying them: the
// caller must not let the stream append again.
func (s *stream) output() string {
	if len(s.kept) == 0 {
		return ""
	}
	return unsafe.String(&s.kept[0], len(s.kept))
}

// outputLog writes the lines of both streams to the execution's log files.
type outputLog struct {
	mu    sync.Mutex
	w     *bufio.Writer
	files []*os.File
	now   time.Time // timestamp of the batch being written
	err   error
}

func openLog(paths []string) (*outputLog, error) {
	l := &outputLog{}
	var ws []io.Writer
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			l.close()
			return nil, fmt.Errorf("open log: %w", err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("open log: %w", err)
		}
		l.files = append(l.files, f)
		ws = append(ws, f)
	}
	l.w = bufio.NewWriterSize(io.MultiWriter(ws...), 32<<10)
	return l, nil
}

// writeLocked writes "<RFC 3339 time> <stream> <line>"; l.mu is held.
func (l *outputLog) writeLocked(kind EventType, line string) {
	var ts [40]byte
	l.w.Write(l.now.UTC().AppendFormat(ts[:0], time.RFC3339Nano))
	l.w.WriteByte(' ')
	l.w.WriteString(string(kind))
	l.w.WriteByte(' ')
	l.w.WriteString(line)
	if err := l.w.WriteByte('\n'); err != nil && l.err == nil {
		l.err = err
	}
}

func (l *outputLog) close() error {
	if l == nil {
		return nil
	}
	var err error
	if l.w != nil {
		err = l.w.Flush()
	}
	for _, f := range l.files {
		err = errors.Join(err, f.Close())
	}
	if err == nil {
		err = l.err
	}
	return err
}
