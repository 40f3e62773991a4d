package natsexec

import (
	"testing"
	"time"
)

// A worker whose own beats reach it late is behind on everyone's: it
// declares no one lost until its own beat shows it has caught up.
func TestLivenessJudgeBehindJudgesNoOne(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	s := &store{nc: connect(t, srv.ClientURL()), opts: Options{Heartbeat: time.Second}}
	t0 := time.Now()
	later := t0.Add(2 * time.Second) // lostAfter: 2 heartbeats

	w := &liveness{s: s, self: "me", seen: map[string]beat{}}
	w.observe("me", 1, t0)
	w.observe("other", 1, t0)
	if w.stale("other", later) {
		t.Fatal("a worker that has not seen its own beat for 2 heartbeats declared another lost")
	}
	w.observe("me", 2, later)
	if !w.stale("other", later) {
		t.Fatal("a worker that is up to date did not declare a silent worker lost")
	}
	if w.stale("me", later) {
		t.Fatal("a worker judged itself")
	}

	// A client has no beats of its own: the others' silence decides.
	c := &liveness{s: s, seen: map[string]beat{}}
	c.observe("other", 1, t0)
	if !c.stale("other", later) {
		t.Fatal("a client did not declare a silent worker lost")
	}
}
