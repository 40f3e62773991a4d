package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/escher-dbai/execengine"
)

// The workloads below measure the engine's own promises; they have no
// os/exec or go-cmd counterpart.

// executeLatency measures how long Execute takes to return while a slot is
// free: the call validates, stores and hands the spawn to a goroutine.
func executeLatency(n int) (p50, p99 time.Duration, err error) {
	e := newEngine(nil)
	defer e.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: truePath}})
		lat = append(lat, time.Since(t0))
		if err != nil {
			return 0, 0, err
		}
		if _, err := e.Wait(ctx, id); err != nil {
			return 0, 0, err
		}
	}
	return percentile(lat, 50), percentile(lat, 99), nil
}

// heapPerExecution runs n × `echo hello`, keeps them in memory and returns
// the live heap they hold, per execution, after a full GC.
func heapPerExecution(n int) (float64, error) {
	e := newEngine(func(c *execengine.Config) { c.MaxQueuedExecutions = n })
	defer e.Close()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	ctx := context.Background()
	before := liveHeap()
	for _, id := range ids {
		if _, err := e.Execute(ctx, execengine.Request{ID: id, Command: execengine.Exec{Program: "/bin/echo", Args: []string{"hello"}}}); err != nil {
			return 0, err
		}
	}
	for _, id := range ids {
		res, err := e.Wait(ctx, id)
		if err != nil {
			return 0, err
		}
		if res.Stdout != "hello\n" {
			return 0, fmt.Errorf("echo hello: stdout %q", res.Stdout)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(e)
	runtime.KeepAlive(ids)
	return float64(after-before) / float64(n), nil
}

func liveHeap() uint64 {
	// Twice: finalizers and the sweep of the first cycle settle in the second.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cleanupResult is what one Cleanup pass over many retained executions cost.
type cleanupResult struct {
	Retained  int
	Removed   int
	Took      time.Duration
	StatusMax time.Duration // the slowest Status call made while Cleanup ran
	StatusP99 time.Duration
	IdleMax   time.Duration // the slowest Status call in the 100 ms before, Cleanup not running
	Probes    int
}

// cleanupPass fills an engine with n finished executions, then times one
// Cleanup pass that removes them all while another goroutine keeps calling
// Status on a running execution.
func cleanupPass(n int) (cleanupResult, error) {
	e := newEngine(func(c *execengine.Config) {
		c.MaxQueuedExecutions = n
		c.ExecutionRetention = 0 // every finished execution is expired
	})
	defer e.Close()
	ctx := context.Background()
	ids := make([]uuid.UUID, 0, n)
	for range n {
		id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: truePath}})
		if err != nil {
			return cleanupResult{}, err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if _, err := e.Wait(ctx, id); err != nil {
			return cleanupResult{}, err
		}
	}
	probe, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "/bin/sleep", Args: []string{"60"}}})
	if err != nil {
		return cleanupResult{}, err
	}
	defer e.Cancel(probe)
	runtime.GC()

	stop := make(chan struct{})
	var lat []time.Duration
	var idleMax time.Duration
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() {
		lat = make([]time.Duration, 0, 1<<20)
		close(started)
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			if _, err := e.Status(probe); err != nil {
				panic(err)
			}
			lat = append(lat, time.Since(t0))
		}
	})
	<-started
	time.Sleep(100 * time.Millisecond) // the probe alone: the machine's own stalls
	idle := len(lat)
	t0 := time.Now()
	removed := e.Cleanup()
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if idle > 0 {
		idleMax = slices.Max(lat[:idle])
		lat = lat[idle:]
	}
	r := cleanupResult{Retained: n, Removed: removed, Took: took, Probes: len(lat), IdleMax: idleMax}
	if len(lat) > 0 {
		r.StatusMax = slices.Max(lat)
		r.StatusP99 = percentile(lat, 99)
	}
	if removed != n {
		return r, fmt.Errorf("cleanup removed %d of %d finished executions", removed, n)
	}
	return r, nil
}

// yesResult is the heap seen while `yes` ran into the output limit.
type yesResult struct {
	Limit    int64
	Baseline uint64 // live heap before
	Peak     uint64 // highest HeapAlloc sampled while it ran
	Lines    int64
	Kept     int
	Status   execengine.Status
}

// yesPeakHeap runs endless `yes` for d under the default 10 MiB limit
// (TruncateWithWarning) with line events on, sampling the heap every ms.
func yesPeakHeap(d time.Duration) (yesResult, error) {
	const limit = 10 << 20
	var lines int64
	e := newEngine(func(c *execengine.Config) {
		c.MaxOutputSizeBytes = limit
		c.StreamOutput = true
		c.KillGracePeriod = 0
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout {
				lines++
			}
		})
	})
	defer e.Close()
	r := yesResult{Limit: limit, Baseline: liveHeap()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			r.Peak = max(r.Peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	ctx := context.Background()
	id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: "/usr/bin/yes"}, Timeout: d})
	if err != nil {
		close(stop)
		wg.Wait()
		return r, err
	}
	res, err := e.Wait(ctx, id)
	close(stop)
	wg.Wait()
	r.Lines, r.Kept, r.Status = lines, len(res.Stdout), res.Status
	return r, err
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
