package execengine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// plan is a validated request, reduced to what starting the process needs.
// It is built by Execute, so the caller's maps and slices are never read later.
type plan struct {
	argv     []string
	env      []string // nil: inherit
	dir      string
	stdin    string
	chunks   bool // chunk events
	noLines  bool // no line events
	timeout  time.Duration
	logPaths []string
	desc     string
}

// scriptInterpreters picks an interpreter by extension for a Script that
// has none and is not executable.
var scriptInterpreters = map[string]string{
	".sh": "bash", ".bash": "bash", ".py": "python3", ".js": "node", ".mjs": "node",
	".rb": "ruby", ".pl": "perl",
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}

// prepare validates req and builds its plan. It has no side effects.
func (e *Engine) prepare(req *Request) (*plan, error) {
	p := &plan{dir: req.WorkingDir, stdin: req.Stdin, timeout: req.Timeout,
		chunks: req.Chunks || req.NoLineEvents, noLines: req.NoLineEvents}
	switch {
	case req.Timeout < 0:
		return nil, invalid("timeout %v is negative", req.Timeout)
	case req.Timeout > e.cfg.MaxTimeout:
		return nil, fmt.Errorf("%w: %v exceeds MaxTimeout %v", ErrTimeoutTooLarge, req.Timeout, e.cfg.MaxTimeout)
	case req.Timeout == 0:
		p.timeout = e.cfg.DefaultTimeout
	}
	if p.dir != "" {
		fi, err := os.Stat(p.dir)
		if err != nil {
			return nil, invalid("working directory %q: %v", p.dir, statReason(err))
		}
		if !fi.IsDir() {
			return nil, invalid("working directory %q is not a directory", p.dir)
		}
	}
	cmd := req.Command
	argv, extraEnv, err := commandArgv(cmd, p.dir)
	if err != nil {
		return nil, err
	}
	if err := checkArgvEnv(argv, req.Env); err != nil {
		return nil, err
	}
	p.argv = argv
	p.desc = cmd.String()

	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	if path, ok := requestPath(req.Env); ok && !strings.ContainsAny(argv[0], pathSeparators) {
		// exec.Command looks a bare name up in this process's PATH; a PATH
		// the request sets comes first (a virtualenv, a tools dir).
		if found, ok := lookPathIn(argv[0], path, req.Env); ok {
			p.argv[0] = found
		}
	}
	if req.PTY != nil {
		term, err := ptyEnv(req.PTY)
		if err != nil {
			return nil, err
		}
		p.chunks = true
		extraEnv = append([]string{term}, extraEnv...) // before Env, which may set its own
	}
	if len(keys) > 0 || len(extraEnv) > 0 {
		slices.Sort(keys)
		p.env = os.Environ()
		p.env = append(p.env, extraEnv...)
		for _, k := range keys {
			p.env = append(p.env, k+"="+req.Env[k]) // exec.Cmd keeps the last of duplicates
		}
	}

	if e.cfg.LogDir != "" {
		p.logPaths = append(p.logPaths, filepath.Join(e.cfg.LogDir, req.ID.String()+".log"))
	}
	if req.OutputLogPath != "" {
		p.logPaths = append(p.logPaths, req.OutputLogPath)
	}
	for _, path := range p.logPaths {
		if err := checkLogTarget(path); err != nil {
			return nil, invalid("output log path %v", err)
		}
	}
	return p, nil
}

// commandArgv turns a Command into argv and the environment entries it adds.
func commandArgv(cmd Command, dir string) (argv, env []string, err error) {
	switch c := cmd.(type) {
	case *Shell:
		if c != nil {
			return commandArgv(*c, dir)
		}
	case *Exec:
		if c != nil {
			return commandArgv(*c, dir)
		}
	case *Script:
		if c != nil {
			return commandArgv(*c, dir)
		}
	case *AWSCLI:
		if c != nil {
			return commandArgv(*c, dir)
		}
	case Shell:
		if strings.TrimSpace(c.Command) == "" {
			return nil, nil, invalid("shell command %q is empty", c.Command)
		}
		return shellArgv(c.Shell, c.Command), nil, nil
	case Exec:
		if c.Program == "" {
			return nil, nil, invalid("exec program is empty (args %q)", c.Args)
		}
		return append([]string{c.Program}, c.Args...), nil, nil
	case Script:
		return scriptArgv(c, dir)
	case AWSCLI:
		if c.Service == "" || c.Operation == "" {
			return nil, nil, invalid("aws cli service %q and operation %q must both be set", c.Service, c.Operation)
		}
		return awsArgs(c), []string{"AWS_PAGER="}, nil
	}
	return nil, nil, invalid("command is %#v, want a Shell, Exec, Script or AWSCLI", cmd)
}

// shellArgv runs command with shell ("" is the platform's default) in the
// syntax the shell's name calls for; the same rule on every platform.
func shellArgv(shell, command string) []string {
	if shell == "" {
		shell = defaultShell
	}
	switch shellName(shell) {
	case "cmd":
		return []string{shell, "/d", "/s", "/c", command}
	case "powershell", "pwsh":
		return []string{shell, "-NoProfile", "-NonInteractive", "-Command", command}
	}
	return []string{shell, "-c", command}
}

// shellName is a shell's program name: no directory, no .exe, lower case.
func shellName(shell string) string {
	name := strings.ToLower(shell[strings.LastIndexAny(shell, `/\`)+1:])
	return strings.TrimSuffix(name, ".exe")
}

func scriptArgv(c Script, dir string) (argv, env []string, err error) {
	if c.Path == "" {
		return nil, nil, invalid("script path is empty")
	}
	path := c.Path
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, nil, invalid("script path %q: %v", c.Path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, invalid("script %q: %v", path, statReason(err))
	}
	if fi.IsDir() {
		return nil, nil, invalid("script %q is a directory", path)
	}
	if argv := platformScript(path); argv != nil && c.Interpreter == "" {
		return argv, nil, nil
	}
	switch {
	case c.Interpreter != "":
		return []string{c.Interpreter, path}, nil, nil
	case fi.Mode()&0o111 != 0:
		return []string{path}, nil, nil
	}
	return []string{interpreterFor(path), path}, nil, nil
}

func awsArgs(c AWSCLI) []string {
	argv := append([]string{"aws", c.Service, c.Operation}, c.Args...)
	if c.Profile != "" {
		argv = append(argv, "--profile", c.Profile)
	}
	if c.Region != "" {
		argv = append(argv, "--region", c.Region)
	}
	return argv
}

func statReason(err error) string {
	switch {
	case os.IsNotExist(err):
		return "does not exist"
	case os.IsPermission(err):
		return "permission denied"
	}
	return err.Error()
}

// devNull is the stdin of children given none. Left nil, os/exec would
// open and close /dev/null for every command; one read-only descriptor,
// kept for the life of the process, serves them all.
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil // os/exec opens its own, and reports the error
	}
	return f
})

// newCmd builds the exec.Cmd that runs argv for a plan, on the child's
// ends of the pipes.
func newCmd(p *plan, argv []string, pp *pipes) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.SysProcAttr = sysProcAttr()
	if f := devNull(); f != nil {
		cmd.Stdin = f
	}
	if pp.tty {
		setTerminal(cmd, pp.child[0])
		return cmd
	}
	cmd.Stdout, cmd.Stderr = pp.child[0], pp.child[1]
	if pp.stdin != nil {
		cmd.Stdin = pp.child[2]
	}
	return cmd
}

// startCmd starts the plan's process. A file without a "#!" line fails
// with ENOEXEC; as execvp and shells do, it is then run by the interpreter
// its extension names, else by sh.
func (e *Engine) startCmd(p *plan, pp *pipes) (*exec.Cmd, error) {
	cmd := newCmd(p, p.argv, pp)
	err := e.spawner.run(cmd)
	if errors.Is(err, syscall.ENOEXEC) {
		cmd = newCmd(p, append([]string{interpreterFor(cmd.Path), cmd.Path}, p.argv[1:]...), pp)
		err = e.spawner.run(cmd)
	}
	return cmd, err
}

// interpreterFor picks the interpreter of a script by its extension, else sh.
func interpreterFor(path string) string {
	if i := scriptInterpreters[strings.ToLower(filepath.Ext(path))]; i != "" {
		return i
	}
	return "sh"
}

// checkArgvEnv refuses arguments and environment entries the OS cannot
// pass. An environment value is never shown: it may be a secret.
func checkArgvEnv(argv []string, env map[string]string) error {
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return invalid("argument %q contains a NUL byte", a)
		}
	}
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return invalid("environment variable name %q must be non-empty, without '=' or NUL", k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return invalid("environment variable %q: its value contains a NUL byte", k)
		}
	}
	return nil
}
