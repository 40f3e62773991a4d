//go:build unix

package execengine_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The tests' view of the system's processes: /proc on Linux, as strict as
// it can be; elsewhere (macOS, the BSDs: no /proc) ps and getsid. Neither
// ever comes back empty: a listing without the test process itself panics,
// so that no check passes for lack of anything to look at.

type procStat struct {
	pid, ppid, pgrp, sid int
	state                byte
	comm                 string
}

// procStats lists every process of the system.
func procStats() []procStat {
	if runtime.GOOS == "linux" {
		return mustListSelf(procfsStats(), "/proc")
	}
	return mustListSelf(psStats(), "ps -A")
}

func mustListSelf(ps []procStat, source string) []procStat {
	for _, p := range ps {
		if p.pid == os.Getpid() {
			return ps
		}
	}
	panic(fmt.Sprintf("the test process %d is not in the %d processes %s lists: process checks would check nothing", os.Getpid(), len(ps), source))
}

// procfsStats reads /proc/<pid>/stat of every process.
func procfsStats() []procStat {
	dirs, _ := os.ReadDir("/proc")
	var out []procStat
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 4 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		sid, _ := strconv.Atoi(f[3])
		comm := string(b[bytes.IndexByte(b, '(')+1 : i])
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp, sid: sid, state: f[0][0], comm: comm})
	}
	return out
}

// psStats lists the processes with ps, and their sessions with getsid (ps
// has no session id column on macOS; -1 when getsid fails). One -o per
// column: BSD ps takes everything after "=" as the header.
func psStats() []procStat {
	out, err := exec.Command("ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "pgid=", "-o", "stat=", "-o", "ucomm=").Output()
	if err != nil {
		panic(fmt.Sprintf("ps -A: %v", err))
	}
	var ps []procStat
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		pgrp, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			panic(fmt.Sprintf("ps -A: bad line %q", line))
		}
		sid, err := unix.Getsid(pid)
		if err != nil {
			sid = -1
		}
		ps = append(ps, procStat{pid: pid, ppid: ppid, pgrp: pgrp, sid: sid, state: f[3][0], comm: strings.Join(f[4:], " ")})
	}
	return ps
}

// countFDs counts the test process's open file descriptors: the entries of
// /proc/self/fd on Linux (including the one reading it); elsewhere the
// descriptors below min(RLIMIT_NOFILE, 65536) that fstat accepts.
func countFDs(t *testing.T) int {
	t.Helper()
	if runtime.GOOS == "linux" {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	return fstatFDs(t)
}

func fstatFDs(t *testing.T) int {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	n := uint64(1 << 16)
	if uint64(lim.Cur) < n {
		n = uint64(lim.Cur)
	}
	open := 0
	var st syscall.Stat_t
	for fd := range int(n) {
		if syscall.Fstat(fd, &st) == nil {
			open++
		}
	}
	require.Positive(t, open, "fstat found no open descriptor, not even stdin")
	return open
}

// escapeSession returns a shell command that runs its arguments in a
// session of their own (setsid(1), else perl's POSIX::setsid, as on macOS),
// and a shell condition that holds once the process $p leads its own
// session: field 6 of /proc/$p/stat on Linux; elsewhere its process group
// (ps -o pgid), which setsid makes its pid. It skips the test when there
// is neither setsid nor perl.
func escapeSession(t *testing.T) (setsid, leads string) {
	t.Helper()
	setsid = "setsid"
	if _, err := exec.LookPath("setsid"); err != nil {
		if _, err := exec.LookPath("perl"); err != nil {
			t.Skip("neither setsid nor perl: a grandchild that leaves the session is not checked")
		}
		setsid = `perl -MPOSIX -e 'POSIX::setsid() >= 0 or die "setsid: $!"; exec @ARGV or die "exec: $!"'`
	}
	leads = `[ "$(ps -o pgid= -p "$p" | tr -d ' ')" = "$p" ]`
	if runtime.GOOS == "linux" {
		leads = `[ "$(cut -d' ' -f6 /proc/$p/stat)" = "$p" ]`
	}
	return setsid, leads
}
