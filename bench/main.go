// Command bench measures execengine side by side with raw os/exec (own
// pipes, bufio line splitting) and github.com/go-cmd/cmd v1.4.4, in one
// process run, contenders interleaved round by round, and prints the
// medians with the ratio engine / os/exec against the targets of issue 3.
//
//	go run . [-quick] [-rounds 5] [-json out.json] [-chart out.png] [-only spawn,lines]
//
// It is its own module so that go-cmd never becomes a dependency of the
// library. See BENCHMARKS.md at the repository root for the method.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	quick  bool
	rounds int
	only   map[string]bool
}

// Row is one workload of the table.
type Row struct {
	Workload string               `json:"workload"`
	Unit     string               `json:"unit"`
	Better   string               `json:"better"` // "lower" or "higher"
	Medians  map[string]float64   `json:"medians"`
	Rounds   map[string][]float64 `json:"rounds,omitempty"`
	Ratio    float64              `json:"ratio_engine_over_os_exec,omitempty"`
	Target   string               `json:"target"`
	Measured string               `json:"measured"`
	Met      bool                 `json:"met"`
}

// SweepPoint is the spawn throughput of every contender at one concurrency.
type SweepPoint struct {
	Concurrency int                `json:"concurrency"`
	PerSecond   map[string]float64 `json:"commands_per_second"`
}

// Report is the JSON form of a run.
type Report struct {
	Time      time.Time    `json:"time"`
	GoVersion string       `json:"go_version"`
	GOOS      string       `json:"goos"`
	GOARCH    string       `json:"goarch"`
	CPUs      int          `json:"cpus"`
	Quick     bool         `json:"quick"`
	Rounds    int          `json:"rounds"`
	Rows      []Row        `json:"rows"`
	Sweep     []SweepPoint `json:"sweep,omitempty"`
	Scale     *ScaleRun    `json:"scale,omitempty"`
}

var contenders = []contender{rawExec{}, goCmd{}, engine{}}

func main() {
	var (
		quick     = flag.Bool("quick", false, "smaller counts: a run of about a minute instead of several")
		rounds    = flag.Int("rounds", 5, "rounds per contender and workload (medians are reported)")
		jsonPath  = flag.String("json", "", "also write the figures as JSON to this file")
		chartPath = flag.String("chart", "", "also draw throughput against concurrency as a PNG to this file, and the scale workload's threads and heap against N to scale-threads.png and scale-heap.png beside it")
		cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
		memProf   = flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
		only      = flag.String("only", "", "comma-separated workloads to run: seq,par,lines,keepall,capture,latency,heap,cleanup,yes,sweep,scale (default all)")
	)
	flag.Parse()
	if *rounds < 1 {
		fmt.Fprintf(os.Stderr, "bench: -rounds %d: want at least 1\n", *rounds)
		os.Exit(2)
	}
	o := options{quick: *quick, rounds: *rounds}
	if *only != "" {
		o.only = map[string]bool{}
		for _, w := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(w)] = true
		}
	}
	if *chartPath != "" && o.only != nil && !o.only["scale"] {
		o.only["sweep"] = true
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
	}
	if *memProf != "" {
		runtime.MemProfileRate = 64 << 10
	}
	rep, err := run(o)
	if *cpuProf != "" {
		pprof.StopCPUProfile()
	}
	if *memProf != "" {
		if f, err := os.Create(*memProf); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	printReport(os.Stdout, rep)
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *chartPath != "" {
		if len(rep.Sweep) > 0 {
			if err := drawChart(*chartPath, rep.Sweep); err != nil {
				fmt.Fprintln(os.Stderr, "bench: chart:", err)
				os.Exit(1)
			}
		}
		if err := drawScaleCharts(filepath.Dir(*chartPath), rep.Scale); err != nil {
			fmt.Fprintln(os.Stderr, "bench: chart:", err)
			os.Exit(1)
		}
	}
	for _, r := range rep.Rows {
		if !r.Met {
			os.Exit(3)
		}
	}
}

func (o options) want(w string) bool { return o.only == nil || o.only[w] }

func run(o options) (*Report, error) {
	rep := &Report{Time: time.Now().UTC(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), Quick: o.quick, Rounds: o.rounds}
	size := func(full, quick int) int {
		if o.quick {
			return quick
		}
		return full
	}
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "# "+format+"\n", args...) }

	if o.want("seq") {
		n := size(1000, 300)
		progress("sequential spawn+wait of %s, %d per round", truePath, n)
		med, all, err := interleave(o.rounds, func(c contender) (float64, error) {
			t0 := time.Now()
			err := c.spawn(n, 1)
			return float64(time.Since(t0).Microseconds()) / float64(n), err
		})
		if err != nil {
			return nil, err
		}
		ratio := med["engine"] / med["os/exec"]
		rep.Rows = append(rep.Rows, Row{Workload: "sequential spawn+wait /bin/true, output captured", Unit: "µs/cmd",
			Better: "lower", Medians: med, Rounds: all, Ratio: ratio, Target: "≤ 1.10 × os/exec",
			Measured: fmt.Sprintf("%.3f ×", ratio), Met: ratio <= 1.10})
	}
	if o.want("par") {
		n := 1000
		progress("%d × %s, 100 in flight", n, truePath)
		med, all, err := interleave(o.rounds, func(c contender) (float64, error) {
			t0 := time.Now()
			err := c.spawn(n, 100)
			return float64(n) / time.Since(t0).Seconds(), err
		})
		if err != nil {
			return nil, err
		}
		ratio := med["engine"] / med["os/exec"]
		rep.Rows = append(rep.Rows, Row{Workload: "1,000 × /bin/true, 100 in flight", Unit: "cmds/s",
			Better: "higher", Medians: med, Rounds: all, Ratio: ratio, Target: "≥ 0.90 × os/exec",
			Measured: fmt.Sprintf("%.3f ×", ratio), Met: ratio >= 0.90})
	}
	if o.want("lines") {
		n := 1_000_000 // the target's workload, also in quick mode: about 0.15 s a round
		path, err := lineFile(n)
		if err != nil {
			return nil, err
		}
		defer os.Remove(path)
		progress("%d lines of 100 bytes to a counting handler", n)
		lost := map[string]int64{}
		med, all, err := interleave(o.rounds, func(c contender) (float64, error) {
			t0 := time.Now()
			got, err := c.lines(path)
			lost[c.name()] = max(lost[c.name()], int64(n)-got)
			return float64(got) / time.Since(t0).Seconds() / 1e6, err
		})
		if err != nil {
			return nil, err
		}
		ratio := med["engine"] / med["os/exec"]
		rep.Rows = append(rep.Rows, Row{Workload: fmt.Sprintf("%d lines × 100 B, counting handler", n), Unit: "M lines/s",
			Better: "higher", Medians: med, Rounds: all, Ratio: ratio,
			Target:   "≥ 0.70 × os/exec, > go-cmd, 0 lost",
			Measured: fmt.Sprintf("%.3f ×, %.2f × go-cmd, %d lost", ratio, med["engine"]/med["go-cmd"], lost["engine"]),
			Met:      ratio >= 0.70 && med["engine"] > med["go-cmd"] && lost["engine"] == 0})
	}
	if o.want("keepall") {
		n := 1_000_000
		path, err := lineFile(n)
		if err != nil {
			return nil, err
		}
		defer os.Remove(path)
		progress("%d lines of 100 bytes to a counting handler, all kept", n)
		short := map[string]int64{}
		med, all, err := interleave(o.rounds, func(c contender) (float64, error) {
			t0 := time.Now()
			got, kept, err := c.keepAll(path)
			short[c.name()] = max(short[c.name()], int64(n)-got, int64(n)*100-kept)
			return float64(got) / time.Since(t0).Seconds() / 1e6, err
		})
		if err != nil {
			return nil, err
		}
		ratio := med["engine"] / med["os/exec"]
		rep.Rows = append(rep.Rows, Row{Workload: fmt.Sprintf("%d lines × 100 B, counting handler, all kept", n), Unit: "M lines/s",
			Better: "higher", Medians: med, Rounds: all, Ratio: ratio,
			Target:   "≥ 0.70 × os/exec, 0 lost",
			Measured: fmt.Sprintf("%.3f ×, %.2f × go-cmd, %d short", ratio, med["engine"]/med["go-cmd"], short["engine"]),
			Met:      ratio >= 0.70 && short["engine"] == 0})
	}
	if o.want("capture") {
		n := int64(size(256<<20, 64<<20))
		progress("%d MiB without newlines captured", n>>20)
		short := map[string]int64{}
		med, all, err := interleave(o.rounds, func(c contender) (float64, error) {
			debug.FreeOSMemory() // every contender starts from pages the OS must fault in
			t0 := time.Now()
			got, err := c.capture(n)
			short[c.name()] = n - got
			return float64(n) / time.Since(t0).Seconds() / (1 << 20), err
		})
		if err != nil {
			return nil, err
		}
		ratio := med["engine"] / med["os/exec"]
		measured := fmt.Sprintf("%.3f ×", ratio)
		if short["go-cmd"] != 0 {
			measured += " (go-cmd returned no output: one line over its 64 KiB scanner limit)"
		}
		rep.Rows = append(rep.Rows, Row{Workload: fmt.Sprintf("%d MiB without newlines captured", n>>20), Unit: "MiB/s",
			Better: "higher", Medians: med, Rounds: all, Ratio: ratio, Target: "≥ 0.75 × os/exec",
			Measured: measured, Met: ratio >= 0.75 && short["engine"] == 0 && short["os/exec"] == 0})
	}
	if o.want("latency") {
		n := size(5000, 1000)
		progress("Execute() latency, %d calls with a free slot", n)
		p50, p99, err := executeLatency(n)
		if err != nil {
			return nil, err
		}
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
		rep.Rows = append(rep.Rows, Row{Workload: "Execute() returning, free slot", Unit: "µs",
			Better: "lower", Medians: map[string]float64{"engine p50": us(p50), "engine p99": us(p99)},
			Target:   "p50 ≤ 50 µs, p99 ≤ 500 µs",
			Measured: fmt.Sprintf("p50 %.1f µs, p99 %.1f µs", us(p50), us(p99)),
			Met:      p50 <= 50*time.Microsecond && p99 <= 500*time.Microsecond})
	}
	if o.want("heap") {
		n := size(10_000, 2_000)
		progress("heap held per finished execution, %d × echo hello", n)
		per, err := heapPerExecution(n)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, Row{Workload: "heap held per finished `echo hello`", Unit: "bytes",
			Better: "lower", Medians: map[string]float64{"engine": per},
			Target: "≤ 2 KiB + 6 B output", Measured: fmt.Sprintf("%.0f B", per), Met: per <= 2048+6})
	}
	if o.want("cleanup") {
		n := size(100_000, 10_000)
		progress("Cleanup() over %d retained executions (spawning them first)", n)
		r, err := cleanupPass(n)
		if err != nil {
			return nil, err
		}
		ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
		rep.Rows = append(rep.Rows, Row{Workload: fmt.Sprintf("Cleanup() over %d retained executions", n), Unit: "ms",
			Better: "lower", Medians: map[string]float64{"cleanup": ms(r.Took), "Status max": ms(r.StatusMax), "Status p99": ms(r.StatusP99), "Status max, idle": ms(r.IdleMax)},
			Target: "≤ 100 ms, Status never > 1 ms",
			Measured: fmt.Sprintf("%.1f ms; Status max %.3f ms, p99 %.4f ms over %d calls (idle max %.3f ms)",
				ms(r.Took), ms(r.StatusMax), ms(r.StatusP99), r.Probes, ms(r.IdleMax)),
			Met: r.Took <= 100*time.Millisecond && r.StatusMax <= time.Millisecond})
	}
	if o.want("yes") {
		d := 3 * time.Second
		progress("endless yes for %v under the 10 MiB limit", d)
		r, err := yesPeakHeap(d)
		if err != nil {
			return nil, err
		}
		mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
		limit := uint64(2*r.Limit + 8<<20)
		rep.Rows = append(rep.Rows, Row{Workload: "endless `yes`, 10 MiB limit, 3 s, line events on", Unit: "MiB",
			Better: "lower", Medians: map[string]float64{"peak heap": mib(r.Peak), "baseline": mib(r.Baseline)},
			Target: "peak heap ≤ 28 MiB",
			Measured: fmt.Sprintf("peak %.1f MiB (baseline %.1f), %.0f M lines, %s",
				mib(r.Peak), mib(r.Baseline), float64(r.Lines)/1e6, r.Status),
			Met: r.Peak <= limit && r.Kept > int(r.Limit)})
	}
	if o.want("sweep") {
		n := size(1000, 256)
		sweepRounds := max(1, min(o.rounds, 3))
		for c := 1; c <= 256; c *= 2 {
			progress("sweep: %d × %s at concurrency %d", n, truePath, c)
			med, _, err := interleave(sweepRounds, func(k contender) (float64, error) {
				t0 := time.Now()
				err := k.spawn(n, c)
				return float64(n) / time.Since(t0).Seconds(), err
			})
			if err != nil {
				return nil, err
			}
			rep.Sweep = append(rep.Sweep, SweepPoint{Concurrency: c, PerSecond: med})
		}
	}
	if o.want("scale") {
		ns := []int{1000, 5000, 10_000}
		if o.quick {
			ns = ns[:2]
		} else if m := maxRunning(); m > 5000 && m < 10_000 {
			ns = []int{1000, 5000, m, 10_000} // as far as the fd limit allows; 10,000 is then skipped
		}
		progress("N running at once (sleep), N = %v", ns)
		r, err := scale(ns, size(2000, 1000))
		if err != nil {
			return nil, err
		}
		rep.Scale = r
		rep.Rows = append(rep.Rows, scaleRows(r)...)
	}
	return rep, nil
}

// interleave runs f for every contender, round after round, rotating who
// goes first so no contender always follows the same neighbour, and
// returns the median per contender and every round's value.
func interleave(rounds int, f func(contender) (float64, error)) (map[string]float64, map[string][]float64, error) {
	all := map[string][]float64{}
	for r := range rounds {
		for i := range contenders {
			c := contenders[(i+r)%len(contenders)]
			v, err := f(c)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", c.name(), err)
			}
			all[c.name()] = append(all[c.name()], v)
		}
	}
	med := map[string]float64{}
	for k, vs := range all {
		med[k] = median(vs)
	}
	return med, all, nil
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// lineFile writes n lines of 100 bytes (99 + '\n') to a temporary file and
// reads it back once, so every contender's `cat` reads from the page cache.
func lineFile(n int) (string, error) {
	f, err := os.CreateTemp("", "execengine-bench-lines-*.txt")
	if err != nil {
		return "", err
	}
	line := []byte(strings.Repeat("0123456789", 10)[:99] + "\n")
	buf := make([]byte, 0, 1<<20)
	for i := range n {
		copy(line, fmt.Sprintf("%09d", i)) // lines differ, as real output does
		buf = append(buf, line...)
		if len(buf) > cap(buf)-len(line) {
			if _, err := f.Write(buf); err != nil {
				return "", err
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := exec.Command("/bin/cat", f.Name()).Run(); err != nil {
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}

func printReport(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "execengine bench — %s %s/%s, %d CPUs, %d rounds per contender, medians%s\n\n",
		rep.GoVersion, rep.GOOS, rep.GOARCH, rep.CPUs, rep.Rounds, map[bool]string{true: " (quick mode)"}[rep.Quick])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "workload\tunit\tos/exec\tgo-cmd\tengine\tengine/os-exec\t")
	for _, r := range rep.Rows {
		if r.Ratio == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t\n", r.Workload, r.Unit,
			num(r.Medians["os/exec"]), num(r.Medians["go-cmd"]), num(r.Medians["engine"]), r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "workload\ttarget\tmeasured\tmet\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.Workload, r.Target, r.Measured, map[bool]string{true: "yes", false: "NO"}[r.Met])
	}
	tw.Flush()
	if len(rep.Sweep) > 0 {
		fmt.Fprintln(w, "\n/bin/true throughput (cmds/s) against concurrency")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
		fmt.Fprintln(tw, "in flight\tos/exec\tgo-cmd\tengine\tengine/os-exec\t")
		for _, p := range rep.Sweep {
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.0f\t%.3f\t\n", p.Concurrency, p.PerSecond["os/exec"],
				p.PerSecond["go-cmd"], p.PerSecond["engine"], p.PerSecond["engine"]/p.PerSecond["os/exec"])
		}
		tw.Flush()
	}
	if rep.Scale != nil {
		printScale(w, rep.Scale)
	}
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
