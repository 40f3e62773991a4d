package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"go.uber.org/goleak"
)

// binDir holds the execengine binary built for the process tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "execengine-bridge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// bridgeBinary builds cmd/execengine once per test run.
func bridgeBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		path := filepath.Join(binDir, "execengine")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		build.path = path
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// msg is any message the bridge writes; only the fields of its type are set.
type msg struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Line       int64           `json:"line"`
	Code       string          `json:"code"`
	Error      string          `json:"error"`
	Status     string          `json:"status"`
	Bytes      *int            `json:"bytes"`
	Cols       int             `json:"cols"`
	Rows       int             `json:"rows"`
	Payload    json.RawMessage `json:"payload"`
	Executions []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"executions"`
}

func (m msg) event(t *testing.T) execengine.Event {
	t.Helper()
	var ev execengine.Event
	if m.Type != "event" {
		t.Fatalf("message type %q, want event", m.Type)
	}
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatalf("event payload %s: %v", m.Payload, err)
	}
	return ev
}

func (m msg) result(t *testing.T) execengine.Result {
	t.Helper()
	var r execengine.Result
	if m.Type != "result" {
		t.Fatalf("message type %q, want result", m.Type)
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("result payload %s: %v", m.Payload, err)
	}
	return r
}

// payloadID is the execution id of an event or result message, else "".
func (m msg) payloadID() string {
	var p struct {
		ExecutionID string `json:"execution_id"`
		ID          string `json:"id"`
	}
	if json.Unmarshal(m.Payload, &p) != nil {
		return ""
	}
	if m.Type == "event" {
		return p.ExecutionID
	}
	return p.ID
}

// collector reads the bridge's stdout and keeps every message.
type collector struct {
	mu      sync.Mutex
	msgs    []msg
	bad     []string // lines that are not a JSON object: the output broke
	eof     bool
	changed chan struct{} // closed and replaced on every change
}

func newCollector() *collector { return &collector{changed: make(chan struct{})} }

func (c *collector) run(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var m msg
			c.mu.Lock()
			if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &m) != nil || m.Type == "" {
				c.bad = append(c.bad, abbreviate(line))
			} else {
				c.msgs = append(c.msgs, m)
			}
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
		if err != nil {
			_, _ = io.Copy(io.Discard, r)
			c.mu.Lock()
			c.eof = true
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
	}
}

// wait returns the messages once cond holds for them, or fails the test.
// cond runs under the collector's lock, at most every 5 ms.
func (c *collector) wait(t *testing.T, what string, timeout time.Duration, cond func([]msg) bool) []msg {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, eof, changed := cond(c.msgs), c.eof, c.changed
		msgs := c.msgs
		if ok {
			msgs = slices.Clone(c.msgs)
		}
		c.mu.Unlock()
		if ok {
			return msgs
		}
		if eof {
			t.Fatalf("bridge output ended before %s; got %d messages:\n%s", what, len(msgs), dump(msgs))
		}
		select {
		case <-changed:
			time.Sleep(5 * time.Millisecond) // let a burst of messages arrive
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; got %d messages:\n%s", timeout, what, len(msgs), dump(msgs))
		}
	}
}

func (c *collector) snapshot() []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func dump(msgs []msg) string {
	var b strings.Builder
	for i, m := range msgs {
		if i == 40 {
			fmt.Fprintf(&b, "… %d more\n", len(msgs)-i)
			break
		}
		j, _ := json.Marshal(m)
		b.WriteString(abbreviate(j) + "\n")
	}
	return b.String()
}

// reply is the direct answer to input line n, if it has come.
func reply(msgs []msg, n int64) (msg, bool) {
	for _, m := range msgs {
		if m.Line == n {
			return m, true
		}
	}
	return msg{}, false
}

func hasReply(n int64) func([]msg) bool {
	return func(msgs []msg) bool { _, ok := reply(msgs, n); return ok }
}

// results returns the result messages by execution id.
func results(t *testing.T, msgs []msg) map[string][]execengine.Result {
	t.Helper()
	out := map[string][]execengine.Result{}
	for _, m := range msgs {
		if m.Type == "result" {
			r := m.result(t)
			out[r.ID.String()] = append(out[r.ID.String()], r)
		}
	}
	return out
}

func hasResults(ids ...string) func([]msg) bool {
	return func(msgs []msg) bool {
		for _, id := range ids {
			if !slices.ContainsFunc(msgs, func(m msg) bool { return m.Type == "result" && m.payloadID() == id }) {
				return false
			}
		}
		return true
	}
}

func hasEvent(id string, typ execengine.EventType) func([]msg) bool {
	return func(msgs []msg) bool {
		return slices.ContainsFunc(msgs, func(m msg) bool {
			return m.Type == "event" && m.payloadID() == id && bytes.Contains(m.Payload, []byte(`"event_type":"`+string(typ)+`"`))
		})
	}
}

// eventsOf returns the events of one execution in the order they were written.
func eventsOf(t *testing.T, msgs []msg, id string) []execengine.Event {
	t.Helper()
	var evs []execengine.Event
	for _, m := range msgs {
		if m.Type == "event" && m.payloadID() == id {
			evs = append(evs, m.event(t))
		}
	}
	return evs
}

// checkSeq checks that an execution's events are numbered 1…n in order
// and end with exactly one terminal event.
func checkSeq(t *testing.T, id string, evs []execengine.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Errorf("%s: no events", id)
		return
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("%s: event %d (%s) has seq %d, want %d", id, i, ev.Type, ev.Seq, i+1)
		}
		if ev.Type.IsTerminal() != (i == len(evs)-1) {
			t.Errorf("%s: event %d of %d is %s: the one terminal event must be last", id, i+1, len(evs), ev.Type)
		}
	}
}

// harness drives a bridge: in-process (startBridge) or as a process (startProcess).
type harness struct {
	t    *testing.T
	in   io.WriteCloser
	c    *collector
	sent int64 // lines written so far: the next one is sent+1

	exit   chan int    // the exit code, once
	stderr *syncBuffer // what the bridge logged
	cancel func()      // in-process: cancels runBridge's ctx
	cmd    *exec.Cmd   // process: the bridge process
	wg     sync.WaitGroup
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startBridge runs runBridge in-process over pipes.
func startBridge(t *testing.T, args ...string) *harness {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, in: inW, c: newCollector(), exit: make(chan int, 1), stderr: &syncBuffer{}, cancel: cancel}
	collected := make(chan struct{})
	h.wg.Go(func() {
		defer close(collected)
		h.c.run(outR)
	})
	h.wg.Go(func() {
		code := runBridge(ctx, args, inR, outW, h.stderr)
		_ = outW.Close()
		_ = inR.CloseWithError(errors.New("bridge exited"))
		<-collected // every message is in before the exit code
		h.exit <- code
	})
	t.Cleanup(h.cleanup)
	return h
}

// startProcess runs the built binary as "execengine bridge args…".
func startProcess(t *testing.T, args ...string) *harness {
	t.Helper()
	cmd := exec.Command(bridgeBinary(t), append([]string{"bridge"}, args...)...)
	h := &harness{t: t, c: newCollector(), exit: make(chan int, 1), stderr: &syncBuffer{}, cmd: cmd}
	cmd.Stderr = h.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.in = in
	h.cancel = func() { _ = cmd.Process.Kill() }
	h.wg.Go(func() {
		h.c.run(out)
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			code = -1
		}
		h.exit <- code
	})
	t.Cleanup(h.cleanup)
	return h
}

func (h *harness) cleanup() {
	_ = h.in.Close()
	select {
	case code := <-h.exit:
		h.exit <- code
	case <-time.After(20 * time.Second):
		h.t.Errorf("bridge still running 20s after its stdin was closed; stopping it")
		h.cancel()
	}
	h.wg.Wait()
	h.cancel()
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if len(h.c.bad) > 0 {
		h.t.Errorf("%d output lines are not whole JSON messages, e.g. %s", len(h.c.bad), h.c.bad[0])
	}
	if h.t.Failed() {
		h.t.Logf("bridge stderr:\n%s", h.stderr.String())
	}
}

// send writes one line and returns its line number.
func (h *harness) send(line string) int64 {
	h.t.Helper()
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		h.t.Fatalf("writing line %d to the bridge: %v", h.sent+1, err)
	}
	h.sent++
	return h.sent
}

// sendJSON marshals v and sends it.
func (h *harness) sendJSON(v any) int64 {
	h.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.send(string(b))
}

// ask sends a line and returns its reply.
func (h *harness) ask(line string) msg {
	h.t.Helper()
	n := h.send(line)
	m, _ := reply(h.c.wait(h.t, fmt.Sprintf("the reply to line %d %s", n, abbreviate([]byte(line))), 10*time.Second, hasReply(n)), n)
	return m
}

// waitExit waits for the bridge to exit and for all its output, and returns its exit code.
func (h *harness) waitExit(timeout time.Duration) int {
	h.t.Helper()
	select {
	case code := <-h.exit:
		h.exit <- code
		return code
	case <-time.After(timeout):
		h.t.Fatalf("bridge did not exit within %v", timeout)
		return 0
	}
}

// signal sends sig to the bridge process.
func (h *harness) signal(sig syscall.Signal) {
	h.t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		h.t.Fatal(err)
	}
}

// request is an execution request in the wire shape.
func request(id, shellCmd string) map[string]any {
	r := map[string]any{"command": map[string]any{"type": "shell", "command": shellCmd, "shell": "sh"}}
	if id != "" {
		r["id"] = id
	}
	return r
}
