package execengine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
)

// The benchmarks measure the engine alone; bench/ compares it with raw
// os/exec and go-cmd in one run. Timing targets live there, never in tests.

func benchEngine(b *testing.B, mutate func(*execengine.Config)) *execengine.Engine {
	b.Helper()
	cfg := execengine.DefaultConfig()
	cfg.EnableAutoCleanup = false
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := execengine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func runWait(b *testing.B, e *execengine.Engine, req execengine.Request) execengine.Result {
	b.Helper()
	ctx := context.Background()
	id, err := e.Execute(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	res, err := e.Wait(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Remove(id); err != nil {
		b.Fatal(err)
	}
	return res
}

// trueProgram is true(1) from PATH, looked up once, before the timing:
// there is no /bin/true on macOS (it is /usr/bin/true).
func trueProgram(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("true")
	if err != nil {
		b.Skipf("no true on PATH: %v", err)
	}
	return p
}

// BenchmarkExecuteWaitTrue is one spawn+wait of true with its output
// captured: the engine's fixed cost per command on top of the process.
func BenchmarkExecuteWaitTrue(b *testing.B) {
	e := benchEngine(b, nil)
	req := execengine.Request{Command: execengine.Exec{Program: trueProgram(b)}}
	b.ReportAllocs()
	for b.Loop() {
		if res := runWait(b, e, req); !res.Success {
			b.Fatalf("%s: %s", req.Command.(execengine.Exec).Program, res.Error)
		}
	}
}

// BenchmarkOSExecTrue is BenchmarkExecuteWaitTrue done with os/exec alone,
// as bench/ does it (own pipes, a goroutine per pipe): the baseline for
// profiles of the engine's fixed cost (pprof -diff_base).
func BenchmarkOSExecTrue(b *testing.B) {
	truePath := trueProgram(b)
	b.ReportAllocs()
	for b.Loop() {
		cmd := exec.Command(truePath)
		or, ow, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		er, ew, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = ow, ew
		err = cmd.Start()
		ow.Close()
		ew.Close()
		if err != nil {
			b.Fatal(err)
		}
		var ob, eb bytes.Buffer
		var wg sync.WaitGroup
		wg.Go(func() { ob.ReadFrom(or) })
		wg.Go(func() { eb.ReadFrom(er) })
		wg.Wait()
		or.Close()
		er.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLineStreaming streams 100,000 lines of 100 bytes (cat of a file)
// to a counting handler; the per-op allocations include the one string per
// line that the Event carries.
func BenchmarkLineStreaming(b *testing.B) {
	const lines = 100_000
	path := writeLines(b, lines, bytes.Repeat([]byte("x"), 99))
	var count int
	e := benchEngine(b, func(c *execengine.Config) {
		c.StreamOutput = true
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout {
				count++
			}
		})
	})
	req := execengine.Request{Command: execengine.Exec{Program: "cat", Args: []string{path}}}
	b.ReportAllocs()
	b.SetBytes(lines * 100)
	for b.Loop() {
		count = 0
		if res := runWait(b, e, req); !res.Success || count != lines {
			b.Fatalf("cat: %d of %d lines, %s", count, lines, res.Error)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLargeCapture captures 64 MiB without newlines, StreamOutput off.
func BenchmarkLargeCapture(b *testing.B) {
	const size = 64 << 20
	e := benchEngine(b, func(c *execengine.Config) { c.MaxOutputSizeBytes = size })
	req := execengine.Request{Command: execengine.Exec{Program: "head", Args: []string{"-c", strconv.Itoa(size), "/dev/zero"}}}
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		if res := runWait(b, e, req); !res.Success || len(res.Stdout) != size {
			b.Fatalf("head: %d of %d bytes, %s", len(res.Stdout), size, res.Error)
		}
	}
}

// BenchmarkExecuteLatency times Execute alone, with a slot free: the
// process is waited for with the timer stopped.
func BenchmarkExecuteLatency(b *testing.B) {
	e := benchEngine(b, nil)
	ctx := context.Background()
	req := execengine.Request{Command: execengine.Exec{Program: trueProgram(b)}}
	b.ReportAllocs()
	for b.Loop() {
		id, err := e.Execute(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := e.Wait(ctx, id); err != nil {
			b.Fatal(err)
		}
		e.Remove(id)
		b.StartTimer()
	}
}

// A UI polling a running execution that kept 10 MiB: Snapshot copies all of
// it each time, Output copies only what came since the last poll.
func BenchmarkPollRunning(b *testing.B) {
	e := benchEngine(b, func(c *execengine.Config) { c.StreamOutput = false })
	const kept = 10 << 20
	id, err := e.Execute(context.Background(), execengine.Request{
		Command: execengine.Shell{Command: "head -c " + strconv.Itoa(kept) + " /dev/zero; exec sleep 600", Shell: "sh"},
	})
	if err != nil {
		b.Fatal(err)
	}
	for {
		out, err := e.Output(id, execengine.EventStdout, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) == kept {
			break
		}
	}
	b.Run("Snapshot", func(b *testing.B) {
		b.SetBytes(kept)
		for b.Loop() {
			if r, _ := e.Snapshot(id); len(r.Stdout) != kept {
				b.Fatal("short snapshot")
			}
		}
	})
	b.Run("Output", func(b *testing.B) {
		for b.Loop() {
			if out, _ := e.Output(id, execengine.EventStdout, kept); len(out) != 0 {
				b.Fatal("unexpected output")
			}
		}
	})
	_ = e.Cancel(id)
}

// BenchmarkLineEventsSecrets streams 1,000,000 lines of 100 bytes as line
// events with no secrets and with 20 secrets (and their encodings)
// configured, interleaved in each iteration; "ratio" is the line-event
// throughput with secrets over that without (target ≥ 0.8).
func BenchmarkLineEventsSecrets(b *testing.B) {
	const lines = 1_000_000
	line := []byte("2026-12-02T05:00:00Z INFO request handled path=/api/v1/items status=200 bytes=5123 user=ops-bot")
	path := writeLines(b, lines, append(bytes.Repeat([]byte("x"), 99-len(line)), line...))
	var secrets []string
	for i := range 20 {
		secrets = append(secrets, fmt.Sprintf("Sk-%02d-%s", i, strings.Repeat(string(rune('A'+i)), 20+i)))
	}
	var count int
	handler := execengine.EventHandlerFunc(func(ev execengine.Event) {
		if ev.Type == execengine.EventStdout {
			count++
		}
	})
	plain := benchEngine(b, func(c *execengine.Config) { c.EventHandler = handler })
	masked := benchEngine(b, func(c *execengine.Config) { c.EventHandler = handler; c.Secrets = secrets })
	req := execengine.Request{Command: execengine.Exec{Program: "cat", Args: []string{path}}}
	var tPlain, tMasked, cPlain, cMasked time.Duration
	for b.Loop() {
		for _, e := range []*execengine.Engine{plain, masked} {
			count = 0
			start, cpu := time.Now(), cpuTime()
			if res := runWait(b, e, req); !res.Success || count != lines {
				b.Fatalf("cat: %d of %d lines, %s", count, lines, res.Error)
			}
			if e == plain {
				tPlain += time.Since(start)
				cPlain += cpuTime() - cpu
			} else {
				tMasked += time.Since(start)
				cMasked += cpuTime() - cpu
			}
		}
	}
	b.ReportMetric(float64(lines*b.N)/tPlain.Seconds(), "lines/s-plain")
	b.ReportMetric(float64(lines*b.N)/tMasked.Seconds(), "lines/s-secrets")
	b.ReportMetric(tPlain.Seconds()/tMasked.Seconds(), "ratio")
	if cMasked > 0 {
		// The same ratio by the engine's CPU time, which other load on a
		// shared machine disturbs far less than wall time.
		b.ReportMetric(cPlain.Seconds()/cMasked.Seconds(), "ratio-cpu")
	}
}

// BenchmarkKeepAllLines streams 1,000,000 lines of 100 bytes to a counting
// handler and keeps all of them (a limit above the stream's size): the
// keep-all capture whose copies BENCHMARKS.md profiles.
func BenchmarkKeepAllLines(b *testing.B) {
	const lines = 1_000_000
	path := filepath.Join(b.TempDir(), "lines.txt")
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	if err := os.WriteFile(path, bytes.Repeat(line, lines), 0o600); err != nil {
		b.Fatal(err)
	}
	var count int
	e := benchEngine(b, func(c *execengine.Config) {
		c.StreamOutput = true
		c.MaxOutputSizeBytes = 256 << 20
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout {
				count++
			}
		})
	})
	req := execengine.Request{Command: execengine.Exec{Program: "cat", Args: []string{path}}}
	b.ReportAllocs()
	b.SetBytes(int64(lines * len(line)))
	for b.Loop() {
		count = 0
		if res := runWait(b, e, req); !res.Success || count != lines || len(res.Stdout) != lines*len(line) {
			b.Fatalf("cat: %d of %d lines, %d bytes kept, %s", count, lines, len(res.Stdout), res.Error)
		}
	}
}

// writeLines writes n copies of line, each with a newline, to a temp file
// and returns its path.
func writeLines(b *testing.B, n int, line []byte) string {
	b.Helper()
	var buf bytes.Buffer
	for range n {
		buf.Write(line)
		buf.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "lines.txt")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}
