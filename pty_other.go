//go:build !linux && !darwin && !freebsd

package execengine

import (
	"errors"
	"os"
	"os/exec"
)

// ptySupported: PTY requests are refused here with ErrInvalidRequest. On
// Windows a ConPTY may follow; until then a Windows child runs on pipes
// only.
const ptySupported = false

var errNoPTY = errors.New("execengine: no pseudo-terminals on this platform")

func openPTY(uint16, uint16) (*pipes, error)    { return nil, errNoPTY }
func setTerminal(*exec.Cmd, *os.File)           {}
func setWinsize(*os.File, uint16, uint16) error { return errNoPTY }
func ptyEnd(error) bool                         { return false }
