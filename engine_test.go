//go:build unix

package execengine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// newTestEngine returns an engine closed at the end of the test, with a
// short kill grace period and no cleanup ticker.
func newTestEngine(t *testing.T, edit func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.EnableAutoCleanup = false
	cfg.KillGracePeriod = 200 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRun(t *testing.T, e *Engine, req Request) Result {
	t.Helper()
	id, err := e.Execute(context.Background(), req)
	require.NoError(t, err)
	res, err := e.Wait(waitCtx(t), id)
	require.NoError(t, err)
	done, err := e.Done(id)
	require.NoError(t, err)
	<-done // the terminal event follows the final result
	return res
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, Config{
		DefaultTimeout: 5 * time.Minute, MaxTimeout: time.Hour, StreamOutput: true,
		MaxConcurrentExecutions: 100, MaxInMemoryExecutions: 1000, MaxRetainedOutputBytes: 256 << 20, ExecutionRetention: time.Hour,
		CleanupInterval: time.Minute, EnableAutoCleanup: true, MaxOutputSizeBytes: 10 << 20,
		OversizedOutputStrategy: TruncateWithWarning, KillGracePeriod: 5 * time.Second,
	}, c)
	require.NoError(t, c.Validate())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"zero default timeout", func(c *Config) { c.DefaultTimeout = 0 }, "DefaultTimeout must be positive, got 0s"},
		{"zero max timeout", func(c *Config) { c.MaxTimeout = 0 }, "MaxTimeout must be positive, got 0s"},
		{"default above max", func(c *Config) { c.DefaultTimeout = 2 * time.Hour }, "DefaultTimeout 2h0m0s exceeds MaxTimeout 1h0m0s"},
		{"zero concurrency", func(c *Config) { c.MaxConcurrentExecutions = 0 }, "MaxConcurrentExecutions must be positive, got 0"},
		{"negative queue", func(c *Config) { c.MaxQueuedExecutions = -1 }, "MaxQueuedExecutions must not be negative, got -1"},
		{"zero in memory", func(c *Config) { c.MaxInMemoryExecutions = 0 }, "MaxInMemoryExecutions must be positive, got 0"},
		{"zero retained output", func(c *Config) { c.MaxRetainedOutputBytes = 0 }, "MaxRetainedOutputBytes must be positive, got 0"},
		{"negative retained output", func(c *Config) { c.MaxRetainedOutputBytes = -5 }, "MaxRetainedOutputBytes must be positive, got -5"},
		{"negative retention", func(c *Config) { c.ExecutionRetention = -time.Second }, "ExecutionRetention must not be negative, got -1s"},
		{"zero cleanup interval", func(c *Config) { c.CleanupInterval = 0 }, "CleanupInterval must be positive when EnableAutoCleanup is set, got 0s"},
		{"zero output limit", func(c *Config) { c.MaxOutputSizeBytes = 0 }, "MaxOutputSizeBytes must be positive, got 0"},
		{"unknown strategy", func(c *Config) { c.OversizedOutputStrategy = "Drop" }, `OversizedOutputStrategy "Drop" is not one of`},
		{"negative grace", func(c *Config) { c.KillGracePeriod = -1 }, "KillGracePeriod must not be negative, got -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
			_, err = New(c)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		err := Config{}.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		for _, field := range []string{"DefaultTimeout", "MaxTimeout", "MaxConcurrentExecutions", "MaxInMemoryExecutions", "MaxOutputSizeBytes", "OversizedOutputStrategy"} {
			assert.Contains(t, err.Error(), field)
		}
	})
	t.Run("cleanup interval ignored without auto cleanup", func(t *testing.T) {
		c := DefaultConfig()
		c.EnableAutoCleanup, c.CleanupInterval = false, 0
		require.NoError(t, c.Validate())
	})
}

func TestExecuteRejectsBadRequests(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	e := newTestEngine(t, func(c *Config) { c.MaxTimeout = time.Minute; c.DefaultTimeout = time.Second })
	tests := []struct {
		name    string
		req     Request
		want    string
		wantErr error
	}{
		{"nil command", Request{}, "command is <nil>", ErrInvalidRequest},
		{"nil pointer command", Request{Command: (*Shell)(nil)}, "command is (*execengine.Shell)(nil)", ErrInvalidRequest},
		{"empty shell command", Request{Command: Shell{Command: "  "}}, `shell command "  " is empty`, ErrInvalidRequest},
		{"empty program", Request{Command: Exec{Args: []string{"x"}}}, `exec program is empty (args ["x"])`, ErrInvalidRequest},
		{"empty script path", Request{Command: Script{}}, "script path is empty", ErrInvalidRequest},
		{"missing script", Request{Command: Script{Path: filepath.Join(dir, "nope.sh")}}, "nope.sh\": does not exist", ErrInvalidRequest},
		{"script is a directory", Request{Command: Script{Path: dir}}, "is a directory", ErrInvalidRequest},
		{"missing working dir", Request{Command: Exec{Program: "true"}, WorkingDir: filepath.Join(dir, "gone")}, `gone": does not exist`, ErrInvalidRequest},
		{"working dir is a file", Request{Command: Exec{Program: "true"}, WorkingDir: file}, "is not a directory", ErrInvalidRequest},
		{"negative timeout", Request{Command: Exec{Program: "true"}, Timeout: -time.Second}, "timeout -1s is negative", ErrInvalidRequest},
		{"timeout too large", Request{Command: Exec{Program: "true"}, Timeout: 2 * time.Minute}, "2m0s exceeds MaxTimeout 1m0s", ErrTimeoutTooLarge},
		{"bad env name", Request{Command: Exec{Program: "true"}, Env: map[string]string{"A=B": "c"}}, `environment variable name "A=B" must be non-empty`, ErrInvalidRequest},
		{"empty env name", Request{Command: Exec{Program: "true"}, Env: map[string]string{"": "c"}}, `environment variable name "" must be non-empty`, ErrInvalidRequest},
		{"NUL in argument", Request{Command: Exec{Program: "echo", Args: []string{"a\x00b"}}}, `argument "a\x00b" contains a NUL byte`, ErrInvalidRequest},
		{"aws without operation", Request{Command: AWSCLI{Service: "s3"}}, `aws cli service "s3" and operation "" must both be set`, ErrInvalidRequest},
		{"output log path is a directory", Request{Command: Exec{Program: "true"}, OutputLogPath: dir}, "output log path " + strconv.Quote(dir) + " is a directory", ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ID = uuid.New()
			id, err := e.Execute(context.Background(), tt.req)
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, uuid.Nil, id)
			_, err = e.Status(tt.req.ID)
			require.ErrorIs(t, err, ErrNotFound, "nothing may be stored")
		})
	}
	assert.Empty(t, e.List())
	assert.Equal(t, 0, e.RunningCount())
}

func TestExecuteDuplicateID(t *testing.T) {
	e := newTestEngine(t, nil)
	id := uuid.New()
	_, err := e.Execute(context.Background(), Request{ID: id, Command: Exec{Program: "sleep", Args: []string{"10"}}})
	require.NoError(t, err)
	_, err = e.Execute(context.Background(), Request{ID: id, Command: Exec{Program: "true"}})
	require.ErrorIs(t, err, ErrDuplicateID)
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.Contains(t, err.Error(), id.String())
	require.NoError(t, e.Cancel(id))
	res, err := e.Wait(waitCtx(t), id)
	require.NoError(t, err)
	assert.Equal(t, StatusCancelled, res.Status, "the first execution is untouched")

	// Once removed, the id may be used again.
	require.NoError(t, e.Remove(id))
	res = mustRun(t, e, Request{ID: id, Command: Exec{Program: "true"}})
	assert.Equal(t, StatusCompleted, res.Status)
}

func TestExecuteContextOnlyBoundsSubmission(t *testing.T) {
	e := newTestEngine(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Execute(ctx, Request{Command: Exec{Program: "true"}})
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithCancel(context.Background())
	id, err := e.Execute(ctx, Request{Command: Shell{Command: "sleep 0.2; echo done"}})
	require.NoError(t, err)
	cancel()
	res, err := e.Wait(waitCtx(t), id)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, res.Status)
	assert.Equal(t, "done\n", res.Stdout)
}

func TestCommandArgv(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), mode))
		return p
	}
	exe, sh, py, js, rb, pl, other := write("run", 0o700), write("a.sh", 0o600), write("a.py", 0o600),
		write("a.js", 0o600), write("a.rb", 0o600), write("a.PL", 0o600), write("a.txt", 0o600)
	tests := []struct {
		name     string
		cmd      Command
		wantArgv []string
		wantEnv  []string
	}{
		{"shell defaults to bash", Shell{Command: "echo hi"}, []string{"bash", "-c", "echo hi"}, nil},
		{"shell given", Shell{Command: "echo hi", Shell: "/bin/sh"}, []string{"/bin/sh", "-c", "echo hi"}, nil},
		{"shell pointer", &Shell{Command: "x"}, []string{"bash", "-c", "x"}, nil},
		{"exec verbatim", Exec{Program: "echo", Args: []string{"a b", "$HOME", "*"}}, []string{"echo", "a b", "$HOME", "*"}, nil},
		{"script with interpreter", Script{Path: sh, Interpreter: "dash"}, []string{"dash", sh}, nil},
		{"executable script", Script{Path: exe}, []string{exe}, nil},
		{"script .sh", Script{Path: sh}, []string{"bash", sh}, nil},
		{"script .py", Script{Path: py}, []string{"python3", py}, nil},
		{"script .js", Script{Path: js}, []string{"node", js}, nil},
		{"script .rb", Script{Path: rb}, []string{"ruby", rb}, nil},
		{"script .PL", Script{Path: pl}, []string{"perl", pl}, nil},
		{"script fallback", Script{Path: other}, []string{"sh", other}, nil},
		{"script relative to working dir", Script{Path: "a.sh"}, []string{"bash", sh}, nil},
		{"aws", AWSCLI{Service: "s3", Operation: "ls", Args: []string{"s3://b"}, Profile: "p", Region: "eu-west-1"},
			[]string{"aws", "s3", "ls", "s3://b", "--profile", "p", "--region", "eu-west-1"}, []string{"AWS_PAGER="}},
		{"aws minimal", AWSCLI{Service: "sts", Operation: "get-caller-identity"},
			[]string{"aws", "sts", "get-caller-identity"}, []string{"AWS_PAGER="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env, err := commandArgv(tt.cmd, dir)
			require.NoError(t, err)
			assert.Equal(t, tt.wantArgv, argv)
			assert.Equal(t, tt.wantEnv, env)
		})
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{Shell{Command: "ls -la | wc -l"}, "ls -la | wc -l"},
		{Exec{Program: "echo", Args: []string{"a b", "it's", "", "x=1"}}, `echo 'a b' 'it'\''s' '' x=1`},
		{Script{Path: "/tmp/a b.py", Interpreter: "python3"}, "python3 '/tmp/a b.py'"},
		{Script{Path: "/tmp/run.sh"}, "/tmp/run.sh"},
		{AWSCLI{Service: "ec2", Operation: "describe-instances", Region: "us-west-2"}, "aws ec2 describe-instances --region us-west-2"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.cmd.String())
	}
}

func TestEnvAddedToInherited(t *testing.T) {
	t.Setenv("EXECENGINE_PARENT", "inherited")
	e := newTestEngine(t, nil)
	res := mustRun(t, e, Request{
		Command: Shell{Command: `echo "$EXECENGINE_PARENT $EXECENGINE_CHILD $HOME"`},
		Env:     map[string]string{"EXECENGINE_CHILD": "added", "HOME": "/override"},
	})
	assert.Equal(t, "inherited added /override\n", res.Stdout)
}

func TestRequestPATHComesFirst(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "execengine-test-tool")
	require.NoError(t, os.WriteFile(tool, []byte("#!/bin/sh\necho from request PATH\n"), 0o700))
	e := newTestEngine(t, nil)
	res := mustRun(t, e, Request{
		Command: Exec{Program: "execengine-test-tool"},
		Env:     map[string]string{"PATH": dir + string(os.PathListSeparator) + os.Getenv("PATH")},
	})
	assert.Equal(t, "from request PATH\n", res.Stdout)

	// A program only in this process's PATH is still found.
	res = mustRun(t, e, Request{Command: Exec{Program: "echo", Args: []string{"x"}}, Env: map[string]string{"PATH": dir}})
	assert.Equal(t, "x\n", res.Stdout)
}

func TestStatusIsTerminal(t *testing.T) {
	for s, want := range map[Status]bool{
		StatusPending: false, StatusRunning: false, StatusCompleted: true,
		StatusFailed: true, StatusTimeout: true, StatusCancelled: true, "": false,
	} {
		assert.Equal(t, want, s.IsTerminal(), s)
	}
}

func TestResultErr(t *testing.T) {
	tests := []struct {
		name  string
		res   Result
		check func(t *testing.T, err error)
	}{
		{"success", Result{Status: StatusCompleted, Success: true}, func(t *testing.T, err error) { require.NoError(t, err) }},
		{"exit code", Result{Status: StatusFailed, ExitCode: 3, ErrorCode: CodeExitStatus, Error: "command failed with exit code 3"},
			func(t *testing.T, err error) {
				var ee *ExitError
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, 3, ee.Code)
				assert.EqualError(t, err, "command failed with exit code 3")
			}},
		{"signal", Result{Status: StatusFailed, ExitCode: -1, Signal: "SIGSEGV", ErrorCode: CodeExitStatus},
			func(t *testing.T, err error) {
				assert.EqualError(t, err, "command terminated by signal SIGSEGV")
			}},
		{"timeout", Result{Status: StatusTimeout, ExitCode: -1, ErrorCode: CodeTimeout, Error: "execution timed out after 1s"},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.EqualError(t, err, "execution timed out after 1s")
			}},
		{"cancel", Result{Status: StatusCancelled, ErrorCode: CodeCancelled, Error: "execution cancelled"},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				assert.NotErrorIs(t, err, ErrClosed)
			}},
		{"closed", Result{Status: StatusCancelled, ErrorCode: CodeClosed, Error: "execution cancelled: engine closed"},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				require.ErrorIs(t, err, ErrClosed)
			}},
		{"output limit", Result{Status: StatusFailed, ErrorCode: CodeOutputExceeded, Error: "stdout exceeded the output limit of 10 bytes"},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrOutputSizeExceeded)
				assert.EqualError(t, err, "stdout exceeded the output limit of 10 bytes")
			}},
		{"spawn", Result{Status: StatusFailed, ExitCode: -1, ErrorCode: CodeSpawnFailed, Error: "start: no such file"},
			func(t *testing.T, err error) { assert.EqualError(t, err, "start: no such file") }},
		{"running", Result{Status: StatusRunning},
			func(t *testing.T, err error) { require.ErrorIs(t, err, ErrNotCompleted) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, tt.res.Err())
			// The same after a JSON round trip, as a bridge client sees it.
			data, err := json.Marshal(tt.res)
			require.NoError(t, err)
			var back Result
			require.NoError(t, json.Unmarshal(data, &back))
			tt.check(t, back.Err())
		})
	}
}

func TestRequestJSONFromRust(t *testing.T) {
	in := `{"id":"550e8400-e29b-41d4-a716-446655440000",
	 "command":{"type":"shell","command":"echo hi","shell":"/bin/bash"},
	 "env":{"A":"1"}, "working_dir":null, "timeout_ms":5000, "output_log_path":null,
	 "metadata":{"source":"ui","conversation_id":null,"tags":{"k":"v"}}}`
	var req Request
	require.NoError(t, json.Unmarshal([]byte(in), &req))
	assert.Equal(t, Request{
		ID:       uuid.MustParse("550e8400-e29b-41d4-a716-446655440000"),
		Command:  Shell{Command: "echo hi", Shell: "/bin/bash"},
		Env:      map[string]string{"A": "1"},
		Timeout:  5 * time.Second,
		Metadata: Metadata{Source: "ui", Tags: map[string]string{"k": "v"}},
	}, req)

	out, err := json.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"550e8400-e29b-41d4-a716-446655440000",
	 "command":{"type":"shell","command":"echo hi","shell":"/bin/bash"},
	 "env":{"A":"1"}, "working_dir":null, "timeout_ms":5000, "output_log_path":null,
	 "metadata":{"source":"ui","conversation_id":null,"tags":{"k":"v"}}}`, string(out))
}

func TestRequestJSON(t *testing.T) {
	conv := uuid.New()
	tests := []struct {
		name string
		json string
		want Request
	}{
		{"minimal, timeout absent", `{"command":{"type":"exec","program":"ls"}}`, Request{Command: Exec{Program: "ls"}}},
		{"timeout null", `{"command":{"type":"exec","program":"ls","args":["-l"]},"timeout_ms":null}`,
			Request{Command: Exec{Program: "ls", Args: []string{"-l"}}}},
		{"script", `{"command":{"type":"script","path":"/tmp/a.py","interpreter":"python3"},"working_dir":"/tmp","stdin":"x"}`,
			Request{Command: Script{Path: "/tmp/a.py", Interpreter: "python3"}, WorkingDir: "/tmp", Stdin: "x"}},
		{"aws", `{"command":{"type":"aws_cli","service":"ec2","operation":"describe-instances","args":[],"profile":"prod","region":"us-west-2"},"output_log_path":"/tmp/x.log"}`,
			Request{Command: AWSCLI{Service: "ec2", Operation: "describe-instances", Profile: "prod", Region: "us-west-2"}, OutputLogPath: "/tmp/x.log"}},
		{"conversation id", `{"command":{"type":"shell","command":"x"},"metadata":{"conversation_id":"` + conv.String() + `"}}`,
			Request{Command: Shell{Command: "x"}, Metadata: Metadata{ConversationID: uuid.NullUUID{UUID: conv, Valid: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			require.NoError(t, json.Unmarshal([]byte(tt.json), &got))
			assert.Equal(t, tt.want, got)
			// Marshal then unmarshal gives the same request back.
			data, err := json.Marshal(got)
			require.NoError(t, err)
			var back Request
			require.NoError(t, json.Unmarshal(data, &back))
			assert.Equal(t, got, back)
		})
	}
	for _, bad := range []struct{ json, want string }{
		{`{"id":"x"}`, `id: want a UUID, got "x"`},
		{`{}`, `command: missing`},
		{`{"command":null}`, `command: missing`},
		{`{"command":{"program":"ls"}}`, `command.type: missing`},
		{`{"command":{"type":"powershell"}}`, `unknown type "powershell"`},
		{`{"command":{"type":"exec","program":3}}`, "command.program: want a string, got 3"},
		{`[1]`, "request: want an object, got array"},
	} {
		var r Request
		err := json.Unmarshal([]byte(bad.json), &r)
		require.Error(t, err, bad.json)
		assert.Contains(t, err.Error(), bad.want, bad.json)
	}
}

func TestCommandJSONTags(t *testing.T) {
	for _, tt := range []struct {
		cmd  Command
		want string
	}{
		{Shell{Command: "ls"}, `{"type":"shell","command":"ls","shell":null}`},
		{Exec{Program: "ls"}, `{"type":"exec","program":"ls","args":[]}`},
		{Script{Path: "/a.sh"}, `{"type":"script","path":"/a.sh","interpreter":null}`},
		{AWSCLI{Service: "s3", Operation: "ls"}, `{"type":"aws_cli","service":"s3","operation":"ls","args":[],"profile":null,"region":null}`},
	} {
		data, err := json.Marshal(tt.cmd)
		require.NoError(t, err)
		assert.JSONEq(t, tt.want, string(data))
		back, err := UnmarshalCommand(data)
		require.NoError(t, err)
		assert.Equal(t, tt.cmd.String(), back.String())
	}
}

func TestResultAndEventJSON(t *testing.T) {
	id := uuid.MustParse("11111111-2222-3333-4444-555555555555")
	start := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	res := Result{
		ID: id, Status: StatusFailed, ExitCode: 2, Stdout: "out\n", Stderr: "bad \xff\n", PID: 42,
		SubmittedAt: start, StartedAt: start, CompletedAt: start.Add(1500 * time.Millisecond),
		Duration: 1500 * time.Millisecond, Error: "command failed with exit code 2", ErrorCode: CodeExitStatus,
	}
	data, err := json.Marshal(res)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"11111111-2222-3333-4444-555555555555","status":"failed","success":false,
	 "exit_code":2,"signal":null,"stdout":"out\n","stderr":"bad \ufffd\n","stdout_file":null,"stderr_file":null,
	 "truncated":false,"pid":42,"submitted_at":"2026-01-02T03:04:05.000006Z","started_at":"2026-01-02T03:04:05.000006Z",
	 "completed_at":"2026-01-02T03:04:06.500006Z","duration":{"secs":1,"nanos":500000000},"duration_ms":1500,
	 "error":"command failed with exit code 2","error_code":"command_failed"}`, string(data))
	var back Result
	require.NoError(t, json.Unmarshal(data, &back))
	res.Stderr = "bad \uFFFD\n" // JSON cannot carry invalid UTF-8
	assert.Equal(t, res, back)

	ts := `"timestamp":"2026-01-02T03:04:05.000006Z"`
	for _, tt := range []struct {
		ev   Event
		want string
	}{
		{Event{Type: EventStarted, Command: "echo hi"}, `{"event_type":"started","command":"echo hi"`},
		{Event{Type: EventStdout, Line: "hi"}, `{"event_type":"stdout","line":"hi"`},
		{Event{Type: EventStderr, Line: "oops"}, `{"event_type":"stderr","line":"oops"`},
		{Event{Type: EventStatusChanged, OldStatus: StatusPending, NewStatus: StatusRunning}, `{"event_type":"status_changed","old_status":"pending","new_status":"running"`},
		{Event{Type: EventTimeout, TimeoutMS: 5000, Result: &res}, `{"event_type":"timeout","timeout_ms":5000,"result":` + string(data)},
		{Event{Type: EventFailed, Error: "boom", Result: &res}, `{"event_type":"failed","error":"boom","result":` + string(data)},
		{Event{Type: EventCompleted, Result: &res}, `{"event_type":"completed","result":` + string(data)},
		{Event{Type: EventCancelled, Result: &res}, `{"event_type":"cancelled","result":` + string(data)},
	} {
		tt.ev.ExecutionID, tt.ev.Seq, tt.ev.Timestamp = id, 7, start
		got, err := json.Marshal(tt.ev)
		require.NoError(t, err)
		want := tt.want + `,"execution_id":"11111111-2222-3333-4444-555555555555","seq":7,` + ts + `}`
		assert.JSONEq(t, want, string(got))
		var ev Event
		require.NoError(t, json.Unmarshal(got, &ev))
		assert.Equal(t, tt.ev.Type, ev.Type)
		assert.Equal(t, tt.ev.Seq, ev.Seq)
		assert.True(t, tt.ev.Timestamp.Equal(ev.Timestamp))
	}

	sum, err := json.Marshal(Summary{ID: id, Status: StatusRunning, StartedAt: start})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"11111111-2222-3333-4444-555555555555","status":"running","started_at":"2026-01-02T03:04:05.000006Z","duration":null,"duration_ms":null}`, string(sum))

	var s Status
	require.NoError(t, json.Unmarshal([]byte(`"TimeOut"`), &s))
	assert.Equal(t, StatusTimeout, s)
	require.ErrorContains(t, json.Unmarshal([]byte(`"done"`), &s), `unknown status "done"`)
}

func TestStatusResultWaitErrors(t *testing.T) {
	e := newTestEngine(t, nil)
	unknown := uuid.New()
	_, err := e.Status(unknown)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), unknown.String())
	_, err = e.Result(unknown)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = e.Wait(context.Background(), unknown)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, e.Cancel(unknown), ErrNotFound)
	require.ErrorIs(t, e.Remove(unknown), ErrNotFound)

	id, err := e.Execute(context.Background(), Request{Command: Shell{Command: "echo partial; sleep 10"}})
	require.NoError(t, err)
	_, err = e.Result(id)
	require.ErrorIs(t, err, ErrNotCompleted)
	require.ErrorIs(t, e.Remove(id), ErrNotCompleted)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = e.Wait(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.Eventually(t, func() bool {
		snap, err := e.Snapshot(id)
		return err == nil && snap.Status == StatusRunning && snap.Stdout == "partial\n"
	}, 10*time.Second, 10*time.Millisecond, "Snapshot shows the output so far")
	assert.Equal(t, 1, e.RunningCount())

	require.NoError(t, e.Cancel(id))
	res, err := e.Wait(waitCtx(t), id)
	require.NoError(t, err)
	assert.Equal(t, StatusCancelled, res.Status)
	require.NoError(t, e.Cancel(id), "cancelling a terminal execution is a no-op")
	got, err := e.Result(id)
	require.NoError(t, err)
	assert.Equal(t, res, got)
	assert.Equal(t, 0, e.RunningCount())
	require.NoError(t, e.Remove(id))
	_, err = e.Status(id)
	require.ErrorIs(t, err, ErrNotFound)
}

// finishN runs n quick executions to their end.
func finishN(t *testing.T, e *Engine, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = mustRun(t, e, Request{Command: Exec{Program: "true"}}).ID
	}
	return ids
}

func TestCleanup(t *testing.T) {
	t.Run("retention", func(t *testing.T) {
		e := newTestEngine(t, nil)
		old := finishN(t, e, 3)
		e.cfg.ExecutionRetention = time.Hour
		assert.Equal(t, 0, e.Cleanup(), "nothing is old yet")
		running, err := e.Execute(context.Background(), Request{Command: Exec{Program: "sleep", Args: []string{"10"}}})
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond)
		e.cfg.ExecutionRetention = 10 * time.Millisecond
		assert.Equal(t, 3, e.Cleanup())
		for _, id := range old {
			_, err := e.Status(id)
			require.ErrorIs(t, err, ErrNotFound)
		}
		st, err := e.Status(running)
		require.NoError(t, err)
		assert.Equal(t, StatusRunning, st, "running executions are never removed")
		assert.Equal(t, 0, e.Cleanup())
	})
	t.Run("max in memory keeps the newest", func(t *testing.T) {
		e := newTestEngine(t, func(c *Config) { c.MaxInMemoryExecutions = 3 })
		ids := finishN(t, e, 5)
		assert.Equal(t, 2, e.Cleanup())
		var left []uuid.UUID
		for _, s := range e.List() {
			left = append(left, s.ID)
		}
		assert.Equal(t, ids[2:], left)
	})
	t.Run("removed entries are skipped and compacted", func(t *testing.T) {
		e := newTestEngine(t, func(c *Config) { c.MaxInMemoryExecutions = 1 })
		ids := finishN(t, e, 70)
		for _, id := range ids[:69] {
			require.NoError(t, e.Remove(id))
		}
		e.mu.Lock()
		assert.Less(t, len(e.finished), 64, "Remove compacts the cleanup list")
		e.mu.Unlock()
		assert.Equal(t, 0, e.Cleanup())
		assert.Len(t, e.List(), 1)
	})
	t.Run("batches over many", func(t *testing.T) {
		e := newTestEngine(t, nil)
		// Many finished executions without processes: the pass is about bookkeeping.
		for range 3*cleanupBatch + 7 {
			x := newExecution(e, uuid.New(), &plan{}, nil)
			e.mu.Lock()
			e.store(x)
			e.mu.Unlock()
			e.finish(x, &Result{ID: x.id, Status: StatusCompleted, Success: true}, false)
		}
		e.cfg.ExecutionRetention = 0
		assert.Equal(t, 3*cleanupBatch+7, e.Cleanup())
		assert.Empty(t, e.List())
	})
}

func TestAutoCleanupTicker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := DefaultConfig()
	cfg.CleanupInterval = 10 * time.Millisecond
	cfg.ExecutionRetention = time.Millisecond
	e, err := New(cfg)
	require.NoError(t, err)
	defer e.Close()
	id := mustRun(t, e, Request{Command: Exec{Program: "true"}}).ID
	require.Eventually(t, func() bool {
		_, err := e.Status(id)
		return errors.Is(err, ErrNotFound)
	}, 10*time.Second, 5*time.Millisecond)
}

func TestCloseAndShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("shutdown lets running executions finish", func(t *testing.T) {
		e := newTestEngine(t, func(c *Config) { c.MaxConcurrentExecutions = 1; c.MaxQueuedExecutions = 1 })
		a, err := e.Execute(context.Background(), Request{Command: Shell{Command: "sleep 0.2; echo a"}})
		require.NoError(t, err)
		b, err := e.Execute(context.Background(), Request{Command: Shell{Command: "echo b"}})
		require.NoError(t, err)
		require.NoError(t, e.Shutdown(waitCtx(t)))
		for id, out := range map[uuid.UUID]string{a: "a\n", b: "b\n"} {
			res, err := e.Result(id)
			require.NoError(t, err)
			assert.Equal(t, StatusCompleted, res.Status)
			assert.Equal(t, out, res.Stdout)
		}
		_, err = e.Execute(context.Background(), Request{Command: Exec{Program: "true"}})
		require.ErrorIs(t, err, ErrClosed)
	})
	t.Run("shutdown gives up with its context", func(t *testing.T) {
		e := newTestEngine(t, nil)
		id, err := e.Execute(context.Background(), Request{Command: Exec{Program: "sleep", Args: []string{"10"}}})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, e.Shutdown(ctx), context.DeadlineExceeded)
		st, _ := e.Status(id)
		assert.Equal(t, StatusRunning, st)
		require.NoError(t, e.Close())
		res, err := e.Result(id)
		require.NoError(t, err)
		assert.Equal(t, StatusCancelled, res.Status)
		require.ErrorIs(t, res.Err(), ErrClosed)
		require.NoError(t, e.Close(), "Close twice is harmless")
	})
}

func TestGlobal(t *testing.T) {
	resetGlobal := func() {
		global.mu.Lock()
		defer global.mu.Unlock()
		if global.engine != nil {
			global.engine.Close()
			global.engine = nil
		}
	}
	resetGlobal()
	t.Cleanup(resetGlobal)
	assert.Nil(t, Global())
	bad := DefaultConfig()
	bad.MaxOutputSizeBytes = 0
	require.ErrorIs(t, InitGlobal(bad), ErrInvalidConfig)
	assert.Nil(t, Global(), "a failed InitGlobal stores nothing")

	cfg := DefaultConfig()
	cfg.MaxConcurrentExecutions = 50
	require.NoError(t, InitGlobal(cfg))
	e := Global()
	require.NotNil(t, e)
	assert.Equal(t, 1, e.cfg.MaxConcurrentExecutions, "serial mode is forced")
	require.ErrorIs(t, InitGlobal(cfg), ErrAlreadyInitialized)
	assert.Same(t, e, Global())

	// Serial mode: Execute, Wait, Execute again works; a second concurrent one fails fast.
	id, err := e.Execute(context.Background(), Request{Command: Exec{Program: "sleep", Args: []string{"10"}}})
	require.NoError(t, err)
	_, err = e.Execute(context.Background(), Request{Command: Exec{Program: "true"}})
	require.ErrorIs(t, err, ErrConcurrencyLimitReached)
	assert.Contains(t, err.Error(), "1 executions running")
	require.NoError(t, e.Cancel(id))
	_, err = e.Wait(waitCtx(t), id)
	require.NoError(t, err)
	for range 3 {
		assert.Equal(t, StatusCompleted, mustRun(t, e, Request{Command: Exec{Program: "true"}}).Status)
	}
}

// recorder collects events, checking that calls for one execution never overlap.
type recorder struct {
	mu      sync.Mutex
	busy    map[uuid.UUID]bool
	events  map[uuid.UUID][]Event
	overlap bool
}

func newRecorder() *recorder {
	return &recorder{busy: map[uuid.UUID]bool{}, events: map[uuid.UUID][]Event{}}
}

func (r *recorder) HandleEvent(ev Event) {
	r.mu.Lock()
	if r.busy[ev.ExecutionID] {
		r.overlap = true
	}
	r.busy[ev.ExecutionID] = true
	r.mu.Unlock()
	time.Sleep(time.Microsecond)
	r.mu.Lock()
	r.busy[ev.ExecutionID] = false
	r.events[ev.ExecutionID] = append(r.events[ev.ExecutionID], ev)
	r.mu.Unlock()
}

func (r *recorder) of(id uuid.UUID) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events[id]...)
}

func TestEventOrder(t *testing.T) {
	rec := newRecorder()
	e := newTestEngine(t, func(c *Config) { c.EventHandler = rec })
	res := mustRun(t, e, Request{Command: Shell{Command: "echo one; echo two >&2; echo three"}})
	evs := rec.of(res.ID)
	require.Len(t, evs, 7)
	for i, ev := range evs {
		assert.Equal(t, uint64(i+1), ev.Seq)
		assert.Equal(t, res.ID, ev.ExecutionID)
		assert.False(t, ev.Timestamp.IsZero())
	}
	assert.Equal(t, EventStarted, evs[0].Type)
	assert.Equal(t, "echo one; echo two >&2; echo three", evs[0].Command)
	assert.Equal(t, Event{Type: EventStatusChanged, OldStatus: StatusPending, NewStatus: StatusRunning},
		Event{Type: evs[1].Type, OldStatus: evs[1].OldStatus, NewStatus: evs[1].NewStatus})
	var stdout []string
	for _, ev := range evs[2:5] {
		if ev.Type == EventStdout {
			stdout = append(stdout, ev.Line)
		} else {
			assert.Equal(t, Event{Type: EventStderr, Line: "two"}, Event{Type: ev.Type, Line: ev.Line})
		}
	}
	assert.Equal(t, []string{"one", "three"}, stdout)
	assert.Equal(t, StatusRunning, evs[5].OldStatus)
	assert.Equal(t, StatusCompleted, evs[5].NewStatus)
	assert.Equal(t, EventCompleted, evs[6].Type)
	assert.Equal(t, res, *evs[6].Result)
	assert.False(t, rec.overlap)

	t.Run("stream output off keeps lifecycle events", func(t *testing.T) {
		rec := newRecorder()
		e := newTestEngine(t, func(c *Config) { c.EventHandler = rec; c.StreamOutput = false })
		res := mustRun(t, e, Request{Command: Shell{Command: "echo hidden; exit 4"}})
		var types []EventType
		for _, ev := range rec.of(res.ID) {
			types = append(types, ev.Type)
		}
		assert.Equal(t, []EventType{EventStarted, EventStatusChanged, EventStatusChanged, EventFailed}, types)
		assert.Equal(t, "hidden\n", res.Stdout)
		assert.Equal(t, "command failed with exit code 4", rec.of(res.ID)[3].Error)
	})
	t.Run("spawn failure has no started event", func(t *testing.T) {
		rec := newRecorder()
		e := newTestEngine(t, func(c *Config) { c.EventHandler = rec })
		res := mustRun(t, e, Request{Command: Exec{Program: "/nonexistent/program"}})
		assert.Equal(t, StatusFailed, res.Status)
		assert.Equal(t, CodeSpawnFailed, res.ErrorCode)
		assert.Equal(t, -1, res.ExitCode)
		assert.Contains(t, res.Error, "/nonexistent/program")
		evs := rec.of(res.ID)
		require.Len(t, evs, 2)
		assert.Equal(t, EventStatusChanged, evs[0].Type)
		assert.Equal(t, StatusPending, evs[0].OldStatus)
		assert.Equal(t, EventFailed, evs[1].Type)
	})
	t.Run("timeout event", func(t *testing.T) {
		rec := newRecorder()
		e := newTestEngine(t, func(c *Config) { c.EventHandler = rec })
		res := mustRun(t, e, Request{Command: Exec{Program: "sleep", Args: []string{"10"}}, Timeout: 100 * time.Millisecond})
		assert.Equal(t, StatusTimeout, res.Status)
		assert.Equal(t, "SIGTERM", res.Signal)
		require.ErrorIs(t, res.Err(), context.DeadlineExceeded)
		evs := rec.of(res.ID)
		last := evs[len(evs)-1]
		assert.Equal(t, EventTimeout, last.Type)
		assert.Equal(t, int64(100), last.TimeoutMS)
	})
}

func TestLogFiles(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs", "nested")
	e := newTestEngine(t, func(c *Config) { c.LogDir = logDir; c.StreamOutput = false })
	fi, err := os.Stat(logDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	extra := filepath.Join(dir, "extra", "out.log")
	res := mustRun(t, e, Request{Command: Shell{Command: "echo a; echo b >&2"}, OutputLogPath: extra})
	require.Equal(t, StatusCompleted, res.Status)
	for _, p := range []string{filepath.Join(logDir, res.ID.String()+".log"), extra} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		require.Len(t, lines, 2, string(data))
		got := map[string]bool{}
		for _, l := range lines {
			f := strings.SplitN(l, " ", 3)
			require.Len(t, f, 3)
			_, err := time.Parse(time.RFC3339Nano, f[0])
			require.NoError(t, err, l)
			got[f[1]+" "+f[2]] = true
		}
		assert.Equal(t, map[string]bool{"stdout a": true, "stderr b": true}, got)
	}
	dirInfo, err := os.Stat(filepath.Dir(extra))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())
}

func TestConfigJSON(t *testing.T) {
	data, err := json.Marshal(DefaultConfig())
	require.NoError(t, err)
	assert.JSONEq(t, `{"default_timeout_ms":300000,"max_timeout_ms":3600000,"stream_output":true,"log_dir":null,
	 "max_concurrent_executions":100,"max_queued_executions":0,"max_in_memory_executions":1000,"max_retained_output_bytes":268435456,
	 "execution_retention_secs":3600,"cleanup_interval_secs":60,"enable_auto_cleanup":true,
	 "max_output_size_bytes":10485760,"oversized_output_strategy":"TruncateWithWarning","kill_grace_period_ms":5000}`, string(data))

	cfg := DefaultConfig()
	h := EventHandlerFunc(func(Event) {})
	cfg.EventHandler = h
	require.NoError(t, json.Unmarshal([]byte(`{"max_concurrent_executions":1,"oversized_output_strategy":"StreamToFile","log_dir":"/tmp/x"}`), &cfg))
	want := DefaultConfig()
	want.MaxConcurrentExecutions, want.OversizedOutputStrategy, want.LogDir = 1, StreamToFile, "/tmp/x"
	assert.NotNil(t, cfg.EventHandler, "fields that are not data are kept")
	cfg.EventHandler = nil
	assert.Equal(t, want, cfg)
}
