//go:build !unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
)

const exeSuffix = ".exe"

// execCommand runs path as a child with this process's stdio and returns
// its exit code (there is no exec on Windows). Ctrl-C reaches both
// processes through the console; this one waits for the child.
func execCommand(path string, argv []string, stderr io.Writer) int {
	signal.Ignore(os.Interrupt)
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "execengine: running %s: %v\n", path, err)
		return 127
	}
	return 0
}
