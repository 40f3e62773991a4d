package execengine

import (
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"
)

// OversizedOutputStrategy says what happens when a stream writes more than
// Config.MaxOutputSizeBytes.
type OversizedOutputStrategy string

// The strategies; their JSON form is the Rust crate's (PascalCase).
const (
	// TruncateWithWarning keeps the first MaxOutputSizeBytes bytes, appends
	// one warning line, sets Result.Truncated and lets the command run on,
	// draining and discarding the rest.
	TruncateWithWarning OversizedOutputStrategy = "TruncateWithWarning"
	// FailExecution stops the execution's processes and ends it failed, with
	// an error matching ErrOutputSizeExceeded.
	FailExecution OversizedOutputStrategy = "FailExecution"
	// StreamToFile keeps the first MaxOutputSizeBytes bytes in memory and
	// writes the whole stream to a file (in LogDir, else the OS temp dir,
	// mode 0600) named in Result.StdoutFile / StderrFile. The file is made
	// only for a stream that goes over the limit.
	StreamToFile OversizedOutputStrategy = "StreamToFile"
)

// Config configures an [Engine]. Start from [DefaultConfig]: the zero
// Config is not valid.
type Config struct {
	DefaultTimeout          time.Duration // used when Request.Timeout is 0; default 5m
	MaxTimeout              time.Duration // larger request timeouts are rejected; default 1h
	StreamOutput            bool          // deliver stdout/stderr events, one per line; default true
	LogDir                  string        // "": no per-execution log files; else <LogDir>/<id>.log
	MaxConcurrentExecutions int           // running at once; default 100
	MaxQueuedExecutions     int           // 0: Execute fails fast at the limit; >0: that many wait, FIFO, pending
	MaxInMemoryExecutions   int           // cleanup keeps at most this many; default 1000
	// MaxRetainedOutputBytes bounds the output (Stdout + Stderr) that
	// terminal executions keep in memory: with EnableAutoCleanup, when an
	// execution ends above it, the oldest terminal executions are removed
	// until it fits; the newest stays, however large. Default 256 MiB.
	MaxRetainedOutputBytes  int64
	ExecutionRetention      time.Duration           // cleanup removes terminal executions older than this; default 1h
	CleanupInterval         time.Duration           // how often the cleanup ticker runs; default 1m
	EnableAutoCleanup       bool                    // run the cleanup ticker; default true
	MaxOutputSizeBytes      int64                   // per stream; default 10 MiB
	OversizedOutputStrategy OversizedOutputStrategy // default TruncateWithWarning
	KillGracePeriod         time.Duration           // SIGTERM to the group, then SIGKILL after this; default 5s
	EventHandler            EventHandler            // nil: no events
	Logger                  *slog.Logger            // nil: slog.Default()
	// Secrets are masked as Redacted in every execution; each at least
	// MinSecretLen bytes. See the README's Secrets section.
	Secrets []string
	// SecretEnvPatterns: the values of Request.Env entries whose names match
	// one of these (path.Match, case-insensitive) are secrets too. nil:
	// DefaultSecretEnvPatterns; empty non-nil: none.
	SecretEnvPatterns []string
}

// DefaultConfig returns the defaults of the Rust crate's implementation,
// plus this port's additions (no queue, 1m cleanup, 5s kill grace period).
func DefaultConfig() Config {
	return Config{
		DefaultTimeout:          5 * time.Minute,
		MaxTimeout:              time.Hour,
		StreamOutput:            true,
		MaxConcurrentExecutions: 100,
		MaxInMemoryExecutions:   1000,
		MaxRetainedOutputBytes:  256 << 20,
		ExecutionRetention:      time.Hour,
		CleanupInterval:         time.Minute,
		EnableAutoCleanup:       true,
		MaxOutputSizeBytes:      10 << 20,
		OversizedOutputStrategy: TruncateWithWarning,
		KillGracePeriod:         5 * time.Second,
	}
}

// Validate reports every invalid field, each naming its value. The error
// matches [ErrInvalidConfig].
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	if c.DefaultTimeout <= 0 {
		bad("DefaultTimeout must be positive, got %v", c.DefaultTimeout)
	}
	if c.MaxTimeout <= 0 {
		bad("MaxTimeout must be positive, got %v", c.MaxTimeout)
	}
	if c.DefaultTimeout > c.MaxTimeout && c.MaxTimeout > 0 {
		bad("DefaultTimeout %v exceeds MaxTimeout %v", c.DefaultTimeout, c.MaxTimeout)
	}
	if c.MaxConcurrentExecutions <= 0 {
		bad("MaxConcurrentExecutions must be positive, got %d", c.MaxConcurrentExecutions)
	}
	if c.MaxQueuedExecutions < 0 {
		bad("MaxQueuedExecutions must not be negative, got %d", c.MaxQueuedExecutions)
	}
	if c.MaxInMemoryExecutions <= 0 {
		bad("MaxInMemoryExecutions must be positive, got %d", c.MaxInMemoryExecutions)
	}
	if c.MaxRetainedOutputBytes <= 0 {
		bad("MaxRetainedOutputBytes must be positive, got %d", c.MaxRetainedOutputBytes)
	}
	if c.ExecutionRetention < 0 {
		bad("ExecutionRetention must not be negative, got %v", c.ExecutionRetention)
	}
	if c.EnableAutoCleanup && c.CleanupInterval <= 0 {
		bad("CleanupInterval must be positive when EnableAutoCleanup is set, got %v", c.CleanupInterval)
	}
	if c.MaxOutputSizeBytes <= 0 {
		bad("MaxOutputSizeBytes must be positive, got %d", c.MaxOutputSizeBytes)
	}
	switch c.OversizedOutputStrategy {
	case TruncateWithWarning, FailExecution, StreamToFile:
	default:
		bad("OversizedOutputStrategy %q is not one of TruncateWithWarning, FailExecution, StreamToFile", c.OversizedOutputStrategy)
	}
	if c.KillGracePeriod < 0 {
		bad("KillGracePeriod must not be negative, got %v", c.KillGracePeriod)
	}
	if err := checkSecrets("Secrets", c.Secrets); err != nil {
		bad("%v", err)
	}
	for _, p := range c.SecretEnvPatterns {
		if _, err := path.Match(p, ""); err != nil {
			bad("SecretEnvPatterns: %q: %v", p, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(errs, "; "))
}
