//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

const exeSuffix = ""

// execCommand replaces this process with path: signals, stdio and the
// exit code are the companion's own.
func execCommand(path string, argv []string, stderr io.Writer) int {
	err := syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(stderr, "execengine: running %s: %v\n", path, err)
	return 127
}
