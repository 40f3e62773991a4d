package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

func TestBridgeRunsARequest(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	id := uuid.NewString()
	n := h.sendJSON(map[string]any{
		"id":         id,
		"command":    map[string]any{"type": "shell", "command": `printf 'a\nb\n'; echo e >&2`, "shell": nil},
		"env":        map[string]string{},
		"timeout_ms": 5000,
		"metadata":   map[string]any{"source": "test", "conversation_id": nil, "tags": map[string]string{}},
	})
	msgs := h.c.wait(t, "the result", 10*time.Second, hasResults(id))

	if msgs[0].Type != "accepted" || msgs[0].ID != id || msgs[0].Line != n {
		t.Errorf("first message = %+v, want accepted for %s on line %d", msgs[0], id, n)
	}
	evs := eventsOf(t, msgs, id)
	checkSeq(t, id, evs)
	var types, out []string
	for _, ev := range evs {
		types = append(types, string(ev.Type))
		if ev.Type == execengine.EventStdout || ev.Type == execengine.EventStderr {
			out = append(out, string(ev.Type)+":"+ev.Line)
		}
	}
	if want := []string{"started", "status_changed"}; !slices.Equal(types[:2], want) {
		t.Errorf("events start %q, want %q", types[:2], want)
	}
	if want := []string{"status_changed", "completed"}; !slices.Equal(types[len(types)-2:], want) {
		t.Errorf("events end %q, want %q", types[len(types)-2:], want)
	}
	slices.Sort(out) // stdout and stderr are read concurrently
	if want := []string{"stderr:e", "stdout:a", "stdout:b"}; !slices.Equal(out, want) {
		t.Errorf("output events %q, want %q", out, want)
	}
	last := msgs[len(msgs)-1]
	if prev := msgs[len(msgs)-2]; prev.Type != "event" || prev.event(t).Type != execengine.EventCompleted {
		t.Errorf("the message before the result is %+v, want the completed event", prev)
	}
	r := last.result(t)
	if r.Status != execengine.StatusCompleted || r.ExitCode != 0 || !r.Success || r.Stdout != "a\nb\n" || r.Stderr != "e\n" {
		t.Errorf("result = %+v, want completed, exit 0, stdout \"a\\nb\\n\", stderr \"e\\n\"", r)
	}
}

func TestBridgeRequestForms(t *testing.T) {
	t.Parallel()
	h := startBridge(t)

	// The execute wrapper, and an exec command whose arguments no shell touches.
	id := uuid.NewString()
	n := h.sendJSON(map[string]any{"type": "execute", "request": map[string]any{
		"id": id, "command": map[string]any{"type": "exec", "program": "echo", "args": []string{"$HOME", "a  b"}},
	}})
	// No id: the engine assigns one.
	m := h.ask(`{"command":{"type":"shell","command":"echo assigned"}}`)
	if m.Type != "accepted" || uuid.Validate(m.ID) != nil {
		t.Fatalf("reply to a request without id = %+v, want accepted with a new id", m)
	}
	msgs := h.c.wait(t, "both results", 10*time.Second, hasResults(id, m.ID))
	if a, _ := reply(msgs, n); a.Type != "accepted" || a.ID != id {
		t.Errorf("reply to the execute message = %+v, want accepted %s", a, id)
	}
	rs := results(t, msgs)
	if got := rs[id][0].Stdout; got != "$HOME a  b\n" {
		t.Errorf("exec stdout = %q, want %q", got, "$HOME a  b\n")
	}
	if got := rs[m.ID][0].Stdout; got != "assigned\n" {
		t.Errorf("shell stdout = %q, want %q", got, "assigned\n")
	}
}

// Several executions at once: their events interleave, and each stays in order.
func TestBridgeConcurrentExecutions(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	var ids []string
	for range 4 {
		id := uuid.NewString()
		ids = append(ids, id)
		h.sendJSON(request(id, `for i in 1 2 3 4 5; do echo $i; sleep 0.05; done`))
	}
	msgs := h.c.wait(t, "4 results", 20*time.Second, hasResults(ids...))

	var order []string // execution id of each event, in output order
	for _, m := range msgs {
		if m.Type == "event" {
			order = append(order, m.payloadID())
		}
	}
	if runs := len(slices.Compact(order)); runs <= len(ids) {
		t.Errorf("events of the 4 executions came in %d runs, want them interleaved", runs)
	}
	for i, m := range msgs {
		if m.Type == "result" {
			if prev := msgs[i-1]; prev.Type != "event" || prev.payloadID() != m.payloadID() || !prev.event(t).Type.IsTerminal() {
				t.Errorf("result of %s comes after %+v, want right after its terminal event", m.payloadID(), prev)
			}
		}
	}
	for _, id := range ids {
		evs := eventsOf(t, msgs, id)
		checkSeq(t, id, evs)
		var lines []string
		for _, ev := range evs {
			if ev.Type == execengine.EventStdout {
				lines = append(lines, ev.Line)
			}
		}
		if want := []string{"1", "2", "3", "4", "5"}; !slices.Equal(lines, want) {
			t.Errorf("%s: stdout events %q, want %q", id, lines, want)
		}
		if rs := results(t, msgs)[id]; len(rs) != 1 || rs[0].Status != execengine.StatusCompleted {
			t.Errorf("%s: results %+v, want one completed", id, rs)
		}
	}
}

// Long lines from concurrent executions never mix within an output line.
func TestBridgeWritesWholeLines(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	var ids []string
	for i := range 3 {
		id := uuid.NewString()
		ids = append(ids, id)
		h.sendJSON(request(id, fmt.Sprintf(`for i in $(seq 8); do head -c 100000 /dev/zero | tr '\0' %c; echo; done`, 'a'+i)))
	}
	msgs := h.c.wait(t, "3 results", 30*time.Second, hasResults(ids...))
	for i, id := range ids {
		want := strings.Repeat(string(rune('a'+i)), 100000)
		var n int
		for _, ev := range eventsOf(t, msgs, id) {
			if ev.Type == execengine.EventStdout {
				n++
				if ev.Line != want {
					t.Fatalf("%s: a stdout line of %d bytes is not 100000 × %c", id, len(ev.Line), 'a'+i)
				}
			}
		}
		if n != 8 {
			t.Errorf("%s: %d stdout events, want 8", id, n)
		}
	}
	// The collector fails the test on any output line that is not one whole message.
}

// Every kind of bad input gets an error naming the problem; the bridge and
// an execution already running carry on.
func TestBridgeBadInput(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--max-line", "4096", "--max-timeout", "1m", "--default-timeout", "30s")
	survivor := uuid.NewString()
	if m := h.ask(mustJSON(t, request(survivor, "sleep 0.5; echo survived"))); m.Type != "accepted" {
		t.Fatalf("reply = %+v, want accepted", m)
	}
	unknown := uuid.NewString()
	shell := `"command":{"type":"shell","command":"echo hi"}`
	long := `{"command":{"type":"shell","command":"echo ` + strings.Repeat("x", 5000) + `"}}`
	cases := []struct {
		name, line string
		code, want string
		id         string // the error's "id"
	}{
		{"truncated JSON", `{"command":`, codeInvalidJSON, "line %d is not valid JSON", ""},
		{"garbage", `hello bridge`, codeInvalidJSON, "is not valid JSON", ""},
		{"array", `["shell","echo hi"]`, codeInvalidJSON, `is not a JSON object: got ["shell","echo hi"]`, ""},
		{"null", `null`, codeInvalidJSON, "is not a JSON object: got null", ""},
		{"string", `"echo hi"`, codeInvalidJSON, `is not a JSON object: got "echo hi"`, ""},
		{"unknown type", `{"type":"launch","id":"` + unknown + `"}`, codeUnknownType, `unknown message type "launch"`, unknown},
		{"type not a string", `{"type":5}`, codeInvalidField, `"type" must be a string, got 5`, ""},
		{"neither type nor command", `{"id":"` + unknown + `"}`, codeMissingField, `neither "type" nor "command"`, unknown},
		{"command null", `{"command":null}`, codeMissingField, `request has no "command"`, ""},
		{"command a string", `{"command":"echo hi"}`, codeInvalidField, `"command" must be an object`, ""},
		{"command without type", `{"command":{"command":"echo hi"}}`, codeMissingField, `"command" has no "type"`, ""},
		{"unknown command type", `{"command":{"type":"powershell","command":"dir"}}`, codeInvalidRequest, `unknown type "powershell"`, ""},
		{"args not a list", `{"command":{"type":"exec","program":"echo","args":"hi"}}`, codeInvalidRequest, "invalid request: command.args: want an array of strings, got string", ""},
		{"timeout_ms a string", `{` + shell + `,"timeout_ms":"5s"}`, codeInvalidRequest, "invalid request: timeout_ms: want a number of milliseconds, got string", ""},
		{"timeout_ms overflows", `{` + shell + `,"timeout_ms":288230376151713744}`, codeTimeoutTooLarge, "invalid request: timeout_ms: 288230376151713744 milliseconds is too large", ""},
		{"request id not a UUID", `{"id":"run-1",` + shell + `}`, codeInvalidField, `request "id" must be a UUID string, got "run-1"`, ""},
		{"empty program", `{"id":"` + unknown + `","command":{"type":"exec","program":"","args":[]}}`, codeInvalidRequest, "exec program is empty", unknown},
		{"empty shell command", `{"command":{"type":"shell","command":""}}`, codeInvalidRequest, `shell command "" is empty`, ""},
		{"negative timeout", `{` + shell + `,"timeout_ms":-5}`, codeInvalidRequest, "invalid request: timeout_ms: -5 is negative", ""},
		{"timeout too large", `{` + shell + `,"timeout_ms":7200000}`, codeTimeoutTooLarge, "2h0m0s exceeds MaxTimeout 1m0s", ""},
		{"env name with =", `{` + shell + `,"env":{"AWS_SECRET_ACCESS_KEY=":"wJalrXUtnFEMI/K7MDENG"}}`, codeInvalidRequest, `environment variable name "AWS_SECRET_ACCESS_KEY="`, ""},
		{"env value with NUL", `{` + shell + `,"env":{"AWS_SECRET_ACCESS_KEY":"wJalrXUtnFEMI/K7MDENG\u0000"}}`, codeInvalidRequest, `environment variable "AWS_SECRET_ACCESS_KEY": its value contains a NUL byte`, ""},
		{"missing working dir", `{` + shell + `,"working_dir":"/no/such/dir"}`, codeInvalidRequest, `working directory "/no/such/dir"`, ""},
		{"duplicate id", `{"id":"` + survivor + `",` + shell + `}`, codeDuplicateID, survivor + " is still in memory", survivor},
		{"execute without request", `{"type":"execute"}`, codeMissingField, `"execute" message has no "request"`, ""},
		{"execute request an array", `{"type":"execute","request":[1]}`, codeInvalidField, `"request" must be a JSON object, got [1]`, ""},
		{"cancel without id", `{"type":"cancel"}`, codeMissingField, `"cancel" message has no "id"`, ""},
		{"cancel id a number", `{"type":"cancel","id":42}`, codeInvalidField, `"id" must be a UUID string, got 42`, ""},
		{"cancel unknown id", `{"type":"cancel","id":"` + unknown + `"}`, codeNotFound, "cancel: execengine: execution not found: " + unknown, unknown},
		{"status without id", `{"type":"status","id":null}`, codeMissingField, `"status" message has no "id"`, ""},
		{"status bad UUID", `{"type":"status","id":"1234"}`, codeInvalidField, `"id" must be a UUID string, got "1234"`, ""},
		{"status unknown id", `{"type":"status","id":"` + unknown + `"}`, codeNotFound, "status: execengine: execution not found: " + unknown, unknown},
		{"line too long", long, codeLineTooLong,
			"line %d is " + fmt.Sprint(len(long)) + " bytes, over the 4096-byte limit (--max-line); it was discarded", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := h.send(tc.line)
			msgs := h.c.wait(t, "the reply", 10*time.Second, hasReply(n))
			m, _ := reply(msgs, n)
			want := tc.want
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, n)
			}
			if strings.Contains(m.Error, "wJalr") {
				t.Errorf("reply to %s shows the secret value: %s", abbreviate([]byte(tc.line)), m.Error)
			}
			if m.Type != "error" || m.Code != tc.code || !strings.Contains(m.Error, want) || m.ID != tc.id {
				t.Errorf("reply to %s = %+v,\nwant error code %q id %q containing %q", abbreviate([]byte(tc.line)), m, tc.code, tc.id, want)
			}
		})
	}

	// Blank lines get no reply; CRLF line endings are fine.
	blank := h.send("")
	h.send("   \t")
	list := h.ask("{\"type\":\"list\"}\r")
	if list.Type != "list" || list.Line != blank+2 || len(list.Executions) != 1 || list.Executions[0].ID != survivor {
		t.Errorf("list after blank lines = %+v, want a list on line %d with only %s", list, blank+2, survivor)
	}
	if _, ok := reply(h.c.snapshot(), blank); ok {
		t.Errorf("a blank line got a reply")
	}

	// Still serving: a new request runs, and the survivor ended normally.
	after := uuid.NewString()
	if m := h.ask(mustJSON(t, request(after, "echo after"))); m.Type != "accepted" {
		t.Fatalf("reply after the bad input = %+v, want accepted", m)
	}
	rs := results(t, h.c.wait(t, "the results", 10*time.Second, hasResults(survivor, after)))
	if r := rs[survivor]; len(r) != 1 || r[0].Status != execengine.StatusCompleted || r[0].Stdout != "survived\n" {
		t.Errorf("survivor results = %+v, want one completed with stdout \"survived\\n\"", r)
	}
	if r := rs[after]; len(r) != 1 || r[0].Stdout != "after\n" {
		t.Errorf("results after the bad input = %+v, want stdout \"after\\n\"", r)
	}
	// Each line got exactly one reply.
	seen := map[int64]int{}
	for _, m := range h.c.snapshot() {
		if m.Line > 0 {
			seen[m.Line]++
		}
	}
	for line, k := range seen {
		if k != 1 {
			t.Errorf("line %d got %d replies, want 1", line, k)
		}
	}
	if want := int(h.sent) - 2; len(seen) != want {
		t.Errorf("%d lines got replies, want %d (every line but the 2 blank ones)", len(seen), want)
	}
}

// A line over the limit at EOF, with no newline, is still answered.
func TestBridgeLongLastLine(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--max-line", "100")
	if _, err := io.WriteString(h.in, strings.Repeat("y", 300)); err != nil {
		t.Fatal(err)
	}
	_ = h.in.Close()
	if code := h.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	m, ok := reply(h.c.snapshot(), 1)
	if !ok || m.Code != codeLineTooLong || !strings.Contains(m.Error, "line 1 is 300 bytes, over the 100-byte limit") {
		t.Errorf("reply = %+v, want line_too_long for 300 bytes", m)
	}
}

func TestBridgeStatusListCancel(t *testing.T) {
	t.Parallel()
	h := startBridge(t)
	id := uuid.NewString()
	h.sendJSON(request(id, "sleep 30"))
	h.c.wait(t, "the started event", 10*time.Second, hasEvent(id, execengine.EventStarted))

	if m := h.ask(`{"type":"status","id":"` + id + `"}`); m.Type != "status" || m.ID != id || m.Status != "running" {
		t.Errorf("status reply = %+v, want running", m)
	}
	if m := h.ask(`{"type":"list"}`); m.Type != "list" || len(m.Executions) != 1 || m.Executions[0].ID != id || m.Executions[0].Status != "running" {
		t.Errorf("list reply = %+v, want %s running", m, id)
	}
	start := time.Now()
	n := h.send(`{"type":"cancel","id":"` + id + `"}`)
	msgs := h.c.wait(t, "the cancelled result", 10*time.Second, hasResults(id))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cancel took %v", took)
	}
	ack, _ := reply(msgs, n)
	if ack.Type != "cancel_requested" || ack.ID != id || ack.Status != "running" {
		t.Errorf("cancel reply = %+v, want cancel_requested while running", ack)
	}
	r := results(t, msgs)[id][0]
	if r.Status != execengine.StatusCancelled || r.ErrorCode != execengine.CodeCancelled || !errors.Is(r.Err(), context.Canceled) {
		t.Errorf("result = %+v, want cancelled", r)
	}
	if m := h.ask(`{"type":"status","id":"` + id + `"}`); m.Status != "cancelled" {
		t.Errorf("status after cancel = %+v, want cancelled", m)
	}
	// Cancelling a finished execution is acknowledged and changes nothing.
	if m := h.ask(`{"type":"cancel","id":"` + id + `"}`); m.Type != "cancel_requested" || m.Status != "cancelled" {
		t.Errorf("second cancel reply = %+v, want cancel_requested with status cancelled", m)
	}
	h.ask(`{"type":"list"}`)
	if rs := results(t, h.c.snapshot())[id]; len(rs) != 1 {
		t.Errorf("%d results for %s, want 1", len(rs), id)
	}
}

func TestBridgeQueue(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--concurrency", "1", "--queue", "1")
	running, queued := uuid.NewString(), uuid.NewString()
	h.sendJSON(request(running, "sleep 30"))
	if m := h.ask(mustJSON(t, request(queued, "echo queued"))); m.Type != "accepted" {
		t.Fatalf("reply for the queued request = %+v, want accepted", m)
	}
	refused := uuid.NewString()
	m := h.ask(mustJSON(t, request(refused, "echo refused")))
	if m.Type != "error" || m.Code != codeConcurrencyLimit || m.ID != refused || !strings.Contains(m.Error, "1 executions running and 1 queued") {
		t.Errorf("reply over the limit = %+v, want concurrency_limit", m)
	}
	if m := h.ask(`{"type":"status","id":"` + queued + `"}`); m.Status != "pending" {
		t.Errorf("status of the queued one = %+v, want pending", m)
	}
	n := h.send(`{"type":"cancel","id":"` + queued + `"}`)
	msgs := h.c.wait(t, "the queued one's result", 10*time.Second, hasResults(queued))
	ackAt := slices.IndexFunc(msgs, func(m msg) bool { return m.Line == n })
	resAt := slices.IndexFunc(msgs, func(m msg) bool { return m.Type == "result" && m.payloadID() == queued })
	if ackAt < 0 || msgs[ackAt].Type != "cancel_requested" || msgs[ackAt].Status != "pending" || ackAt > resAt {
		t.Errorf("cancel reply at %d (%+v), result at %d: want cancel_requested (pending) first", ackAt, msgs[ackAt], resAt)
	}
	var types []execengine.EventType
	for _, ev := range eventsOf(t, msgs, queued) {
		types = append(types, ev.Type)
	}
	if want := []execengine.EventType{execengine.EventStatusChanged, execengine.EventCancelled}; !slices.Equal(types, want) {
		t.Errorf("events of the never-started execution %q, want %q", types, want)
	}
	h.send(`{"type":"cancel","id":"` + running + `"}`)
	h.c.wait(t, "the running one's result", 10*time.Second, hasResults(running))
}

// stdin EOF: running and queued executions finish, then exit 0.
func TestBridgeEOFFinishesExecutions(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--concurrency", "1", "--queue", "2")
	var ids []string
	for i := range 3 {
		id := uuid.NewString()
		ids = append(ids, id)
		h.sendJSON(request(id, fmt.Sprintf("sleep 0.1; echo %d", i)))
	}
	h.c.wait(t, "3 replies", 10*time.Second, hasReply(3))
	_ = h.in.Close()
	if code := h.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	rs := results(t, h.c.snapshot())
	for i, id := range ids {
		if r := rs[id]; len(r) != 1 || r[0].Status != execengine.StatusCompleted || r[0].Stdout != fmt.Sprintf("%d\n", i) {
			t.Errorf("results of %d = %+v, want completed with %q", i, r, fmt.Sprintf("%d\n", i))
		}
	}
}

// Cancelling the context (what SIGTERM does) cancels every execution; each
// still gets its result.
func TestBridgeContextCancel(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--concurrency", "1", "--queue", "1", "--grace", "2s")
	running, queued := uuid.NewString(), uuid.NewString()
	h.sendJSON(request(running, "sleep 30"))
	h.sendJSON(request(queued, "sleep 30"))
	h.c.wait(t, "the started event", 10*time.Second, hasEvent(running, execengine.EventStarted))
	start := time.Now()
	h.cancel()
	if code := h.waitExit(10 * time.Second); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopping took %v", took)
	}
	rs := results(t, h.c.snapshot())
	for _, id := range []string{running, queued} {
		if r := rs[id]; len(r) != 1 || r[0].Status != execengine.StatusCancelled || !errors.Is(r[0].Err(), execengine.ErrClosed) {
			t.Errorf("results of %s = %+v, want one cancelled by close", id, r)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// A broken stdout stops everything and exits 1 instead of hanging.
func TestBridgeBrokenOutput(t *testing.T) {
	t.Parallel()
	inR, inW := io.Pipe()
	defer inW.Close()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runBridge(context.Background(), nil, inR, failingWriter{}, &stderr)
	}()
	if _, err := io.WriteString(inW, mustJSON(t, request("", "sleep 30"))+"\n"); err != nil {
		t.Fatal(err)
	}
	// Exiting well before the sleep ends means Close stopped it: Close
	// returns only after every execution has ended.
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(stderr.String(), "writing stdout failed: broken pipe") {
			t.Errorf("exit code %d, stderr %q; want 1 and the write error", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge kept running with a broken stdout")
	}
}

func TestBridgeFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--output-strategy", "Bogus"}, 2, `OversizedOutputStrategy "Bogus" is not one of`},
		{[]string{"--concurrency", "0"}, 2, "MaxConcurrentExecutions must be positive, got 0"},
		{[]string{"--queue", "-1"}, 2, "MaxQueuedExecutions must not be negative, got -1"},
		{[]string{"--max-line", "0"}, 2, "--max-line must be positive, got 0"},
		{[]string{"--concurrency", "many"}, 2, `invalid value "many" for flag -concurrency`},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-h"}, 0, "execengine bridge [flags]"},
	} {
		var stderr syncBuffer
		code := runBridge(context.Background(), tc.args, strings.NewReader(""), io.Discard, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("bridge %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// The engine flags reach the engine.
func TestBridgeEngineFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startBridge(t, "--max-output", "10", "--output-strategy", "failexecution", "--log-dir", dir, "--output-events=false")
	id := uuid.NewString()
	h.sendJSON(request(id, "echo short; echo a line longer than ten bytes"))
	msgs := h.c.wait(t, "the result", 10*time.Second, hasResults(id))
	r := results(t, msgs)[id][0]
	if r.Status != execengine.StatusFailed || r.ErrorCode != execengine.CodeOutputExceeded {
		t.Errorf("result = %+v, want failed with output_size_exceeded", r)
	}
	for _, ev := range eventsOf(t, msgs, id) {
		if ev.Type == execengine.EventStdout {
			t.Errorf("stdout event %q with --output-events=false", ev.Line)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, id+".log")); err != nil {
		t.Errorf("no log file in --log-dir: %v", err)
	}
}

// The real process: EOF lets the running execution finish, then exit 0.
func TestBridgeProcessEOF(t *testing.T) {
	t.Parallel()
	h := startProcess(t)
	id := uuid.NewString()
	h.sendJSON(request(id, "sleep 0.3; echo done"))
	h.c.wait(t, "accepted", 10*time.Second, hasReply(1))
	_ = h.in.Close()
	if code := h.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if r := results(t, h.c.snapshot())[id]; len(r) != 1 || r[0].Status != execengine.StatusCompleted || r[0].Stdout != "done\n" {
		t.Errorf("results = %+v, want completed with \"done\\n\"", r)
	}
}

// The real process: SIGTERM cancels everything (process groups included),
// every execution gets its result, exit 130.
func TestBridgeProcessSIGTERM(t *testing.T) {
	t.Parallel()
	h := startProcess(t, "--grace", "2s")
	a, b := uuid.NewString(), uuid.NewString()
	h.sendJSON(request(a, "sleep 30"))
	h.sendJSON(request(b, "sleep 30 & echo $!; sleep 30; wait"))
	msgs := h.c.wait(t, "both started", 10*time.Second, func(msgs []msg) bool {
		return hasEvent(a, execengine.EventStarted)(msgs) && hasEvent(b, execengine.EventStdout)(msgs)
	})
	var background int // the pid of b's background sleep
	for _, ev := range eventsOf(t, msgs, b) {
		if ev.Type == execengine.EventStdout {
			background, _ = strconv.Atoi(ev.Line)
		}
	}
	start := time.Now()
	h.signal(syscall.SIGTERM)
	if code := h.waitExit(10 * time.Second); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("SIGTERM took %v to stop the bridge", took)
	}
	rs := results(t, h.c.snapshot())
	for _, id := range []string{a, b} {
		r := rs[id]
		if len(r) != 1 || r[0].Status != execengine.StatusCancelled || r[0].ErrorCode != execengine.CodeClosed {
			t.Errorf("results of %s = %+v, want one cancelled (engine_closed)", id, r)
			continue
		}
		pids := []int{r[0].PID}
		if id == b {
			pids = append(pids, background)
		}
		for _, pid := range pids {
			waitGone(t, pid, r[0].PID)
		}
	}
}

// waitGone fails the test unless process pid of process group pgid is gone
// (or a zombie) within 2 s: init may take a moment to reap an orphan. It
// checks the group too, so that a reused pid does not count.
func waitGone(t *testing.T, pid, pgid int) {
	t.Helper()
	if pid <= 0 {
		t.Errorf("pid %d: want a real pid", pid)
		return
	}
	var state byte
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, group, ok, err := procState(pid)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			t.Skipf("that process %d of group %d is gone is not checked: %v", pid, pgid, err)
		case err != nil:
			t.Fatalf("process %d: %v", pid, err)
		case !ok || st == 'Z' || group != pgid:
			return
		}
		state = st
	}
	t.Errorf("process %d of group %d still running after SIGTERM: state %c", pid, pgid, state)
}

// The real process under a flood: every line gets exactly one reply,
// accepted or concurrency_limit; every accepted execution gets one result;
// memory stays bounded.
func TestBridgeProcessFlood(t *testing.T) {
	const total = 10000
	h := startProcess(t, "--concurrency", "8")
	start := time.Now()
	req := `{"command":{"type":"exec","program":"true","args":[]}}` + "\n"
	h.wg.Go(func() { // ends when all lines are written or cleanup closes stdin
		_, _ = io.WriteString(h.in, strings.Repeat(req, total))
	})
	h.c.wait(t, "a reply to every line", 60*time.Second, hasReply(total))
	h.c.wait(t, "a result for every accepted request", 30*time.Second, func(msgs []msg) bool {
		var accepted, results int
		for _, m := range msgs {
			switch m.Type {
			case "accepted":
				accepted++
			case "result":
				results++
			}
		}
		return accepted == results
	})
	// The bridge's own high-water mark. (The rusage of a child also counts
	// the parent memory it had between fork and exec: the test binary's.)
	peakKiB := vmHWM(t, h.cmd.Process.Pid)
	_ = h.in.Close()
	if code := h.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	elapsed := time.Since(start)
	msgs := h.c.snapshot()

	replies := make([]int, total+1)
	var accepted, refused int
	acceptedIDs := map[string]bool{}
	for _, m := range msgs {
		switch {
		case m.Line < 0 || m.Line > total:
			t.Fatalf("reply for line %d of %d: %+v", m.Line, total, m)
		case m.Type == "accepted":
			replies[m.Line]++
			accepted++
			acceptedIDs[m.ID] = true
		case m.Type == "error" && m.Code == codeConcurrencyLimit:
			replies[m.Line]++
			refused++
		case m.Type == "error":
			t.Fatalf("unexpected error reply %+v", m)
		}
	}
	for line := 1; line <= total; line++ {
		if replies[line] != 1 {
			t.Fatalf("line %d got %d replies, want exactly 1", line, replies[line])
		}
	}
	rs := results(t, msgs)
	completed := 0
	for id := range acceptedIDs {
		if r := rs[id]; len(r) == 1 && r[0].Status == execengine.StatusCompleted {
			completed++
		}
	}
	if completed != accepted || len(rs) != accepted {
		t.Errorf("%d accepted, %d results, %d completed once: want all equal", accepted, len(rs), completed)
	}
	t.Logf("flood: %d requests in %v: %d accepted, %d refused (concurrency_limit), 0 lost; %d messages; peak RSS %d KiB",
		total, elapsed.Round(time.Millisecond), accepted, refused, len(msgs), peakKiB)
	if accepted == 0 || refused == 0 {
		t.Errorf("%d accepted, %d refused: want some of each", accepted, refused)
	}
	if peakKiB > 64<<10 {
		t.Errorf("peak RSS %d KiB, want under 64 MiB", peakKiB)
	}
}

// vmHWM returns the peak resident set size of a running process, in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("the bridge's peak RSS (VmHWM, want under 64 MiB) is not checked without /proc (the replies and results were): %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				t.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kib
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every line the bridge has read gets its reply when the context is
// cancelled right after it: the lines are answered, then cancelled.
func TestBridgeCancelAnswersReadLines(t *testing.T) {
	t.Parallel()
	h := startBridge(t, "--concurrency", "2", "--queue", "100", "--grace", "1s")
	const n = 30
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		h.sendJSON(request(ids[i], "sleep 30")) // returns once the bridge has read the line
	}
	h.cancel()
	if code := h.waitExit(10 * time.Second); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	msgs := h.c.snapshot()
	rs := results(t, msgs)
	for i, id := range ids {
		m, ok := reply(msgs, int64(i+1))
		if !ok || m.Type != "accepted" || m.ID != id {
			t.Errorf("line %d: reply %+v (%v), want accepted %s", i+1, m, ok, id)
			continue
		}
		if r := rs[id]; len(r) != 1 || r[0].Status != execengine.StatusCancelled || !errors.Is(r[0].Err(), execengine.ErrClosed) {
			t.Errorf("line %d: results %+v, want one cancelled by close", i+1, r)
		}
	}
}

// SIGTERM while the client does not read stdout: the bridge drops what it
// cannot deliver, says so, stops every process and exits 130 within about
// the grace period plus a second instead of hanging.
func TestBridgeProcessSIGTERMUnreadStdout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(bridgeBinary(t), "bridge", "--grace", "1s")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe() // never read
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var lines string
	// Each floods only once all three have started: a stdout that is
	// full blocks the bridge's replies, and so the next request's start.
	flood := filepath.Join(dir, "flood")
	for i := range 3 {
		pidFile := filepath.Join(dir, fmt.Sprint(i))
		lines += mustJSON(t, request("", "echo $$ > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+
			"; while [ ! -e "+flood+" ]; do sleep 0.01; done; exec yes")) + "\n"
	}
	if _, err := io.WriteString(in, lines); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for i := range 3 {
		var data []byte
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if data, err = os.ReadFile(filepath.Join(dir, fmt.Sprint(i))); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("execution %d did not start: %v", i, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		pids = append(pids, pid)
	}
	if err := os.WriteFile(flood, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // yes fills the pipe: every execution blocks on the writer
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("the bridge ignored SIGTERM for 10s while its stdout was not read; stderr:\n%s", stderr.String())
	}
	took := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "execengine bridge: stdout was not read: dropped ") {
		t.Errorf("stderr does not say messages were dropped:\n%s", stderr.String())
	}
	t.Logf("exited %v after SIGTERM (grace 1s)", took.Round(time.Millisecond))
	for _, pid := range pids {
		waitGone(t, pid, pid)
	}
}
