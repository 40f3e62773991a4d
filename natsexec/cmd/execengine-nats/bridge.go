package main

import (
	"context"
	"fmt"
	"io"
)

func runBridge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "execengine-nats bridge: not yet")
	return 2
}
