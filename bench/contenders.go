package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	gocmd "github.com/go-cmd/cmd"

	"github.com/escher-dbai/execengine"
)

// contender is one way of running commands. Every method runs the same
// child processes, so the contenders differ only in the Go code around them.
type contender interface {
	name() string
	// spawn runs n × /bin/true with at most inflight running at a time,
	// capturing stdout and stderr, and waits for all of them.
	spawn(n, inflight int) error
	// lines runs `cat path` and hands every stdout line, as a string, to a
	// counting handler; it returns how many lines the handler saw.
	lines(path string) (int64, error)
	// capture runs `head -c n /dev/zero` and returns how many stdout bytes
	// it got back in memory.
	capture(n int64) (int64, error)
	// keepAll is lines that also keeps the whole stdout in memory; it
	// returns the lines counted and the bytes kept.
	keepAll(path string) (lines, kept int64, err error)
}

const truePath = "/bin/true"

// ---- raw os/exec: own pipes, bufio line splitting ----

type rawExec struct{}

func (rawExec) name() string { return "os/exec" }

// runCaptured starts argv with its own stdout/stderr pipes, reads both into
// buffers and waits: what any careful os/exec user writes.
func runCaptured(argv ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	or, ow, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		or.Close()
		ow.Close()
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = ow, ew
	err = cmd.Start()
	ow.Close()
	ew.Close()
	if err != nil {
		or.Close()
		er.Close()
		return nil, nil, err
	}
	var ob, eb bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { ob.ReadFrom(or) })
	wg.Go(func() { eb.ReadFrom(er) })
	wg.Wait()
	or.Close()
	er.Close()
	return ob.Bytes(), eb.Bytes(), cmd.Wait()
}

func (rawExec) spawn(n, inflight int) error {
	return workers(n, inflight, func() error {
		_, _, err := runCaptured(truePath)
		return err
	})
}

func (rawExec) lines(path string) (int64, error) {
	cmd := exec.Command("/bin/cat", path)
	or, ow, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd.Stdout, cmd.Stderr = ow, ew
	err = cmd.Start()
	ow.Close()
	ew.Close()
	if err != nil {
		return 0, err
	}
	var count counter
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(or)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			count.handle(sc.Text())
		}
	})
	wg.Go(func() { io.Copy(io.Discard, er) })
	wg.Wait()
	or.Close()
	er.Close()
	return count.lines, cmd.Wait()
}

func (rawExec) keepAll(path string) (int64, int64, error) {
	cmd := exec.Command("/bin/cat", path)
	or, ow, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	cmd.Stdout, cmd.Stderr = ow, io.Discard
	err = cmd.Start()
	ow.Close()
	if err != nil {
		return 0, 0, err
	}
	var count counter
	var kept bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(or, &kept))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		count.handle(sc.Text())
	}
	or.Close()
	return count.lines, int64(kept.Len()), cmd.Wait()
}

func (rawExec) capture(n int64) (int64, error) {
	out, _, err := runCaptured("/usr/bin/head", "-c", strconv.FormatInt(n, 10), "/dev/zero")
	return int64(len(out)), err
}

// counter is the per-line work of the line workload: every contender hands
// each line, as a string, to one of these.
type counter struct{ lines, bytes int64 }

//go:noinline
func (c *counter) handle(line string) {
	c.lines++
	c.bytes += int64(len(line))
}

// workers runs f n times on inflight goroutines.
func workers(n, inflight int, f func() error) error {
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(inflight, n) {
		wg.Go(func() {
			for range jobs {
				if err := f(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// ---- github.com/go-cmd/cmd v1.4.4 ----

type goCmd struct{}

func (goCmd) name() string { return "go-cmd" }

func (goCmd) spawn(n, inflight int) error {
	return workers(n, inflight, func() error {
		st := <-gocmd.NewCmd(truePath).Start() // Buffered: stdout and stderr captured
		if st.Error != nil || st.Exit != 0 {
			return fmt.Errorf("go-cmd %s: exit %d, %v", truePath, st.Exit, st.Error)
		}
		return nil
	})
}

func (goCmd) lines(path string) (int64, error) {
	c := gocmd.NewCmdOptions(gocmd.Options{Streaming: true}, "/bin/cat", path)
	count, st := streamGoCmd(c)
	if st.Error != nil || st.Exit != 0 {
		return count.lines, fmt.Errorf("go-cmd cat: exit %d, %v", st.Exit, st.Error)
	}
	return count.lines, nil
}

// streamGoCmd starts c and counts the lines of its stdout channel (and
// drains stderr's) until both close; it returns the final status.
func streamGoCmd(c *gocmd.Cmd) (counter, gocmd.Status) {
	done := c.Start()
	var count counter
	stdout, stderr := c.Stdout, c.Stderr
	for stdout != nil || stderr != nil {
		select {
		case line, ok := <-stdout:
			if !ok {
				stdout = nil
				continue
			}
			count.handle(line)
		case _, ok := <-stderr:
			if !ok {
				stderr = nil
			}
		}
	}
	return count, <-done
}

// keepAll uses go-cmd's Buffered and Streaming together: every line is
// both sent on the channel and kept in Status().Stdout.
func (goCmd) keepAll(path string) (int64, int64, error) {
	c := gocmd.NewCmdOptions(gocmd.Options{Buffered: true, Streaming: true}, "/bin/cat", path)
	count, st := streamGoCmd(c)
	if st.Error != nil || st.Exit != 0 {
		return count.lines, 0, fmt.Errorf("go-cmd cat: exit %d, %v", st.Exit, st.Error)
	}
	var kept int64
	for _, l := range st.Stdout {
		kept += int64(len(l)) + 1
	}
	return count.lines, kept, nil
}

func (goCmd) capture(n int64) (int64, error) {
	st := <-gocmd.NewCmd("/usr/bin/head", "-c", strconv.FormatInt(n, 10), "/dev/zero").Start()
	if st.Error != nil || st.Exit != 0 {
		return 0, fmt.Errorf("go-cmd head: exit %d, %v", st.Exit, st.Error)
	}
	// go-cmd returns output as lines split by a bufio.Scanner with its
	// default 64 KiB token limit: one 256 MiB line does not come back.
	var got int64
	for _, l := range st.Stdout {
		got += int64(len(l))
	}
	return got, nil
}

// ---- the engine ----

type engine struct{}

func (engine) name() string { return "engine" }

func newEngine(mutate func(*execengine.Config)) *execengine.Engine {
	cfg := execengine.DefaultConfig()
	cfg.EnableAutoCleanup = false
	cfg.MaxInMemoryExecutions = 1 << 30
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := execengine.New(cfg)
	if err != nil {
		panic(err)
	}
	return e
}

func (engine) spawn(n, inflight int) error {
	e := newEngine(func(c *execengine.Config) {
		c.MaxConcurrentExecutions = inflight
		c.MaxQueuedExecutions = n
	})
	defer e.Close()
	ctx := context.Background()
	ids := make([]execengine.Request, 0, n)
	for range n {
		id, err := e.Execute(ctx, execengine.Request{Command: execengine.Exec{Program: truePath}})
		if err != nil {
			return err
		}
		ids = append(ids, execengine.Request{ID: id})
	}
	for _, r := range ids {
		res, err := e.Wait(ctx, r.ID)
		if err != nil {
			return err
		}
		if !res.Success {
			return fmt.Errorf("engine %s: %s", truePath, res.Error)
		}
	}
	return nil
}

func (engine) lines(path string) (int64, error) {
	n, _, err := engineCat(path, 0)
	return n, err
}

// keepAll is lines with MaxOutputSizeBytes above the stream's size.
func (engine) keepAll(path string) (int64, int64, error) {
	return engineCat(path, 256<<20)
}

// engineCat counts the stdout line events of `cat path` and returns them
// with the bytes kept; limit 0 keeps the default MaxOutputSizeBytes.
func engineCat(path string, limit int64) (int64, int64, error) {
	var count counter
	e := newEngine(func(c *execengine.Config) {
		c.StreamOutput = true
		if limit > 0 {
			c.MaxOutputSizeBytes = limit
		}
		c.EventHandler = execengine.EventHandlerFunc(func(ev execengine.Event) {
			if ev.Type == execengine.EventStdout {
				count.handle(ev.Line)
			}
		})
	})
	defer e.Close()
	res, err := runOne(e, execengine.Exec{Program: "/bin/cat", Args: []string{path}})
	if err != nil {
		return 0, 0, err
	}
	return count.lines, int64(len(res.Stdout)), res.Err()
}

func (engine) capture(n int64) (int64, error) {
	e := newEngine(func(c *execengine.Config) { c.MaxOutputSizeBytes = 2 * n })
	defer e.Close()
	res, err := runOne(e, execengine.Exec{Program: "/usr/bin/head", Args: []string{"-c", strconv.FormatInt(n, 10), "/dev/zero"}})
	if err != nil {
		return 0, err
	}
	return int64(len(res.Stdout)), res.Err()
}

func runOne(e *execengine.Engine, c execengine.Command) (execengine.Result, error) {
	ctx := context.Background()
	id, err := e.Execute(ctx, execengine.Request{Command: c})
	if err != nil {
		return execengine.Result{}, err
	}
	return e.Wait(ctx, id)
}
