package main

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/escher-dbai/execengine"
)

// fdsPerRunning is what a running execution holds on Linux: two pipe read
// ends and the pidfd os keeps for the child.
const fdsPerRunning = 3

// ScalePoint is the "N running at once" workload at one N.
type ScalePoint struct {
	N int `json:"n"`
	// Threads is the process's OS thread count with N running
	// (/proc/self/task), and ThreadsBefore before the first Execute.
	Threads       int `json:"os_threads"`
	ThreadsBefore int `json:"os_threads_before"`
	// HeapPerRunning and RSSPerRunning are the live heap (after two GCs)
	// and the resident set grown since before, per running execution.
	HeapPerRunning float64 `json:"heap_per_running_bytes"`
	RSSPerRunning  float64 `json:"rss_per_running_bytes"`
	// FDsPerRunning is the open fds (/proc/self/fd) grown per running
	// execution.
	FDsPerRunning float64 `json:"fds_per_running"`
	// StartAll is the time from the first Execute until Stats().Running
	// was N; Submit the part spent in the N Execute calls.
	StartAll time.Duration `json:"start_all_ns"`
	Submit   time.Duration `json:"submit_ns"`
	// ExecuteP50 and ExecuteP99: Execute of /bin/true while N run.
	ExecuteP50 time.Duration `json:"execute_p50_ns"`
	ExecuteP99 time.Duration `json:"execute_p99_ns"`
	// StatsCall is the median time of one Engine.Stats() call while N run.
	StatsCall time.Duration `json:"stats_call_ns"`
	// Close is how long Close took with N running; Grace the grace period.
	Close time.Duration    `json:"close_ns"`
	Grace time.Duration    `json:"kill_grace_period_ns"`
	Stats execengine.Stats `json:"stats_with_n_running"`
	After execengine.Stats `json:"stats_after_close"`
}

// ScaleRun is the whole workload: the points, and the N left out.
type ScaleRun struct {
	FDLimit string       `json:"fd_limit"`
	Points  []ScalePoint `json:"points"`
	Skipped []string     `json:"skipped,omitempty"`
}

// raiseFDLimit makes room for n running executions. Go already sets the
// soft limit to the hard one at startup; past the hard limit only a
// privileged process (CAP_SYS_RESOURCE) can go, up to fs.nr_open. The
// benchmark tries; the library never does.
func raiseFDLimit(n int) (string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", err
	}
	before := fmt.Sprintf("soft %d, hard %d", lim.Cur, lim.Max)
	want := uint64(fdsPerRunning*n + 4096)
	if lim.Max >= want {
		return before + " (enough)", nil
	}
	raised := syscall.Rlimit{Cur: want, Max: want}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return before + fmt.Sprintf(" (raising the hard limit to %d: %v)", want, err), nil
	}
	return before + fmt.Sprintf(" at start, raised to %d by the benchmark (root)", want), nil
}

func fdLimit() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// maxRunning is the largest N, in steps of 500, that the fd limit leaves
// room for.
func maxRunning() int {
	return int((fdLimit()-1024)/fdsPerRunning) / 500 * 500
}

func osThreads() int {
	ents, _ := os.ReadDir("/proc/self/task")
	return len(ents)
}

func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// scale runs each N of ns in turn: N × `sleep`, then the measures, then Close.
func scale(ns []int, probes int) (*ScaleRun, error) {
	run := &ScaleRun{}
	var err error
	if run.FDLimit, err = raiseFDLimit(ns[len(ns)-1]); err != nil {
		return nil, err
	}
	for _, n := range ns {
		if need := uint64(fdsPerRunning*n + 1024); fdLimit() < need {
			run.Skipped = append(run.Skipped, fmt.Sprintf("N = %d: needs about %d fds, the limit is %d", n, need, fdLimit()))
			continue
		}
		p, err := scaleOne(n, probes)
		if err != nil {
			// Reported, and the other N still run: a machine limit
			// (processes, fds) may stop one N and not the others.
			run.Skipped = append(run.Skipped, fmt.Sprintf("N = %d: %v", n, err))
			fmt.Fprintf(os.Stderr, "# N = %d: %v\n", n, err)
			continue
		}
		run.Points = append(run.Points, *p)
	}
	return run, nil
}

func scaleOne(n, probes int) (*ScalePoint, error) {
	e := newEngine(func(c *execengine.Config) {
		c.MaxConcurrentExecutions = n + 1 // one more for the latency probes
		c.MaxQueuedExecutions = 0
	})
	defer e.Close()
	ctx := context.Background()
	p := &ScalePoint{N: n, Grace: execengine.DefaultConfig().KillGracePeriod}
	heap0, rss0 := liveHeap(), rss()
	p.ThreadsBefore = osThreads()
	fds0 := openFDs()

	sleep := execengine.Request{Command: execengine.Exec{Program: "sleep", Args: []string{"3600"}}, Timeout: time.Hour}
	t0 := time.Now()
	ids := make([]uuid.UUID, 0, n)
	for range n {
		id, err := e.Execute(ctx, sleep)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	p.Submit = time.Since(t0)
	for e.Stats().Running < int64(n) {
		if st := e.Stats(); st.SpawnFailures > 0 || st.Failed > 0 {
			for _, id := range ids {
				if r, err := e.Snapshot(id); err == nil && r.Status.IsTerminal() {
					return nil, fmt.Errorf("%d of %d running, %d spawn failures; first: %s", st.Running, n, st.SpawnFailures, r.Error)
				}
			}
		}
		if time.Since(t0) > 5*time.Minute {
			return nil, fmt.Errorf("only %d of %d running after 5 minutes", e.Stats().Running, n)
		}
		time.Sleep(time.Millisecond)
	}
	p.StartAll = time.Since(t0)
	time.Sleep(500 * time.Millisecond) // let the spawn burst's goroutines and timers settle

	p.Threads = osThreads()
	heap1 := liveHeap()
	p.HeapPerRunning = float64(int64(heap1)-int64(heap0)) / float64(n)
	p.RSSPerRunning = float64(rss()-rss0) / float64(n)
	p.FDsPerRunning = float64(openFDs()-fds0) / float64(n)

	lat := make([]time.Duration, 0, probes)
	for range probes {
		t := time.Now()
		id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: truePath}})
		lat = append(lat, time.Since(t))
		if err != nil {
			return nil, err
		}
		if _, err := e.Wait(ctx, id); err != nil {
			return nil, err
		}
		e.Remove(id)
	}
	p.ExecuteP50, p.ExecuteP99 = percentile(lat, 50), percentile(lat, 99)

	calls := make([]time.Duration, 0, 1001)
	for range cap(calls) {
		t := time.Now()
		p.Stats = e.Stats()
		calls = append(calls, time.Since(t))
	}
	p.StatsCall = percentile(calls, 50)

	t := time.Now()
	if err := e.Close(); err != nil {
		return nil, err
	}
	p.Close = time.Since(t)
	p.After = e.Stats()
	runtime.GC()
	return p, nil
}

// scaleRows checks the targets of issue 9 against the run.
func scaleRows(r *ScaleRun) []Row {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	var threads, heap, rssm []string
	threadsOK, heapOK := len(r.Points) > 0, len(r.Points) > 0
	var at5k *ScalePoint
	for i, p := range r.Points {
		threads = append(threads, fmt.Sprintf("%d: %d", p.N, p.Threads))
		heap = append(heap, fmt.Sprintf("%d: %.0f B", p.N, p.HeapPerRunning))
		rssm = append(rssm, fmt.Sprintf("%d: %.1f KiB", p.N, p.RSSPerRunning/1024))
		threadsOK = threadsOK && p.Threads <= 64
		heapOK = heapOK && p.HeapPerRunning <= 16<<10
		if p.N == 5000 {
			at5k = &r.Points[i]
		}
	}
	rows := []Row{
		{Workload: "OS threads with N running (sleep)", Unit: "threads", Better: "lower", Target: "≤ 64 whatever N",
			Measured: joinOr(threads, "no N could run"), Met: threadsOK},
		{Workload: "heap per idle running execution", Unit: "bytes", Better: "lower", Target: "≤ 16 KiB",
			Measured: joinOr(heap, "no N could run") + "; RSS " + joinOr(rssm, "-"), Met: heapOK},
	}
	if at5k == nil {
		rows = append(rows, Row{Workload: "Execute() and Close with 5,000 running", Target: "measured",
			Measured: "5,000 could not run: " + joinOr(r.Skipped, "-"), Met: false})
		return rows
	}
	p := at5k
	rows = append(rows,
		Row{Workload: "Execute() returning, 5,000 running", Unit: "µs", Better: "lower",
			Medians:  map[string]float64{"engine p50": us(p.ExecuteP50), "engine p99": us(p.ExecuteP99)},
			Target:   "p99 ≤ 200 µs",
			Measured: fmt.Sprintf("p50 %.1f µs, p99 %.1f µs", us(p.ExecuteP50), us(p.ExecuteP99)),
			Met:      p.ExecuteP99 <= 200*time.Microsecond},
		Row{Workload: "Close() with 5,000 running", Unit: "s", Better: "lower",
			Medians: map[string]float64{"engine": p.Close.Seconds()}, Target: fmt.Sprintf("≤ KillGracePeriod + 2 s = %v", p.Grace+2*time.Second),
			Measured: fmt.Sprintf("%.2f s", p.Close.Seconds()), Met: p.Close <= p.Grace+2*time.Second})
	return rows
}

func joinOr(parts []string, none string) string {
	if len(parts) == 0 {
		return none
	}
	s := parts[0]
	for _, p := range parts[1:] {
		s += ", " + p
	}
	return s
}

func printScale(w io.Writer, r *ScaleRun) {
	fmt.Fprintf(w, "\nN running at once (sleep); fd limit: %s\n", r.FDLimit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "N\tthreads (before)\theap/exec B\tRSS/exec KiB\tfds/exec\tall running s\tExecute p50 µs\tp99 µs\tStats() ns\tClose s\tRunning\tStarted\tCancelled after Close\t")
	for _, p := range r.Points {
		fmt.Fprintf(tw, "%d\t%d (%d)\t%.0f\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t%d\t%.2f\t%d\t%d\t%d\t\n", p.N, p.Threads, p.ThreadsBefore,
			p.HeapPerRunning, p.RSSPerRunning/1024, p.FDsPerRunning, p.StartAll.Seconds(), float64(p.ExecuteP50.Nanoseconds())/1e3,
			float64(p.ExecuteP99.Nanoseconds())/1e3, p.StatsCall.Nanoseconds(), p.Close.Seconds(),
			p.Stats.Running, p.Stats.Started, p.After.Cancelled)
	}
	tw.Flush()
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
}

// drawScaleCharts draws threads and heap per execution against N.
func drawScaleCharts(dir string, r *ScaleRun) error {
	if r == nil || len(r.Points) < 2 {
		return nil
	}
	var xs []int
	threads := series{name: "OS threads", color: contenderColors["engine"]}
	limit := series{name: "target 64", color: color.RGBA{200, 40, 40, 255}}
	heap := series{name: "heap B/exec", color: contenderColors["engine"]}
	heapLimit := series{name: "target 16 KiB", color: color.RGBA{200, 40, 40, 255}}
	for _, p := range r.Points {
		xs = append(xs, p.N)
		threads.ys = append(threads.ys, float64(p.Threads))
		limit.ys = append(limit.ys, 64)
		heap.ys = append(heap.ys, p.HeapPerRunning)
		heapLimit.ys = append(heapLimit.ys, 16<<10)
	}
	if err := drawLines(filepath.Join(dir, "scale-threads.png"), "OS threads of the process with N executions running (sleep)",
		"executions running (log2)", "threads", xs, []series{threads, limit}); err != nil {
		return err
	}
	return drawLines(filepath.Join(dir, "scale-heap.png"), "live heap per running execution, bytes (sleep, no output)",
		"executions running (log2)", "bytes", xs, []series{heap, heapLimit})
}
