package execengine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A command that breaks the limit under FailExecution and exits before the
// engine can kill it still ends failed: the limit is a property of its
// output, not of who stopped it.
func TestFailExecutionWhenCommandExitsFirst(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EnableAutoCleanup = false
	cfg.MaxOutputSizeBytes = 10
	cfg.OversizedOutputStrategy = FailExecution
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		id, err := e.Execute(ctx, Request{Command: Shell{Command: "echo a line longer than ten bytes", Shell: "sh"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusFailed || res.ErrorCode != CodeOutputExceeded || !errors.Is(res.Err(), ErrOutputSizeExceeded) {
			t.Fatalf("run %d: status %s, error_code %q, truncated %v; want failed with %q",
				i, res.Status, res.ErrorCode, res.Truncated, CodeOutputExceeded)
		}
	}
}
