package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/escher-dbai/execengine/natsexec"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
)

// markerCmd is a shell command that writes the marker file dir/<id> once
// (noclobber: a second run of the same id fails instead of overwriting),
// naming the worker that ran it and the shell's pid, then runs body.
func markerCmd(dir string, id uuid.UUID, body string) string {
	return fmt.Sprintf(`set -C; echo "$WORKER $$" > %s || exit 99; %s`, filepath.Join(dir, id.String()), body)
}

// markers reads dir: id → the worker and pid each marker names.
func markers(t *testing.T, dir string) map[uuid.UUID][2]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID][2]string{}
	for _, e := range ents {
		id, err := uuid.Parse(e.Name())
		if err != nil {
			t.Fatalf("stray file %s in the marker dir", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		l := lines(string(b))
		switch {
		case len(l) == 0:
			t.Fatalf("marker %s is empty (%q): read before its line was written", id, b)
		case len(l) > 1:
			t.Fatalf("marker %s has %d lines (%q): it ran more than once", id, len(l), b)
		}
		f := strings.Fields(l[0])
		if len(f) != 2 {
			t.Fatalf("marker %s = %q", id, b)
		}
		out[id] = [2]string{f[0], f[1]}
	}
	return out
}

// mixed is the request i of a mixed load and the result it must have.
func mixed(dir string, i int) (execengine.Request, func(execengine.Result) error) {
	id := uuid.New()
	var body string
	wantExit, wantOut, wantErr := 0, "", ""
	switch i % 4 {
	case 0:
		body, wantOut = fmt.Sprintf("echo out-%d", i), fmt.Sprintf("out-%d\n", i)
	case 1:
		body, wantErr, wantExit = fmt.Sprintf("echo err-%d >&2; exit 3", i), fmt.Sprintf("err-%d\n", i), 3
	case 2:
		body, wantOut = fmt.Sprintf("printf 'a-%d\\nb-%d\\n'", i, i), fmt.Sprintf("a-%d\nb-%d\n", i, i)
	case 3:
		body, wantOut, wantExit = fmt.Sprintf("echo x-%d; exit %d", i, i%7+1), fmt.Sprintf("x-%d\n", i), i%7+1
	}
	req := execengine.Request{ID: id, Command: execengine.Shell{Command: markerCmd(dir, id, body)}}
	if i%8 == 2 { // the same through Exec
		req.Command = execengine.Exec{Program: "sh", Args: []string{"-c", markerCmd(dir, id, body)}}
	}
	check := func(res execengine.Result) error {
		want := execengine.StatusCompleted
		if wantExit != 0 {
			want = execengine.StatusFailed
		}
		if res.ID != id || res.Status != want || res.ExitCode != wantExit || res.Stdout != wantOut || res.Stderr != wantErr {
			return fmt.Errorf("result of %d = status %s exit %d stdout %q stderr %q error %q; want %s exit %d stdout %q stderr %q",
				i, res.Status, res.ExitCode, res.Stdout, res.Stderr, res.Error, want, wantExit, wantOut, wantErr)
		}
		return nil
	}
	return req, check
}

// TestThousandExecutionsThreeWorkers: 3 worker processes run 1,000 mixed
// executions submitted by 2 clients; every result is right, each ran
// exactly once, and every worker took part.
func TestThousandExecutionsThreeWorkers(t *testing.T) {
	const n = 1000
	srv := startServer(t, t.TempDir(), -1)
	const prefix = "thousand"
	workers := []string{"w1", "w2", "w3"}
	for _, id := range workers {
		startWorkerProc(t, srv.ClientURL(), prefix, id, 8)
	}
	clients := []*natsexec.Client{newClient(t, srv.ClientURL(), prefix), newClient(t, srv.ClientURL(), prefix)}
	ctx := ctxT(t, 90*time.Second)
	dir := t.TempDir()

	ids := make([]uuid.UUID, n)
	checks := make([]func(execengine.Result) error, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := range 2 {
		wg.Go(func() {
			for i := c; i < n; i += 2 {
				req, check := mixed(dir, i)
				id, err := clients[c].Execute(ctx, req)
				if err != nil {
					errs <- fmt.Errorf("Execute %d: %w", i, err)
					return
				}
				ids[i], checks[i] = id, check
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each result is waited for by the client that did not submit it.
	errs = make(chan error, n)
	for c := range 2 {
		wg.Go(func() {
			for i := 1 - c; i < n; i += 2 {
				res, err := clients[c].Wait(ctx, ids[i])
				if err == nil {
					err = checks[i](res)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m := markers(t, dir)
	if len(m) != n {
		t.Fatalf("%d marker files; want %d", len(m), n)
	}
	per := map[string]int{}
	for _, id := range ids {
		mk, ok := m[id]
		if !ok {
			t.Fatalf("no marker for %s", id)
		}
		per[mk[0]]++
	}
	t.Logf("executions per worker: %v", per)
	for _, w := range workers {
		if per[w] == 0 {
			t.Errorf("worker %s ran nothing: %v", w, per)
		}
	}
	list, err := clients[0].List(ctx)
	if err != nil || len(list) != n {
		t.Fatalf("List = %d summaries, %v; want %d", len(list), err, n)
	}
}

// waitFiles waits until dir holds n complete markers: a file is created
// before its line is written, so one without its newline is not counted.
func waitFiles(t *testing.T, ctx context.Context, dir string, n int) {
	t.Helper()
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		for _, e := range ents {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && strings.HasSuffix(string(b), "\n") {
				complete++
			}
		}
		if complete >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d complete markers in %s; want %d", complete, dir, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestWorkerKilled: a worker process SIGKILLed mid-run. What it held ends
// failed worker_lost within 3 heartbeats, visible to every client, its
// processes die with it, nothing is re-run, and what was still queued runs
// on the other workers.
func TestWorkerKilled(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	const prefix = "killed"
	victim := startWorkerProc(t, srv.ClientURL(), prefix, "victim", 3)
	startWorkerProc(t, srv.ClientURL(), prefix, "survivor", 3)
	c1, c2 := newClient(t, srv.ClientURL(), prefix), newClient(t, srv.ClientURL(), prefix)
	ctx := ctxT(t, 60*time.Second)
	dir, gateDir := t.TempDir(), t.TempDir()
	gate := filepath.Join(gateDir, "gate")

	// 6 executions that wait for the gate fill both workers; 10 more queue.
	var held, queued []uuid.UUID
	for i := range 16 {
		id := uuid.New()
		body := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.02; done; echo done-%d", gate, i)
		if i >= 6 {
			body = fmt.Sprintf("echo done-%d", i)
		}
		if _, err := c1.Execute(ctx, execengine.Request{ID: id, Command: execengine.Shell{Command: markerCmd(dir, id, body)}}); err != nil {
			t.Fatal(err)
		}
		if i < 6 {
			held = append(held, id)
		} else {
			queued = append(queued, id)
		}
	}
	waitFiles(t, ctx, dir, 6)
	m := markers(t, dir)
	var lost []uuid.UUID
	for _, id := range held {
		if m[id][0] == "victim" {
			lost = append(lost, id)
		}
	}
	if len(lost) != 3 || len(m) != 6 {
		t.Fatalf("markers %v; want 3 executions on each worker, nothing queued started", m)
	}

	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-victim.done
	for _, id := range lost {
		res, err := c2.Wait(ctx, id)
		seen := time.Since(killed)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != execengine.StatusFailed || res.ErrorCode != natsexec.CodeWorkerLost || res.ExitCode != -1 {
			t.Fatalf("Wait(%s) = %+v; want failed worker_lost", id, res)
		}
		// CompletedAt is wall time: after a step of the clock it can be
		// later than Wait's return (monotonic), which bounds it.
		d := min(res.CompletedAt.Sub(killed), seen)
		t.Logf("worker_lost %v after the kill (bound: 3 heartbeats = %v)", d.Round(time.Millisecond), 3*testHeartbeat)
		if d > 3*testHeartbeat {
			t.Errorf("%s ended worker_lost %v after the kill; want within 3 heartbeats (%v)", id, d, 3*testHeartbeat)
		}
		// Every client sees it, and its events end with the failure.
		if st, err := c1.Status(ctx, id); err != nil || st != execengine.StatusFailed {
			t.Fatalf("Status(%s) = %v, %v; want failed", id, st, err)
		}
		var last execengine.Event
		if err := c1.Events(ctx, id, execengine.EventHandlerFunc(func(ev execengine.Event) { last = ev })); err != nil {
			t.Fatal(err)
		}
		if last.Type != execengine.EventFailed || last.Result == nil || last.Result.ErrorCode != natsexec.CodeWorkerLost {
			t.Fatalf("last event of %s = %+v; want failed worker_lost", id, last)
		}
		// Pdeathsig: the worker's processes died with it.
		pid, _ := strconv.Atoi(m[id][1])
		waitGone(t, ctx, pid)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range slices.Concat(held, queued) {
		if slices.Contains(lost, id) {
			continue
		}
		res, err := c2.Wait(ctx, id)
		if err != nil || !res.Success || !strings.HasPrefix(res.Stdout, "done-") {
			t.Fatalf("Wait(%s) = %+v, %v; want success", id, res, err)
		}
	}
	m = markers(t, dir)
	if len(m) != 16 {
		t.Fatalf("%d markers; want 16 (nothing re-run, nothing lost)", len(m))
	}
	for _, id := range queued {
		if m[id][0] != "survivor" {
			t.Fatalf("queued %s ran on %s; want survivor", id, m[id][0])
		}
	}
}

func waitGone(t *testing.T, ctx context.Context, pid int) {
	t.Helper()
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-ctx.Done():
			t.Fatalf("process %d of a killed worker is still alive", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestServerRestart: the NATS server (JetStream on disk) is stopped and
// started again on the same port while clients submit and workers run.
// Every request a client had accepted runs exactly once and its result is
// right; clients and workers reconnect by themselves.
func TestServerRestart(t *testing.T) {
	storeDir := t.TempDir()
	srv := newServer(t, storeDir, -1)
	var cur atomic.Pointer[server.Server] // the server up now, stopped after the workers
	cur.Store(srv)
	t.Cleanup(func() { stopServer(cur.Load()) })
	addr := srv.Addr().String()
	portNum, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	url := srv.ClientURL()
	const prefix = "restart"
	startWorkerProc(t, url, prefix, "r1", 4)
	startWorkerProc(t, url, prefix, "r2", 4)
	c1, c2 := newClient(t, url, prefix), newClient(t, url, prefix)
	ctx := ctxT(t, 90*time.Second)
	dir := t.TempDir()

	const n = 200
	type accepted struct {
		id    uuid.UUID
		check func(execengine.Result) error
	}
	var (
		mu   sync.Mutex
		acc  []accepted
		wg   sync.WaitGroup
		half = make(chan struct{})
		once sync.Once
	)
	for c, cl := range []*natsexec.Client{c1, c2} {
		wg.Go(func() {
			for i := c; i < n; i += 2 {
				req, check := mixed(dir, i)
				// A short wait per request: some are submitted while the server is down.
				sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				id, err := cl.Execute(sctx, req)
				cancel()
				if err == nil {
					mu.Lock()
					acc = append(acc, accepted{id, check})
					if len(acc) == n/4 {
						once.Do(func() { close(half) })
					}
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	select {
	case <-half:
	case <-ctx.Done():
		t.Fatal("no requests accepted")
	}
	stopServer(srv)
	time.Sleep(testHeartbeat)
	cur.Store(newServer(t, storeDir, portNum))
	wg.Wait()

	if len(acc) < n/2 {
		t.Fatalf("only %d of %d requests accepted", len(acc), n)
	}
	for i, a := range acc {
		cl := []*natsexec.Client{c1, c2}[i%2]
		res, err := cl.Wait(ctx, a.id)
		if err == nil {
			err = a.check(res)
		}
		if err != nil {
			t.Fatalf("accepted request %s: %v", a.id, err)
		}
	}
	m := markers(t, dir)
	for _, a := range acc {
		if _, ok := m[a.id]; !ok {
			t.Fatalf("accepted %s has no marker", a.id)
		}
	}
	t.Logf("%d of %d requests accepted across the restart, each ran once; %d markers", len(acc), n, len(m))
	// A request refused during the outage may still have run (its answer
	// was lost): it ran once at most, which markers checked.
	if _, err := c1.Status(ctx, uuid.New()); !errors.Is(err, execengine.ErrNotFound) {
		t.Fatalf("Status(unknown) after the restart = %v; want ErrNotFound", err)
	}
}
