//go:build !unix

package main

import (
	"errors"
	"fmt"
	"runtime"
)

// procState: these tests read process states on unix only.
func procState(int) (state byte, pgid int, ok bool, err error) {
	return 0, 0, false, fmt.Errorf("process states on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
