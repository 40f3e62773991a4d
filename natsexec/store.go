package natsexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message headers.
const (
	hdrRevision  = "Execengine-Revision"  // on a queued request: the revision of its pending record
	hdrResult    = "Execengine-Result"    // "object" on a terminal event whose output is only in the results store
	hdrSubmitted = "Execengine-Submitted" // on a queued request: when Execute accepted it
)

// record is the state of one execution in the state bucket (key x.<id>).
type record struct {
	ID          uuid.UUID          `json:"id"`
	Status      execengine.Status  `json:"status"`
	Worker      string             `json:"worker,omitempty"`
	SubmittedAt time.Time          `json:"submitted_at"`
	StartedAt   time.Time          `json:"started_at,omitzero"`
	Duration    time.Duration      `json:"duration_ns,omitempty"`
	Result      *execengine.Result `json:"result,omitempty"`
	// ResultObject: the final result is in the results store, too large for one message.
	ResultObject bool `json:"result_object,omitempty"`
}

func recordKey(id uuid.UUID) string               { return "x." + id.String() }
func indexKey(worker string, id uuid.UUID) string { return "w." + worker + "." + id.String() }

// store is what workers and clients share: the streams and buckets of one prefix.
type store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opts    Options
	n       names
	state   jetstream.KeyValue
	workers jetstream.KeyValue
	results jetstream.ObjectStore
	queue   jetstream.Stream
	events  jetstream.Stream
	live    *liveness
}

// openStore creates (or updates) the streams and buckets under opts.Prefix.
func openStore(ctx context.Context, nc *nats.Conn, opts Options) (*store, error) {
	if nc == nil {
		return nil, errors.New("natsexec: nil *nats.Conn")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("natsexec: %w", err)
	}
	s := &store{nc: nc, js: js, opts: opts, n: names{opts.Prefix}}
	s.live = &liveness{s: s, seen: map[string]beat{}}
	if s.queue, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: s.n.queueStream(), Subjects: []string{s.n.queueSubject("*")},
		Retention: jetstream.WorkQueuePolicy, MaxAge: opts.Retention, Storage: jetstream.FileStorage,
		Replicas: opts.Replicas, Duplicates: time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: stream %s: %w", s.n.queueStream(), err)
	}
	if s.events, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: s.n.eventsStream(), Subjects: []string{s.n.eventSubject("*")},
		MaxAge: opts.Retention, MaxMsgsPerSubject: opts.MaxEventsPerExecution, Discard: jetstream.DiscardOld,
		Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: stream %s: %w", s.n.eventsStream(), err)
	}
	if s.state, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s.n.stateBucket(), TTL: opts.Retention, Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: bucket %s: %w", s.n.stateBucket(), err)
	}
	if s.workers, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s.n.workersBucket(), TTL: 2 * opts.Heartbeat, Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: bucket %s: %w", s.n.workersBucket(), err)
	}
	if s.results, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: s.n.resultsBucket(), TTL: opts.Retention, Storage: jetstream.FileStorage, Replicas: opts.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("natsexec: object store %s: %w", s.n.resultsBucket(), err)
	}
	return s, nil
}

// maxMessage is the largest payload worth sending in one message.
func (s *store) maxMessage() int {
	return int(s.nc.MaxPayload()) - 8<<10
}

// getRecord returns the execution's record and its revision, or ErrNotFound.
func (s *store) getRecord(ctx context.Context, id uuid.UUID) (record, uint64, error) {
	e, err := s.state.Get(ctx, recordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, fmt.Errorf("%w: %s", execengine.ErrNotFound, id)
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("natsexec: record of %s: %w", id, err)
	}
	return decodeRecord(e)
}

func decodeRecord(e jetstream.KeyValueEntry) (record, uint64, error) {
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return record{}, 0, fmt.Errorf("natsexec: record %s: %w", e.Key(), err)
	}
	return r, e.Revision(), nil
}

// finalRecord makes the terminal record for res; a result too large for
// one message goes to the results store.
func (s *store) finalRecord(ctx context.Context, r record, res execengine.Result) ([]byte, error) {
	r.Status, r.Result, r.Duration = res.Status, &res, res.Duration
	if !res.StartedAt.IsZero() {
		r.StartedAt = res.StartedAt
	}
	data, err := json.Marshal(r)
	if err != nil || len(data) <= s.maxMessage() {
		return data, err
	}
	full, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if _, err := s.results.PutBytes(ctx, res.ID.String(), full); err != nil {
		return nil, fmt.Errorf("natsexec: result of %s: %w", res.ID, err)
	}
	r.Result, r.ResultObject = nil, true
	return json.Marshal(r)
}

// result returns the final result of a terminal record.
func (s *store) result(ctx context.Context, r record) (execengine.Result, error) {
	if !r.ResultObject {
		if r.Result == nil {
			return execengine.Result{}, fmt.Errorf("natsexec: record of %s is %s without a result", r.ID, r.Status)
		}
		return *r.Result, nil
	}
	data, err := s.results.GetBytes(ctx, r.ID.String())
	if err != nil {
		return execengine.Result{}, fmt.Errorf("natsexec: result of %s: %w", r.ID, err)
	}
	var res execengine.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return execengine.Result{}, fmt.Errorf("natsexec: result of %s: %w", r.ID, err)
	}
	return res, nil
}

// eventMsg builds the message of one event. A terminal event whose result
// does not fit in one message carries the result without its output and
// the hdrResult header: readers fetch the whole result from the record.
func (s *store) eventMsg(ev execengine.Event) (*nats.Msg, error) {
	m := nats.NewMsg(s.n.eventSubject(ev.ExecutionID))
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if len(data) > s.maxMessage() && ev.Result != nil {
		short := *ev.Result
		short.Stdout, short.Stderr = "", ""
		ev.Result = &short
		if data, err = json.Marshal(ev); err != nil {
			return nil, err
		}
		m.Header.Set(hdrResult, "object")
	}
	m.Data = data
	return m, nil
}

// lastEvent returns the last stored event of an execution, if any.
func (s *store) lastEvent(ctx context.Context, id uuid.UUID) (*execengine.Event, error) {
	m, err := s.events.GetLastMsgForSubject(ctx, s.n.eventSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ev execengine.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// endWith makes res the final state of the execution in r (at revision
// rev), unless someone else ended it first, and stores the events that go
// with it: a status_changed from old and the terminal event, numbered after
// what the stream holds. It reports whether it won.
func (s *store) endWith(ctx context.Context, r record, rev uint64, res execengine.Result) (bool, error) {
	old := r.Status
	data, err := s.finalRecord(ctx, r, res)
	if err != nil {
		return false, err
	}
	if _, err := s.state.Update(ctx, recordKey(r.ID), data, rev); err != nil {
		if isConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("natsexec: record of %s: %w", r.ID, err)
	}
	last, err := s.lastEvent(ctx, r.ID)
	if err != nil {
		return true, err
	}
	seq := uint64(0)
	if last != nil {
		seq = last.Seq
	}
	now := time.Now()
	terminal := execengine.Event{Type: terminalType(res.Status), ExecutionID: r.ID, Seq: seq + 2, Timestamp: now, Result: &res}
	if res.Status == execengine.StatusFailed {
		terminal.Error = res.Error
	}
	for _, ev := range []execengine.Event{
		{Type: execengine.EventStatusChanged, ExecutionID: r.ID, Seq: seq + 1, Timestamp: now, OldStatus: old, NewStatus: res.Status},
		terminal,
	} {
		m, err := s.eventMsg(ev)
		if err != nil {
			return true, err
		}
		if _, err := s.js.PublishMsg(ctx, m); err != nil {
			return true, fmt.Errorf("natsexec: event of %s: %w", r.ID, err)
		}
	}
	return true, nil
}

func terminalType(st execengine.Status) execengine.EventType {
	switch st {
	case execengine.StatusFailed:
		return execengine.EventFailed
	case execengine.StatusTimeout:
		return execengine.EventTimeout
	case execengine.StatusCancelled:
		return execengine.EventCancelled
	}
	return execengine.EventCompleted
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// declareLost ends the execution of record r, held by a worker found
// lost, failed with CodeWorkerLost, unless its terminal event made it to
// the stream before the worker died: then that result is the final one.
func (s *store) declareLost(ctx context.Context, r record, rev uint64) error {
	res := execengine.Result{
		ID: r.ID, Status: execengine.StatusFailed, ExitCode: -1,
		SubmittedAt: r.SubmittedAt, StartedAt: r.StartedAt, CompletedAt: time.Now(),
		Error:     fmt.Sprintf("worker %s stopped heartbeating while it ran the execution", r.Worker),
		ErrorCode: CodeWorkerLost,
	}
	if res.StartedAt.IsZero() {
		res.StartedAt = r.SubmittedAt
	}
	res.Duration = res.CompletedAt.Sub(res.StartedAt)
	last, err := s.lastEvent(ctx, r.ID)
	if err != nil {
		return err
	}
	if last != nil && last.Type.IsTerminal() && last.Result != nil {
		final, err := s.terminalResult(ctx, r, last)
		if err != nil {
			return err
		}
		data, err := s.finalRecord(ctx, r, final)
		if err != nil {
			return err
		}
		if _, err := s.state.Update(ctx, recordKey(r.ID), data, rev); err != nil && !isConflict(err) {
			return err
		}
		return nil
	}
	_, err = s.endWith(ctx, r, rev, res)
	return err
}

// terminalResult is the result a stored terminal event stands for. Its
// output may have been left out (hdrResult), and then only the result in
// the results store is whole.
func (s *store) terminalResult(ctx context.Context, r record, ev *execengine.Event) (execengine.Result, error) {
	res := *ev.Result
	if res.Stdout == "" && res.Stderr == "" {
		if full, err := s.result(ctx, record{ID: r.ID, ResultObject: true}); err == nil {
			return full, nil
		}
	}
	return res, nil
}

// liveness decides that a worker is lost: the revision of its heartbeat
// key has not changed for lostAfter (2 heartbeats) of this process's own
// clock, while this connection stayed up. Judging by local time since a
// new revision was seen, not by the key's TTL or by timestamps, makes the
// verdict independent of clock skew and of the server's expiry timer; a
// worker that dies is declared lost within 2 heartbeats of its last beat
// plus one check, under 3 heartbeats after it died. After a disconnect
// every worker gets lostAfter afresh, so a server restart (which delays
// every beat) does not look like dead workers. A worker that sees its own
// beats late (its process starved, its connection backed up) is behind on
// every other worker's too, and judges none until it catches up.
type liveness struct {
	s          *store
	self       string // the worker of this process, if any
	mu         sync.Mutex
	seen       map[string]beat
	reconnects uint64
	connected  bool
}

// beat is the last heartbeat revision seen of one worker, and when it was
// first seen (locally).
type beat struct {
	rev uint64
	at  time.Time
}

// lostAfter is how long a worker's heartbeat may stay unchanged.
func (l *liveness) lostAfter() time.Duration { return 2 * l.s.opts.Heartbeat }

// resync restarts every worker's clock after a disconnect; l.mu is held.
func (l *liveness) resync(now time.Time) {
	st := l.s.nc.Stats()
	up := l.s.nc.IsConnected()
	if up && l.connected && st.Reconnects == l.reconnects {
		return
	}
	l.reconnects, l.connected = st.Reconnects, up
	for w, b := range l.seen {
		b.at = now
		l.seen[w] = b
	}
}

// observe records that worker's heartbeat key is at revision rev (0: the
// key is missing, which is no beat).
func (l *liveness) observe(worker string, rev uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resync(now)
	if b, ok := l.seen[worker]; !ok || rev != 0 && rev != b.rev {
		l.seen[worker] = beat{rev: rev, at: now}
	}
}

// stale reports whether worker's beat is older than lostAfter; it starts
// the clock of a worker never observed.
func (l *liveness) stale(worker string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resync(now)
	b, ok := l.seen[worker]
	if !ok {
		l.seen[worker] = beat{at: now}
		return false
	}
	if own, ok := l.seen[l.self]; ok && l.self != worker && now.Sub(own.at) >= l.lostAfter() {
		return false
	}
	return l.connected && now.Sub(b.at) >= l.lostAfter()
}

// lost reads worker's heartbeat key and judges it.
func (l *liveness) lost(ctx context.Context, worker string) (bool, error) {
	e, err := l.s.workers.Get(ctx, worker)
	var rev uint64
	switch {
	case err == nil:
		rev = e.Revision()
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return false, err
	}
	now := time.Now()
	l.observe(worker, rev, now)
	return l.stale(worker, now), nil
}

// checkHolder declares the execution of r lost if its worker is.
func (s *store) checkHolder(ctx context.Context, r record, rev uint64) error {
	if r.Status.IsTerminal() || r.Worker == "" {
		return nil
	}
	lost, err := s.live.lost(ctx, r.Worker)
	if err != nil || !lost {
		return err
	}
	return s.declareLost(ctx, r, rev)
}

// parseIndexKey splits w.<worker>.<id>.
func parseIndexKey(key string) (string, uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(key, "w.")
	if !ok {
		return "", uuid.Nil, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", uuid.Nil, false
	}
	id, err := uuid.Parse(rest[i+1:])
	return rest[:i], id, err == nil
}

func parseRevision(h nats.Header) (uint64, bool) {
	v, err := strconv.ParseUint(h.Get(hdrRevision), 10, 64)
	return v, err == nil && v > 0
}
