package natsexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const testHeartbeat = time.Second

var testOpts = Options{Heartbeat: testHeartbeat, Retention: 10 * time.Minute}

// startServer runs an embedded nats-server with JetStream storing in dir.
func startServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	// A cleanup, not a defer: cleanups run last-registered first, so the
	// workers and clients registered after it close while it is still up.
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv
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

type testWorker struct {
	w   *Worker
	eng *execengine.Engine
	nc  *nats.Conn
}

func startWorker(t testing.TB, url string, concurrency int) *testWorker {
	t.Helper()
	relay := &Relay{}
	cfg := execengine.DefaultConfig()
	cfg.EventHandler = relay
	cfg.KillGracePeriod = time.Second
	eng, err := execengine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, url)
	w, err := NewWorker(nc, eng, WorkerOptions{Options: testOpts, Concurrency: concurrency, Relay: relay})
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWorker{w: w, eng: eng, nc: nc}
	t.Cleanup(func() {
		_ = w.Close()
		_ = eng.Close()
	})
	return tw
}

func newClient(t testing.TB, url string) *Client {
	t.Helper()
	c, err := NewClient(connect(t, url), ClientOptions{Options: testOpts})
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

// collector records events; done is closed on the terminal one.
type collector struct {
	mu     sync.Mutex
	events []execengine.Event
}

func (c *collector) HandleEvent(ev execengine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

func (c *collector) types() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ev := range c.events {
		s := string(ev.Type)
		if ev.Line != "" {
			s += ":" + ev.Line
		}
		out = append(out, s)
	}
	return out
}

func TestExecuteWaitEvents(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	startWorker(t, srv.ClientURL(), 4)
	c1, c2 := newClient(t, srv.ClientURL()), newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)

	id, err := c1.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c2.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != id || res.Status != execengine.StatusFailed || res.ExitCode != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Fatalf("Wait = %+v; want failed, exit 3, out/err", res)
	}
	var exitErr *execengine.ExitError
	if !errors.As(res.Err(), &exitErr) || exitErr.Code != 3 {
		t.Fatalf("res.Err() = %v; want *ExitError code 3", res.Err())
	}
	if st, err := c1.Status(ctx, id); err != nil || st != execengine.StatusFailed {
		t.Fatalf("Status = %v, %v; want failed", st, err)
	}
	// Events after the end replays everything, from another client.
	var col collector
	if err := c2.Events(ctx, id, &col); err != nil {
		t.Fatal(err)
	}
	got := col.types()
	sort2 := func(s []string) string { return strings.Join(s, " ") }
	// stdout and stderr lines are read by two goroutines: either order.
	want1 := "started status_changed stdout:out stderr:err status_changed failed"
	want2 := "started status_changed stderr:err stdout:out status_changed failed"
	if g := sort2(got); g != want1 && g != want2 {
		t.Fatalf("events = %s; want %s", g, want1)
	}
	for i, ev := range col.events {
		if ev.Seq != uint64(i+1) || ev.ExecutionID != id {
			t.Fatalf("event %d = %+v; want seq %d of %s", i, ev, i+1, id)
		}
	}
	if last := col.events[len(col.events)-1]; last.Result == nil || last.Result.ExitCode != 3 {
		t.Fatalf("terminal event result = %+v", last.Result)
	}
}

func TestEventsFollowFromSecondClient(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	startWorker(t, srv.ClientURL(), 4)
	c1, c2 := newClient(t, srv.ClientURL()), newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	// Prints one line, waits for the gate file, prints another.
	id, err := c1.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: fmt.Sprintf(
		"echo first; while [ ! -e %s ]; do sleep 0.02; done; echo second", gate)}})
	if err != nil {
		t.Fatal(err)
	}
	var col collector
	sawFirst := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- c2.Events(ctx, id, execengine.EventHandlerFunc(func(ev execengine.Event) {
			col.HandleEvent(ev)
			if ev.Line == "first" {
				once.Do(func() { close(sawFirst) })
			}
		}))
	}()
	select {
	case <-sawFirst:
	case <-ctx.Done():
		t.Fatal("first line never came")
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := "started status_changed stdout:first stdout:second status_changed completed"
	if got := strings.Join(col.types(), " "); got != want {
		t.Fatalf("events = %s; want %s", got, want)
	}
}

func TestCancelRunningFromOtherClient(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	startWorker(t, srv.ClientURL(), 4)
	c1, c2 := newClient(t, srv.ClientURL()), newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	id, err := c1.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "echo up; sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	up := make(chan struct{})
	var once sync.Once
	go func() {
		_ = c2.Events(ctx, id, execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Line == "up" {
				once.Do(func() { close(up) })
			}
		}))
	}()
	<-up
	if err := c2.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	res, err := c1.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != execengine.StatusCancelled || !errors.Is(res.Err(), context.Canceled) || res.Stdout != "up\n" {
		t.Fatalf("Wait = %+v; want cancelled with stdout up", res)
	}
	if err := c2.Cancel(ctx, id); err != nil {
		t.Fatalf("Cancel of a terminal execution = %v; want nil", err)
	}
}

func TestQueuedWithoutWorkerThenCancelled(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	c1, c2 := newClient(t, srv.ClientURL()), newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	dir := t.TempDir()
	marker := func(name string) execengine.Request {
		return execengine.Request{Command: execengine.Exec{Program: "touch", Args: []string{filepath.Join(dir, name)}}}
	}
	keep, err := c1.Execute(ctx, marker("kept"))
	if err != nil {
		t.Fatal(err)
	}
	drop, err := c1.Execute(ctx, marker("cancelled"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c2.Status(ctx, drop); err != nil || st != execengine.StatusPending {
		t.Fatalf("Status = %v, %v; want pending", st, err)
	}
	if err := c2.Cancel(ctx, drop); err != nil {
		t.Fatal(err)
	}
	res, err := c1.Wait(ctx, drop)
	if err != nil || res.Status != execengine.StatusCancelled || res.ErrorCode != execengine.CodeCancelled {
		t.Fatalf("Wait = %+v, %v; want cancelled", res, err)
	}
	var col collector
	if err := c1.Events(ctx, drop, &col); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(col.types(), " "); got != "status_changed cancelled" {
		t.Fatalf("events of a queued-then-cancelled execution = %s", got)
	}

	// A worker that comes later runs what is queued, and only that.
	startWorker(t, srv.ClientURL(), 4)
	if res, err := c2.Wait(ctx, keep); err != nil || !res.Success {
		t.Fatalf("Wait = %+v, %v; want success", res, err)
	}
	// Give the worker time to have taken the cancelled one, were it still queued.
	time.Sleep(4 * testHeartbeat)
	if _, err := os.Stat(filepath.Join(dir, "cancelled")); !os.IsNotExist(err) {
		t.Fatalf("the cancelled request ran: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept")); err != nil {
		t.Fatal(err)
	}
	list, err := c2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != keep || list[1].ID != drop || list[0].Status != execengine.StatusCompleted || list[1].Status != execengine.StatusCancelled {
		t.Fatalf("List = %+v", list)
	}
}

func TestErrors(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	startWorker(t, srv.ClientURL(), 4)
	c := newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	unknown := uuid.New()
	if _, err := c.Wait(ctx, unknown); !errors.Is(err, execengine.ErrNotFound) {
		t.Fatalf("Wait(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := c.Status(ctx, unknown); !errors.Is(err, execengine.ErrNotFound) {
		t.Fatalf("Status(unknown) = %v; want ErrNotFound", err)
	}
	if err := c.Cancel(ctx, unknown); !errors.Is(err, execengine.ErrNotFound) {
		t.Fatalf("Cancel(unknown) = %v; want ErrNotFound", err)
	}
	if err := c.Events(ctx, unknown, &collector{}); !errors.Is(err, execengine.ErrNotFound) {
		t.Fatalf("Events(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := c.Execute(ctx, execengine.Request{Command: execengine.Exec{}}); !errors.Is(err, execengine.ErrInvalidRequest) {
		t.Fatalf("Execute(empty program) = %v; want ErrInvalidRequest", err)
	}
	if _, err := c.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "true"}, Timeout: 2 * time.Hour}); !errors.Is(err, execengine.ErrTimeoutTooLarge) {
		t.Fatalf("Execute(2h timeout) = %v; want ErrTimeoutTooLarge", err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List after rejected requests = %v, %v; want nothing stored", list, err)
	}
	id := uuid.New()
	if _, err := c.Execute(ctx, execengine.Request{ID: id, Command: execengine.Exec{Program: "true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(ctx, execengine.Request{ID: id, Command: execengine.Exec{Program: "true"}}); !errors.Is(err, execengine.ErrDuplicateID) {
		t.Fatalf("Execute(same id) = %v; want ErrDuplicateID", err)
	}
	// What only the worker can check fails there.
	bad, err := c.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "true"}, WorkingDir: "/no/such/dir"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx, bad)
	if err != nil || res.Status != execengine.StatusFailed || res.ErrorCode != CodeInvalidRequest || !strings.Contains(res.Error, "/no/such/dir") {
		t.Fatalf("Wait = %+v, %v; want failed invalid_request", res, err)
	}
}

func TestLargeOutputThroughResultsStore(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	startWorker(t, srv.ClientURL(), 4)
	c := newClient(t, srv.ClientURL())
	ctx := ctxT(t, 60*time.Second)
	// 3 MiB in lines of 1 KiB: more than one message holds.
	id, err := c.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "head -c 3145728 /dev/zero | tr '\\0' a | fold -w 1023"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx, id)
	if err != nil || !res.Success || len(res.Stdout) != 3<<20+3<<20/1023 {
		t.Fatalf("Wait = status %s (%s: %s), %d bytes, %v; want success with %d bytes", res.Status, res.ErrorCode, res.Error, len(res.Stdout), err, 3<<20+3<<20/1023)
	}
	var col collector
	if err := c.Events(ctx, id, &col); err != nil {
		t.Fatal(err)
	}
	last := col.events[len(col.events)-1]
	if last.Type != execengine.EventCompleted || last.Result == nil || last.Result.Stdout != res.Stdout {
		t.Fatalf("terminal event lacks the whole result")
	}
	lines := 0
	for _, ev := range col.events {
		if ev.Type == execengine.EventStdout {
			lines++
		}
	}
	if want := 3<<20/1023 + 1; lines != want {
		t.Fatalf("%d stdout events; want %d", lines, want)
	}
}

func TestWorkerLostInProcess(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	tw := startWorker(t, srv.ClientURL(), 4)
	c := newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	id, err := c.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, c, id, execengine.StatusRunning)
	tw.nc.Close() // the worker's link is cut: no more heartbeats
	cut := time.Now()
	res, err := c.Wait(ctx, id)
	seen := time.Since(cut)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != execengine.StatusFailed || res.ErrorCode != CodeWorkerLost {
		t.Fatalf("Wait = %+v; want failed worker_lost", res)
	}
	// The bound of the issue: within 3 heartbeats of the worker's end,
	// judged by when the execution was ended, not by when Wait saw it;
	// CompletedAt is wall time, so a clock step can make it later than
	// Wait's return (monotonic), which bounds it.
	d := min(res.CompletedAt.Sub(cut), seen)
	t.Logf("worker_lost after %v (bound: 3 heartbeats = %v)", d, 3*testHeartbeat)
	if d > 3*testHeartbeat {
		t.Fatalf("worker_lost after %v; want within 3 heartbeats (%v)", d, 3*testHeartbeat)
	}
}

func waitStatus(t testing.TB, ctx context.Context, c *Client, id uuid.UUID, want execengine.Status) {
	t.Helper()
	for {
		st, err := c.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status stayed %s; want %s", st, want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startWorkerOpts is startWorker with options of its own.
func startWorkerOpts(t testing.TB, url string, opts Options, concurrency int) {
	t.Helper()
	relay := &Relay{}
	cfg := execengine.DefaultConfig()
	cfg.EventHandler = relay
	eng, err := execengine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(connect(t, url), eng, WorkerOptions{Options: opts, Concurrency: concurrency, Relay: relay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.Close()
		_ = eng.Close()
	})
}

// stalled is a handler that blocks on its first event until released.
type stalled struct {
	collector
	first   chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStalled() *stalled {
	return &stalled{first: make(chan struct{}), release: make(chan struct{})}
}

func (s *stalled) HandleEvent(ev execengine.Event) {
	s.collector.HandleEvent(ev)
	s.once.Do(func() {
		close(s.first)
		<-s.release
	})
}

// TestSlowClientDoesNotSlowOthers: a client whose handler stops reading
// events stalls neither the worker nor another client; once it reads
// again it gets everything the stream kept, in order, and is told how many
// events the stream discarded meanwhile.
func TestSlowClientDoesNotSlowOthers(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	const lines = 5000
	for _, tc := range []struct {
		name  string
		limit int64 // events the stream keeps per execution
	}{{"all kept", 0}, {"limit 1000", 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts
			opts.Prefix = fmt.Sprintf("slow%d", tc.limit)
			opts.MaxEventsPerExecution = tc.limit
			startWorkerOpts(t, srv.ClientURL(), opts, 4)
			var cs [3]*Client
			for i := range cs {
				c, err := NewClient(connect(t, srv.ClientURL()), ClientOptions{Options: opts})
				if err != nil {
					t.Fatal(err)
				}
				cs[i] = c
			}
			ctx := ctxT(t, 60*time.Second)
			// The lines wait for the slow client's first event, so that
			// event is the first of the execution whatever the load.
			gate := filepath.Join(t.TempDir(), "gate")
			id, err := cs[0].Execute(ctx, execengine.Request{Command: execengine.Shell{Shell: "sh",
				Command: fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done; seq 1 %d", gate, lines)}})
			if err != nil {
				t.Fatal(err)
			}
			slow := newStalled()
			slowErr := make(chan error, 1)
			go func() { slowErr <- cs[0].Events(ctx, id, slow) }()
			select {
			case <-slow.first:
			case <-ctx.Done():
				t.Fatal("no first event")
			}
			if err := os.WriteFile(gate, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			// With the slow client stuck in its handler, the execution ends
			// and another client streams all of it.
			res, err := cs[1].Wait(ctx, id)
			if err != nil || !res.Success {
				t.Fatalf("Wait = %+v, %v", res, err)
			}
			var fast collector
			if tc.limit == 0 {
				if err := cs[2].Events(ctx, id, &fast); err != nil {
					t.Fatal(err)
				}
				if n := len(fast.events); n != lines+4 {
					t.Fatalf("fast client got %d events; want %d", n, lines+4)
				}
			}
			if got := len(slow.types()); got != 1 {
				t.Fatalf("the stalled handler was called %d times; want 1", got)
			}
			close(slow.release)
			if err := <-slowErr; err != nil {
				t.Fatal(err)
			}
			evs := slow.events
			total := uint64(lines + 4) // started, status_changed, the lines, status_changed, completed
			if last := evs[len(evs)-1]; last.Type != execengine.EventCompleted || last.Seq != total {
				t.Fatalf("last event %+v; want completed seq %d", last, total)
			}
			var dropped []execengine.Event
			next := uint64(1)
			for _, ev := range evs {
				if ev.Type == EventDropped {
					dropped = append(dropped, ev)
					var n uint64
					if _, err := fmt.Sscanf(ev.Error, "%d events", &n); err != nil || ev.Seq != next+n {
						t.Fatalf("dropped event %+v after seq %d", ev, next-1)
					}
					next += n
					continue
				}
				if ev.Seq != next {
					t.Fatalf("event seq %d; want %d", ev.Seq, next)
				}
				if tc.limit == 0 {
					if f := fast.events[ev.Seq-1]; ev.Type != f.Type || ev.Line != f.Line || ev.Timestamp != f.Timestamp {
						t.Fatalf("slow event %+v differs from the fast client's %+v", ev, f)
					}
				}
				next++
			}
			if tc.limit == 0 {
				if len(dropped) != 0 || len(evs) != int(total) {
					t.Fatalf("%d events, %d drop notices; want %d, none", len(evs), len(dropped), total)
				}
				return
			}
			// The handler had the first event and at most the client's
			// buffer ahead; the stream kept the last 1000, all of which
			// arrive. What lies between is reported by drop notices (one,
			// unless the client's consumer was reset under load), whose
			// counts the loop above checked against the seq jumps.
			var kept []execengine.Event
			for _, ev := range evs {
				if ev.Type != EventDropped {
					kept = append(kept, ev)
				}
			}
			for _, d := range dropped {
				t.Logf("slow client: drop notice at seq %d: %s", d.Seq, d.Error)
			}
			if first := kept[0]; first.Type != execengine.EventStarted || first.Seq != 1 {
				t.Fatalf("first event %+v; want started seq 1", first)
			}
			if len(dropped) == 0 || len(kept) < 1000 || len(kept) > 1000+1+eventBuffer {
				t.Fatalf("%d events and %d drop notices; want 1000..%d and at least one", len(kept), len(dropped), 1001+eventBuffer)
			}
			for i, ev := range kept[len(kept)-1000:] {
				if want := total - 999 + uint64(i); ev.Seq != want {
					t.Fatalf("event seq %d among the last 1000; want %d", ev.Seq, want)
				}
			}
		})
	}
}

// A request that reaches the closing worker's last Fetch (Close is waiting
// for the pull loop) is not run there: it stays queued for another worker.
// Close used to claim and run it uncancelled, after it had cancelled the
// rest, and return with it still running.
func TestCloseLeavesLateRequestQueued(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	c := newClient(t, srv.ClientURL())
	ctx := ctxT(t, 60*time.Second)
	for i := range 3 {
		tw := startWorker(t, srv.ClientURL(), 4)
		time.Sleep(100 * time.Millisecond) // its first Fetch waits for up to a second
		closed := make(chan struct{})
		go func() {
			_ = tw.w.Close()
			close(closed)
		}()
		time.Sleep(20 * time.Millisecond) // Close now waits for that Fetch
		id, err := c.Execute(ctx, execengine.Request{Command: execengine.Shell{Command: "sleep 30"}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatal("Close did not return")
		}
		if list := tw.eng.List(); len(list) != 0 {
			t.Fatalf("round %d: the closed worker holds %+v; want nothing", i, list)
		}
		if st, err := c.Status(ctx, id); err != nil || st != execengine.StatusPending {
			t.Fatalf("round %d: Status = %v, %v; want pending", i, st, err)
		}
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// stallingJS fails the first async publishes the way a window of pending
// acks that stays full for the stall wait does on a loaded server.
type stallingJS struct {
	jetstream.JetStream
	left atomic.Int64
}

func (s *stallingJS) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if s.left.Add(-1) >= 0 {
		return nil, jetstream.ErrTooManyStalledMsgs
	}
	return s.JetStream.PublishMsgAsync(m, opts...)
}

// An event whose publish stalls is published once there is room, not
// dropped (a loaded soak run lost one: the client reported it dropped).
func TestStalledPublishWaits(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	stall := &stallingJS{}
	stall.left.Store(5)
	testWrapJS = func(js jetstream.JetStream) jetstream.JetStream {
		stall.JetStream = js
		return stall
	}
	startWorker(t, srv.ClientURL(), 4)
	testWrapJS = nil
	c := newClient(t, srv.ClientURL())
	ctx := ctxT(t, 30*time.Second)
	id, err := c.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "printf", Args: []string{`a\nb\nc\n`}}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Wait(ctx, id); err != nil || !res.Success {
		t.Fatalf("Wait = %+v, %v; want success", res, err)
	}
	var col collector
	if err := c.Events(ctx, id, &col); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(col.types(), " "), "started status_changed stdout:a stdout:b stdout:c status_changed completed"; got != want {
		t.Fatalf("events = %s; want %s", got, want)
	}
	if left := stall.left.Load(); left >= 0 {
		t.Fatalf("%d stalls left; want all 5 hit", left+1)
	}
}
