package execengine

import "fmt"

// ValidateRequest runs the checks of [Engine.Execute] that do not depend on
// the machine: a command of a known type that is not empty, a timeout that
// is not negative nor above c.MaxTimeout, environment names and values and
// arguments without NUL. It does not look at the filesystem (WorkingDir,
// Script.Path, OutputLogPath) nor at ids in memory: a program that queues
// requests for an engine elsewhere (natsexec) rejects what would certainly
// fail there, and the engine that runs the request checks the rest. The
// error matches [ErrInvalidRequest], and [ErrTimeoutTooLarge] where it applies.
func (c Config) ValidateRequest(req Request) error {
	switch {
	case req.Timeout < 0:
		return invalid("timeout %v is negative", req.Timeout)
	case req.Timeout > c.MaxTimeout:
		return fmt.Errorf("%w: %v exceeds MaxTimeout %v", ErrTimeoutTooLarge, req.Timeout, c.MaxTimeout)
	}
	if p, ok := req.Command.(*Script); ok && p != nil {
		req.Command = *p
	}
	var argv []string
	if s, ok := req.Command.(Script); ok {
		if s.Path == "" {
			return invalid("script path is empty")
		}
		argv = []string{s.Interpreter, s.Path} // whether it exists is the runner's concern
	} else {
		var err error
		if argv, _, err = commandArgv(req.Command, ""); err != nil {
			return err
		}
	}
	return checkArgvEnv(argv, req.Env)
}
