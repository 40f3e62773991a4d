package execengine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

const (
	blockSize     = 64 << 10 // one pipe's worth: the unit of reading and of stored output
	batchLines    = 100      // lines per stored batch
	maxLineLen    = 1 << 20  // longer lines are delivered in pieces of this size
	maxFinalDrain = 1 << 20  // bytes read without waiting once the drain deadline passed
	smallRead     = 512      // an idle pipe is read this much at a time, without a block
	// settleTimeout is how long the streams wait, after the session was
	// killed at the drain deadline, for the killed processes' pipe ends to close.
	settleTimeout = 100 * time.Millisecond

	// A stream that has kept keepDirect bytes moves its kept output into
	// one reservation (stream.big) that becomes the final string itself:
	// reserveFactor times what it has kept, never more than its limit
	// (nor reserveAhead beyond what it has kept), plus warnRoom for the
	// truncation warning. A final string that uses less than 1/trimRatio
	// of its reservation is copied to its exact size instead.
	keepDirect    = 1 << 20
	reserveFactor = 16
	warnRoom      = 128
	trimRatio     = 4
	reserveAhead  = 64<<20 + (1<<30-64<<20)*(strconv.IntSize/64) // 1 GiB; 64 MiB on 32-bit
)

var errWouldBlock = errors.New("execengine: read would block")

// stream reads one pipe of the child. The same code serves stdout and
// stderr: it keeps the bytes within the limit, applies the oversized-output
// strategy, and splits lines for events and logs.
type stream struct {
	x      *execution
	kind   EventType // EventStdout or EventStderr
	limit  int64
	events bool // deliver line events
	raw    bool // deliver chunk events
	// rawTail: the start of a UTF-8 sequence the last read ended inside,
	// held back from its chunk event until the next read completes it.
	rawTail []byte
	joined  []byte     // rawTail and the next read, when there was a rawTail
	log     *outputLog // nil: no log file

	partial []byte // the current line so far; reader goroutine only
	// incomplete: reading stopped at the drain deadline with the pipe
	// still open. Reader goroutine only until drained.
	incomplete bool
	err        error     // a write error of the spill file; reader goroutine only
	readAt     time.Time // when the chunk being split was read; stamps its events
	// tripped: this stream broke the limit under FailExecution and stopped
	// the execution; no more lines are shown. Reader goroutine only, so
	// checking it per chunk takes no lock.
	tripped bool
	ev      Event // reused for every line event: building a fresh one cost ~20 ns a line

	// A busy pipe is read straight into pooled blocks; the kept output is
	// the chunks pointing into them, so those bytes are copied once, into
	// the final Result string. An idle one is read into small, which a
	// waiting stream holds instead of a block; what comes in small reads
	// is kept in chunks of its own, in proportion to it. Reader goroutine only:
	buf       *[blockSize]byte   // the block being read into; nil while reads are small
	n, done   int                // bytes read into buf; of those, already stored
	bufKept   bool               // buf holds kept bytes: it is the last of blocks
	blocks    []*[blockSize]byte // blocks holding kept bytes, for blockPool once drained
	small     [smallRead]byte    // where reads go while buf is nil
	lastOwned bool               // the last chunk is one of the stream's own, not in a block

	// Guarded by x.mu: the stored state.
	chunks [][]byte // kept bytes, in order, within the limit; nil once big holds them
	// big holds the kept bytes once there are keepDirect of them: each
	// batch is copied from the (reused, so already mapped) read block into
	// it, the one copy into fresh memory, and its String() is the final
	// output. A Builder never changes bytes it holds, so its String() may
	// be handed out while more are written after them.
	big      *strings.Builder
	keptLen  int64
	warn     string // the truncation warning that follows the kept bytes
	final    string // the whole kept output once drained; chunks is then nil
	over     bool
	filePath string

	file *os.File        // StreamToFile spill; reader goroutine only
	red  *streamRedactor // masks secrets before anything else sees the bytes; nil: none yet

}

// blockPool recycles read blocks between executions: a spawn-heavy load
// does not allocate (and zero) 2 × 64 KiB per command, and a large
// capture reads into memory that is already mapped.
var blockPool = sync.Pool{New: func() any { return new([blockSize]byte) }}

func (s *stream) name() string { return string(s.kind) }

// drain reads r to its end. Output is stored in batches, so the
// execution's lock is taken once per batch, not per line: a batch ends at
// batchLines lines, a full block, or when the pipe has nothing more to
// give for now.
func (s *stream) drain(r *os.File) {
	lines, deadline, settling, late := 0, false, false, 0
	forksWaited := false
	probe := false // the last read emptied the pipe: look before giving the block back
	for {
		p := s.room()
		var m int
		var err error
		if probe {
			// A busy pipe is often empty for an instant: if more is there
			// already, keep reading into the block rather than going back
			// to small reads, which cost a read and an event more per write.
			probe = false
			if m, err = readReady(r, p); errors.Is(err, errWouldBlock) {
				s.releaseBlock() // idle again, and the block holds nothing kept
				continue
			}
			if m == 0 && err == nil {
				err = io.EOF
			}
		} else if !deadline {
			m, err = s.read(r, p)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !settling {
					s.x.noteDrainTimeout()
					// The group is gone and the pipe is still held: a
					// process that moved to a group of its own. Stop
					// the session and read what its end brings.
					settling = true
					s.x.stopStragglers()
					r.SetReadDeadline(time.Now().Add(settleTimeout))
					continue
				}
				// Held by a process outside the session: take what is
				// already there, then stop.
				deadline = true
				continue
			}
		} else {
			if late >= maxFinalDrain {
				s.incomplete = true
				break
			}
			m, err = s.readNow(r, p)
			late += m
			if m == 0 && errors.Is(err, errWouldBlock) && !forksWaited {
				// The holder may be another child between its fork and
				// its exec, which has a copy of every pipe of this
				// process: once the forks in progress have returned,
				// such copies are closed.
				forksWaited = true
				waitForks()
				continue
			}
			if m == 0 {
				s.incomplete = err != nil && !ptyEnd(err) // nil: end of file
				break
			}
		}
		if m > 0 && s.buf == nil && m < len(p) {
			// A small read: the pipe is idle; keep it without a block.
			s.split(p[:m])
			s.store(p[:m])
			lines = 0
		} else if m > 0 {
			short := m < len(p) && !deadline // the pipe is empty for now: store, so Snapshot is current
			if s.buf == nil {                // the small read was full: the pipe is busy
				s.buf, s.bufKept, s.n, s.done = blockPool.Get().(*[blockSize]byte), false, 0, 0
				copy(s.buf[:], p[:m])
				if s.red == nil && !deadline && err == nil {
					// Take the rest of the burst now, so it is one chunk
					// (one event, one write downstream), not 512 bytes and then the rest.
					k, rerr := readReady(r, s.buf[m:])
					m += k
					switch {
					case k == 0 && rerr == nil:
						err = io.EOF
					case rerr != nil && !errors.Is(rerr, errWouldBlock):
						err = rerr
					}
					short = m < blockSize
				}
			}
			lines += s.split(s.buf[s.n : s.n+m])
			s.n += m
			if short || s.n == blockSize || lines >= batchLines {
				s.flush()
				lines = 0
			}
			if short && !s.bufKept {
				if s.red == nil {
					probe = true
				} else {
					s.releaseBlock() // the redactor reads for itself
				}
			}
		}
		if err != nil {
			break
		}
	}
	s.flush()
	if s.buf != nil && !s.bufKept {
		blockPool.Put(s.buf)
	}
	s.buf = nil
	if len(s.rawTail) > 0 || len(s.partial) > 0 {
		s.lockSinks()
		if len(s.rawTail) > 0 {
			s.sendChunk(s.rawTail) // not UTF-8: passed on as it is
		}
		if len(s.partial) > 0 {
			s.emit(s.partial)
		}
		s.unlockSinks()
		s.partial = s.partial[:0]
	}
	if s.file != nil {
		if err := s.file.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("write %s file: %w", s.name(), err)
		}
	}
}

// flush stores what was read since the last batch.
func (s *stream) flush() {
	if s.n > s.done {
		s.store(s.buf[s.done:s.n])
		s.done = s.n
	}
}

// room returns where the next read goes: small while the pipe is idle,
// else the rest of the block.
func (s *stream) room() []byte {
	if s.buf == nil {
		return s.small[:]
	}
	if s.n == blockSize {
		s.nextBlock()
	}
	return s.buf[s.n:]
}

// releaseBlock gives back a block that holds no kept bytes, so a stream
// that went quiet waits without one.
func (s *stream) releaseBlock() {
	blockPool.Put(s.buf)
	s.buf, s.n, s.done = nil, 0, 0
}

// nextBlock makes room to read after a full block: a fresh block if the
// full one holds kept bytes, else the same one again.
func (s *stream) nextBlock() {
	if s.bufKept {
		s.buf, s.bufKept = blockPool.Get().(*[blockSize]byte), false
	}
	s.n, s.done = 0, 0
}

// split delivers chunk as a chunk event, then the complete lines in it,
// and keeps the rest for later.
func (s *stream) split(chunk []byte) (lines int) {
	if !s.events && !s.raw && s.log == nil {
		return 0
	}
	if s.tripped {
		return 0 // FailExecution tripped on this stream: nothing more is shown
	}
	s.lockSinks()
	defer s.unlockSinks()
	if s.raw {
		s.deliverChunk(chunk)
		if !s.events && s.log == nil {
			return 0
		}
	}
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
	if s.events {
		s.ev.Type, s.ev.Line, s.ev.Timestamp = s.kind, string(line), s.readAt
		s.x.sendLocked(&s.ev)
	}
	if s.log != nil {
		s.log.writeLocked(s.kind, line)
	}
}

// deliverChunk sends what was read as a chunk event, holding back a
// UTF-8 sequence that it ends inside of. The event's Data is b itself
// (handlers must not keep it), or b joined to the bytes held back.
func (s *stream) deliverChunk(b []byte) {
	if len(s.rawTail) > 0 {
		s.joined = append(append(s.joined[:0], s.rawTail...), b...)
		b = s.joined
	}
	cut := utf8Cut(b)
	if cut > 0 {
		s.sendChunk(b[:cut])
	}
	s.rawTail = append(s.rawTail[:0], b[cut:]...)
}

func (s *stream) sendChunk(data []byte) {
	kind := EventStdoutChunk
	if s.kind == EventStderr {
		kind = EventStderrChunk
	}
	ev := Event{Type: kind, Data: data, Timestamp: s.readAt}
	s.x.sendLocked(&ev)
}

// utf8Cut returns where p ends if the start of an incomplete UTF-8
// sequence at its end is cut off (len(p) if there is none).
func utf8Cut(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if utf8.FullRune(p[i:]) {
				return len(p)
			}
			return i
		}
	}
	return len(p)
}

// lockSinks takes the sinks' locks for one chunk and reads the clock once:
// every line of a chunk arrived at the same read, and time.Now per line
// cost about a third of the line path.
func (s *stream) lockSinks() {
	s.readAt = time.Now()
	if s.events || s.raw {
		s.x.evMu.Lock()
	}
	if s.log != nil {
		s.log.mu.Lock()
		s.log.stamp(s.readAt)
	}
}

func (s *stream) unlockSinks() {
	if s.log != nil {
		s.log.mu.Unlock()
	}
	if s.events || s.raw {
		s.x.evMu.Unlock()
	}
}

// store appends a batch to the stored output and applies the limit. b
// lies in s.buf, right after the bytes of the previous batch, or in
// s.small while s.buf is nil.
func (s *stream) store(b []byte) {
	if len(b) == 0 {
		return
	}
	x := s.x
	x.mu.Lock()
	if !s.over && s.keptLen+int64(len(b)) <= s.limit {
		s.keep(b)
		x.mu.Unlock()
		return
	}
	first := !s.over
	if first {
		room := s.limit - s.keptLen
		s.keep(b[:room])
		b = b[room:]
		s.over = true
	}
	strategy := x.e.cfg.OversizedOutputStrategy
	var head [][]byte
	switch {
	case first && strategy == TruncateWithWarning:
		s.warn = s.warning()
	case first && strategy == StreamToFile:
		head = s.keptChunks() // never changes again: safe to read unlocked
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

// keep adds b, which lies in s.buf (or s.small), to the kept chunks; x.mu
// is held.
func (s *stream) keep(b []byte) {
	if len(b) == 0 {
		return
	}
	s.keptLen += int64(len(b))
	if s.big == nil && s.keptLen >= keepDirect || s.big != nil && s.big.Cap()-s.big.Len() < len(b)+warnRoom {
		s.reserve()
	}
	if s.big != nil {
		s.big.Write(b)
		return
	}
	if s.buf == nil {
		// From a small read: copied into a chunk of the stream's own.
		// Appending stays within capacity or moves to a new array, so
		// the bytes of a chunk a snapshot may be reading never change.
		if n := len(s.chunks); s.lastOwned && len(s.chunks[n-1])+len(b) <= blockSize {
			s.chunks[n-1] = append(s.chunks[n-1], b...)
			return
		}
		s.chunks = append(s.chunks, append(make([]byte, 0, max(len(b), smallRead)), b...))
		s.lastOwned = true
		return
	}
	s.lastOwned = false
	if s.bufKept {
		last := &s.chunks[len(s.chunks)-1]
		*last = (*last)[:len(*last)+len(b)] // b follows it in the same block
		return
	}
	s.chunks = append(s.chunks, b)
	s.blocks = append(s.blocks, s.buf)
	s.bufKept = true
}

// reserve moves the kept bytes into a new reservation sized for keptLen
// (which already counts the batch being kept) and what may follow; x.mu is
// held. The blocks that held them go back to the pool, except the one
// being read into, which the stream goes on using as a plain read block.
func (s *stream) reserve() {
	size := min(s.limit, reserveFactor*s.keptLen, s.keptLen+reserveAhead)
	nb := new(strings.Builder)
	nb.Grow(int(size) + warnRoom)
	if s.big != nil {
		nb.WriteString(s.big.String())
	}
	for _, c := range s.chunks {
		nb.Write(c)
	}
	s.big = nb
	for _, b := range s.blocks {
		if b != s.buf {
			blockPool.Put(b)
		}
	}
	s.chunks, s.blocks, s.bufKept, s.lastOwned = nil, nil, false, false
}

// keptChunks returns the kept bytes as chunks, for reading only (the spill
// file's head); x.mu is held.
func (s *stream) keptChunks() [][]byte {
	if s.big != nil {
		k := s.big.String()
		return [][]byte{unsafe.Slice(unsafe.StringData(k), len(k))}
	}
	return s.chunks
}

func (s *stream) warning() string {
	w := "[OUTPUT TRUNCATED: " + s.name() + " exceeded the limit of " + strconv.FormatInt(s.limit, 10) + " bytes]\n"
	if c := s.keptChunks(); len(c) > 0 {
		if last := c[len(c)-1]; last[len(last)-1] != '\n' {
			w = "\n" + w
		}
	}
	return w
}

func (s *stream) openSpill(head [][]byte) {
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
	if s.x.e.cfg.LogDir == "" {
		s.x.tempFiles = append(s.x.tempFiles, f.Name())
	}
	s.x.mu.Unlock()
	for _, b := range head {
		s.spill(b)
	}
}

func (s *stream) spill(b []byte) {
	if s.file == nil || s.err != nil {
		return
	}
	if _, err := s.file.Write(b); err != nil {
		s.err = fmt.Errorf("write %s file %s: %w", s.name(), s.file.Name(), err)
	}
}

// contents returns the kept output, with the warning if any, as one
// string: the one copy of the kept bytes, or none once big holds them;
// x.mu is held.
func (s *stream) contents() string {
	if s.big != nil {
		return s.big.String() + s.warn
	}
	if s.chunks == nil {
		return s.final + s.warn
	}
	var b strings.Builder
	b.Grow(int(s.keptLen) + len(s.warn))
	for _, c := range s.chunks {
		b.Write(c)
	}
	b.WriteString(s.warn)
	return b.String()
}

// since copies the kept output from offset on, with the warning if any;
// x.mu is held.
func (s *stream) since(offset int64) []byte {
	if s.big != nil {
		k := s.big.String()
		if offset >= int64(len(k)) {
			return tail(s.warn, offset-int64(len(k)))
		}
		return append(append(make([]byte, 0, len(k)-int(offset)+len(s.warn)), k[offset:]...), s.warn...)
	}
	if s.chunks == nil {
		return tail(s.final+s.warn, offset)
	}
	out := []byte{}
	for _, c := range s.chunks {
		if offset >= int64(len(c)) {
			offset -= int64(len(c))
			continue
		}
		out = append(out, c[offset:]...)
		offset = 0
	}
	return append(out, tail(s.warn, offset)...)
}

// output makes the final kept output, returns it and gives the blocks back
// to the pool. Call it once the stream is drained; x.mu is held.
func (s *stream) output() string {
	if s.big != nil {
		s.big.WriteString(s.warn) // into warnRoom: no copy
		s.final = s.big.String()
		if s.big.Cap() > trimRatio*len(s.final) {
			s.final = strings.Clone(s.final)
		}
		s.big, s.warn = nil, ""
		return s.final
	}
	if s.chunks != nil {
		s.final = s.contents()
		s.warn = ""
		s.chunks = nil
		for _, b := range s.blocks {
			blockPool.Put(b)
		}
		s.blocks = nil
	}
	return s.final
}
