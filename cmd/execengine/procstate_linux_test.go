package main

import (
	"os/exec"
	"testing"
	"time"
)

// psState, used where there is no /proc, says what /proc says: for a
// sleeping process, a zombie and a pid that does not exist.
func TestPsStateAgreesWithProc(t *testing.T) {
	t.Parallel()
	sleep := exec.Command("sleep", "30")
	zombie := exec.Command("true")
	for _, c := range []*exec.Cmd{sleep, zombie} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait(); _ = zombie.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		zs, _, _, _ := procState(zombie.Process.Pid)
		ss, _, _, _ := procState(sleep.Process.Pid)
		if zs == 'Z' && ss == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %c and %c after 5 s, want Z and S", zs, ss)
		}
	}
	for _, pid := range []int{sleep.Process.Pid, zombie.Process.Pid, 1<<31 - 1} {
		st, pg, ok, err := procState(pid)
		pst, ppg, pok, perr := psState(pid)
		if err != nil || perr != nil || st != pst || pg != ppg || ok != pok {
			t.Errorf("pid %d: /proc: %c %d %v %v; ps: %c %d %v %v", pid, st, pg, ok, err, pst, ppg, pok, perr)
		}
		if want := pid != 1<<31-1; ok != want {
			t.Errorf("pid %d: ok %v, want %v", pid, ok, want)
		}
	}
}
