package natsexec

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

// Run with: go test -run '^$' -bench 'Exec|Engine|NATS' -benchtime 1000x ./
// and go test -run '^$' -bench EventLatency -benchtime 20x ./ (each of its
// runs takes about a second)
// (BENCHMARKS.md has the numbers). Each benchmark runs b.N × true.

// BenchmarkRawExec is the floor: os/exec, 16 at a time.
func BenchmarkRawExec(b *testing.B) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range b.N {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := exec.Command("true").Run(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkLocalEngine: the same through one local engine (16 slots).
func BenchmarkLocalEngine(b *testing.B) {
	cfg := execengine.DefaultConfig()
	cfg.MaxConcurrentExecutions = 16
	cfg.MaxQueuedExecutions = b.N
	eng, err := execengine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	ids := make([]uuid.UUID, b.N)
	b.ResetTimer()
	for i := range b.N {
		if ids[i], err = eng.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "true"}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range ids {
		if res, err := eng.Wait(ctx, id); err != nil || !res.Success {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkNATS: through an embedded server and 1 or 3 workers of 16 slots each.
func BenchmarkNATS(b *testing.B) {
	for _, workers := range []int{1, 3} {
		b.Run(strconv.Itoa(workers)+"workers", func(b *testing.B) {
			srv := startServer(b, b.TempDir(), 0)
			for range workers {
				startWorker(b, srv.ClientURL(), 16)
			}
			c := newClient(b, srv.ClientURL())
			ctx := context.Background()
			ids := make([]uuid.UUID, b.N)
			b.ResetTimer()
			var err error
			for i := range b.N {
				if ids[i], err = c.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "true"}}); err != nil {
					b.Fatal(err)
				}
			}
			for _, id := range ids {
				if res, err := c.Wait(ctx, id); err != nil || !res.Success {
					b.Fatal(res, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}

// latencyCmd prints its clock (ns) 200 times, 5 ms apart.
var latencyCmd = execengine.Shell{Command: "for i in $(seq 200); do date +%s%N; sleep 0.005; done"}

// latencies measures, per stdout event, the time from the child's write
// to the handler.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) HandleEvent(ev execengine.Event) {
	now := time.Now()
	if ev.Type != execengine.EventStdout {
		return
	}
	ns, err := strconv.ParseInt(ev.Line, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, now.Sub(time.Unix(0, ns)))
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.d)
	if len(l.d) == 0 {
		b.Fatal("no latencies")
	}
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkEventLatency: child write → handler, local engine vs a NATS client.
func BenchmarkEventLatency(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		var l latencies
		cfg := execengine.DefaultConfig()
		cfg.EventHandler = &l
		eng, err := execengine.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Close()
		for range b.N {
			if _, err := eng.Run(context.Background(), execengine.Request{Command: latencyCmd}); err != nil {
				b.Fatal(err)
			}
		}
		l.report(b)
	})
	b.Run("nats", func(b *testing.B) {
		srv := startServer(b, b.TempDir(), 0)
		startWorker(b, srv.ClientURL(), 4)
		c := newClient(b, srv.ClientURL())
		var l latencies
		for range b.N {
			id, err := c.Execute(context.Background(), execengine.Request{Command: latencyCmd})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Events(context.Background(), id, &l); err != nil {
				b.Fatal(err)
			}
		}
		l.report(b)
	})
}
