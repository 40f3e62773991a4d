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
			var direct, viaCat, viaRun time.Duration
			for b.Loop() {
				direct += timeCmd(b, sink, exec.Command("sh", "-c", chatty))
				viaCat += timeCmd(b, sink, exec.Command("sh", "-c", chatty+" | cat"))
				viaRun += timeCmd(b, sink, exec.Command(bin, "run", "--stdin=false", "--shell", chatty))
			}
			b.ReportMetric(float64(viaRun)/float64(direct), "x-direct")
			b.ReportMetric(float64(viaRun)/float64(viaCat), "x-cat")
			b.ReportMetric(float64(direct.Milliseconds())/float64(b.N), "direct-ms/op")
		})
	}
}

func timeCmd(b *testing.B, sink string, cmd *exec.Cmd) time.Duration {
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
	return time.Since(begin)
}
