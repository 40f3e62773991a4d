package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/escher-dbai/execengine/natsexec"
)

const workerUsage = `usage:
  execengine-nats worker --nats URL [flags]

worker takes execution requests from the cluster's JetStream work queue,
runs them on a local engine (at most --concurrency at once: it pulls only
what it has slots for), and publishes their events and results. It prints
"worker <id> ready" on stderr once it takes requests. SIGINT or SIGTERM
stops it: what it runs is cancelled (each gets its result), it prints
"worker <id> stopped", then it exits 0.

worker flags:`

func runWorker(ctx context.Context, args []string, stderr io.Writer) int {
	def := execengine.DefaultConfig()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs)
	id := fs.String("id", "", "worker id: letters, digits, '-' and '_' (default <host>-<pid>-<random>)")
	concurrency := fs.Int("concurrency", def.MaxConcurrentExecutions, "executions running at once")
	maxOutput := fs.Int64("max-output", def.MaxOutputSizeBytes, "bytes of each stream kept per execution, in memory and in NATS")
	strategy := fs.String("output-strategy", string(def.OversizedOutputStrategy), "beyond --max-output: TruncateWithWarning, FailExecution or StreamToFile")
	logDir := fs.String("log-dir", def.LogDir, "write <log-dir>/<id>.log per execution (\"\": no log files)")
	defTimeout := fs.Duration("default-timeout", def.DefaultTimeout, "timeout of a request without one")
	maxTimeout := fs.Duration("max-timeout", def.MaxTimeout, "larger timeouts fail on this worker (give clients the same MaxTimeout)")
	grace := fs.Duration("grace", def.KillGracePeriod, "time between SIGTERM and SIGKILL when stopping an execution")
	retention := fs.Duration("retention", time.Minute, "finished executions stay in the worker's memory this long (they are in NATS)")
	verbose := fs.Bool("v", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, workerUsage)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args, stderr, "worker"); code >= 0 {
		return code
	}
	if nf.url == "" {
		fmt.Fprintln(stderr, "execengine-nats worker: --nats URL (or $NATS_URL) is required")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	relay := &natsexec.Relay{}
	cfg := def
	cfg.MaxConcurrentExecutions = *concurrency
	cfg.MaxOutputSizeBytes = *maxOutput
	cfg.LogDir = *logDir
	cfg.DefaultTimeout = *defTimeout
	cfg.MaxTimeout = *maxTimeout
	cfg.KillGracePeriod = *grace
	cfg.ExecutionRetention = *retention
	cfg.StreamOutput = true // the events are what the cluster publishes
	cfg.OversizedOutputStrategy = execengine.OversizedOutputStrategy(*strategy)
	for _, s := range []execengine.OversizedOutputStrategy{execengine.TruncateWithWarning, execengine.FailExecution, execengine.StreamToFile} {
		if strings.EqualFold(*strategy, string(s)) {
			cfg.OversizedOutputStrategy = s
		}
	}
	cfg.EventHandler = relay
	cfg.Logger = logger
	eng, err := execengine.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "execengine-nats worker:", err)
		return 2
	}
	defer eng.Close()
	nc, err := nf.connect("execengine-nats worker " + *id)
	if err != nil {
		fmt.Fprintln(stderr, "execengine-nats worker:", err)
		return 1
	}
	defer nc.Close()
	w, err := natsexec.NewWorker(nc, eng, natsexec.WorkerOptions{
		Options: nf.opts, ID: *id, Concurrency: *concurrency, MaxOutputBytes: *maxOutput,
		Relay: relay, Logger: logger,
	})
	if err != nil {
		fmt.Fprintln(stderr, "execengine-nats worker:", err)
		return 1
	}
	fmt.Fprintf(stderr, "worker %s ready\n", w.ID())
	<-ctx.Done()
	if err := w.Close(); err != nil {
		fmt.Fprintln(stderr, "execengine-nats worker:", err)
		return 1
	}
	nc.Close()  // flushes what is buffered; Close has had every store acked
	eng.Close() // nothing is left to cancel: Close waited for it
	fmt.Fprintf(stderr, "worker %s stopped\n", w.ID())
	return 0
}
