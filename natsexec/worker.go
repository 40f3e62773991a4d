package natsexec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Relay carries an engine's events to the [Worker] that runs on it. Set a
// *Relay as the engine's Config.EventHandler and as WorkerOptions.Relay;
// the zero value is ready. Events of executions the worker does not hold
// (the engine used directly) are ignored.
type Relay struct {
	w atomic.Pointer[Worker]
}

// HandleEvent publishes ev for the worker.
func (r *Relay) HandleEvent(ev execengine.Event) {
	if w := r.w.Load(); w != nil {
		w.handleEvent(ev)
	}
}

// Worker takes requests from the queue and runs them on its engine. Create
// one with [NewWorker]; stop it with Close.
type Worker struct {
	s     *store
	eng   *execengine.Engine
	id    string
	opts  WorkerOptions
	log   *slog.Logger
	relay *Relay
	cons  jetstream.Consumer
	sub   *nats.Subscription

	slots chan struct{} // one token per execution held

	mu   sync.Mutex
	held map[uuid.UUID]*held

	stop    chan struct{}
	loops   sync.WaitGroup // pull, heartbeat, reaper
	running sync.WaitGroup // executions held
	closed  sync.Once
	closing atomic.Int64 // UnixNano of Close, 0 before
}

// held is an execution this worker claimed.
type held struct {
	rec      record
	rev      uint64 // revision of the running record
	seq      uint64 // last event number published
	outBytes [2]int64
	cancel   bool // a cancel came before the engine had it
	inEngine bool
	done     bool
}

// NewWorker connects a worker to the streams and buckets of
// opts.Options.Prefix (creating them if needed), starts its heartbeat and
// starts pulling requests. eng's Config.EventHandler must be opts.Relay.
// nc stays the caller's: authentication and TLS are set up on it.
func NewWorker(nc *nats.Conn, eng *execengine.Engine, opts WorkerOptions) (*Worker, error) {
	if eng == nil || opts.Relay == nil {
		return nil, errors.New("natsexec: NewWorker needs an engine and the Relay set as its Config.EventHandler")
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 100
	}
	if opts.MaxOutputBytes == 0 {
		opts.MaxOutputBytes = 10 << 20
	}
	if opts.Concurrency < 0 || opts.MaxOutputBytes < 0 {
		return nil, fmt.Errorf("natsexec: Concurrency %d and MaxOutputBytes %d must not be negative", opts.Concurrency, opts.MaxOutputBytes)
	}
	if opts.ID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
		opts.ID = sanitize(opts.ID)
	}
	if !tokenRE.MatchString(opts.ID) {
		return nil, fmt.Errorf("natsexec: worker id %q: letters, digits, '-' and '_' only", opts.ID)
	}
	if !opts.Relay.w.CompareAndSwap(nil, nil) {
		return nil, errors.New("natsexec: the Relay already serves a worker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := openStore(ctx, nc, opts.Options)
	if err != nil {
		return nil, err
	}
	opts.Options = s.opts
	if testWrapJS != nil {
		s.js = testWrapJS(s.js)
	}
	w := &Worker{
		s: s, eng: eng, id: opts.ID, opts: opts, log: opts.Logger, relay: opts.Relay,
		slots: make(chan struct{}, opts.Concurrency),
		held:  map[uuid.UUID]*held{},
		stop:  make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("worker", w.id)
	s.live.self = w.id
	if w.cons, err = s.queue.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: s.n.consumer(), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 5 * s.opts.Heartbeat, FilterSubject: s.n.queueSubject("*"),
		MaxAckPending: -1,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: consumer: %w", err)
	}
	if err := w.beat(ctx); err != nil {
		return nil, err
	}
	// The watch lives until Close: its goroutine owns the context.
	wctx, wcancel := context.WithCancel(context.Background())
	wch, err := s.workers.WatchAll(wctx)
	if err != nil {
		wcancel()
		return nil, fmt.Errorf("natsexec: watching heartbeats: %w", err)
	}
	if w.sub, err = nc.Subscribe(s.n.cancelSubject(w.id), w.onCancel); err != nil {
		wcancel()
		return nil, fmt.Errorf("natsexec: cancel subscription: %w", err)
	}
	if !opts.Relay.w.CompareAndSwap(nil, w) {
		_ = w.sub.Unsubscribe()
		wcancel()
		return nil, errors.New("natsexec: the Relay already serves a worker")
	}
	w.loops.Go(w.pullLoop)
	w.loops.Go(w.heartbeatLoop)
	w.loops.Go(w.reaperLoop)
	w.loops.Go(func() { w.watchLoop(wch, wcancel) })
	return w, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ID returns the worker's id, as records name it.
func (w *Worker) ID() string { return w.id }

// Close stops taking requests, cancels the executions the worker holds
// (they end cancelled, and their results are published), stops the
// heartbeat and removes the worker's key. It closes neither the engine
// nor nc. Calling it again is harmless.
func (w *Worker) Close() error {
	w.closed.Do(func() {
		w.closing.Store(time.Now().UnixNano())
		close(w.stop)
		_ = w.sub.Unsubscribe()
		w.mu.Lock()
		ids := make([]uuid.UUID, 0, len(w.held))
		for id, h := range w.held {
			h.cancel = true
			if h.inEngine {
				ids = append(ids, id)
			}
		}
		w.mu.Unlock()
		for _, id := range ids {
			_ = w.eng.Cancel(id)
		}
		w.running.Wait()
		w.loops.Wait()
		w.relay.w.CompareAndSwap(w, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*w.s.opts.Heartbeat)
		defer cancel()
		_ = w.s.workers.Delete(ctx, w.id)
	})
	return nil
}

func (w *Worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C:
		return true
	}
}

func (w *Worker) beat(ctx context.Context) error {
	_, err := w.s.workers.Put(ctx, w.id, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	if err != nil {
		return fmt.Errorf("natsexec: heartbeat of %s: %w", w.id, err)
	}
	return nil
}

func (w *Worker) heartbeatLoop() {
	t := time.NewTicker(w.s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.Heartbeat)
		if err := w.beat(ctx); err != nil {
			w.log.Warn("natsexec: heartbeat failed", "err", err)
		}
		cancel()
	}
}

// watchLoop feeds the liveness of every worker from the heartbeat bucket:
// a beat is seen as soon as it is stored, with no polling.
func (w *Worker) watchLoop(wch jetstream.KeyWatcher, cancel context.CancelFunc) {
	defer cancel()
	defer func() { _ = wch.Stop() }()
	for {
		select {
		case <-w.stop:
			return
		case e, ok := <-wch.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			rev := e.Revision()
			if e.Operation() != jetstream.KeyValuePut {
				rev = 0
			}
			w.s.live.observe(e.Key(), rev, time.Now())
		}
	}
}

// reaperLoop ends the executions of lost workers. It judges every worker
// the watch knows each quarter heartbeat, and every lostAfter it lists the
// whole index too, to find workers whose key was already gone when it
// started (their clock starts then).
func (w *Worker) reaperLoop() {
	var lastFull time.Time
	for w.sleep(w.s.opts.Heartbeat / 4) {
		full := time.Since(lastFull) >= w.s.live.lostAfter()
		if full {
			lastFull = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*w.s.opts.Heartbeat)
		if err := w.reap(ctx, full); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.log.Debug("natsexec: reaper", "err", err)
		}
		cancel()
	}
}

func (w *Worker) reap(ctx context.Context, full bool) error {
	now := time.Now()
	var lost []string
	if full {
		workers, err := w.indexedWorkers(ctx)
		if err != nil {
			return err
		}
		for _, worker := range workers {
			if worker != w.id && w.s.live.stale(worker, now) {
				lost = append(lost, worker)
			}
		}
	} else {
		w.s.live.mu.Lock()
		known := make([]string, 0, len(w.s.live.seen))
		for worker := range w.s.live.seen {
			known = append(known, worker)
		}
		w.s.live.mu.Unlock()
		for _, worker := range known {
			if worker != w.id && w.s.live.stale(worker, now) {
				lost = append(lost, worker)
			}
		}
	}
	for _, worker := range lost {
		// The watch may stall for seconds after a server restart while
		// beats are stored again: judge by a fresh read of the key.
		if gone, err := w.s.live.lost(ctx, worker); err != nil || !gone {
			if err != nil {
				return err
			}
			continue
		}
		if err := w.reapWorker(ctx, worker); err != nil {
			return err
		}
	}
	return nil
}

// indexedWorkers lists the workers that hold executions by the index.
func (w *Worker) indexedWorkers(ctx context.Context) ([]string, error) {
	keys, err := w.s.state.ListKeysFiltered(ctx, "w.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for key := range keys.Keys() {
		if worker, _, ok := parseIndexKey(key); ok && !seen[worker] {
			seen[worker] = true
			out = append(out, worker)
		}
	}
	return out, nil
}

// reapWorker ends every execution the lost worker holds by the index.
func (w *Worker) reapWorker(ctx context.Context, worker string) error {
	keys, err := w.s.state.ListKeysFiltered(ctx, "w."+worker+".>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for key := range keys.Keys() {
		_, id, ok := parseIndexKey(key)
		if !ok {
			continue
		}
		r, rev, err := w.s.getRecord(ctx, id)
		if err == nil && r.Worker == worker && !r.Status.IsTerminal() {
			if err := w.s.declareLost(ctx, r, rev); err != nil {
				return err
			}
			w.log.Info("natsexec: execution of a lost worker ended", "id", id, "lost", worker)
		}
		if err == nil || errors.Is(err, execengine.ErrNotFound) {
			_ = w.s.state.Delete(ctx, key)
		}
	}
	return nil
}

// pullLoop fetches as many requests as there are free slots.
func (w *Worker) pullLoop() {
	for {
		select {
		case <-w.stop:
			return
		case w.slots <- struct{}{}:
		}
		n := 1
		for n < cap(w.slots) {
			select {
			case w.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		batch, err := w.cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				w.take(msg)
			}
			err = batch.Error()
		}
		for range n - got {
			<-w.slots
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			w.log.Debug("natsexec: fetch", "err", err)
			if !w.sleep(100 * time.Millisecond) {
				return
			}
		}
	}
}

// take claims one queued request and starts it; its slot is taken.
func (w *Worker) take(msg jetstream.Msg) {
	free := func() { <-w.slots }
	var req execengine.Request
	id, idErr := uuid.Parse(lastToken(msg.Subject()))
	rev, revOK := parseRevision(msg.Headers())
	if idErr != nil || !revOK || json.Unmarshal(msg.Data(), &req) != nil || req.ID != id {
		w.log.Warn("natsexec: dropping a malformed request", "subject", msg.Subject())
		_ = msg.Term()
		free()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*w.s.opts.Heartbeat)
	defer cancel()
	now := time.Now()
	submitted, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(hdrSubmitted))
	if err != nil {
		submitted = now
	}
	r := record{ID: id, Status: execengine.StatusRunning, Worker: w.id, SubmittedAt: submitted, StartedAt: now}
	h := &held{rec: r}
	w.mu.Lock()
	if w.closing.Load() != 0 {
		// Fetched after Close cancelled what it held: leave it queued
		// for another worker rather than run it uncancelled.
		w.mu.Unlock()
		_ = msg.Nak()
		free()
		return
	}
	if _, dup := w.held[id]; dup {
		w.mu.Unlock()
		_ = msg.Term()
		free()
		return
	}
	w.held[id] = h
	w.running.Add(1)
	w.mu.Unlock()
	release := func() {
		w.mu.Lock()
		delete(w.held, id)
		w.mu.Unlock()
		w.running.Done()
		free()
	}

	// The index first, so that a reaper finds the claim if we die right after it.
	if _, err := w.s.state.Put(ctx, indexKey(w.id, id), nil); err != nil {
		w.log.Warn("natsexec: index", "id", id, "err", err)
		_ = msg.Nak()
		release()
		return
	}
	if w.closing.Load() != 0 {
		// Not claimed yet: cheaper to hand it on than to start and cancel it.
		_ = msg.Nak()
		_ = w.s.state.Delete(ctx, indexKey(w.id, id))
		release()
		return
	}
	data, _ := json.Marshal(r)
	newRev, err := w.s.state.Update(ctx, recordKey(id), data, rev)
	if err != nil && !isConflict(err) {
		// No answer (the server restarting?): the claim may have been
		// stored all the same, and then this worker owns the execution.
		newRev, err = w.claimed(id, rev, now)
		if errors.Is(err, errClaimUnknown) {
			_ = msg.Nak()
			release()
			return
		}
		if errors.Is(err, errNotClaimed) {
			_ = msg.Nak()
			_ = w.s.state.Delete(ctx, indexKey(w.id, id))
			release()
			return
		}
	}
	if err != nil {
		// Cancelled while queued, taken by another worker, or expired: never run it.
		_ = msg.Term()
		_ = w.s.state.Delete(ctx, indexKey(w.id, id))
		release()
		return
	}
	_ = msg.Ack()

	w.mu.Lock()
	h.rev = newRev
	w.mu.Unlock()
	// Claimed: it runs whatever the claim's deadline did meanwhile (a slow
	// store under load is no reason to fail a request it now owns).
	_, err = w.eng.Execute(context.WithoutCancel(ctx), req)
	w.mu.Lock()
	h.inEngine = err == nil
	cancelled := h.cancel
	w.mu.Unlock()
	if err != nil {
		w.rejected(h, err)
		release()
		return
	}
	if cancelled {
		_ = w.eng.Cancel(id)
	}
	// The slot and the held entry are freed by the terminal event.
}

var (
	errNotClaimed   = errors.New("natsexec: claim not stored")
	errClaimUnknown = errors.New("natsexec: claim unknown")
)

// claimed finds out, after a claim got no answer, whether it was stored:
// it returns the record's revision if this worker's claim (started at
// startedAt) is the record, errNotClaimed if the record is still at rev
// (try again later), or another error if someone else has it.
func (w *Worker) claimed(id uuid.UUID, rev uint64, startedAt time.Time) (uint64, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.Heartbeat)
		r, got, err := w.s.getRecord(ctx, id)
		cancel()
		switch {
		case err == nil && got == rev:
			return 0, errNotClaimed
		case err == nil && r.Worker == w.id && r.Status == execengine.StatusRunning && r.StartedAt.Equal(startedAt):
			return got, nil
		case err == nil || errors.Is(err, execengine.ErrNotFound):
			return 0, fmt.Errorf("natsexec: %s was claimed by %q or ended", id, r.Worker)
		}
		if !w.sleep(100 * time.Millisecond) {
			// Closing without knowing: the index stays, so that once this
			// worker's key is gone the claim, if stored, ends worker_lost.
			return 0, errClaimUnknown
		}
	}
}

// rejected ends a claimed execution that the engine refused.
func (w *Worker) rejected(h *held, err error) {
	code := CodeInvalidRequest
	switch {
	case errors.Is(err, execengine.ErrClosed):
		code = execengine.CodeClosed
	case errors.Is(err, execengine.ErrConcurrencyLimitReached):
		code = "concurrency_limit"
	}
	now := time.Now()
	res := execengine.Result{
		ID: h.rec.ID, Status: execengine.StatusFailed, ExitCode: -1,
		SubmittedAt: h.rec.SubmittedAt, StartedAt: now, CompletedAt: now,
		Error: fmt.Sprintf("worker %s: %v", w.id, err), ErrorCode: code,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*w.s.opts.Heartbeat)
	defer cancel()
	if _, err := w.s.endWith(ctx, h.rec, h.rev, res); err != nil {
		w.log.Warn("natsexec: result not stored", "id", h.rec.ID, "err", err)
	}
	_ = w.s.state.Delete(ctx, indexKey(w.id, h.rec.ID))
}

func lastToken(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// onCancel answers "<P>.cancel.<worker>" requests: the payload is the id.
func (w *Worker) onCancel(m *nats.Msg) {
	id, err := uuid.ParseBytes(m.Data)
	if err != nil {
		_ = m.Respond([]byte("bad id"))
		return
	}
	w.mu.Lock()
	h := w.held[id]
	if h == nil {
		w.mu.Unlock()
		_ = m.Respond([]byte("unknown"))
		return
	}
	h.cancel = true
	inEngine := h.inEngine
	w.mu.Unlock()
	if inEngine {
		_ = w.eng.Cancel(id)
	}
	_ = m.Respond([]byte("ok"))
}

// maxLine is the longest line published in one event.
func (w *Worker) maxLine() int { return max(w.s.maxMessage()/8, 1024) }

// handleEvent publishes one event of an execution this worker holds; the
// engine never calls it concurrently for one execution.
func (w *Worker) handleEvent(ev execengine.Event) {
	w.mu.Lock()
	h := w.held[ev.ExecutionID]
	w.mu.Unlock()
	if h == nil || h.done {
		return
	}
	switch ev.Type {
	case execengine.EventStdout, execengine.EventStderr:
		i := 0
		if ev.Type == execengine.EventStderr {
			i = 1
		}
		h.outBytes[i] += int64(len(ev.Line)) + 1
		if h.outBytes[i] > w.opts.MaxOutputBytes {
			return // the output limit holds for what NATS keeps too
		}
		line := ev.Line
		for len(line) > w.maxLine() {
			ev.Line, line = line[:w.maxLine()], line[w.maxLine():]
			w.publish(h, ev)
		}
		ev.Line = line
	}
	if !ev.Type.IsTerminal() {
		w.publish(h, ev)
		return
	}
	w.finish(h, ev)
}

// testWrapJS, set by a test, wraps the JetStream a worker publishes with.
var testWrapJS func(jetstream.JetStream) jetstream.JetStream

// publish stores a non-terminal event asynchronously: order is kept by the
// connection, and a full window of pending acks blocks (back-pressure on
// this execution only).
func (w *Worker) publish(h *held, ev execengine.Event) {
	h.seq++
	ev.Seq = h.seq
	m, err := w.s.eventMsg(ev)
	if err == nil {
		_, err = w.s.js.PublishMsgAsync(m)
		// The window stayed full for the stall wait (a loaded server): go
		// on waiting, as promised, until the worker gives up. Dropping the
		// event left a hole that clients reported as dropped.
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) && !w.giveUp(context.Background()) {
			_, err = w.s.js.PublishMsgAsync(m, jetstream.WithStallWait(w.s.opts.Heartbeat))
		}
	}
	if err != nil {
		w.log.Warn("natsexec: event not published", "id", ev.ExecutionID, "seq", ev.Seq, "err", err)
	}
}

// finish publishes the terminal event and the final record, retrying
// while the server is unreachable, then frees the execution's slot.
func (w *Worker) finish(h *held, ev execengine.Event) {
	h.done = true
	h.seq++
	ev.Seq = h.seq
	id := h.rec.ID
	defer func() {
		w.mu.Lock()
		delete(w.held, id)
		w.mu.Unlock()
		w.running.Done()
		<-w.slots
	}()
	deadline, cancel := context.WithTimeout(context.Background(), w.s.opts.Retention)
	defer cancel()
	res := *ev.Result
	var data []byte
	w.retry(deadline, id, "final result", func(ctx context.Context) (err error) {
		data, err = w.s.finalRecord(ctx, h.rec, res)
		return err
	})
	if data == nil {
		return
	}
	m, err := w.s.eventMsg(ev)
	if err != nil {
		w.log.Error("natsexec: terminal event", "id", id, "err", err)
		return
	}
	w.retry(deadline, id, "terminal event", func(ctx context.Context) error {
		_, err := w.s.js.PublishMsg(ctx, m)
		return err
	})
	w.retry(deadline, id, "final record", func(ctx context.Context) error {
		_, err := w.s.state.Update(ctx, recordKey(id), data, h.rev)
		if isConflict(err) {
			w.log.Warn("natsexec: execution was ended by someone else (worker lost?)", "id", id)
			return nil
		}
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.Heartbeat)
	defer cancel()
	_ = w.s.state.Delete(ctx, indexKey(w.id, id))
}

// retry calls f until it succeeds or giveUp says to stop. The first call
// is bounded by 2 heartbeats; each one that ran out of time gets twice as
// long next (up to maxAttempt), so a large result that takes longer than
// that to store on a loaded server is not retried from scratch for ever.
func (w *Worker) retry(deadline context.Context, id uuid.UUID, what string, f func(context.Context) error) {
	const maxAttempt = 30 * time.Second
	bound := 2 * w.s.opts.Heartbeat
	for {
		ctx, cancel := context.WithTimeout(deadline, bound)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			bound = min(2*bound, max(maxAttempt, bound))
		}
		if w.giveUp(deadline) {
			w.log.Error("natsexec: gave up storing the "+what, "id", id, "err", err)
			return
		}
		w.log.Warn("natsexec: "+what+" not stored yet", "id", id, "err", err)
		time.Sleep(200 * time.Millisecond)
	}
}

// giveUp reports that retrying a store is pointless: its time is up, nc
// was closed (reconnecting is nats.Conn's job while it is open), or Close
// was called closeGrace ago: a worker told to stop while the server is
// unreachable does not wait for it for ever. What it could not store ends
// worker_lost once the server is back, as if the worker had died.
func (w *Worker) giveUp(ctx context.Context) bool {
	if at := w.closing.Load(); at != 0 && time.Since(time.Unix(0, at)) > w.closeGrace() {
		return true
	}
	return ctx.Err() != nil || w.s.nc.IsClosed()
}

// closeGrace is how long Close lets held executions store their results.
func (w *Worker) closeGrace() time.Duration { return 5 * w.s.opts.Heartbeat }
