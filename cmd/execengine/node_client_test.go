package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Node client in examples/node-client drives the real bridge binary.
func TestNodeClient(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found on PATH: install Node.js to run the node client test")
	}
	bin := bridgeBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "../../examples/node-client/client.js", bin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	defer func() {
		if t.Failed() {
			t.Logf("client stdout:\n%s\nclient stderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last, ok := strings.CutPrefix(lines[len(lines)-1], "SUMMARY ")
	if !ok {
		t.Fatalf("client (%v) did not end with a SUMMARY line", runErr)
	}
	type result struct {
		Status    string  `json:"status"`
		ExitCode  int     `json:"exit_code"`
		Stdout    string  `json:"stdout"`
		Stderr    string  `json:"stderr"`
		ErrorCode *string `json:"error_code"`
	}
	var sum struct {
		Results  map[string]result   `json:"results"`
		Events   map[string][]string `json:"events"`
		Accepted []string            `json:"accepted"`
		Errors   []struct {
			Line int    `json:"line"`
			Code string `json:"code"`
		} `json:"errors"`
		StatusReply    string   `json:"status_reply"`
		CancelReply    string   `json:"cancel_reply"`
		ProtocolErrors []string `json:"protocol_errors"`
		BridgeExitCode any      `json:"bridge_exit_code"`
		OK             bool     `json:"ok"`
	}
	if err := json.Unmarshal([]byte(last), &sum); err != nil {
		t.Fatalf("SUMMARY is not JSON: %v", err)
	}
	if runErr != nil || !sum.OK {
		t.Errorf("client exit: %v, ok %v; want success", runErr, sum.OK)
	}
	str := func(s string) *string { return &s }
	want := map[string]result{
		"shell":   {Status: "completed", ExitCode: 0, Stdout: "hello from the shell\n", Stderr: "a warning\n"},
		"exec":    {Status: "completed", ExitCode: 0, Stdout: "no shell: $HOME|a  b\n"},
		"timeout": {Status: "timeout", ExitCode: -1, Stdout: "before the timeout\n", ErrorCode: str("timeout")},
		"cancel":  {Status: "cancelled", ExitCode: -1, Stdout: "waiting to be cancelled\n", ErrorCode: str("cancelled")},
	}
	for name, w := range want {
		g, ok := sum.Results[name]
		if !ok {
			t.Errorf("no result for the %s job", name)
			continue
		}
		if g.Status != w.Status || g.ExitCode != w.ExitCode || g.Stdout != w.Stdout || g.Stderr != w.Stderr ||
			(g.ErrorCode == nil) != (w.ErrorCode == nil) || (g.ErrorCode != nil && *g.ErrorCode != *w.ErrorCode) {
			t.Errorf("%s result = %+v, want %+v", name, g, w)
		}
		evs := sum.Events[name]
		if len(evs) < 4 || evs[0] != "started" || evs[len(evs)-1] != map[string]string{
			"completed": "completed", "timeout": "timeout", "cancelled": "cancelled"}[w.Status] {
			t.Errorf("%s events %q, want started … %s", name, evs, w.Status)
		}
	}
	if !slices.Equal(sum.Accepted, []string{"shell", "exec", "timeout", "cancel"}) {
		t.Errorf("accepted %q, want the four jobs in order", sum.Accepted)
	}
	if len(sum.Errors) != 1 || sum.Errors[0].Line != 5 || sum.Errors[0].Code != "invalid_json" {
		t.Errorf("errors %+v, want one invalid_json for line 5", sum.Errors)
	}
	if sum.StatusReply != "running" || sum.CancelReply != "running" {
		t.Errorf("status reply %q, cancel reply %q; want running for both", sum.StatusReply, sum.CancelReply)
	}
	if len(sum.ProtocolErrors) != 0 || sum.BridgeExitCode != float64(0) {
		t.Errorf("protocol errors %q, bridge exit %v; want none and 0", sum.ProtocolErrors, sum.BridgeExitCode)
	}
}
