package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBridgeOverNATS: "execengine-nats bridge" speaks the bridge protocol
// with a worker process behind it; at EOF it waits for the results.
func TestBridgeOverNATS(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	const prefix = "bridge"
	startWorkerProc(t, srv.ClientURL(), prefix, "b1", 4)
	unknown := uuid.New()
	in := strings.Join([]string{
		`{"command":{"type":"shell","command":"echo hi; echo oops >&2; exit 2"}}`,
		`{"type":"status","id":"` + unknown.String() + `"}`,
		`{"type":"execute","request":{"command":{"type":"exec","program":"echo","args":["two"]}}}`,
		`not json`,
		`{"type":"nope"}`,
	}, "\n") + "\n"
	var out syncBuffer
	p := startProc(t, strings.NewReader(in), &out, nil, "bridge", "--nats", srv.ClientURL(), "--prefix", prefix, "--heartbeat", testHeartbeat.String())
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("bridge did not exit after EOF; stdout:\n%s", out.String())
	}
	if p.err != nil {
		t.Fatalf("bridge exit: %v\n%s", p.err, p.output())
	}
	type msg struct {
		Type    string          `json:"type"`
		ID      string          `json:"id"`
		Line    int64           `json:"line"`
		Code    string          `json:"code"`
		Payload json.RawMessage `json:"payload"`
	}
	var accepted = map[int64]string{}
	errs := map[int64]string{}
	results := map[string]execengine.Result{}
	events := map[string][]string{}
	for _, l := range lines(out.String()) {
		var m msg
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		switch m.Type {
		case "accepted":
			accepted[m.Line] = m.ID
		case "error":
			errs[m.Line] = m.Code
		case "event":
			var ev execengine.Event
			if err := json.Unmarshal(m.Payload, &ev); err != nil {
				t.Fatal(err)
			}
			if _, ok := results[ev.ExecutionID.String()]; ok {
				t.Fatalf("event after the result: %s", l)
			}
			events[ev.ExecutionID.String()] = append(events[ev.ExecutionID.String()], string(ev.Type))
		case "result":
			var r execengine.Result
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatal(err)
			}
			results[r.ID.String()] = r
		default:
			t.Fatalf("unexpected message %s", l)
		}
	}
	if len(accepted) != 2 || accepted[1] == "" || accepted[3] == "" {
		t.Fatalf("accepted = %v; want lines 1 and 3\n%s", accepted, out.String())
	}
	if errs[2] != "not_found" || errs[4] != "invalid_json" || errs[5] != "unknown_type" || len(errs) != 3 {
		t.Fatalf("errors = %v", errs)
	}
	r1, r3 := results[accepted[1]], results[accepted[3]]
	if r1.ExitCode != 2 || r1.Stdout != "hi\n" || r1.Stderr != "oops\n" || r1.Status != execengine.StatusFailed {
		t.Fatalf("result 1 = %+v", r1)
	}
	if !r3.Success || r3.Stdout != "two\n" {
		t.Fatalf("result 3 = %+v", r3)
	}
	if got := strings.Join(events[accepted[3]], " "); got != "started status_changed stdout status_changed completed" {
		t.Fatalf("events of 3 = %s", got)
	}
}

// TestWorkerSIGTERM: a worker told to stop cancels what it runs; each
// execution still gets its result, and the worker says it stopped and
// exits 0.
func TestWorkerSIGTERM(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	const prefix = "sigterm"
	w := startWorkerProc(t, srv.ClientURL(), prefix, "t1", 2)
	c := newClient(t, srv.ClientURL(), prefix)
	ctx := ctxT(t, 30*time.Second)
	dir := t.TempDir()
	id := uuid.New()
	if _, err := c.Execute(ctx, execengine.Request{ID: id, Command: execengine.Shell{Command: markerCmd(dir, id, "sleep 30")}}); err != nil {
		t.Fatal(err)
	}
	waitFiles(t, ctx, dir, 1)
	w.stop(t, syscall.SIGTERM, 15*time.Second)
	if w.err != nil {
		t.Fatalf("worker exit after SIGTERM: %v\n%s", w.err, w.output())
	}
	if got := lines(w.output()); !slices.Contains(got, "worker t1 stopped") {
		t.Fatalf("worker stderr = %q; want a line %q", got, "worker t1 stopped")
	}
	res, err := c.Wait(ctx, id)
	if err != nil || res.Status != execengine.StatusCancelled {
		t.Fatalf("Wait = %+v, %v; want cancelled", res, err)
	}
}

// TestFlags: bad or missing flags exit 2 with a message.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"worker"}, {"bridge"}, {"worker", "--nats", "nats://x", "extra"}, {"nope"}, {}} {
		var errOut bytes.Buffer
		t.Setenv("NATS_URL", "")
		if code := run(context.Background(), args, strings.NewReader(""), io.Discard, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, errOut.String())
		}
	}
}
