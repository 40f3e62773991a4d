//go:build linux

package main

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

// chunksOf joins the Data of an execution's stdout_chunk events.
func chunksOf(t *testing.T, msgs []msg, id string) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range eventsOf(t, msgs, id) {
		if ev.Type == execengine.EventStdoutChunk {
			b.Write(ev.Data)
		}
	}
	return b.String()
}

func hasOutput(t *testing.T, id, want string) func([]msg) bool {
	return func(msgs []msg) bool { return strings.Contains(chunksOf(t, msgs, id), want) }
}

// A terminal session through the bridge binary: a prompt answered with
// "text", a resize, a line as base64 "data", then close_stdin.
func TestBridgeTerminal(t *testing.T) {
	t.Parallel()
	h := startProcess(t)
	id := uuid.NewString()
	req := request(id, `printf 'Name? '; read n; echo "hi $n"; stty size; read x; stty size; cat; echo end`)
	req["pty"] = map[string]any{"cols": 100, "rows": 30}
	req["interactive"] = true
	if m := h.ask(mustJSON(t, req)); m.Type != "accepted" {
		t.Fatalf("reply = %+v, want accepted", m)
	}
	h.c.wait(t, "the prompt", 10*time.Second, hasOutput(t, id, "Name? "))
	if m := h.ask(`{"type":"stdin","id":"` + id + `","text":"bob\n"}`); m.Type != "stdin_written" || m.ID != id || m.Bytes == nil || *m.Bytes != 4 {
		t.Errorf("stdin reply = %+v, want stdin_written of 4 bytes", m)
	}
	h.c.wait(t, "the first size", 10*time.Second, hasOutput(t, id, "30 100\r\n"))
	if m := h.ask(`{"type":"resize","id":"` + id + `","cols":120,"rows":40}`); m.Type != "resized" || m.ID != id || m.Cols != 120 || m.Rows != 40 {
		t.Errorf("resize reply = %+v, want resized 120×40", m)
	}
	data := base64.StdEncoding.EncodeToString([]byte("\nabc"))
	if m := h.ask(`{"type":"stdin","id":"` + id + `","data":"` + data + `"}`); m.Type != "stdin_written" || *m.Bytes != 4 {
		t.Errorf("stdin reply = %+v, want stdin_written of 4 bytes", m)
	}
	h.c.wait(t, "the second size", 10*time.Second, hasOutput(t, id, "40 120\r\n"))
	if m := h.ask(`{"type":"close_stdin","id":"` + id + `"}`); m.Type != "stdin_close_requested" || m.ID != id {
		t.Errorf("close_stdin reply = %+v, want stdin_close_requested", m)
	}
	msgs := h.c.wait(t, "the result", 10*time.Second, hasResults(id))
	r := results(t, msgs)[id][0]
	// The terminal echoes what is typed; cat gets "abc" (the first VEOF
	// ends its line), then end of file.
	const want = "Name? bob\r\nhi bob\r\n30 100\r\n\r\nabc40 120\r\nabcend\r\n"
	if r.Status != execengine.StatusCompleted || r.Stdout != want || r.Stderr != "" {
		t.Errorf("result = %s %q %q, want completed %q", r.Status, r.Stdout, r.Stderr, want)
	}
	if got := chunksOf(t, msgs, id); got != want {
		t.Errorf("stdout_chunk events = %q, want %q", got, want)
	}
	checkSeq(t, id, eventsOf(t, msgs, id))
	if m := h.ask(`{"type":"close_stdin","id":"` + id + `"}`); m.Type != "error" || m.Code != "stdin_closed" {
		t.Errorf("close_stdin after the end = %+v, want error stdin_closed", m)
	}
}

func TestBridgeStdinAndResizeErrors(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	plain := uuid.NewString()
	h.sendJSON(request(plain, "sleep 30"))
	inter := uuid.NewString()
	req := request(inter, "sleep 30")
	req["interactive"] = true
	h.sendJSON(req)
	h.c.wait(t, "both started", 10*time.Second, func(msgs []msg) bool {
		return hasEvent(plain, execengine.EventStarted)(msgs) && hasEvent(inter, execengine.EventStarted)(msgs)
	})
	unknown := uuid.NewString()
	for _, tt := range []struct{ line, code string }{
		{`{"type":"stdin","id":"` + inter + `"}`, "missing_field"},
		{`{"type":"stdin","id":"` + inter + `","text":"a","data":"YQ=="}`, "invalid_field"},
		{`{"type":"stdin","id":"` + inter + `","data":"**"}`, "invalid_field"},
		{`{"type":"stdin","id":"` + inter + `","text":5}`, "invalid_field"},
		{`{"type":"stdin","text":"a"}`, "missing_field"},
		{`{"type":"stdin","id":"` + plain + `","text":"a"}`, "invalid_request"},
		{`{"type":"stdin","id":"` + unknown + `","text":"a"}`, "not_found"},
		{`{"type":"close_stdin","id":"` + plain + `"}`, "invalid_request"},
		{`{"type":"close_stdin","id":"` + unknown + `"}`, "not_found"},
		{`{"type":"resize","id":"` + inter + `","cols":80}`, "missing_field"},
		{`{"type":"resize","id":"` + inter + `","cols":0,"rows":24}`, "invalid_field"},
		{`{"type":"resize","id":"` + inter + `","cols":70000,"rows":24}`, "invalid_field"},
		{`{"type":"resize","id":"` + inter + `","cols":"80","rows":24}`, "invalid_field"},
		{`{"type":"resize","id":"` + inter + `","cols":80,"rows":24}`, "invalid_request"},
		{`{"type":"resize","id":"` + unknown + `","cols":80,"rows":24}`, "not_found"},
	} {
		if m := h.ask(tt.line); m.Type != "error" || m.Code != tt.code {
			t.Errorf("%s: reply %+v, want error %s", tt.line, m, tt.code)
		}
	}
	// A full buffer: the error says how much was taken.
	block := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 600<<10)))
	var taken int
	for i := 0; ; i++ {
		m := h.ask(`{"type":"stdin","id":"` + inter + `","data":"` + block + `"}`)
		if m.Type == "stdin_written" && i < 4 {
			taken += *m.Bytes
			continue
		}
		if m.Type != "error" || m.Code != "stdin_full" || m.Bytes == nil || *m.Bytes >= 600<<10 {
			t.Fatalf("write %d: reply %+v, want stdin_full with the bytes taken", i, m)
		}
		taken += *m.Bytes
		break
	}
	if taken < execengine.StdinBufferSize || taken > execengine.StdinBufferSize+1<<20 {
		t.Errorf("%d bytes taken in all, want the buffer and at most a pipe more", taken)
	}
	h.ask(`{"type":"cancel","id":"` + plain + `"}`)
	h.ask(`{"type":"cancel","id":"` + inter + `"}`)
	h.c.wait(t, "both results", 10*time.Second, hasResults(plain, inter))
}

// Chunks on pipes pass through as events.
func TestBridgeChunks(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	id := uuid.NewString()
	req := request(id, `printf 'a\rb'; printf 'e\n' >&2`)
	req["chunks"] = true
	h.sendJSON(req)
	msgs := h.c.wait(t, "the result", 10*time.Second, hasResults(id))
	var out, errOut string
	for _, ev := range eventsOf(t, msgs, id) {
		switch ev.Type {
		case execengine.EventStdoutChunk:
			out += string(ev.Data)
		case execengine.EventStderrChunk:
			errOut += string(ev.Data)
		}
	}
	if out != "a\rb" || errOut != "e\n" {
		t.Errorf("chunks: stdout %q stderr %q, want %q and %q", out, errOut, "a\rb", "e\n")
	}
}
