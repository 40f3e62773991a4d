package execengine

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Command is what an execution runs. It is one of [Shell], [Exec], [Script]
// or [AWSCLI]; no other type implements it.
type Command interface {
	// String renders the command for people: logs, the started event, the CLI.
	String() string
	command()
}

// Shell runs Command through a shell as "<Shell> -c <Command>".
// The string is interpreted by the shell: quoting and injection are the
// caller's concern. Shell "" means "bash", as in the Rust crate.
type Shell struct {
	Command string
	Shell   string
}

// Exec runs Program with Args verbatim, never through a shell. A Program
// without a slash is looked up in PATH.
type Exec struct {
	Program string
	Args    []string
}

// Script runs the file at Path. With an Interpreter it runs
// "<Interpreter> <Path>". Without one it runs the file itself when it is
// executable (its shebang decides), else picks by extension (.sh bash,
// .py python3, .js node, .rb ruby, .pl perl), else sh. A relative Path is
// taken from the request's WorkingDir when that is set.
type Script struct {
	Path        string
	Interpreter string
}

// AWSCLI runs "aws <Service> <Operation> <Args…>", adding "--profile" and
// "--region" when set, with AWS_PAGER empty so the pager never blocks it.
type AWSCLI struct {
	Service   string
	Operation string
	Args      []string
	Profile   string
	Region    string
}

func (Shell) command()  {}
func (Exec) command()   {}
func (Script) command() {}
func (AWSCLI) command() {}

// String returns the command string as the shell gets it.
func (c Shell) String() string { return c.Command }

// String renders the program and its arguments, quoted as a shell would need.
func (c Exec) String() string { return joinArgs(append([]string{c.Program}, c.Args...)) }

// String renders the interpreter (if set) and the path.
func (c Script) String() string {
	if c.Interpreter != "" {
		return joinArgs([]string{c.Interpreter, c.Path})
	}
	return quoteArg(c.Path)
}

// String renders the aws command line the engine runs.
func (c AWSCLI) String() string { return joinArgs(awsArgs(c)) }

// joinArgs renders argv the way a POSIX shell would read it back.
func joinArgs(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteArg(a))
	}
	return b.String()
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Request describes one execution.
type Request struct {
	ID            uuid.UUID         // uuid.Nil: Execute assigns a new one
	Command       Command           // what to run; required
	Env           map[string]string // added to the inherited environment; a PATH here is searched first for the program
	WorkingDir    string            // "": the engine process's working directory
	Timeout       time.Duration     // 0: Config.DefaultTimeout; above Config.MaxTimeout is rejected
	Stdin         string            // fed to the child's stdin; empty: stdin is /dev/null
	OutputLogPath string            // also write this execution's output lines to this file (a regular file)
	Secrets       []string          // masked as Redacted in everything that leaves the engine; each at least MinSecretLen bytes
	Metadata      Metadata
	// Chunks: besides line events, deliver the output as it is read, as
	// EventStdoutChunk and EventStderrChunk events (for a UI that renders
	// "\r" progress and colours as a terminal would).
	Chunks bool
	// NoLineEvents: deliver chunk events only (Chunks is implied), no
	// stdout/stderr line events; stored output and log files are the same.
	// For a consumer that passes the bytes on as they are, such as a
	// terminal or the run command, on output of many short lines.
	NoLineEvents bool
	// Interactive: stdin stays open after the start (after Stdin, if set,
	// is written) for [Engine.WriteStdin] until [Engine.CloseStdin].
	Interactive bool
	// PTY: run the child on a pseudo-terminal of this size and type (see
	// [PTY]); implies Chunks. nil: pipes.
	PTY *PTY
	// EventHandler receives this execution's events, besides
	// Config.EventHandler (after it, with the same Seq). Not serialised.
	EventHandler EventHandler
}

// Metadata is the caller's bookkeeping; the engine stores it and never reads it.
type Metadata struct {
	Source         string
	ConversationID uuid.NullUUID
	Tags           map[string]string
}

// Status is the lifecycle state of an execution:
// pending → running → completed | failed | timeout | cancelled.
type Status string

// The statuses. The last four are terminal.
const (
	StatusPending   Status = "pending"   // accepted, waiting for a slot or about to start
	StatusRunning   Status = "running"   // the process is running
	StatusCompleted Status = "completed" // exited with code 0
	StatusFailed    Status = "failed"    // non-zero exit, spawn failure, output limit, I/O error
	StatusTimeout   Status = "timeout"   // killed because its timeout passed
	StatusCancelled Status = "cancelled" // cancelled by Cancel or Close
)

// IsTerminal reports whether s is a final status.
func (s Status) IsTerminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusTimeout, StatusCancelled:
		return true
	}
	return false
}

// Result is the state of an execution: final once Status is terminal.
type Result struct {
	ID          uuid.UUID
	Status      Status
	Success     bool   // ExitCode == 0 and Status == StatusCompleted
	ExitCode    int    // -1 when the process has no exit code (never started, killed by a signal)
	Signal      string // e.g. "SIGKILL" when a signal ended it, else ""
	Stdout      string // exact bytes the child wrote (within the output limit)
	Stderr      string
	StdoutFile  string // StreamToFile: where the whole stream went, else ""
	StderrFile  string
	Truncated   bool // some output was not kept in memory
	PID         int
	SubmittedAt time.Time     // when Execute accepted it
	StartedAt   time.Time     // when the process started; zero if it never did
	CompletedAt time.Time     // zero until terminal
	Duration    time.Duration // CompletedAt − StartedAt; so far, while running; 0 if it never started
	Error       string        // why it is not a success, else ""
	ErrorCode   string        // machine-readable reason (CodeTimeout, …), else ""
	// OutputIncomplete: the engine stopped reading at the drain deadline
	// while a process outside the execution's session still held its
	// output pipes, so output written after that is not in the Result.
	// The execution is not a success (CodeOutputIncomplete) unless it
	// failed for another reason first.
	OutputIncomplete bool

	cause error // why the start failed, for Err; not serialised
}

// Err returns nil for a success. Otherwise it returns an error that explains
// the result: an [*ExitError] for a command that failed on its own,
// [context.DeadlineExceeded] for a timeout, [context.Canceled] for a cancel
// (also [ErrClosed] when Close cancelled it), [ErrOutputSizeExceeded] for
// FailExecution, [ErrSpawnFailed] when the process could not start (with
// its cause, such as [os/exec.ErrNotFound], on a Result from the engine; a
// Result decoded from JSON has only the message). Match them with
// [errors.Is] and [errors.As].
func (r Result) Err() error { return resultError(&r) }

// Summary is one line of [Engine.List].
type Summary struct {
	ID        uuid.UUID
	Status    Status
	StartedAt time.Time     // zero until the process started
	Duration  time.Duration // 0 until terminal
}
