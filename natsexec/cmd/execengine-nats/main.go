// Command execengine-nats runs the NATS side of execengine: workers that
// take executions from a NATS JetStream cluster, and the JSON-lines bridge
// served by that cluster instead of a local engine.
//
//	execengine-nats worker --nats URL [nats flags] [engine flags]
//	execengine-nats bridge --nats URL [nats flags] [--max-line N]
//
// It is the companion of the execengine command, in the natsexec module so
// that the core library and its command never depend on NATS; "execengine
// worker" and "execengine bridge --nats" are these commands.
//
// A worker runs until SIGINT or SIGTERM: then it stops taking requests,
// cancels what it holds (each still gets its result) and exits 0. The
// bridge runs until stdin ends (it waits for the results of what it
// submitted) or SIGINT/SIGTERM (it exits 130; the executions go on in the
// cluster).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/escher-dbai/execengine/natsexec"
	"github.com/nats-io/nats.go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action returns: a second one kills at once.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  execengine-nats worker --nats URL [flags]   (execengine-nats worker -h)
  execengine-nats bridge --nats URL [flags]   (execengine-nats bridge -h)`

// run runs one subcommand until ctx is cancelled and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "worker":
		return runWorker(ctx, args[1:], stderr)
	case "bridge":
		return runBridge(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "execengine-nats: unknown subcommand %q\n%s\n", args[0], usage)
	return 2
}

// natsFlags are the connection and cluster flags both subcommands share.
type natsFlags struct {
	url, creds, tlsCA, tlsCert, tlsKey string
	opts                               natsexec.Options
}

func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	f := &natsFlags{}
	fs.StringVar(&f.url, "nats", os.Getenv("NATS_URL"), "NATS server URL(s), comma-separated (default $NATS_URL); put no password here, use --creds")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials file (JWT and nkey seed)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate file that signed the server's certificate")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "client certificate file (with --tls-key) for mutual TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "client key file")
	fs.StringVar(&f.opts.Prefix, "prefix", "execengine", "names the subjects, streams and buckets of the cluster")
	fs.DurationVar(&f.opts.Heartbeat, "heartbeat", 2*time.Second, "worker heartbeat interval; a worker silent for 2 of them is lost (same value everywhere)")
	fs.DurationVar(&f.opts.Retention, "nats-retention", time.Hour, "records, events and results expire from NATS after this long")
	fs.Int64Var(&f.opts.MaxEventsPerExecution, "max-events", 100_000, "events kept in NATS per execution, oldest dropped first")
	fs.IntVar(&f.opts.Replicas, "replicas", 1, "JetStream replicas of every stream and bucket")
	return f
}

// connect dials the servers; it reconnects for ever, quickly, so that a
// server restart does not outlast a heartbeat.
func (f *natsFlags) connect(name string) (*nats.Conn, error) {
	if f.url == "" {
		return nil, errors.New("--nats URL (or $NATS_URL) is required")
	}
	opts := []nats.Option{
		nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(min(250*time.Millisecond, f.opts.Heartbeat/4)),
		nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
	}
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	nc, err := nats.Connect(f.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", f.url, err)
	}
	return nc, nil
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, name string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "execengine-nats %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	return -1
}
