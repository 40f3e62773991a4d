//go:build unix

package main

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// chatty is the output the run command was 150–300× slower on: 50 MB of
// two-byte lines.
const chatty = "yes | head -c 50000000"

// BenchmarkRunChatty runs chatty directly, through `| cat` and through
// `execengine run`, interleaved, with stdout to /dev/null and to a pipe
// that is read. "x-direct" is run's time over the direct time in the same
// run, "x-cat" over the time with `| cat`: the least any program that
// passes the output on adds (one more pipe to cross).
func BenchmarkRunChatty(b *testing.B) {
	bin := bridgeBinary(b)
	for _, sink := range []string{"devnull", "pipe"} {
		b.Run(sink, func(b *testing.B) {
			var direct, viaCat, viaRun [2]time.Duration // wall, CPU
			add := func(sum *[2]time.Duration, cmd *exec.Cmd) {
				wall, cpu := timeCmd(b, sink, cmd)
				sum[0] += wall
				sum[1] += cpu
			}
			for b.Loop() {
				add(&direct, exec.Command("sh", "-c", chatty))
				add(&viaCat, exec.Command("sh", "-c", chatty+" | cat"))
				add(&viaRun, exec.Command(bin, "run", "--stdin=false", "--shell", chatty))
			}
			b.ReportMetric(float64(viaRun[0])/float64(direct[0]), "x-direct")
			b.ReportMetric(float64(viaRun[0])/float64(viaCat[0]), "x-cat")
			b.ReportMetric(float64(viaRun[1])/float64(direct[1]), "x-direct-cpu")
			b.ReportMetric(float64(viaRun[1])/float64(viaCat[1]), "x-cat-cpu")
			b.ReportMetric(float64(direct[0].Milliseconds())/float64(b.N), "direct-ms/op")
		})
	}
}

// timeCmd runs cmd and returns its wall time and the CPU time of its
// whole tree (every process waited for is counted in the rusage of its
// parent, so cmd's includes its children's).
func timeCmd(b *testing.B, sink string, cmd *exec.Cmd) (time.Duration, time.Duration) {
	b.Helper()
	var out io.ReadCloser
	if sink == "devnull" {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout = f
	} else {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			b.Fatal(err)
		}
	}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if out != nil {
		if n, err := io.Copy(io.Discard, out); err != nil || n != 50000000 {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(begin), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}
