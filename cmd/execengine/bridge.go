package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

const bridgeUsage = `usage:
  execengine bridge [flags]

bridge reads one JSON message per line on stdin and writes one JSON message
per line on stdout; see "JSON-lines bridge protocol" in README.md. At stdin
EOF the running and queued executions finish, then it exits 0. SIGINT or
SIGTERM cancels them (each still gets its result message), then it exits 130.

bridge flags:`

// Error codes of the bridge's error messages: stable, for programs to match.
const (
	codeInvalidJSON      = "invalid_json"      // not JSON, or not a JSON object
	codeLineTooLong      = "line_too_long"     // over --max-line; the line was discarded
	codeUnknownType      = "unknown_type"      // "type" is not one the bridge knows
	codeMissingField     = "missing_field"     // a required field is absent or null
	codeInvalidField     = "invalid_field"     // a field has the wrong JSON type or a bad value
	codeInvalidRequest   = "invalid_request"   // the request does not decode or the engine rejected it
	codeTimeoutTooLarge  = "timeout_too_large" // timeout_ms above --max-timeout
	codeDuplicateID      = "duplicate_id"      // an execution with that id is still in memory
	codeNotFound         = "not_found"         // no execution with that id
	codeConcurrencyLimit = "concurrency_limit" // every slot and queue place is taken: retry later
	codeClosed           = "closed"            // the engine is shutting down
	codeStdinFull        = "stdin_full"        // the stdin buffer is full: "bytes" were taken, send the rest later
	codeStdinClosed      = "stdin_closed"      // stdin was closed, the child stopped reading, or it ended
	codeInternal         = "internal"          // a bug: please report it
)

// bridgeOptions are the bridge's own flags beside the engine's Config.
type bridgeOptions struct {
	maxLine int
}

func parseBridgeFlags(args []string, errOut io.Writer) (execengine.Config, bridgeOptions, int) {
	def := execengine.DefaultConfig()
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	fs.SetOutput(errOut)
	concurrency := fs.Int("concurrency", def.MaxConcurrentExecutions, "executions running at once")
	queue := fs.Int("queue", def.MaxQueuedExecutions, "executions that may wait for a slot (0: refuse at the limit with concurrency_limit)")
	maxOutput := fs.Int64("max-output", def.MaxOutputSizeBytes, "bytes of each stream kept in memory per execution")
	strategy := fs.String("output-strategy", string(def.OversizedOutputStrategy), "beyond --max-output: TruncateWithWarning, FailExecution or StreamToFile")
	logDir := fs.String("log-dir", def.LogDir, "write <log-dir>/<id>.log per execution (\"\": no log files)")
	defTimeout := fs.Duration("default-timeout", def.DefaultTimeout, "timeout of a request without timeout_ms")
	maxTimeout := fs.Duration("max-timeout", def.MaxTimeout, "larger timeout_ms values are refused")
	grace := fs.Duration("grace", def.KillGracePeriod, "time between SIGTERM and SIGKILL when stopping an execution")
	retention := fs.Duration("retention", def.ExecutionRetention, "finished executions are forgotten after this long")
	maxInMemory := fs.Int("max-in-memory", def.MaxInMemoryExecutions, "finished executions kept in memory at most")
	streamOutput := fs.Bool("output-events", def.StreamOutput, "send a stdout/stderr event per output line")
	maxLine := fs.Int("max-line", 1<<20, "longest input line in bytes; longer ones are discarded with line_too_long")
	fs.Usage = func() {
		fmt.Fprintln(errOut, bridgeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return execengine.Config{}, bridgeOptions{}, 0
		}
		return execengine.Config{}, bridgeOptions{}, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "execengine bridge: unexpected argument %q: requests come on stdin\n", fs.Arg(0))
		return execengine.Config{}, bridgeOptions{}, 2
	}
	if *maxLine <= 0 {
		fmt.Fprintf(errOut, "execengine bridge: --max-line must be positive, got %d\n", *maxLine)
		return execengine.Config{}, bridgeOptions{}, 2
	}
	cfg := def
	cfg.MaxConcurrentExecutions = *concurrency
	cfg.MaxQueuedExecutions = *queue
	cfg.MaxOutputSizeBytes = *maxOutput
	cfg.LogDir = *logDir
	cfg.DefaultTimeout = *defTimeout
	cfg.MaxTimeout = *maxTimeout
	cfg.KillGracePeriod = *grace
	cfg.ExecutionRetention = *retention
	cfg.MaxInMemoryExecutions = *maxInMemory
	cfg.StreamOutput = *streamOutput
	cfg.OversizedOutputStrategy = execengine.OversizedOutputStrategy(*strategy)
	for _, s := range []execengine.OversizedOutputStrategy{execengine.TruncateWithWarning, execengine.FailExecution, execengine.StreamToFile} {
		if strings.EqualFold(*strategy, string(s)) {
			cfg.OversizedOutputStrategy = s
		}
	}
	if err := cfg.Validate(); err != nil {
		printErr(errOut, "execengine bridge", err)
		return execengine.Config{}, bridgeOptions{}, 2
	}
	return cfg, bridgeOptions{maxLine: *maxLine}, -1
}

// runBridge serves the JSON-lines protocol on in and out until in ends or
// ctx is cancelled, and returns the exit code: 0 after EOF once every
// execution has finished, 130 after ctx was cancelled (every execution is
// cancelled first), 1 when out broke or in failed, 2 for bad flags. Logs go to errOut.
//
// Every complete line it has read from in gets its reply, also when ctx
// is cancelled: those lines are answered first, then the executions are
// cancelled (so an execution accepted this way still gets its result).
// After ctx is cancelled, a message that out does not take within
// stopWriteDeadline is dropped (and counted on errOut), so a client that
// stopped reading cannot keep the bridge from exiting.
//
// The goroutine reading in ends at EOF; when ctx is cancelled first it
// ends at its next read. runBridge closes in if it is an io.Closer and
// waits for that goroutine; otherwise it returns without waiting, as it
// does for the goroutine writing out if that write is stuck (the process
// is about to exit anyway).
func runBridge(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	cfg, opts, code := parseBridgeFlags(args, errOut)
	if code >= 0 {
		return code
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := newMsgWriter(out, cancel)
	defer w.close()
	cfg.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
		if ev.Type.IsTerminal() && ev.Result != nil {
			// One write: nothing comes between the terminal event and the result.
			w.send(eventMsg{Type: "event", Payload: ev}, resultMsg{Type: "result", Payload: ev.Result})
			return
		}
		w.send(eventMsg{Type: "event", Payload: ev})
	})
	cfg.Logger = slog.New(slog.NewTextHandler(errOut, nil))
	eng, err := execengine.New(cfg)
	if err != nil {
		printErr(errOut, "execengine bridge", err)
		return 2
	}
	b := &bridge{eng: eng, w: w, maxLine: opts.maxLine}

	src := &stoppableReader{r: in, parked: make(chan struct{})}
	lines := make(chan inputLine) // unbuffered: at most one line waits, memory stays bounded
	var readErr error
	var readers sync.WaitGroup
	readers.Go(func() { readErr = readLines(src, opts.maxLine, lines) })

	answer := context.WithoutCancel(ctx)
	// stopped answers the lines already read, then ends every execution;
	// it runs after ctx was cancelled or out broke.
	stopped := func() int {
		w.expireAfter(stopWriteDeadline)
		parked := src.stop()
		for done := false; !done; {
			select {
			case l, ok := <-lines:
				if ok {
					b.handle(answer, l)
				} else {
					done = true
				}
			case <-parked: // the reader holds no complete line: nothing more comes
				done = true
			}
		}
		eng.Close()
		if c, ok := in.(io.Closer); ok {
			_ = c.Close()
			readers.Wait()
		}
		if n := w.droppedCount(); n > 0 {
			fmt.Fprintf(errOut, "execengine bridge: stdout was not read: dropped %d messages after the stop\n", n)
		}
		if errors.Is(context.Cause(ctx), errOutputBroken) {
			fmt.Fprintln(errOut, "execengine bridge:", w.failure())
			return 1
		}
		return 130
	}
	for {
		select {
		case l, ok := <-lines:
			if ok {
				// A line read before a stop is answered as if none came:
				// stopped cancels what it started.
				b.handle(answer, l)
				continue
			}
			readers.Wait()
			if err := eng.Shutdown(ctx); err != nil {
				return stopped()
			}
			if readErr != nil {
				fmt.Fprintln(errOut, "execengine bridge: reading stdin:", readErr)
				return 1
			}
			if err := w.failure(); err != nil {
				fmt.Fprintln(errOut, "execengine bridge:", err)
				return 1
			}
			return 0
		case <-ctx.Done():
			return stopped()
		}
	}
}

// stopWriteDeadline bounds how long, once the bridge is stopping, a
// message waits for a client that does not read stdout.
const stopWriteDeadline = 500 * time.Millisecond

var (
	errOutputBroken = errors.New("writing stdout failed")
	errReadStopped  = errors.New("reading stopped")
)

// stoppableReader lets the bridge stop reading stdin at a known point:
// the complete lines it has read are still answered, nothing after.
type stoppableReader struct {
	r       io.Reader
	mu      sync.Mutex
	stopped bool
	reading bool          // inside r.Read
	parked  chan struct{} // closed once stopped and the reader holds no complete line
}

// stopReadGrace is how long stop waits for a read in progress: its bytes
// may already have left the pipe, but a read that blocks longer is taken
// as waiting for input that came after the stop.
const stopReadGrace = 100 * time.Millisecond

// Read is called by bufio only when no complete line is buffered, so the
// reader holds no line while it is inside.
func (s *stoppableReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	if s.stopped {
		s.park()
		s.mu.Unlock()
		return 0, errReadStopped
	}
	s.reading = true
	s.mu.Unlock()
	n, err := s.r.Read(p)
	s.mu.Lock()
	s.reading = false
	s.mu.Unlock()
	return n, err
}

// stop returns a channel closed once the reader will send no more lines.
func (s *stoppableReader) stop() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.reading {
		time.AfterFunc(stopReadGrace, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.reading { // still the read that was in progress at the stop
				s.park()
			}
		})
	}
	return s.parked
}

func (s *stoppableReader) park() {
	select {
	case <-s.parked:
	default:
		close(s.parked)
	}
}

// msgWriter writes whole messages, one line each, in the order they are
// sent: one goroutine does every Write, so lines from concurrent
// executions never interleave. A sender waits for its write (back-pressure
// on the executions), until expireAfter's deadline has passed: from then
// on a message that cannot be written at once is dropped.
type msgWriter struct {
	mu      sync.Mutex
	err     error
	broken  context.CancelCauseFunc
	writes  chan []byte // to the writing goroutine
	written chan error  // its result for each write
	busy    bool        // a write was handed over and its result not yet taken
	since   time.Time   // when the write in progress was handed over
	expired chan struct{}
	expire  sync.Once
	dropped int
	done    chan struct{} // the writing goroutine ended
}

func newMsgWriter(out io.Writer, broken context.CancelCauseFunc) *msgWriter {
	w := &msgWriter{broken: broken, writes: make(chan []byte), written: make(chan error, 1),
		expired: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.writes {
			_, err := out.Write(b)
			w.written <- err
		}
	}()
	return w
}

// expireAfter starts the deadline after which undeliverable messages are dropped.
func (w *msgWriter) expireAfter(d time.Duration) {
	w.expire.Do(func() { time.AfterFunc(d, func() { close(w.expired) }) })
}

// close ends the writing goroutine and waits for it, unless its write is
// stuck after the deadline.
func (w *msgWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.writes)
	if w.busy && !w.wait() {
		return // a client that does not read: leave the goroutine to the exit
	}
	<-w.done
}

func marshalLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errorMsg{Type: "error", Code: codeInternal, Error: "encoding a message: " + err.Error()})
	}
	return append(b, '\n')
}

// send writes the messages together. It marshals them outside the lock,
// so executions encode in parallel.
func (w *msgWriter) send(msgs ...any) {
	var b []byte
	for _, v := range msgs {
		b = append(b, marshalLine(v)...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked(b)
}

// sendWith calls f and writes its message under the lock: no other message
// can come between f's effect and its reply (an accepted before the
// execution's first event).
func (w *msgWriter) sendWith(f func() any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked(marshalLine(f()))
}

func (w *msgWriter) writeLocked(b []byte) {
	if w.err != nil {
		return
	}
	if w.busy && !w.wait() { // the last write is still stuck
		w.dropped++
		return
	}
	if w.err != nil {
		return
	}
	w.writes <- b
	w.busy, w.since = true, time.Now()
	if !w.wait() {
		w.dropped++ // given up on: the client may never read it
	}
}

// wait waits for the write in progress; w.mu is held. Before the stop
// deadline it waits as long as it takes, or until the deadline. After it,
// a write may take stopWriteDeadline from its start before the client
// counts as not reading. It reports whether the write ended.
func (w *msgWriter) wait() bool {
	select {
	case err := <-w.written:
		w.busy = false
		w.fail(err)
		return true
	default:
	}
	var timeout <-chan time.Time
	select {
	case <-w.expired:
		t := time.NewTimer(time.Until(w.since.Add(stopWriteDeadline)))
		defer t.Stop()
		timeout = t.C
	default:
	}
	select {
	case err := <-w.written:
		w.busy = false
		w.fail(err)
		return true
	case <-w.expired:
		if timeout == nil {
			return false // the deadline came while this write waited
		}
		select {
		case err := <-w.written:
			w.busy = false
			w.fail(err)
			return true
		case <-timeout:
			return false
		}
	}
}

// fail records a write error; w.mu is held.
func (w *msgWriter) fail(err error) bool {
	if err == nil {
		return false
	}
	w.err = fmt.Errorf("%w: %v", errOutputBroken, err)
	w.broken(errOutputBroken)
	return true
}

func (w *msgWriter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *msgWriter) droppedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Outgoing messages.
type (
	acceptedMsg struct {
		Type string    `json:"type"`
		ID   uuid.UUID `json:"id"`
		Line int64     `json:"line"`
	}
	eventMsg struct {
		Type    string           `json:"type"`
		Payload execengine.Event `json:"payload"`
	}
	resultMsg struct {
		Type    string             `json:"type"`
		Payload *execengine.Result `json:"payload"`
	}
	errorMsg struct {
		Type  string     `json:"type"`
		ID    *uuid.UUID `json:"id"`
		Line  int64      `json:"line"`
		Code  string     `json:"code"`
		Error string     `json:"error"`
		Bytes *int       `json:"bytes,omitempty"` // stdin_full: how many bytes were taken
	}
	stdinMsg struct {
		Type  string    `json:"type"`
		ID    uuid.UUID `json:"id"`
		Line  int64     `json:"line"`
		Bytes int       `json:"bytes"`
	}
	closeStdinMsg struct {
		Type string    `json:"type"`
		ID   uuid.UUID `json:"id"`
		Line int64     `json:"line"`
	}
	resizedMsg struct {
		Type string    `json:"type"`
		ID   uuid.UUID `json:"id"`
		Line int64     `json:"line"`
		Cols uint16    `json:"cols"`
		Rows uint16    `json:"rows"`
	}
	statusMsg struct {
		Type   string            `json:"type"`
		ID     uuid.UUID         `json:"id"`
		Line   int64             `json:"line"`
		Status execengine.Status `json:"status"`
	}
	listMsg struct {
		Type       string               `json:"type"`
		Line       int64                `json:"line"`
		Executions []execengine.Summary `json:"executions"`
	}
)

// inputLine is one line of stdin, without its line ending.
type inputLine struct {
	n       int64 // 1-based line number
	data    []byte
	size    int64 // bytes in the line, '\n' excluded
	tooLong bool  // data was discarded
}

// readLines sends each line of r to lines and closes lines at EOF or
// once r is stopped. A line longer than maxLine is read to its end but not kept.
func readLines(r io.Reader, maxLine int, lines chan<- inputLine) error {
	defer close(lines)
	br := bufio.NewReaderSize(r, 64<<10)
	for n := int64(1); ; n++ {
		l, err := readCapped(br, maxLine)
		if errors.Is(err, errReadStopped) {
			return nil // a line not complete when the bridge stopped: not read
		}
		if err == nil || l.size > 0 {
			l.n = n
			lines <- l
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func readCapped(br *bufio.Reader, maxLine int) (inputLine, error) {
	var l inputLine
	for {
		chunk, err := br.ReadSlice('\n')
		if err == nil {
			chunk = chunk[:len(chunk)-1] // the '\n' is not part of the line
		}
		l.size += int64(len(chunk))
		if l.size > int64(maxLine) {
			l.tooLong, l.data = true, nil
		} else {
			l.data = append(l.data, chunk...)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			l.data = bytes.TrimSuffix(l.data, []byte("\r"))
			return l, err
		}
	}
}

// bridge answers the messages of one input stream.
type bridge struct {
	eng     *execengine.Engine
	w       *msgWriter
	maxLine int
}

// fail replies with an error message.
func (b *bridge) fail(l inputLine, id *uuid.UUID, code, format string, args ...any) {
	b.w.send(errorMsg{Type: "error", ID: id, Line: l.n, Code: code, Error: fmt.Sprintf(format, args...)})
}

// handle answers one input line with exactly one message (blank lines excepted).
func (b *bridge) handle(ctx context.Context, l inputLine) {
	if l.tooLong {
		b.fail(l, nil, codeLineTooLong, "line %d is %d bytes, over the %d-byte limit (--max-line); it was discarded",
			l.n, l.size, b.maxLine)
		return
	}
	data := bytes.TrimSpace(l.data)
	if len(data) == 0 {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		if !json.Valid(data) {
			b.fail(l, nil, codeInvalidJSON, "line %d is not valid JSON: %v", l.n, err)
		} else {
			b.fail(l, nil, codeInvalidJSON, "line %d is not a JSON object: got %s", l.n, abbreviate(data))
		}
		return
	}
	id := optionalID(fields["id"])
	typ, ok := fields["type"]
	if !ok || isNull(typ) {
		if _, ok := fields["command"]; !ok {
			b.fail(l, id, codeMissingField, `message has neither "type" nor "command": an execution request needs "command"`)
			return
		}
		b.execute(ctx, l, data)
		return
	}
	var t string
	if err := json.Unmarshal(typ, &t); err != nil {
		b.fail(l, id, codeInvalidField, `"type" must be a string, got %s`, abbreviate(typ))
		return
	}
	switch t {
	case "execute":
		req, ok := fields["request"]
		if !ok || isNull(req) {
			b.fail(l, id, codeMissingField, `"execute" message has no "request"`)
			return
		}
		b.execute(ctx, l, req)
	case "cancel", "status", "stdin", "close_stdin", "resize":
		raw, ok := fields["id"]
		if !ok || isNull(raw) {
			b.fail(l, nil, codeMissingField, `%q message has no "id"`, t)
			return
		}
		if id == nil {
			b.fail(l, nil, codeInvalidField, `"id" must be a UUID string, got %s`, abbreviate(raw))
			return
		}
		switch t {
		case "cancel":
			b.cancel(l, *id)
		case "status":
			b.status(l, *id)
		case "stdin":
			b.stdin(l, *id, fields)
		case "close_stdin":
			b.closeStdin(l, *id)
		case "resize":
			b.resize(l, *id, fields)
		}
	case "list":
		b.w.send(listMsg{Type: "list", Line: l.n, Executions: b.eng.List()})
	default:
		b.fail(l, id, codeUnknownType, `unknown message type %q: want "cancel", "status", "list", "stdin", "close_stdin", "resize" or "execute" (or no "type" for a request)`,
			abbreviate([]byte(t)))
	}
}

func (b *bridge) execute(ctx context.Context, l inputLine, data []byte) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		b.fail(l, nil, codeInvalidField, `"request" must be a JSON object, got %s`, abbreviate(data))
		return
	}
	id := optionalID(fields["id"])
	if raw, ok := fields["id"]; ok && !isNull(raw) && id == nil {
		b.fail(l, nil, codeInvalidField, `request "id" must be a UUID string, got %s`, abbreviate(raw))
		return
	}
	cmd, ok := fields["command"]
	if !ok || isNull(cmd) {
		b.fail(l, id, codeMissingField, `request has no "command"`)
		return
	}
	var tag map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &tag); err != nil || tag == nil {
		b.fail(l, id, codeInvalidField, `"command" must be an object such as {"type":"shell","command":"echo hi"}, got %s`, abbreviate(cmd))
		return
	}
	if t, ok := tag["type"]; !ok || isNull(t) {
		b.fail(l, id, codeMissingField, `"command" has no "type" (one of shell, exec, script, aws_cli)`)
		return
	}
	var req execengine.Request
	if err := json.Unmarshal(data, &req); err != nil {
		b.fail(l, id, engineCode(err), "invalid request: %v", err) // invalid_request, or timeout_too_large
		return
	}
	// Execute and its reply happen under the output lock, so the accepted
	// message comes before any event of the execution.
	b.w.sendWith(func() any {
		got, err := b.eng.Execute(ctx, req)
		if err != nil {
			return errorMsg{Type: "error", ID: id, Line: l.n, Code: engineCode(err), Error: err.Error()}
		}
		return acceptedMsg{Type: "accepted", ID: got, Line: l.n}
	})
}

// cancel acknowledges before it cancels: cancelling a queued execution
// delivers its result at once, and the ack must not come after it.
func (b *bridge) cancel(l inputLine, id uuid.UUID) {
	st, err := b.eng.Status(id)
	if err != nil {
		b.fail(l, &id, engineCode(err), "cancel: %v", err)
		return
	}
	b.w.send(statusMsg{Type: "cancel_requested", ID: id, Line: l.n, Status: st})
	_ = b.eng.Cancel(id) // ErrNotFound now means it ended and was removed: nothing to cancel
}

func (b *bridge) status(l inputLine, id uuid.UUID) {
	st, err := b.eng.Status(id)
	if err != nil {
		b.fail(l, &id, engineCode(err), "status: %v", err)
		return
	}
	b.w.send(statusMsg{Type: "status", ID: id, Line: l.n, Status: st})
}

// stdin writes "data" (base64) or "text" (a string) to an interactive
// execution's stdin and replies stdin_written with the bytes taken.
func (b *bridge) stdin(l inputLine, id uuid.UUID, fields map[string]json.RawMessage) {
	data, hasData := fields["data"]
	text, hasText := fields["text"]
	hasData, hasText = hasData && !isNull(data), hasText && !isNull(text)
	var p []byte
	switch {
	case hasData && hasText:
		b.fail(l, &id, codeInvalidField, `"stdin" message has both "data" and "text": send one`)
		return
	case hasData:
		if data[0] != '"' || json.Unmarshal(data, &p) != nil {
			b.fail(l, &id, codeInvalidField, `"data" must be a base64 string, got %s`, abbreviate(data))
			return
		}
	case hasText:
		var s string
		if text[0] != '"' || json.Unmarshal(text, &s) != nil {
			b.fail(l, &id, codeInvalidField, `"text" must be a string, got %s`, abbreviate(text))
			return
		}
		p = []byte(s)
	default:
		b.fail(l, &id, codeMissingField, `"stdin" message has neither "data" (base64) nor "text"`)
		return
	}
	n, err := b.eng.WriteStdin(id, p)
	if err != nil {
		m := errorMsg{Type: "error", ID: &id, Line: l.n, Code: stdinCode(err), Error: "stdin: " + err.Error()}
		if m.Code == codeStdinFull {
			m.Bytes = &n
		}
		b.w.send(m)
		return
	}
	b.w.send(stdinMsg{Type: "stdin_written", ID: id, Line: l.n, Bytes: n})
}

func (b *bridge) closeStdin(l inputLine, id uuid.UUID) {
	if err := b.eng.CloseStdin(id); err != nil {
		b.fail(l, &id, stdinCode(err), "close_stdin: %v", err)
		return
	}
	b.w.send(closeStdinMsg{Type: "stdin_close_requested", ID: id, Line: l.n})
}

// resize sets the window of a PTY execution; "cols" and "rows" are
// required, from 1 to 65535.
func (b *bridge) resize(l inputLine, id uuid.UUID, fields map[string]json.RawMessage) {
	var size [2]uint16
	for i, name := range []string{"cols", "rows"} {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			b.fail(l, &id, codeMissingField, `"resize" message has no %q`, name)
			return
		}
		n, err := strconv.ParseUint(string(raw), 10, 16)
		if err != nil || n == 0 {
			b.fail(l, &id, codeInvalidField, `%q must be an integer from 1 to 65535, got %s`, name, abbreviate(raw))
			return
		}
		size[i] = uint16(n)
	}
	if err := b.eng.Resize(id, size[0], size[1]); err != nil {
		b.fail(l, &id, engineCode(err), "resize: %v", err)
		return
	}
	b.w.send(resizedMsg{Type: "resized", ID: id, Line: l.n, Cols: size[0], Rows: size[1]})
}

func stdinCode(err error) string {
	switch {
	case errors.Is(err, execengine.ErrStdinFull):
		return codeStdinFull
	case errors.Is(err, execengine.ErrStdinClosed):
		return codeStdinClosed
	}
	return engineCode(err)
}

// engineCode maps an engine error to an error code.
func engineCode(err error) string {
	switch {
	case errors.Is(err, execengine.ErrConcurrencyLimitReached):
		return codeConcurrencyLimit
	case errors.Is(err, execengine.ErrDuplicateID):
		return codeDuplicateID
	case errors.Is(err, execengine.ErrTimeoutTooLarge):
		return codeTimeoutTooLarge
	case errors.Is(err, execengine.ErrInvalidRequest):
		return codeInvalidRequest
	case errors.Is(err, execengine.ErrNotFound):
		return codeNotFound
	case errors.Is(err, execengine.ErrClosed), errors.Is(err, context.Canceled):
		return codeClosed
	}
	return codeInternal
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// optionalID returns the UUID in raw, or nil when raw is absent or not one.
func optionalID(raw json.RawMessage) *uuid.UUID {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil
	}
	return &id
}

// abbreviate quotes at most 100 bytes of a value for an error message.
func abbreviate(b []byte) string {
	const n = 100
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s… (%d bytes)", b[:n], len(b))
}
