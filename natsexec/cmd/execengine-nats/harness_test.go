package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine/natsexec"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// The test binary is also the command: with mainEnv set it runs main's
// code on its arguments, so the fault tests start real worker processes
// without a separate build.
const mainEnv = "EXECENGINE_NATS_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testHeartbeat is the heartbeat of the process tests: long enough that a
// loaded machine does not look like lost workers.
const testHeartbeat = time.Second

func testOptions(prefix string) natsexec.Options {
	return natsexec.Options{Prefix: prefix, Heartbeat: testHeartbeat, Retention: 10 * time.Minute}
}

// startServer runs an embedded nats-server with JetStream storing in dir,
// on port (-1: any free port). Shutdown is a cleanup, so it runs after the
// cleanups of what the test started later.
func startServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	srv := newServer(t, dir, port)
	t.Cleanup(func() { stopServer(srv) })
	return srv
}

// newServer starts a server the caller stops.
func newServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server did not start")
	}
	return srv
}

func stopServer(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newClient(t testing.TB, url, prefix string) *natsexec.Client {
	t.Helper()
	c, err := natsexec.NewClient(connect(t, url), natsexec.ClientOptions{Options: testOptions(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// proc is a command process started by a test: this test binary running main.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{} // closed once it has exited and its output is read
	err    error         // its exit, after done
	// stopped, if set, is what it prints once its own shutdown is done:
	// the rest is the Go runtime's exit (the race detector's is slow).
	stopped string
}

// startProc starts "execengine-nats args..." with env added, and stops it
// (SIGTERM, then SIGKILL after 10 s) at the end of the test.
func startProc(t testing.TB, stdin io.Reader, stdout io.Writer, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), mainEnv+"=1"), env...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := errPipe.Read(buf)
			p.mu.Lock()
			p.stderr.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				break
			}
		}
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitOutput waits until the process's stderr contains s.
func (p *proc) waitOutput(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			t.Fatalf("process exited (%v) before printing %q:\n%s", p.err, s, p.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("process did not print %q in %v:\n%s", s, timeout, p.output())
		}
	}
}

// stop sends sig and waits for the exit: SIGQUIT after timeout, SIGKILL 5 s
// later. A process that printed p.stopped in time gets 20 s more to exit.
func (p *proc) stop(t testing.TB, sig syscall.Signal, timeout time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	if p.exited(timeout) {
		return
	}
	if p.stopped != "" && strings.Contains(p.output(), p.stopped) {
		// Its shutdown kept the bound; only the runtime's exit is late
		// (once in a loaded soak: 10 s in the race detector's finalizer).
		t.Logf("printed %q within %v of %v, still exiting", p.stopped, timeout, sig)
		if p.exited(20 * time.Second) {
			return
		}
	}
	// SIGQUIT first: the Go runtime prints every goroutine's stack, which
	// shows where it was stuck (stderr is printed on failure).
	t.Errorf("process did not exit %v after %v; its goroutines are in its stderr", timeout, sig)
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	if !p.exited(5 * time.Second) {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited waits up to d for the process to exit.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// startWorkerProc starts an "execengine-nats worker" process and waits
// until it takes requests. Its commands see WORKER=<id> in their environment.
func startWorkerProc(t testing.TB, url, prefix, id string, concurrency int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"worker", "--nats", url, "--prefix", prefix, "--id", id,
		"--heartbeat", testHeartbeat.String(), "--nats-retention", "10m",
		"--concurrency", fmt.Sprint(concurrency), "--grace", "1s"}, extra...)
	p := startProc(t, nil, nil, []string{"WORKER=" + id}, args...)
	p.stopped = "worker " + id + " stopped"
	p.waitOutput(t, "worker "+id+" ready", 30*time.Second)
	return p
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
