//go:build linux && go1.26

package execengine

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// exitPoller learns of children's exits through one epoll instance that
// watches the pidfd os keeps for each child (readable once the child has
// exited). Registering os's own pidfd costs no descriptor per execution:
// 10,000 running take 10,000 fewer fds than a pidfd each would. The pidfd
// stays open until the engine reaps the child with Wait, which it does only
// after the exit was seen here; closing it then drops it from the epoll
// set. The epoll fd is made on first use and kept (close-on-exec). Its one
// goroutine runs only while some execution waits: the last waiter served,
// it returns, and the next waiter starts it again.
var exitPoller epollPoller

type epollPoller struct {
	once    sync.Once
	epfd    int
	err     error
	mu      sync.Mutex
	waiters map[int32]chan bool // by pid, told true on exit; guarded by mu
	running bool                // the goroutine runs; guarded by mu
}

// wait reports whether p exited; ok is false when it cannot wait so (no
// pidfd in os, no epoll), and the caller falls back.
func (ep *epollPoller) wait(p *os.Process) (exited, ok bool) {
	ep.once.Do(func() {
		ep.epfd, ep.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		ep.waiters = make(map[int32]chan bool)
	})
	if ep.err != nil {
		return false, false
	}
	done := make(chan bool, 1)
	var regErr error
	err := p.WithHandle(func(pidfd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(p.Pid)}
		ep.mu.Lock()
		defer ep.mu.Unlock()
		// Registered under mu, so the goroutine cannot see the event
		// before the waiter is in the map.
		if regErr = unix.EpollCtl(ep.epfd, unix.EPOLL_CTL_ADD, int(pidfd), &ev); regErr != nil {
			return
		}
		ep.waiters[int32(p.Pid)] = done
		if !ep.running {
			ep.running = true
			go ep.loop()
		}
	})
	if err != nil || regErr != nil {
		return false, false
	}
	return <-done, true
}

// loop delivers exits until no execution waits.
func (ep *epollPoller) loop() {
	var evs [64]unix.EpollEvent
	for {
		n, err := unix.EpollWait(ep.epfd, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		ep.mu.Lock()
		for _, ev := range evs[:max(n, 0)] {
			if done, ok := ep.waiters[ev.Fd]; ok {
				delete(ep.waiters, ev.Fd)
				done <- true
			}
		}
		if err != nil {
			// Cannot happen with a valid epoll fd; the waiters are
			// released and reap their process with Wait instead.
			for pid, done := range ep.waiters {
				delete(ep.waiters, pid)
				done <- false
			}
		}
		if len(ep.waiters) == 0 {
			ep.running = false
			ep.mu.Unlock()
			return
		}
		ep.mu.Unlock()
	}
}
