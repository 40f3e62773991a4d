// Command execengine runs commands through the execengine library.
//
//	execengine run [--timeout 30s] [--json] -- <program> [args…]
//	execengine run [--timeout 30s] [--json] --shell '<command string>'
//	execengine bridge [flags]
//
// run prints each output line as it arrives (stderr lines marked), then a
// one-line summary on stderr or, with --json, the Result as JSON on stdout.
// Its exit code is the command's: 128+N for a signal, 124 for a timeout,
// 130 when cancelled (Ctrl-C), 127 when the command could not start.
//
// bridge serves a JSON-lines protocol on stdin/stdout for programs in other
// languages; see "execengine bridge -h" and the README's "JSON-lines bridge
// protocol" section.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/escher-dbai/execengine"
)

// stdinSource is what --stdin reads.
var stdinSource io.Reader = os.Stdin

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  execengine run [flags] -- <program> [args...]
  execengine run [flags] --shell '<command string>'
  execengine bridge [flags]    (JSON lines on stdin/stdout; execengine bridge -h)`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "bridge":
		return bridgeMain(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "execengine: unknown subcommand %q\n%s\n", args[0], usage)
	return 2
}

// bridgeMain runs the bridge on the process's stdin with signal handling.
func bridgeMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action returns: a second one kills at once.
	context.AfterFunc(ctx, stop)
	// With SIGPIPE notified, a write to a closed stdout fails with EPIPE
	// instead of killing the bridge, so it can stop its executions first.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	// Not an io.Closer: closing a blocking stdin would not interrupt its read.
	return runBridge(ctx, args, struct{ io.Reader }{os.Stdin}, stdout, stderr)
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 0, "kill the command after this long (default 5m)")
	asJSON := fs.Bool("json", false, "print the Result as JSON on stdout; output lines go to stderr")
	shell := fs.String("shell", "", "run this string with bash -c instead of a program")
	grace := fs.Duration("grace", 5*time.Second, "time between SIGTERM and SIGKILL when stopping the command")
	dir := fs.String("dir", "", "working directory")
	maxOutput := fs.Int64("max-output", 10<<20, "bytes of each stream kept in memory")
	withStdin := fs.Bool("stdin", false, "read all of this program's stdin (to EOF) before starting, and feed it to the command")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage+"\n\nrun flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var cmd execengine.Command
	switch rest := fs.Args(); {
	case *shell != "" && len(rest) > 0:
		fmt.Fprintln(stderr, "execengine: give either --shell or a program after --, not both")
		return 2
	case *shell != "":
		cmd = execengine.Shell{Command: *shell}
	case len(rest) > 0:
		cmd = execengine.Exec{Program: rest[0], Args: rest[1:]}
	default:
		fs.Usage()
		return 2
	}

	lines := stdout
	if *asJSON {
		lines = stderr
	}
	var mu sync.Mutex // stdout and stderr lines arrive on two goroutines
	cfg := execengine.DefaultConfig()
	cfg.EnableAutoCleanup = false
	cfg.KillGracePeriod = *grace
	cfg.MaxOutputSizeBytes = *maxOutput
	cfg.MaxTimeout = max(cfg.MaxTimeout, *timeout)
	cfg.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case execengine.EventStdout:
			fmt.Fprintln(lines, ev.Line)
		case execengine.EventStderr:
			fmt.Fprintln(stderr, "stderr| "+ev.Line)
		}
	})
	engine, err := execengine.New(cfg)
	if err != nil {
		printErr(stderr, "execengine", err)
		return 2
	}
	defer engine.Close()

	// SIGINT, SIGTERM and SIGHUP (the terminal closed) stop the command's
	// session, then run exits 128+N. After the first one the default
	// action returns: a second one kills run at once.
	sigs := make(chan os.Signal, 1)
	stopSignals := []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)
	ctx := context.Background()
	req := execengine.Request{Command: cmd, Timeout: *timeout, WorkingDir: *dir}
	if *withStdin {
		// Request.Stdin is a string: the whole input is read first, unbounded.
		in, err := io.ReadAll(stdinSource)
		if err != nil {
			printErr(stderr, "execengine: reading stdin", err)
			return 2
		}
		req.Stdin = string(in)
	}
	id, err := engine.Execute(ctx, req)
	if err != nil {
		printErr(stderr, "execengine", err)
		return 2
	}
	var received atomic.Int32 // the signal that stopped the command, 0 if none
	watcherDone, watcherStop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case sig := <-sigs:
			received.Store(int32(sig.(syscall.Signal)))
			signal.Reset(stopSignals...)
			_ = engine.Cancel(id) // stop the whole session cleanly
		case <-watcherStop:
		}
	}()
	res, err := engine.Wait(context.Background(), id)
	close(watcherStop)
	<-watcherDone
	if err != nil {
		printErr(stderr, "execengine", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			printErr(stderr, "execengine", err)
			return 1
		}
	} else {
		fmt.Fprintln(stderr, summary(res))
	}
	if n := received.Load(); n != 0 && res.Status == execengine.StatusCancelled {
		return 128 + int(n)
	}
	return exitCode(res)
}

func summary(r execengine.Result) string {
	s := fmt.Sprintf("execengine: %s exit_code=%d duration=%v", r.Status, r.ExitCode, r.Duration.Round(time.Millisecond))
	if r.Signal != "" {
		s += " signal=" + r.Signal
	}
	if r.Truncated {
		s += " truncated=true"
	}
	if r.Error != "" {
		s += fmt.Sprintf(" error=%q", r.Error)
	}
	return s
}

// exitCode maps a result to the shell's conventions.
func exitCode(r execengine.Result) int {
	switch {
	case r.Status == execengine.StatusTimeout:
		return 124
	case r.Status == execengine.StatusCancelled:
		return 130
	case r.ErrorCode == execengine.CodeSpawnFailed:
		return 127
	case r.Signal != "":
		if n, ok := signalNumber(r.Signal); ok {
			return 128 + n
		}
		return 1
	case r.ExitCode > 0:
		return r.ExitCode
	case !r.Success:
		return 1
	}
	return 0
}

// printErr prints err after prefix once: the library's errors already
// start with "execengine: ".
func printErr(w io.Writer, prefix string, err error) {
	fmt.Fprintf(w, "%s: %s\n", prefix, strings.TrimPrefix(err.Error(), "execengine: "))
}
