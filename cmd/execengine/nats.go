package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// natsCommand is the companion command that serves "execengine worker" and
// "execengine bridge --nats": it lives in the natsexec module, so that
// this command and the library never depend on NATS.
const natsCommand = "execengine-nats"

// errNoNATSCommand: the companion command is not installed.
var errNoNATSCommand = errors.New(natsCommand + " not found next to this program or in PATH; install it with: " +
	"go install github.com/escher-dbai/execengine/natsexec/cmd/execengine-nats@latest")

// wantsNATS reports whether bridge args ask for the cluster (--nats).
func wantsNATS(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "nats" {
			return true
		}
	}
	return false
}

// findNATSCommand looks for the companion next to this executable, then in PATH.
func findNATSCommand() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), natsCommand+exeSuffix)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(natsCommand); err == nil {
		return p, nil
	}
	return "", errNoNATSCommand
}

// runNATS runs "execengine-nats sub args…" in place of this command.
func runNATS(sub string, args []string, stderr io.Writer) int {
	path, err := findNATSCommand()
	if err != nil {
		fmt.Fprintf(stderr, "execengine %s: %v\n", sub, err)
		return 127
	}
	return execCommand(path, append([]string{natsCommand, sub}, args...), stderr)
}
