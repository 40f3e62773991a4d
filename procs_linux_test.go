package execengine_test

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The portable listings (ps and getsid, fstat) that the tests use where
// there is no /proc agree with /proc here: a sleep leading a session of
// its own and an unreaped zombie look the same through both, and fstat
// finds the descriptors /proc/self/fd lists. Not parallel, so that no
// other test opens descriptors meanwhile.
func TestProcessListingsAgree(t *testing.T) {
	leader := exec.Command("sleep", "30")
	leader.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, leader.Start())
	defer func() { _ = leader.Process.Kill(); _ = leader.Wait() }()
	zombie := exec.Command("true")
	require.NoError(t, zombie.Start())
	defer func() { _ = zombie.Wait() }()

	find := func(ps []procStat, pid int) procStat {
		i := slices.IndexFunc(ps, func(p procStat) bool { return p.pid == pid })
		if i < 0 {
			return procStat{}
		}
		return ps[i]
	}
	me := os.Getpid()
	wantLeader := procStat{pid: leader.Process.Pid, ppid: me, pgrp: leader.Process.Pid, sid: leader.Process.Pid, state: 'S', comm: "sleep"}
	deadline := time.Now().Add(5 * time.Second)
	for find(procfsStats(), zombie.Process.Pid).state != 'Z' || find(procfsStats(), leader.Process.Pid) != wantLeader {
		require.True(t, time.Now().Before(deadline), "the sleep sleeping in its own session and the zombie, in /proc within 5 s")
		time.Sleep(5 * time.Millisecond)
	}
	proc, ps := procfsStats(), psStats()
	assert.Equal(t, wantLeader, find(ps, leader.Process.Pid), "ps and getsid")
	z := find(proc, zombie.Process.Pid)
	assert.Equal(t, procStat{pid: zombie.Process.Pid, ppid: me, pgrp: z.pgrp, sid: z.sid, state: 'Z', comm: "true"}, z, "/proc")
	assert.Equal(t, z, find(ps, zombie.Process.Pid), "ps and getsid")
	self, psSelf := find(proc, me), find(ps, me)
	self.state, psSelf.state = 0, 0 // running while it reads /proc, waiting while ps runs
	assert.Equal(t, self, psSelf, "the test process")

	// /proc/self/fd also lists the descriptor reading it.
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	assert.Equal(t, len(ents), fstatFDs(t)+1, "descriptors by fstat, plus the one ReadDir used")
}
