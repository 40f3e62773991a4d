package execengine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The JSON forms follow the Rust crate's serde wire shape: snake_case
// fields, Option::None as null, commands tagged by "type", events by
// "event_type", RFC 3339 UTC timestamps, durations as {"secs","nanos"}
// plus duration_ms.

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonNilArgs(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nilIfNone(a []string) []string {
	if len(a) == 0 {
		return nil
	}
	return a
}

type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339Nano) + `"`), nil
}

func optTime(t time.Time) *jsonTime {
	if t.IsZero() {
		return nil
	}
	return (*jsonTime)(&t)
}

// rustDuration is std::time::Duration as serde writes it.
type rustDuration struct {
	Secs  int64 `json:"secs"`
	Nanos int64 `json:"nanos"`
}

func toRustDuration(d time.Duration) rustDuration {
	return rustDuration{Secs: int64(d / time.Second), Nanos: int64(d % time.Second)}
}

func (d rustDuration) duration() time.Duration {
	return time.Duration(d.Secs)*time.Second + time.Duration(d.Nanos)
}

type shellJSON struct {
	Type    string  `json:"type"`
	Command string  `json:"command"`
	Shell   *string `json:"shell"`
}

type execJSON struct {
	Type    string   `json:"type"`
	Program string   `json:"program"`
	Args    []string `json:"args"`
}

type scriptJSON struct {
	Type        string  `json:"type"`
	Path        string  `json:"path"`
	Interpreter *string `json:"interpreter"`
}

type awsJSON struct {
	Type      string   `json:"type"`
	Service   string   `json:"service"`
	Operation string   `json:"operation"`
	Args      []string `json:"args"`
	Profile   *string  `json:"profile"`
	Region    *string  `json:"region"`
}

// MarshalJSON writes {"type":"shell","command":…,"shell":…}.
func (c Shell) MarshalJSON() ([]byte, error) {
	return json.Marshal(shellJSON{"shell", c.Command, optString(c.Shell)})
}

// MarshalJSON writes {"type":"exec","program":…,"args":[…]}.
func (c Exec) MarshalJSON() ([]byte, error) {
	return json.Marshal(execJSON{"exec", c.Program, nonNilArgs(c.Args)})
}

// MarshalJSON writes {"type":"script","path":…,"interpreter":…}.
func (c Script) MarshalJSON() ([]byte, error) {
	return json.Marshal(scriptJSON{"script", c.Path, optString(c.Interpreter)})
}

// MarshalJSON writes {"type":"aws_cli","service":…,"operation":…,"args":[…],"profile":…,"region":…}.
func (c AWSCLI) MarshalJSON() ([]byte, error) {
	return json.Marshal(awsJSON{"aws_cli", c.Service, c.Operation, nonNilArgs(c.Args), optString(c.Profile), optString(c.Region)})
}

// UnmarshalCommand decodes a command in its tagged JSON form.
func UnmarshalCommand(data []byte) (Command, error) {
	var tag struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(data, &tag); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if tag.Type == nil {
		return nil, fmt.Errorf("command: missing field \"type\" (one of shell, exec, script, aws_cli)")
	}
	switch *tag.Type {
	case "shell":
		var j shellJSON
		err := json.Unmarshal(data, &j)
		return Shell{j.Command, derefString(j.Shell)}, wrapCommandErr(err)
	case "exec":
		var j execJSON
		err := json.Unmarshal(data, &j)
		return Exec{j.Program, nilIfNone(j.Args)}, wrapCommandErr(err)
	case "script":
		var j scriptJSON
		err := json.Unmarshal(data, &j)
		return Script{j.Path, derefString(j.Interpreter)}, wrapCommandErr(err)
	case "aws_cli":
		var j awsJSON
		err := json.Unmarshal(data, &j)
		return AWSCLI{j.Service, j.Operation, nilIfNone(j.Args), derefString(j.Profile), derefString(j.Region)}, wrapCommandErr(err)
	}
	return nil, fmt.Errorf("command: unknown type %q (want shell, exec, script or aws_cli)", *tag.Type)
}

func wrapCommandErr(err error) error {
	if err != nil {
		return fmt.Errorf("command: %w", err)
	}
	return nil
}

type metadataJSON struct {
	Source         *string           `json:"source"`
	ConversationID uuid.NullUUID     `json:"conversation_id"`
	Tags           map[string]string `json:"tags"`
}

// MarshalJSON writes {"source":…,"conversation_id":…,"tags":{…}}.
func (m Metadata) MarshalJSON() ([]byte, error) {
	tags := m.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return json.Marshal(metadataJSON{optString(m.Source), m.ConversationID, tags})
}

// UnmarshalJSON reads the form MarshalJSON writes; every field may be absent.
func (m *Metadata) UnmarshalJSON(data []byte) error {
	var j metadataJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*m = Metadata{derefString(j.Source), j.ConversationID, nilIfEmpty(j.Tags)}
	return nil
}

type requestJSON struct {
	ID            uuid.UUID         `json:"id"`
	Command       json.RawMessage   `json:"command"`
	Env           map[string]string `json:"env"`
	WorkingDir    *string           `json:"working_dir"`
	TimeoutMS     *int64            `json:"timeout_ms"`
	Stdin         string            `json:"stdin,omitempty"`
	OutputLogPath *string           `json:"output_log_path"`
	Metadata      Metadata          `json:"metadata"`
	Secrets       []string          `json:"secrets,omitempty"`
}

// MarshalJSON writes the Rust ExecutionRequest shape (timeout_ms null when
// Timeout is 0); "stdin" is added only when set.
func (r Request) MarshalJSON() ([]byte, error) {
	j := requestJSON{ID: r.ID, Env: r.Env, WorkingDir: optString(r.WorkingDir), Stdin: r.Stdin,
		OutputLogPath: optString(r.OutputLogPath), Metadata: r.Metadata, Secrets: r.Secrets}
	if j.Env == nil {
		j.Env = map[string]string{}
	}
	if r.Timeout != 0 {
		ms := r.Timeout.Milliseconds()
		j.TimeoutMS = &ms
	}
	if r.Command != nil {
		c, err := json.Marshal(r.Command)
		if err != nil {
			return nil, err
		}
		j.Command = c
	} else {
		j.Command = json.RawMessage("null")
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the Rust ExecutionRequest shape. "command" is
// required; an absent "id" leaves uuid.Nil (Execute assigns one); a null or
// absent "timeout_ms" means the default timeout.
func (r *Request) UnmarshalJSON(data []byte) error {
	var j requestJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if len(j.Command) == 0 || string(j.Command) == "null" {
		return fmt.Errorf("request: missing field \"command\"")
	}
	cmd, err := UnmarshalCommand(j.Command)
	if err != nil {
		return err
	}
	*r = Request{ID: j.ID, Command: cmd, Env: nilIfEmpty(j.Env), WorkingDir: derefString(j.WorkingDir),
		Stdin: j.Stdin, OutputLogPath: derefString(j.OutputLogPath), Metadata: j.Metadata, Secrets: j.Secrets}
	if j.TimeoutMS != nil {
		r.Timeout = time.Duration(*j.TimeoutMS) * time.Millisecond
	}
	return nil
}

// UnmarshalJSON accepts the lowercase names and, as the Rust crate may
// send them, PascalCase ones.
func (s *Status) UnmarshalJSON(data []byte) error {
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return err
	}
	st := Status(strings.ToLower(str))
	switch st {
	case StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusTimeout, StatusCancelled:
		*s = st
		return nil
	}
	return fmt.Errorf("unknown status %q", str)
}

type resultJSON struct {
	ID          uuid.UUID    `json:"id"`
	Status      Status       `json:"status"`
	Success     bool         `json:"success"`
	ExitCode    int          `json:"exit_code"`
	Signal      *string      `json:"signal"`
	Stdout      string       `json:"stdout"`
	Stderr      string       `json:"stderr"`
	StdoutFile  *string      `json:"stdout_file"`
	StderrFile  *string      `json:"stderr_file"`
	Truncated   bool         `json:"truncated"`
	PID         int          `json:"pid"`
	SubmittedAt *jsonTime    `json:"submitted_at"`
	StartedAt   *jsonTime    `json:"started_at"`
	CompletedAt *jsonTime    `json:"completed_at"`
	Duration    rustDuration `json:"duration"`
	DurationMS  int64        `json:"duration_ms"`
	Error       *string      `json:"error"`
	ErrorCode   *string      `json:"error_code"`
	// OutputIncomplete is written only when true: the crate's shape has no such field.
	OutputIncomplete bool `json:"output_incomplete,omitempty"`
}

type resultJSONIn struct {
	resultJSON
	SubmittedAt *time.Time `json:"submitted_at"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

// MarshalJSON writes the Rust ExecutionResult shape plus this port's fields.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{
		ID: r.ID, Status: r.Status, Success: r.Success, ExitCode: r.ExitCode, Signal: optString(r.Signal),
		Stdout: r.Stdout, Stderr: r.Stderr, StdoutFile: optString(r.StdoutFile), StderrFile: optString(r.StderrFile),
		Truncated: r.Truncated, PID: r.PID, SubmittedAt: optTime(r.SubmittedAt), StartedAt: optTime(r.StartedAt),
		CompletedAt: optTime(r.CompletedAt), Duration: toRustDuration(r.Duration), DurationMS: r.Duration.Milliseconds(),
		Error: optString(r.Error), ErrorCode: optString(r.ErrorCode), OutputIncomplete: r.OutputIncomplete,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (r *Result) UnmarshalJSON(data []byte) error {
	var j resultJSONIn
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	t := func(p *time.Time) time.Time {
		if p == nil {
			return time.Time{}
		}
		return *p
	}
	*r = Result{
		ID: j.ID, Status: j.Status, Success: j.Success, ExitCode: j.ExitCode, Signal: derefString(j.Signal),
		Stdout: j.Stdout, Stderr: j.Stderr, StdoutFile: derefString(j.StdoutFile), StderrFile: derefString(j.StderrFile),
		Truncated: j.Truncated, PID: j.PID, SubmittedAt: t(j.SubmittedAt), StartedAt: t(j.StartedAt),
		CompletedAt: t(j.CompletedAt), Duration: j.Duration.duration(),
		Error: derefString(j.Error), ErrorCode: derefString(j.ErrorCode), OutputIncomplete: j.OutputIncomplete,
	}
	return nil
}

// MarshalJSON writes {"id","status","started_at","duration","duration_ms"};
// duration is null until the execution is terminal.
func (s Summary) MarshalJSON() ([]byte, error) {
	j := struct {
		ID         uuid.UUID     `json:"id"`
		Status     Status        `json:"status"`
		StartedAt  *jsonTime     `json:"started_at"`
		Duration   *rustDuration `json:"duration"`
		DurationMS *int64        `json:"duration_ms"`
	}{ID: s.ID, Status: s.Status, StartedAt: optTime(s.StartedAt)}
	if s.Status.IsTerminal() {
		d, ms := toRustDuration(s.Duration), s.Duration.Milliseconds()
		j.Duration, j.DurationMS = &d, &ms
	}
	return json.Marshal(j)
}

// MarshalJSON writes the Rust ExecutionEvent shape: "event_type", the
// fields of that type, "timestamp", and this port's "seq".
func (ev Event) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"event_type":   ev.Type,
		"execution_id": ev.ExecutionID,
		"seq":          ev.Seq,
		"timestamp":    jsonTime(ev.Timestamp),
	}
	switch ev.Type {
	case EventStarted:
		m["command"] = ev.Command
	case EventStdout, EventStderr:
		m["line"] = ev.Line
	case EventFailed:
		m["error"] = ev.Error
		m["result"] = ev.Result
	case EventTimeout:
		m["timeout_ms"] = ev.TimeoutMS
		m["result"] = ev.Result
	case EventCompleted, EventCancelled:
		m["result"] = ev.Result
	case EventStatusChanged:
		m["old_status"], m["new_status"] = ev.OldStatus, ev.NewStatus
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (ev *Event) UnmarshalJSON(data []byte) error {
	var j struct {
		Type        EventType `json:"event_type"`
		ExecutionID uuid.UUID `json:"execution_id"`
		Seq         uint64    `json:"seq"`
		Timestamp   time.Time `json:"timestamp"`
		Command     string    `json:"command"`
		Line        string    `json:"line"`
		Result      *Result   `json:"result"`
		Error       string    `json:"error"`
		TimeoutMS   int64     `json:"timeout_ms"`
		OldStatus   Status    `json:"old_status"`
		NewStatus   Status    `json:"new_status"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*ev = Event(j)
	return nil
}

type configJSON struct {
	DefaultTimeoutMS        int64                   `json:"default_timeout_ms"`
	MaxTimeoutMS            int64                   `json:"max_timeout_ms"`
	StreamOutput            bool                    `json:"stream_output"`
	LogDir                  *string                 `json:"log_dir"`
	MaxConcurrentExecutions int                     `json:"max_concurrent_executions"`
	MaxQueuedExecutions     int                     `json:"max_queued_executions"`
	MaxInMemoryExecutions   int                     `json:"max_in_memory_executions"`
	ExecutionRetentionSecs  int64                   `json:"execution_retention_secs"`
	CleanupIntervalSecs     int64                   `json:"cleanup_interval_secs"`
	EnableAutoCleanup       bool                    `json:"enable_auto_cleanup"`
	MaxOutputSizeBytes      int64                   `json:"max_output_size_bytes"`
	OversizedOutputStrategy OversizedOutputStrategy `json:"oversized_output_strategy"`
	KillGracePeriodMS       int64                   `json:"kill_grace_period_ms"`
}

// MarshalJSON writes the Rust ExecutionConfig field names plus this port's
// (max_queued_executions, cleanup_interval_secs, kill_grace_period_ms).
// EventHandler and Logger are not data and are left out.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(configJSON{
		DefaultTimeoutMS: c.DefaultTimeout.Milliseconds(), MaxTimeoutMS: c.MaxTimeout.Milliseconds(),
		StreamOutput: c.StreamOutput, LogDir: optString(c.LogDir),
		MaxConcurrentExecutions: c.MaxConcurrentExecutions, MaxQueuedExecutions: c.MaxQueuedExecutions,
		MaxInMemoryExecutions:  c.MaxInMemoryExecutions,
		ExecutionRetentionSecs: int64(c.ExecutionRetention / time.Second), CleanupIntervalSecs: int64(c.CleanupInterval / time.Second),
		EnableAutoCleanup: c.EnableAutoCleanup, MaxOutputSizeBytes: c.MaxOutputSizeBytes,
		OversizedOutputStrategy: c.OversizedOutputStrategy, KillGracePeriodMS: c.KillGracePeriod.Milliseconds(),
	})
}

// UnmarshalJSON sets the fields present in data and leaves the others as
// they are: decode into DefaultConfig() to get defaults for absent fields.
func (c *Config) UnmarshalJSON(data []byte) error {
	var cur configJSON
	if cb, err := c.MarshalJSON(); err == nil {
		_ = json.Unmarshal(cb, &cur)
	}
	if err := json.Unmarshal(data, &cur); err != nil {
		return err
	}
	c.DefaultTimeout = time.Duration(cur.DefaultTimeoutMS) * time.Millisecond
	c.MaxTimeout = time.Duration(cur.MaxTimeoutMS) * time.Millisecond
	c.StreamOutput, c.LogDir = cur.StreamOutput, derefString(cur.LogDir)
	c.MaxConcurrentExecutions, c.MaxQueuedExecutions = cur.MaxConcurrentExecutions, cur.MaxQueuedExecutions
	c.MaxInMemoryExecutions = cur.MaxInMemoryExecutions
	c.ExecutionRetention = time.Duration(cur.ExecutionRetentionSecs) * time.Second
	c.CleanupInterval = time.Duration(cur.CleanupIntervalSecs) * time.Second
	c.EnableAutoCleanup, c.MaxOutputSizeBytes = cur.EnableAutoCleanup, cur.MaxOutputSizeBytes
	c.OversizedOutputStrategy = cur.OversizedOutputStrategy
	c.KillGracePeriod = time.Duration(cur.KillGracePeriodMS) * time.Millisecond
	return nil
}
