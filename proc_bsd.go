//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package execengine

import (
	"os"
	"sync"
	"syscall"
)

// exitPoller learns of children's exits through one kqueue
// (EVFILT_PROC, NOTE_EXIT), so a running execution holds no OS thread and
// its leader stays unreaped until the engine has killed its group: the
// group's id cannot be reused meanwhile. The kqueue is made on first use
// and kept open (one fd, close-on-exec). Its one goroutine runs only while
// some execution waits: the last waiter served, it returns, and the next
// waiter starts it again.
var exitPoller kqPoller

type kqPoller struct {
	once    sync.Once
	kq      int
	err     error
	mu      sync.Mutex
	waiters map[int]chan bool // by pid, told true on exit; guarded by mu
	running bool              // the goroutine runs; guarded by mu
}

// waitExited blocks until process proc has exited, without reaping it.
// It returns false when it cannot wait so (no kqueue): the caller then
// reaps the process with Wait.
func waitExited(proc *os.Process) bool {
	pid, p := proc.Pid, &exitPoller
	p.once.Do(func() {
		p.kq, p.err = syscall.Kqueue()
		if p.err == nil {
			syscall.CloseOnExec(p.kq)
			p.waiters = make(map[int]chan bool)
		}
	})
	if p.err != nil {
		return false
	}
	done := make(chan bool, 1)
	var ev [1]syscall.Kevent_t
	syscall.SetKevent(&ev[0], pid, syscall.EVFILT_PROC, syscall.EV_ADD|syscall.EV_ONESHOT)
	ev[0].Fflags = syscall.NOTE_EXIT
	p.mu.Lock()
	// Registered under mu, so the goroutine cannot see the event before
	// the waiter is in the map.
	_, err := syscall.Kevent(p.kq, ev[:], nil, nil)
	for err == syscall.EINTR {
		_, err = syscall.Kevent(p.kq, ev[:], nil, nil)
	}
	switch {
	case err == syscall.ESRCH:
		// Already exited: our unreaped child is a zombie.
		p.mu.Unlock()
		return true
	case err != nil:
		p.mu.Unlock()
		return false
	}
	p.waiters[pid] = done
	if !p.running {
		p.running = true
		go p.loop()
	}
	p.mu.Unlock()
	return <-done
}

// loop delivers exits until no execution waits.
func (p *kqPoller) loop() {
	var evs [64]syscall.Kevent_t
	for {
		n, err := syscall.Kevent(p.kq, nil, evs[:], nil)
		if err != nil && err != syscall.EINTR {
			// Cannot happen with a valid kqueue; the waiters are
			// released and reap their process with Wait instead.
			n = 0
		}
		p.mu.Lock()
		for _, ev := range evs[:max(n, 0)] {
			if done, ok := p.waiters[int(ev.Ident)]; ok {
				delete(p.waiters, int(ev.Ident))
				done <- true
			}
		}
		if err != nil && err != syscall.EINTR {
			for pid, done := range p.waiters {
				delete(p.waiters, pid)
				done <- false
			}
		}
		if len(p.waiters) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}
