// Command execengine runs commands through the execengine library.
//
//	execengine run [--timeout 30s] [--json] -- <program> [args…]
//	execengine run [--timeout 30s] [--json] --shell '<command string>'
//	execengine bridge [flags]
//	execengine worker --nats URL [flags]
//	execengine bridge --nats URL [flags]
//
// run prints the command's output as it arrives, byte for byte (stderr
// marked "stderr| " at each line start), then a one-line summary on stderr
// or, with --json, the Result as JSON on stdout. Its own stdin is passed
// on to the command when it is not a terminal (--stdin forces it,
// --stdin=false gives the command none). Its exit code is the command's:
// 128+N for a signal, 124 for a timeout, 127 when the command could not
// start. SIGINT, SIGTERM and SIGHUP stop the command's session and run
// exits 128+N; so does a broken stdout (141, as for SIGPIPE).
//
// bridge serves a JSON-lines protocol on stdin/stdout for programs in other
// languages; see "execengine bridge -h" and the README's "JSON-lines bridge
// protocol" section. worker, and bridge with --nats, are served by the
// companion command execengine-nats (module natsexec, so that this one
// never depends on NATS), found next to this program or in PATH.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/escher-dbai/execengine"
)

// stdinFile is run's own stdin, passed on to the command: nil in tests
// that call run in-process.
var stdinFile *os.File

func main() {
	stdinFile = os.Stdin
	if len(os.Args) > 1 && os.Args[1] == "run" && os.Getenv("GOMAXPROCS") == "" {
		// run passes one command's bytes through: on one P the reader,
		// the handler and the write hand off without waking idle threads,
		// which cost a quarter of run's CPU on chatty output.
		runtime.GOMAXPROCS(1)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  execengine run [flags] -- <program> [args...]
  execengine run [flags] --shell '<command string>'
  execengine bridge [flags]    (JSON lines on stdin/stdout; execengine bridge -h)
  execengine worker --nats URL [flags]    (a natsexec worker; needs execengine-nats)
  execengine bridge --nats URL [flags]    (the bridge served by a natsexec cluster)`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "bridge":
		if wantsNATS(args[1:]) {
			return runNATS("bridge", args[1:], stderr)
		}
		return bridgeMain(args[1:], stdout, stderr)
	case "worker":
		return runNATS("worker", args[1:], stderr)
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
	maxOutput := fs.Int64("max-output", 10<<20, "bytes of each stream kept for the Result with --json (without it the output is printed as it arrives\nand only 64 KiB is kept, unless this is set)")
	var secretEnv []string
	fs.Func("secret-env", "also mask the value of this environment variable (repeatable); those named like the library's\nsecret patterns (*_TOKEN, *_PASSWORD, *SECRET_ACCESS_KEY, …) are masked anyway", func(name string) error {
		secretEnv = append(secretEnv, name)
		return nil
	})
	withStdin := fs.Bool("stdin", false, "pass this program's stdin on to the command (default: when stdin is not a terminal); --stdin=false gives it none")
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

	passStdin := stdinFile != nil && (isSet(fs, "stdin") && *withStdin || !isSet(fs, "stdin") && !isTerminal(stdinFile))
	out := &output{stdout: stdout, stderr: &marker{w: stderr}, broken: make(chan struct{})}
	if *asJSON {
		out.stdout = out.stderr.w
	}
	cfg := execengine.DefaultConfig()
	cfg.EnableAutoCleanup = false
	cfg.KillGracePeriod = *grace
	cfg.MaxOutputSizeBytes = *maxOutput
	printed := !*asJSON && !isSet(fs, "max-output")
	if printed {
		// Nothing shows the kept output: keeping 10 MiB of a chatty
		// command cost as much as passing all of it on.
		cfg.MaxOutputSizeBytes = min(*maxOutput, 64<<10)
	}
	cfg.MaxTimeout = max(cfg.MaxTimeout, *timeout)
	cfg.EventHandler = out
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
	// With SIGPIPE notified, a write to a closed stdout fails with EPIPE
	// instead of killing run, so it can stop the command first.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	ctx := context.Background()
	// The output as the child wrote it, in chunks: one write per read of
	// the pipe, so a chatty child costs a write per 64 KiB, not per line.
	req := execengine.Request{Command: cmd, Timeout: *timeout, WorkingDir: *dir, NoLineEvents: true, Interactive: passStdin}
	if req.Secrets, err = envSecrets(secretEnv, os.Environ(), stderr); err != nil {
		printErr(stderr, "execengine", err)
		return 2
	}
	id, err := engine.Execute(ctx, req)
	if err != nil {
		printErr(stderr, "execengine", err)
		return 2
	}
	if passStdin {
		go feedStdin(engine, id, stdinFile) // blocked in a read at exit at worst: run is exiting
	}
	var received atomic.Int32 // the signal that stopped the command, 0 if none
	watcherDone, watcherStop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcherDone)
		var sig syscall.Signal
		select {
		case s := <-sigs:
			sig = s.(syscall.Signal)
			signal.Reset(stopSignals...)
		case <-out.broken:
			sig = syscall.SIGPIPE
		case <-watcherStop:
			return
		}
		received.Store(int32(sig))
		_ = engine.Cancel(id) // stop the whole session cleanly
	}()
	res, err := engine.Wait(context.Background(), id)
	close(watcherStop)
	<-watcherDone
	out.stderr.endLine()
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
		if printed {
			res.Truncated = false // all of it was printed
		}
		fmt.Fprintln(stderr, summary(res))
	}
	if n := received.Load(); n != 0 && res.Status == execengine.StatusCancelled {
		return 128 + int(n)
	}
	return exitCode(res)
}

// output is run's event handler: it writes the command's output as it
// arrives, stdout as it is and stderr marked at each line start.
type output struct {
	mu         sync.Mutex // stdout and stderr chunks arrive on two goroutines
	stdout     io.Writer
	stderr     *marker
	brokenOnce sync.Once
	broken     chan struct{} // closed when writing stdout failed (its reader is gone)
}

func (o *output) HandleEvent(ev execengine.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev.Type {
	case execengine.EventStdoutChunk:
		if _, err := o.stdout.Write(ev.Data); err != nil {
			o.brokenOnce.Do(func() { close(o.broken) })
		}
	case execengine.EventStderrChunk:
		o.stderr.Write(ev.Data)
	}
}

// marker writes to w with "stderr| " at the start of every line.
type marker struct {
	w       io.Writer
	midLine bool
	buf     []byte
}

func (m *marker) Write(p []byte) (int, error) {
	n := len(p)
	m.buf = m.buf[:0]
	for len(p) > 0 {
		if !m.midLine {
			m.buf = append(m.buf, "stderr| "...)
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.buf, m.midLine = append(m.buf, p...), true
			break
		}
		m.buf, m.midLine = append(m.buf, p[:i+1]...), false
		p = p[i+1:]
	}
	_, err := m.w.Write(m.buf)
	return n, err
}

// endLine ends a last stderr line that had no newline, so the summary
// starts a line of its own.
func (m *marker) endLine() {
	if m.midLine {
		m.w.Write([]byte{'\n'})
		m.midLine = false
	}
}

// feedStdin copies in to the execution's stdin until EOF, waiting while
// the stdin buffer is full, then closes it.
func feedStdin(engine *execengine.Engine, id uuid.UUID, in io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			k, werr := engine.WriteStdin(id, p)
			p = p[k:]
			switch {
			case errors.Is(werr, execengine.ErrStdinFull):
				time.Sleep(time.Millisecond)
			case werr != nil:
				return // the command closed its stdin or ended
			}
		}
		if err != nil {
			_ = engine.CloseStdin(id)
			return
		}
	}
}

// envSecrets returns the values in environ to mask: those of the variables
// named in names (which must be set and long enough), and those whose
// names match the library's default secret patterns, as the library does
// for Request.Env (one too short to mask is reported, not refused: it was
// only inherited).
func envSecrets(names, environ []string, stderr io.Writer) ([]string, error) {
	var out []string
	for _, name := range names {
		v, ok := os.LookupEnv(name)
		if !ok || len(v) < execengine.MinSecretLen {
			return nil, fmt.Errorf("--secret-env %s: not set, or shorter than %d bytes", name, execengine.MinSecretLen)
		}
		out = append(out, v)
	}
	patterns := execengine.DefaultSecretEnvPatterns()
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" || !matchesAny(patterns, k) {
			continue
		}
		if len(v) < execengine.MinSecretLen {
			fmt.Fprintf(stderr, "execengine: $%s looks like a secret but is too short to mask (under %d bytes)\n", k, execengine.MinSecretLen)
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// matchesAny matches name against path.Match patterns, ignoring case.
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToUpper(p), strings.ToUpper(name)); ok {
			return true
		}
	}
	return false
}

// isSet reports whether the flag name was given.
func isSet(fs *flag.FlagSet, name string) (set bool) {
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isTerminal reports whether f is a character device: a terminal, or
// /dev/null, which has nothing to pass on either.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
