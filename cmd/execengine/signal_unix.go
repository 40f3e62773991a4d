//go:build unix

package main

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// signalNumber parses a Result.Signal name back to this system's number
// for that signal: "SIGUSR1" is 10 on Linux and 30 on macOS. Signals the
// library has no name for come as "SIG34".
func signalNumber(name string) (int, bool) {
	if digits, ok := strings.CutPrefix(name, "SIG"); ok {
		if n, err := strconv.Atoi(digits); err == nil && n > 0 {
			return n, true
		}
	}
	if s := unix.SignalNum(name); s != 0 {
		return int(s), true
	}
	return 0, false
}
