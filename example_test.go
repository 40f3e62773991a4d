//go:build unix

package execengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/escher-dbai/execengine"
)

// Execute returns an id at once; Wait blocks until the result is final.
func Example() {
	engine, err := execengine.New(execengine.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	ctx := context.Background()
	id, err := engine.Execute(ctx, execengine.Request{
		Command: execengine.Shell{Command: "echo hello from $NAME"},
		Env:     map[string]string{"NAME": "execengine"},
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := engine.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d %q\n", res.Status, res.ExitCode, res.Stdout)
	// Output: completed 0 "hello from execengine\n"
}

// An event handler sees each line as it is written, then one terminal event.
func ExampleEventHandlerFunc() {
	cfg := execengine.DefaultConfig()
	cfg.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
		switch ev.Type {
		case execengine.EventStdout:
			fmt.Println("line:", ev.Line)
		case execengine.EventCompleted, execengine.EventFailed:
			fmt.Println(ev.Type, "exit code", ev.Result.ExitCode)
		}
	})
	engine, err := execengine.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	ctx := context.Background()
	id, err := engine.Execute(ctx, execengine.Request{
		Command: execengine.Exec{Program: "printf", Args: []string{`one\r\ntwo\nthree`}},
	})
	if err != nil {
		log.Fatal(err)
	}
	done, err := engine.Done(id) // closed after the terminal event; Wait may return just before it
	if err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// line: one
	// line: two
	// line: three
	// completed exit code 0
}

// A command that fails, times out or is cancelled is a Result, not an error
// from Wait; Result.Err says why.
func ExampleResult_Err() {
	engine, err := execengine.New(execengine.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	ctx := context.Background()

	run := func(req execengine.Request) execengine.Result {
		id, err := engine.Execute(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		res, err := engine.Wait(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		return res
	}

	res := run(execengine.Request{Command: execengine.Shell{Command: "exit 3"}})
	var exitErr *execengine.ExitError
	fmt.Println(res.Status, errors.As(res.Err(), &exitErr), exitErr.Code)

	res = run(execengine.Request{
		Command: execengine.Exec{Program: "sleep", Args: []string{"10"}},
		Timeout: 50 * time.Millisecond,
	})
	fmt.Println(res.Status, errors.Is(res.Err(), context.DeadlineExceeded), res.Signal)
	// Output:
	// failed true 3
	// timeout true SIGTERM
}

// Cancel stops the whole process group; the execution ends cancelled.
func ExampleEngine_Cancel() {
	engine, err := execengine.New(execengine.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	ctx := context.Background()

	id, err := engine.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "sleep 100 | cat"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := engine.Cancel(id); err != nil {
		log.Fatal(err)
	}
	res, err := engine.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, errors.Is(res.Err(), context.Canceled))
	// Output: cancelled true
}

// With a queue, requests beyond the concurrency limit wait their turn
// instead of failing with ErrConcurrencyLimitReached.
func ExampleConfig_queue() {
	cfg := execengine.DefaultConfig()
	cfg.MaxConcurrentExecutions = 1
	cfg.MaxQueuedExecutions = 2
	engine, err := execengine.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	ctx := context.Background()

	var ids []string
	for i := range 4 {
		// The first step holds the only slot while the others are submitted.
		id, err := engine.Execute(ctx, execengine.Request{
			Command: execengine.Shell{Command: fmt.Sprintf("sleep %d; echo step %d", max(1-i, 0), i)},
		})
		if errors.Is(err, execengine.ErrConcurrencyLimitReached) {
			fmt.Println("refused:", i)
			continue
		}
		ids = append(ids, id.String())
		defer func() {
			res, _ := engine.Wait(ctx, id)
			fmt.Print(res.Stdout)
		}()
	}
	fmt.Println("accepted:", len(ids))
	// Unordered output:
	// refused: 3
	// accepted: 3
	// step 2
	// step 1
	// step 0
}

// Requests decode from the Rust crate's JSON wire shape.
func ExampleRequest_UnmarshalJSON() {
	var req execengine.Request
	err := json.Unmarshal([]byte(`{
		"id": "550e8400-e29b-41d4-a716-446655440000",
		"command": {"type": "aws_cli", "service": "s3", "operation": "ls", "args": ["s3://bucket"], "region": "eu-west-1"},
		"timeout_ms": 30000,
		"metadata": {"source": "ui", "tags": {"playbook": "audit"}}
	}`), &req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.ID)
	fmt.Println(req.Command)
	fmt.Println(req.Timeout, req.Metadata.Source, req.Metadata.Tags["playbook"])
	// Output:
	// 550e8400-e29b-41d4-a716-446655440000
	// aws s3 ls s3://bucket --region eu-west-1
	// 30s ui audit
}

// Run executes a request and waits for it. A playbook runs its steps one by
// one, each with its own event handler that labels the step's live output.
func ExampleEngine_Run() {
	engine, err := execengine.New(execengine.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	steps := []struct{ name, command string }{
		{"fetch", "echo downloading; echo done"},
		{"check", "echo checking; exit 3"},
		{"never", "echo not reached"},
	}
	ctx := context.Background()
	for _, step := range steps {
		res, err := engine.Run(ctx, execengine.Request{
			Command: execengine.Shell{Command: step.command, Shell: "sh"},
			EventHandler: execengine.EventHandlerFunc(func(ev execengine.Event) {
				if ev.Type == execengine.EventStdout {
					fmt.Printf("[%s] %s\n", step.name, ev.Line)
				}
			}),
		})
		if err != nil {
			log.Fatal(err)
		}
		if err := res.Err(); err != nil {
			fmt.Printf("[%s] %v\n", step.name, err)
			break
		}
	}
	// Output:
	// [fetch] downloading
	// [fetch] done
	// [check] checking
	// [check] command failed with exit code 3
}
