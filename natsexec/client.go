package natsexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EventDropped is the type of the event a [Client.Events] handler gets
// when events it had not read yet are gone from the stream (the
// per-execution limit, retention, or events a worker could not store
// while the server was unreachable). Its Error says how many; its Seq is
// the Seq of the next event delivered.
const EventDropped execengine.EventType = "events_dropped"

// eventBuffer is how many events an Events call fetches ahead of its handler.
const eventBuffer = 256

// Client submits, queries, waits for, cancels and streams executions run
// by the workers of one prefix. It holds no goroutines: it needs no Close.
// A Client is safe for concurrent use.
type Client struct {
	s   *store
	cfg execengine.Config // for ValidateRequest
}

// NewClient connects a client to the streams and buckets of
// opts.Options.Prefix, creating them if needed: requests can be queued
// before any worker is up. nc stays the caller's.
func NewClient(nc *nats.Conn, opts ClientOptions) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := openStore(ctx, nc, opts.Options)
	if err != nil {
		return nil, err
	}
	cfg := execengine.DefaultConfig()
	if opts.MaxTimeout > 0 {
		cfg.MaxTimeout = opts.MaxTimeout
	}
	return &Client{s: s, cfg: cfg}, nil
}

// Execute validates req as far as it can without the worker's machine
// ([execengine.Config.ValidateRequest]: an error matching
// [execengine.ErrInvalidRequest]), stores it pending and queues it, and
// returns its id once the server has both. An id still in the state
// bucket is refused with [execengine.ErrDuplicateID]. What only the worker
// can check (WorkingDir, Script path) ends the execution failed with
// Result.ErrorCode [CodeInvalidRequest].
func (c *Client) Execute(ctx context.Context, req execengine.Request) (uuid.UUID, error) {
	if err := c.cfg.ValidateRequest(req); err != nil {
		return uuid.Nil, err
	}
	if req.ID == uuid.Nil {
		req.ID = uuid.New()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %v", execengine.ErrInvalidRequest, err)
	}
	if len(body) > c.s.maxMessage() {
		return uuid.Nil, fmt.Errorf("%w: request of %d bytes exceeds the server's max payload", execengine.ErrInvalidRequest, len(body))
	}
	now := time.Now()
	rec, _ := json.Marshal(record{ID: req.ID, Status: execengine.StatusPending, SubmittedAt: now})
	rev, err := c.s.state.Create(ctx, recordKey(req.ID), rec)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return uuid.Nil, fmt.Errorf("%w: %s is in the state bucket", execengine.ErrDuplicateID, req.ID)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("natsexec: record of %s: %w", req.ID, err)
	}
	m := nats.NewMsg(c.s.n.queueSubject(req.ID))
	m.Data = body
	m.Header.Set(hdrRevision, fmt.Sprint(rev))
	m.Header.Set(hdrSubmitted, now.UTC().Format(time.RFC3339Nano))
	if _, err := c.s.js.PublishMsg(ctx, m, jetstream.WithMsgID(req.ID.String())); err != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.s.state.Delete(dctx, recordKey(req.ID), jetstream.LastRevision(rev))
		return uuid.Nil, fmt.Errorf("natsexec: queueing %s: %w", req.ID, err)
	}
	return req.ID, nil
}

// Wait blocks until the execution is terminal and returns its result. It
// returns an error only when no final result can be had:
// [execengine.ErrNotFound] for an unknown (or expired) id, or ctx's error.
// While it waits it watches the worker's heartbeat, so an execution of a
// lost worker ends failed with [CodeWorkerLost].
func (c *Client) Wait(ctx context.Context, id uuid.UUID) (execengine.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch, err := c.s.state.Watch(ctx, recordKey(id))
	if err != nil {
		return execengine.Result{}, fmt.Errorf("natsexec: watching %s: %w", id, err)
	}
	defer func() { _ = wch.Stop() }()
	tick := time.NewTicker(c.s.opts.Heartbeat / 4)
	defer tick.Stop()
	var (
		cur  record
		rev  uint64
		have bool
	)
	for {
		select {
		case <-ctx.Done():
			return execengine.Result{}, ctx.Err()
		case e, ok := <-wch.Updates():
			if !ok {
				return execengine.Result{}, fmt.Errorf("natsexec: watch of %s ended", id)
			}
			if e == nil { // the initial values are in
				if !have {
					return execengine.Result{}, fmt.Errorf("%w: %s", execengine.ErrNotFound, id)
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				return execengine.Result{}, fmt.Errorf("%w: %s was removed", execengine.ErrNotFound, id)
			}
			if cur, rev, err = decodeRecord(e); err != nil {
				return execengine.Result{}, err
			}
			have = true
			if cur.Status.IsTerminal() {
				return c.s.result(ctx, cur)
			}
		case <-tick.C:
			if have {
				if err := c.s.checkHolder(ctx, cur, rev); err != nil && ctx.Err() == nil {
					return execengine.Result{}, err
				}
			}
		}
	}
}

// Status returns the execution's current status, or [execengine.ErrNotFound].
func (c *Client) Status(ctx context.Context, id uuid.UUID) (execengine.Status, error) {
	r, rev, err := c.s.getRecord(ctx, id)
	if err != nil {
		return "", err
	}
	if err := c.s.checkHolder(ctx, r, rev); err != nil {
		return "", err
	}
	if !r.Status.IsTerminal() && r.Worker != "" {
		if r2, _, err := c.s.getRecord(ctx, id); err == nil {
			r = r2
		}
	}
	return r.Status, nil
}

// Result returns the final result of a terminal execution,
// [execengine.ErrNotCompleted] while it is pending or running, or
// [execengine.ErrNotFound].
func (c *Client) Result(ctx context.Context, id uuid.UUID) (execengine.Result, error) {
	r, _, err := c.s.getRecord(ctx, id)
	if err != nil {
		return execengine.Result{}, err
	}
	if !r.Status.IsTerminal() {
		return execengine.Result{}, fmt.Errorf("%w: %s is %s", execengine.ErrNotCompleted, id, r.Status)
	}
	return c.s.result(ctx, r)
}

// Cancel stops an execution wherever it is: a queued one is removed from
// the queue and never starts (it ends cancelled); a running one is
// cancelled by the worker that runs it, as [execengine.Engine.Cancel] does.
// Cancelling a terminal execution does nothing and returns nil. It
// returns [execengine.ErrNotFound] for an unknown id.
func (c *Client) Cancel(ctx context.Context, id uuid.UUID) error {
	for {
		r, rev, err := c.s.getRecord(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case r.Status.IsTerminal():
			return nil
		case r.Worker == "":
			now := time.Now()
			res := execengine.Result{
				ID: id, Status: execengine.StatusCancelled, ExitCode: -1,
				SubmittedAt: r.SubmittedAt, StartedAt: r.SubmittedAt, CompletedAt: now, Duration: now.Sub(r.SubmittedAt),
				Error: "cancelled before it started", ErrorCode: execengine.CodeCancelled,
			}
			won, err := c.s.endWith(ctx, r, rev, res)
			if err != nil {
				return err
			}
			if won {
				_ = c.s.queue.Purge(ctx, jetstream.WithPurgeSubject(c.s.n.queueSubject(id)))
				return nil
			}
		default:
			reply, err := c.s.nc.RequestWithContext(ctx, c.s.n.cancelSubject(r.Worker), []byte(id.String()))
			switch {
			case err == nil && string(reply.Data) == "ok":
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil && !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout):
				return fmt.Errorf("natsexec: cancel of %s: %w", id, err)
			}
			// The worker is gone, or has just finished it: look again.
			if err := c.s.checkHolder(ctx, r, rev); err != nil {
				return err
			}
			t := time.NewTimer(c.s.opts.Heartbeat / 8)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// List returns a summary of every execution in the state bucket, oldest first.
func (c *Client) List(ctx context.Context) ([]execengine.Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch, err := c.s.state.Watch(ctx, "x.*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("natsexec: listing: %w", err)
	}
	defer func() { _ = wch.Stop() }()
	var recs []record
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-wch.Updates():
			if !ok {
				return nil, errors.New("natsexec: listing ended early")
			}
			if e == nil {
				slices.SortFunc(recs, func(a, b record) int { return a.SubmittedAt.Compare(b.SubmittedAt) })
				out := make([]execengine.Summary, len(recs))
				for i, r := range recs {
					out[i] = execengine.Summary{ID: r.ID, Status: r.Status, StartedAt: r.SubmittedAt}
					if !r.StartedAt.IsZero() {
						out[i].StartedAt = r.StartedAt
					}
					if r.Status.IsTerminal() {
						out[i].Duration = r.Duration
					}
				}
				return out, nil
			}
			if r, _, err := decodeRecord(e); err == nil {
				recs = append(recs, r)
			}
		}
	}
}

// Events calls h with every event the execution has emitted so far, then
// with each new one as it is stored, and returns nil after the terminal
// event (or ctx's error, or [execengine.ErrNotFound]). Calls never
// overlap and come in Seq order. It reads at h's pace: a slow handler
// slows only this call, never a worker or another client. Events the
// stream discarded before h got them are reported by one [EventDropped]
// event. A terminal event whose output was too large for one message
// still carries the whole Result.
func (c *Client) Events(ctx context.Context, id uuid.UUID, h execengine.EventHandler) error {
	if _, _, err := c.s.getRecord(ctx, id); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	oc, err := c.s.js.OrderedConsumer(ctx, c.s.n.eventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.s.n.eventSubject(id)}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("natsexec: events of %s: %w", id, err)
	}
	// The client buffers at most eventBuffer messages (and 4 MiB): a
	// handler that does not keep up leaves the rest in the stream.
	it, err := oc.Messages(jetstream.PullMaxMessagesWithBytesLimit(eventBuffer, 4<<20))
	if err != nil {
		return fmt.Errorf("natsexec: events of %s: %w", id, err)
	}
	defer it.Stop()
	var next uint64 = 1
	for {
		wait, stop := context.WithTimeout(ctx, c.s.opts.Heartbeat/2)
		msg, err := it.Next(jetstream.NextContext(wait))
		stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Nothing new: the execution may have ended without its terminal
			// event (its worker lost, or the event lost with the server).
			done, err := c.endedWithout(ctx, id, next, h)
			if done || err != nil {
				return err
			}
			continue
		}
		var ev execengine.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			continue
		}
		if ev.Seq < next {
			continue
		}
		if ev.Seq > next {
			h.HandleEvent(execengine.Event{
				Type: EventDropped, ExecutionID: id, Seq: ev.Seq, Timestamp: time.Now(),
				Error: fmt.Sprintf("%d events of %s were dropped before they were read", ev.Seq-next, id),
			})
		}
		next = ev.Seq + 1
		if ev.Type.IsTerminal() && msg.Headers().Get(hdrResult) != "" {
			if res, err := c.Result(ctx, id); err == nil {
				ev.Result = &res
			}
		}
		h.HandleEvent(ev)
		if ev.Type.IsTerminal() {
			return nil
		}
	}
}

// endedWithout checks, when no event came for a while, whether the
// execution has ended without a terminal event in the stream; if so it
// delivers one made from the final result and reports done.
func (c *Client) endedWithout(ctx context.Context, id uuid.UUID, next uint64, h execengine.EventHandler) (bool, error) {
	r, rev, err := c.s.getRecord(ctx, id)
	if err != nil {
		return false, err
	}
	if !r.Status.IsTerminal() {
		return false, c.s.checkHolder(ctx, r, rev)
	}
	// Give the stream a moment: the terminal event may be on its way.
	last, err := c.s.lastEvent(ctx, id)
	if err != nil || last != nil && last.Seq >= next {
		return false, err
	}
	res, err := c.s.result(ctx, r)
	if err != nil {
		return false, err
	}
	ev := execengine.Event{Type: terminalType(res.Status), ExecutionID: id, Seq: next, Timestamp: res.CompletedAt, Result: &res}
	if res.Status == execengine.StatusFailed {
		ev.Error = res.Error
	}
	h.HandleEvent(ev)
	return true, nil
}
