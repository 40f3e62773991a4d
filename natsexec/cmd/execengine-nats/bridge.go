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
	"sync"

	"github.com/escher-dbai/execengine"
	"github.com/escher-dbai/execengine/natsexec"
	"github.com/google/uuid"
)

const bridgeUsage = `usage:
  execengine-nats bridge --nats URL [flags]

bridge serves the JSON-lines bridge protocol of "execengine bridge" (one
JSON message per line on stdin, one per line on stdout) with the cluster
behind it instead of a local engine: requests are queued for the workers,
and their events and results are streamed back. At stdin EOF it waits for
the results of what it submitted, then exits 0; SIGINT or SIGTERM makes it
exit 130 at once (the executions go on in the cluster).

bridge flags:`

// Error codes, the same as execengine bridge's.
const (
	codeInvalidJSON     = "invalid_json"
	codeLineTooLong     = "line_too_long"
	codeUnknownType     = "unknown_type"
	codeMissingField    = "missing_field"
	codeInvalidField    = "invalid_field"
	codeInvalidRequest  = "invalid_request"
	codeTimeoutTooLarge = "timeout_too_large"
	codeDuplicateID     = "duplicate_id"
	codeNotFound        = "not_found"
	codeUnavailable     = "unavailable" // the cluster did not answer
)

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

// natsBridge answers the lines of one stdin from the cluster.
type natsBridge struct {
	c       *natsexec.Client
	mu      sync.Mutex // one message per Write, whole lines
	out     io.Writer
	werr    error
	streams sync.WaitGroup // one Events call per accepted execution
}

func (b *natsBridge) send(msgs ...any) {
	var buf []byte
	for _, m := range msgs {
		data, _ := json.Marshal(m)
		buf = append(append(buf, data...), '\n')
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.werr == nil {
		_, b.werr = b.out.Write(buf)
	}
}

func (b *natsBridge) fail(line int64, id *uuid.UUID, code, format string, args ...any) {
	b.send(errorMsg{Type: "error", ID: id, Line: line, Code: code, Error: fmt.Sprintf(format, args...)})
}

func runBridge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs)
	maxLine := fs.Int("max-line", 1<<20, "longest input line in bytes; longer ones are discarded with line_too_long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, bridgeUsage)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args, stderr, "bridge"); code >= 0 {
		return code
	}
	if nf.url == "" {
		fmt.Fprintln(stderr, "execengine-nats bridge: --nats URL (or $NATS_URL) is required")
		return 2
	}
	nc, err := nf.connect("execengine-nats bridge")
	if err != nil {
		fmt.Fprintln(stderr, "execengine-nats bridge:", err)
		return 1
	}
	defer nc.Close()
	c, err := natsexec.NewClient(nc, natsexec.ClientOptions{Options: nf.opts})
	if err != nil {
		fmt.Fprintln(stderr, "execengine-nats bridge:", err)
		return 1
	}
	b := &natsBridge{c: c, out: stdout}
	// The streams stop when the bridge is stopped; at EOF they run to the end.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	defer b.streams.Wait()

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() { // ends at EOF; on a signal the process exits under it
		defer close(lines)
		br := bufio.NewReaderSize(stdin, 64<<10)
		for {
			l, err := readLine(br, *maxLine)
			if l != nil {
				select {
				case lines <- l:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- err
				}
				return
			}
		}
	}()
	for n := int64(1); ; n++ {
		select {
		case <-ctx.Done():
			return 130
		case l, ok := <-lines:
			if !ok {
				done := make(chan struct{})
				go func() { b.streams.Wait(); close(done) }()
				select {
				case <-done:
				case <-ctx.Done():
					return 130
				}
				select {
				case err := <-readErr:
					fmt.Fprintln(stderr, "execengine-nats bridge: reading stdin:", err)
					return 1
				default:
				}
				b.mu.Lock()
				werr := b.werr
				b.mu.Unlock()
				if werr != nil {
					fmt.Fprintln(stderr, "execengine-nats bridge: writing stdout:", werr)
					return 1
				}
				return 0
			}
			b.handle(ctx, sctx, n, l)
		}
	}
}

// tooLong marks a line over --max-line.
var tooLong = []byte{0}

// readLine returns the next line without its ending, or tooLong.
func readLine(br *bufio.Reader, maxLine int) ([]byte, error) {
	var l []byte
	size := 0
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if size <= maxLine+1 {
			l = append(l, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if size == 0 && err != nil {
			return nil, err
		}
		l = bytes.TrimRight(l, "\r\n")
		if size > maxLine+1 || size == maxLine+1 && len(l) == size {
			return tooLong, err
		}
		return l, err
	}
}

func (b *natsBridge) handle(ctx, sctx context.Context, n int64, l []byte) {
	if bytes.Equal(l, tooLong) {
		b.fail(n, nil, codeLineTooLong, "line %d is over the limit (--max-line); it was discarded", n)
		return
	}
	data := bytes.TrimSpace(l)
	if len(data) == 0 {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		b.fail(n, nil, codeInvalidJSON, "line %d is not a JSON object", n)
		return
	}
	id := optionalID(fields["id"])
	var typ string
	if raw, ok := fields["type"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &typ); err != nil {
			b.fail(n, id, codeInvalidField, `"type" must be a string`)
			return
		}
	}
	switch typ {
	case "":
		b.execute(ctx, sctx, n, data)
	case "execute":
		req, ok := fields["request"]
		if !ok || string(req) == "null" {
			b.fail(n, id, codeMissingField, `"execute" message has no "request"`)
			return
		}
		b.execute(ctx, sctx, n, req)
	case "cancel", "status":
		if id == nil {
			b.fail(n, nil, codeMissingField, `%q message needs an "id" (a UUID string)`, typ)
			return
		}
		st, err := b.c.Status(ctx, *id)
		if err != nil {
			b.fail(n, id, clusterCode(err), "%s: %v", typ, err)
			return
		}
		if typ == "status" {
			b.send(statusMsg{Type: "status", ID: *id, Line: n, Status: st})
			return
		}
		b.send(statusMsg{Type: "cancel_requested", ID: *id, Line: n, Status: st})
		if err := b.c.Cancel(ctx, *id); err != nil && !errors.Is(err, execengine.ErrNotFound) {
			b.fail(n, id, clusterCode(err), "cancel: %v", err)
		}
	case "list":
		list, err := b.c.List(ctx)
		if err != nil {
			b.fail(n, nil, clusterCode(err), "list: %v", err)
			return
		}
		b.send(listMsg{Type: "list", Line: n, Executions: list})
	default:
		b.fail(n, id, codeUnknownType, `unknown message type %q: want "cancel", "status", "list" or "execute" (or no "type" for a request)`, typ)
	}
}

// execute queues the request, answers accepted, and streams its events
// and result; the accepted message comes before any event.
func (b *natsBridge) execute(ctx, sctx context.Context, n int64, data []byte) {
	var req execengine.Request
	if err := json.Unmarshal(data, &req); err != nil {
		b.fail(n, optionalIDFrom(data), clusterCode(err), "invalid request: %v", err)
		return
	}
	id, err := b.c.Execute(ctx, req)
	if err != nil {
		b.fail(n, optionalIDFrom(data), clusterCode(err), "%v", err)
		return
	}
	b.send(acceptedMsg{Type: "accepted", ID: id, Line: n})
	b.streams.Go(func() {
		err := b.c.Events(sctx, id, execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type.IsTerminal() && ev.Result != nil {
				b.send(eventMsg{Type: "event", Payload: ev}, resultMsg{Type: "result", Payload: ev.Result})
				return
			}
			b.send(eventMsg{Type: "event", Payload: ev})
		}))
		if err != nil && sctx.Err() == nil {
			b.fail(n, &id, clusterCode(err), "events: %v", err)
		}
	})
}

func clusterCode(err error) string {
	switch {
	case errors.Is(err, execengine.ErrDuplicateID):
		return codeDuplicateID
	case errors.Is(err, execengine.ErrTimeoutTooLarge):
		return codeTimeoutTooLarge
	case errors.Is(err, execengine.ErrInvalidRequest):
		return codeInvalidRequest
	case errors.Is(err, execengine.ErrNotFound):
		return codeNotFound
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return codeInvalidRequest
	}
	return codeUnavailable
}

func optionalIDFrom(data []byte) *uuid.UUID {
	var f struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(data, &f)
	return optionalID(f.ID)
}

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
