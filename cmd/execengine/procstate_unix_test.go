//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// procState returns the state letter and the process group of process
// pid, ok false when there is none: from /proc/<pid>/stat on Linux, else
// (macOS, the BSDs) from ps. An error means the state could not be read.
func procState(pid int) (state byte, pgid int, ok bool, err error) {
	if runtime.GOOS == "linux" {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parens.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) < 3 {
			return 0, 0, false, fmt.Errorf("/proc/%d/stat: %q", pid, data)
		}
		pgid, err := strconv.Atoi(f[2])
		return f[0][0], pgid, true, err
	}
	return psState(pid)
}

// psState is procState through ps, for systems without /proc.
func psState(pid int) (state byte, pgid int, ok bool, err error) {
	// One -o per column: BSD ps takes everything after "=" as the header.
	out, err := exec.Command("ps", "-o", "stat=", "-o", "pgid=", "-p", strconv.Itoa(pid)).Output()
	f := strings.Fields(string(out))
	var exit *exec.ExitError
	switch {
	case len(f) == 0 && errors.As(err, &exit) && exit.ExitCode() == 1:
		return 0, 0, false, nil // no such process
	case err != nil:
		return 0, 0, false, fmt.Errorf("ps -p %d: %w", pid, err)
	case len(f) != 2:
		return 0, 0, false, fmt.Errorf("ps -p %d: %q", pid, out)
	}
	pgid, err = strconv.Atoi(f[1])
	return f[0][0], pgid, true, err
}
