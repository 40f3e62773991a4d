//go:build unix

package execengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundUp is d rounded up to a whole number of unit, saturated at the
// largest Duration: what a *_ms / *_secs field gives back.
func roundUp(d, unit time.Duration) time.Duration {
	q := d / unit
	if d%unit != 0 {
		q++
	}
	if q > math.MaxInt64/unit {
		return math.MaxInt64
	}
	return q * unit
}

func TestRoundUpHelper(t *testing.T) {
	assert.Equal(t, time.Millisecond, roundUp(500*time.Microsecond, time.Millisecond))
	assert.Equal(t, time.Duration(0), roundUp(0, time.Millisecond))
	assert.Equal(t, 2*time.Second, roundUp(1001*time.Millisecond, time.Second))
	assert.Equal(t, time.Duration(math.MaxInt64), roundUp(math.MaxInt64, time.Millisecond))
	assert.Equal(t, 9223372036854*time.Millisecond, roundUp(9223372036854*time.Millisecond, time.Millisecond))
}

// Item 7: a timeout_ms, a *_ms / *_secs Config field or a {secs,nanos}
// duration that does not fit in a time.Duration is rejected, never wrapped.
func TestJSONDurationOverflowRejected(t *testing.T) {
	const shell = `"command":{"type":"shell","command":"true"}`
	t.Run("request timeout_ms", func(t *testing.T) {
		for _, tt := range []struct {
			ms   string
			want string
		}{
			{"288230376151713744", "timeout_ms: 288230376151713744 milliseconds is too large: the largest is 9223372036855 (about 292 years)"},
			{"18446744073710", "timeout_ms: 18446744073710 milliseconds is too large"},
			{"9223372036854775807", "timeout_ms: 9223372036854775807 milliseconds is too large"},
			{"9223372036856", "timeout_ms: 9223372036856 milliseconds is too large"},
			{"18446744073709551616", "timeout_ms: 18446744073709551616 milliseconds is too large"},
		} {
			var r Request
			err := json.Unmarshal([]byte(`{`+shell+`,"timeout_ms":`+tt.ms+`}`), &r)
			require.Error(t, err, tt.ms)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), "%s: %v", tt.ms, err)
			assert.ErrorIs(t, err, ErrTimeoutTooLarge, tt.ms)
			assert.ErrorIs(t, err, ErrInvalidRequest, tt.ms)
			assert.Equal(t, Request{}, r, "a failed decode leaves the value alone")
		}
		for _, tt := range []struct {
			ms   string
			want string
		}{
			{"-5", "timeout_ms: -5 is negative: want a whole number of milliseconds, 0 or more"},
			{"-9223372036854775809", "timeout_ms: -9223372036854775809 is negative"},
			{"1.5", "timeout_ms: want a whole number of milliseconds, got 1.5"},
			{"1e3", "timeout_ms: want a whole number of milliseconds, got 1e3"},
			{`"5s"`, "timeout_ms: want a number of milliseconds, got string"},
			{`true`, "timeout_ms: want a number of milliseconds, got bool"},
		} {
			var r Request
			err := json.Unmarshal([]byte(`{`+shell+`,"timeout_ms":`+tt.ms+`}`), &r)
			require.Error(t, err, tt.ms)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), "%s: %v", tt.ms, err)
			assert.ErrorIs(t, err, ErrInvalidRequest, tt.ms)
			assert.NotErrorIs(t, err, ErrTimeoutTooLarge, tt.ms)
		}
		// The edges that fit.
		for ms, want := range map[string]time.Duration{
			"9223372036854": 9223372036854 * time.Millisecond,
			"9223372036855": math.MaxInt64, // MaxInt64 ns rounded up is written so: it reads back as itself
			"1":             time.Millisecond,
			"0":             0,
		} {
			var r Request
			require.NoError(t, json.Unmarshal([]byte(`{`+shell+`,"timeout_ms":`+ms+`}`), &r), ms)
			assert.Equal(t, want, r.Timeout, ms)
		}
	})
	t.Run("a too large timeout never runs", func(t *testing.T) {
		e := newTestEngine(t, func(c *Config) { c.MaxTimeout = math.MaxInt64 })
		var r Request
		err := json.Unmarshal([]byte(`{`+shell+`,"timeout_ms":288230376151713744}`), &r)
		require.ErrorIs(t, err, ErrTimeoutTooLarge)
		// Before the fix this decoded to 2 s; with the largest MaxTimeout
		// the request would have run with it.
		assert.Equal(t, time.Duration(0), r.Timeout)
		assert.Empty(t, e.List())
	})
	t.Run("config fields", func(t *testing.T) {
		for _, f := range []struct {
			name string
			max  int64
			unit string
		}{
			{"default_timeout_ms", 9223372036855, "milliseconds"},
			{"max_timeout_ms", 9223372036855, "milliseconds"},
			{"kill_grace_period_ms", 9223372036855, "milliseconds"},
			{"execution_retention_secs", 9223372037, "seconds"},
			{"cleanup_interval_secs", 9223372037, "seconds"},
		} {
			for _, v := range []string{fmt.Sprint(f.max + 1), "288230376151713744", "18446744073710", "9223372036854775807", "99999999999999999999"} {
				if v == "18446744073710" && f.unit == "milliseconds" {
					v = "18446744073710000"
				}
				c := DefaultConfig()
				err := json.Unmarshal([]byte(`{"`+f.name+`":`+v+`}`), &c)
				require.Error(t, err, f.name+"="+v)
				assert.Equal(t, fmt.Sprintf("%s: %s %s is too large: the largest is %d (about 292 years)", f.name, v, f.unit, f.max), err.Error())
				assert.ErrorIs(t, err, ErrInvalidConfig)
				assert.Equal(t, DefaultConfig(), c, "a failed decode leaves the config alone")
			}
			c := DefaultConfig()
			err := json.Unmarshal([]byte(`{"`+f.name+`":-1}`), &c)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Equal(t, f.name+": -1 is negative: want a whole number of "+f.unit+", 0 or more", err.Error())
			err = json.Unmarshal([]byte(`{"`+f.name+`":"1m"}`), &c)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Equal(t, f.name+": want a number of "+f.unit+", got string", err.Error())

			require.NoError(t, json.Unmarshal([]byte(`{"`+f.name+`":`+fmt.Sprint(f.max)+`}`), &c))
			for _, g := range configDurations(&c) {
				if g.name == f.name {
					assert.Equal(t, time.Duration(math.MaxInt64), *g.d, f.name)
				}
			}
		}
	})
	t.Run("duration secs and nanos", func(t *testing.T) {
		for _, tt := range []struct {
			d    string
			want time.Duration
			err  string
		}{
			{`{"secs":9223372036,"nanos":854775807}`, math.MaxInt64, ""},
			{`{"secs":1,"nanos":1500000000}`, 2500 * time.Millisecond, ""},
			{`{"secs":0,"nanos":1}`, 1, ""},
			{`{"secs":9223372036,"nanos":854775808}`, 0, "duration: {secs 9223372036, nanos 854775808} is too large: the largest is {secs 9223372036, nanos 854775807} (about 292 years)"},
			{`{"secs":9223372037,"nanos":0}`, 0, "duration: {secs 9223372037, nanos 0} is too large"},
			{`{"secs":18446744073709551615,"nanos":0}`, 0, "duration: {secs 18446744073709551615, nanos 0} is too large"},
			{`{"secs":18446744073709551616,"nanos":0}`, 0, "duration.secs: 18446744073709551616 is too large"},
			{`{"secs":-1,"nanos":0}`, 0, "duration.secs: -1 is negative"},
			{`{"secs":0,"nanos":-1}`, 0, "duration.nanos: -1 is negative"},
			{`{"secs":"1","nanos":0}`, 0, "duration.secs: want a non-negative integer, got string"},
			{`5`, 0, "duration: want an object, got 5"},
		} {
			var r Result
			err := json.Unmarshal([]byte(`{"id":"`+uuid.Nil.String()+`","duration":`+tt.d+`}`), &r)
			if tt.err == "" {
				require.NoError(t, err, tt.d)
				assert.Equal(t, tt.want, r.Duration, tt.d)
				continue
			}
			require.Error(t, err, tt.d)
			assert.True(t, strings.HasPrefix(err.Error(), tt.err), "%s: %v", tt.d, err)
			var s Summary
			err = json.Unmarshal([]byte(`{"duration":`+tt.d+`}`), &s)
			require.Error(t, err, tt.d)
			assert.True(t, strings.HasPrefix(err.Error(), tt.err), "summary %s: %v", tt.d, err)
			var ev Event
			err = json.Unmarshal([]byte(`{"event_type":"completed","result":{"duration":`+tt.d+`}}`), &ev)
			require.Error(t, err, tt.d)
			assert.True(t, strings.HasPrefix(err.Error(), "result."+tt.err), "event %s: %v", tt.d, err)
		}
	})
}

// Item 8: the three round trips that changed meaning.
func TestJSONRoundTripKeepsMeaning(t *testing.T) {
	t.Run("sub-millisecond timeout is not the default", func(t *testing.T) {
		data, err := json.Marshal(Request{Command: Exec{Program: "true"}, Timeout: 500 * time.Microsecond})
		require.NoError(t, err)
		assert.Contains(t, string(data), `"timeout_ms":1,`)
		var back Request
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, time.Millisecond, back.Timeout)
	})
	t.Run("sub-second cleanup interval stays valid", func(t *testing.T) {
		c := DefaultConfig()
		c.CleanupInterval = 500 * time.Millisecond
		c.ExecutionRetention = time.Nanosecond
		c.KillGracePeriod = time.Microsecond
		require.NoError(t, c.Validate())
		data, err := json.Marshal(c)
		require.NoError(t, err)
		back := DefaultConfig()
		require.NoError(t, json.Unmarshal(data, &back))
		require.NoError(t, back.Validate())
		assert.Equal(t, time.Second, back.CleanupInterval)
		assert.Equal(t, time.Second, back.ExecutionRetention)
		assert.Equal(t, time.Millisecond, back.KillGracePeriod)
	})
	t.Run("zero result", func(t *testing.T) {
		data, err := json.Marshal(Result{})
		require.NoError(t, err)
		assert.JSONEq(t, `{"id":"00000000-0000-0000-0000-000000000000","status":null,"success":false,"exit_code":0,
		 "signal":null,"stdout":"","stderr":"","stdout_file":null,"stderr_file":null,"truncated":false,"pid":null,
		 "submitted_at":null,"started_at":null,"completed_at":null,"duration":{"secs":0,"nanos":0},"duration_ms":0,
		 "error":null,"error_code":null}`, string(data))
		back := Result{Status: StatusRunning}
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, Result{}, back)
	})
	t.Run("zero values of every type", func(t *testing.T) {
		for _, v := range []any{Request{Command: Shell{}}, Metadata{}, Summary{}, Event{}, Status("")} {
			assertRoundTrip(t, v, v)
		}
		cfg := Config{}
		data, err := json.Marshal(cfg)
		require.NoError(t, err)
		var back Config
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, cfg, back)
	})
	t.Run("values the wire cannot carry are refused", func(t *testing.T) {
		_, err := json.Marshal(Request{Command: Shell{Command: "x"}, Timeout: -time.Millisecond})
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), "timeout_ms: -1ms is negative")
		c := DefaultConfig()
		c.KillGracePeriod = -1
		_, err = json.Marshal(c)
		require.ErrorIs(t, err, ErrInvalidConfig)
		assert.Contains(t, err.Error(), "kill_grace_period_ms: -1ns is negative")
		_, err = json.Marshal(Result{Duration: -time.Second})
		assert.ErrorContains(t, err, "duration: -1s is negative")
		_, err = json.Marshal(Summary{Status: StatusCompleted, Duration: -time.Second})
		assert.ErrorContains(t, err, "duration: -1s is negative")
		_, err = json.Marshal(Status("done"))
		assert.ErrorContains(t, err, `unknown status "done"`)
		_, err = json.Marshal(Result{StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		assert.ErrorContains(t, err, "year outside of range")
	})
}

// assertRoundTrip checks decode(encode(v)) == want and that encoding the
// decoded value gives the same bytes again.
func assertRoundTrip(t *testing.T, v, want any) {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err, "%#v", v)
	back, data2 := decodeLike(t, v, data)
	assert.Equal(t, want, back, "%s", data)
	assert.Equal(t, string(data), string(data2), "encode(decode(encode(x))) == encode(x)")
}

// decodeLike decodes data into a new value of v's type and encodes it again.
func decodeLike(t *testing.T, v any, data []byte) (any, []byte) {
	t.Helper()
	var back any
	var err error
	switch v.(type) {
	case Request:
		var x Request
		err = json.Unmarshal(data, &x)
		back = x
	case Metadata:
		var x Metadata
		err = json.Unmarshal(data, &x)
		back = x
	case Result:
		var x Result
		err = json.Unmarshal(data, &x)
		back = x
	case Summary:
		var x Summary
		err = json.Unmarshal(data, &x)
		back = x
	case Event:
		var x Event
		err = json.Unmarshal(data, &x)
		back = x
	case Status:
		var x Status
		err = json.Unmarshal(data, &x)
		back = x
	case Config:
		x := DefaultConfig()
		err = json.Unmarshal(data, &x)
		back = x
	case Shell, Exec, Script, AWSCLI:
		back, err = UnmarshalCommand(data)
	default:
		t.Fatalf("no decoder for %T", v)
	}
	require.NoError(t, err, "%s", data)
	data2, err := json.Marshal(back)
	require.NoError(t, err, "%#v", back)
	return back, data2
}

// gen makes random values of every type, biased to the edges.
type gen struct{ r *rand.Rand }

func (g gen) str() string {
	switch g.r.IntN(6) {
	case 0:
		return ""
	case 1:
		return `quote " backslash \ newline
tab	nul ` + "\x00 <html>&amp; \u2028 é 🚀"
	}
	b := make([]rune, g.r.IntN(20))
	for i := range b {
		if g.r.IntN(3) == 0 {
			b[i] = rune(g.r.IntN(0x80))
		} else {
			b[i] = rune(g.r.IntN(0x10FFFF))
		}
	}
	return string(b) // surrogates become U+FFFD here: valid UTF-8, as JSON carries
}

func (g gen) strs() []string {
	if g.r.IntN(3) == 0 {
		return nil
	}
	out := make([]string, 1+g.r.IntN(4))
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g gen) strMap() map[string]string {
	if g.r.IntN(3) == 0 {
		return nil
	}
	m := map[string]string{}
	for range 1 + g.r.IntN(4) {
		m[g.str()] = g.str()
	}
	return m
}

func (g gen) duration() time.Duration {
	edges := []time.Duration{0, 1, time.Microsecond * 500, time.Millisecond - 1, time.Millisecond, time.Millisecond + 1,
		time.Second - 1, time.Second, time.Second + 1, math.MaxInt64, math.MaxInt64 - 1,
		9223372036854 * time.Millisecond, 9223372036854*time.Millisecond + 1, 9223372036 * time.Second, 9223372036*time.Second + 1}
	switch g.r.IntN(3) {
	case 0:
		return edges[g.r.IntN(len(edges))]
	case 1:
		return time.Duration(g.r.Int64N(int64(time.Hour)))
	}
	return time.Duration(g.r.Int64())
}

func (g gen) time() time.Time {
	if g.r.IntN(4) == 0 {
		return time.Time{}
	}
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	return time.Unix(lo+g.r.Int64N(hi-lo), g.r.Int64N(1e9)).UTC()
}

func (g gen) id() uuid.UUID {
	if g.r.IntN(4) == 0 {
		return uuid.Nil
	}
	var u uuid.UUID
	for i := range u {
		u[i] = byte(g.r.IntN(256))
	}
	return u
}

var allStatuses = []Status{"", StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusTimeout, StatusCancelled}

func (g gen) status() Status { return allStatuses[g.r.IntN(len(allStatuses))] }

func (g gen) int() int {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return math.MaxInt
	case 2:
		return math.MinInt
	}
	return int(g.r.Int64()) - math.MaxInt/2
}

func (g gen) command() Command {
	switch g.r.IntN(4) {
	case 0:
		return Shell{g.str(), g.str()}
	case 1:
		return Exec{g.str(), g.strs()}
	case 2:
		return Script{g.str(), g.str()}
	}
	return AWSCLI{g.str(), g.str(), g.strs(), g.str(), g.str()}
}

func (g gen) metadata() Metadata {
	m := Metadata{Source: g.str(), Tags: g.strMap()}
	if id := g.id(); g.r.IntN(2) == 0 {
		m.ConversationID = uuid.NullUUID{UUID: id, Valid: true}
	}
	return m
}

func (g gen) result() Result {
	return Result{
		ID: g.id(), Status: g.status(), Success: g.r.IntN(2) == 0, ExitCode: g.int(), Signal: g.str(),
		Stdout: g.str(), Stderr: g.str(), StdoutFile: g.str(), StderrFile: g.str(), Truncated: g.r.IntN(2) == 0,
		PID: g.int(), SubmittedAt: g.time(), StartedAt: g.time(), CompletedAt: g.time(), Duration: g.duration(),
		Error: g.str(), ErrorCode: g.str(), OutputIncomplete: g.r.IntN(2) == 0,
	}
}

var allEventTypes = []EventType{EventStarted, EventStdout, EventStderr, EventStdoutChunk, EventStderrChunk, EventCompleted, EventFailed, EventCancelled,
	EventTimeout, EventStatusChanged, EventProgress, ""}

// event makes an event with only the fields of its type set, as the
// engine sends them.
func (g gen) event() Event {
	ev := Event{Type: allEventTypes[g.r.IntN(len(allEventTypes))], ExecutionID: g.id(), Seq: g.r.Uint64(), Timestamp: g.time()}
	switch ev.Type {
	case EventStarted:
		ev.Command = g.str()
	case EventStdout, EventStderr:
		ev.Line = g.str()
	case EventStdoutChunk, EventStderrChunk:
		if b := []byte(g.str()); len(b) > 0 { // the engine never sends an empty chunk
			ev.Data = b
		}
	case EventFailed:
		ev.Error = g.str()
	case EventTimeout:
		ev.TimeoutMS = g.r.Int64() - math.MaxInt64/2
	case EventStatusChanged:
		ev.OldStatus, ev.NewStatus = g.status(), g.status()
	}
	if ev.Type.IsTerminal() && g.r.IntN(5) != 0 {
		r := g.result()
		ev.Result = &r
	}
	return ev
}

func (g gen) config() Config {
	strategies := []OversizedOutputStrategy{TruncateWithWarning, FailExecution, StreamToFile, ""}
	return Config{
		DefaultTimeout: g.duration(), MaxTimeout: g.duration(), StreamOutput: g.r.IntN(2) == 0, LogDir: g.str(),
		MaxConcurrentExecutions: g.int(), MaxQueuedExecutions: g.int(), MaxInMemoryExecutions: g.int(), MaxRetainedOutputBytes: g.r.Int64(),
		ExecutionRetention: g.duration(), CleanupInterval: g.duration(), EnableAutoCleanup: g.r.IntN(2) == 0,
		MaxOutputSizeBytes: g.r.Int64(), OversizedOutputStrategy: strategies[g.r.IntN(len(strategies))],
		KillGracePeriod: g.duration(),
	}
}

// Item 8: decode(encode(x)) == x for random values of every type, except
// that a duration in a *_ms / *_secs field comes back rounded up to its
// unit; and encode(decode(encode(x))) == encode(x).
func TestJSONRoundTripProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := gen{rand.New(rand.NewPCG(seed, 7))}
	for range 3000 {
		c := g.command()
		assertRoundTrip(t, c, c)

		m := g.metadata()
		assertRoundTrip(t, m, m)

		req := Request{ID: g.id(), Command: g.command(), Env: g.strMap(), WorkingDir: g.str(), Timeout: g.duration(),
			Stdin: g.str(), OutputLogPath: g.str(), Metadata: g.metadata(), Secrets: g.strs(),
			Chunks: g.r.IntN(2) == 0, NoLineEvents: g.r.IntN(2) == 0, Interactive: g.r.IntN(2) == 0}
		if g.r.IntN(2) == 0 {
			req.PTY = &PTY{Cols: uint16(g.r.Uint32()), Rows: uint16(g.r.Uint32()), Term: g.str()}
		}
		want := req
		want.Timeout = roundUp(req.Timeout, time.Millisecond)
		assertRoundTrip(t, req, want)

		res := g.result()
		assertRoundTrip(t, res, res)

		sum := Summary{ID: g.id(), Status: g.status(), StartedAt: g.time(), Duration: g.duration()}
		assertRoundTrip(t, sum, sum)

		ev := g.event()
		assertRoundTrip(t, ev, ev)

		st := g.status()
		assertRoundTrip(t, st, st)

		cfg := g.config()
		wantCfg := cfg
		for _, f := range configDurations(&wantCfg) {
			*f.d = roundUp(*f.d, f.unit)
		}
		assertRoundTrip(t, cfg, wantCfg)
		if t.Failed() {
			t.Fatalf("failed with seed %d", seed)
		}
	}
}

// Item 8: a Go time in another zone or with a monotonic reading comes back
// as the same instant in UTC.
func TestJSONTimesComeBackUTC(t *testing.T) {
	now := time.Now() // has a monotonic reading
	zone := time.FixedZone("X", 5*3600)
	res := Result{ID: uuid.New(), Status: StatusRunning, SubmittedAt: now, StartedAt: now.In(zone)}
	data, err := json.Marshal(res)
	require.NoError(t, err)
	var back Result
	require.NoError(t, json.Unmarshal(data, &back))
	assert.True(t, back.SubmittedAt.Equal(now))
	assert.True(t, back.StartedAt.Equal(now))
	assert.Equal(t, time.UTC, back.StartedAt.Location())
	// An offset on input is read as the instant it names.
	var s Summary
	require.NoError(t, json.Unmarshal([]byte(`{"started_at":"2026-01-02T05:04:05+02:00"}`), &s))
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), s.StartedAt)
}

// FuzzJSONRoundTrip decodes arbitrary bytes as every type; whatever decodes
// must encode, decode back to the same value and encode to the same bytes.
func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"command":{"type":"shell","command":"echo hi","shell":null},"timeout_ms":5000,"env":{"A":"1"}}`,
		`{"command":{"type":"exec","program":"ls","args":["-l"]},"timeout_ms":9223372036855}`,
		`{"id":"550e8400-e29b-41d4-a716-446655440000","status":"Completed","pid":null,"duration":{"secs":1,"nanos":1500000000},"started_at":"2026-01-02T05:04:05.5+02:00"}`,
		`{"event_type":"timeout","timeout_ms":-1,"seq":3,"timestamp":"0001-01-01T00:00:00Z","result":{"status":"timeout"}}`,
		`{"event_type":"status_changed","old_status":"pending","new_status":"running"}`,
		`{"default_timeout_ms":1,"cleanup_interval_secs":9223372037,"log_dir":null,"oversized_output_strategy":"StreamToFile"}`,
		`{"source":"ui","conversation_id":"550e8400-e29b-41d4-a716-446655440000","tags":{"k":"v"}}`,
		`"running"`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			req Request
			md  Metadata
			res Result
			sum Summary
			ev  Event
			st  Status
		)
		if isNullOrAbsent(data) {
			return // null leaves a value as it is: nothing was decoded
		}
		cfg := DefaultConfig()
		for _, v := range []any{&req, &md, &res, &sum, &ev, &st, &cfg} {
			if json.Unmarshal(data, v) != nil {
				continue
			}
			x := derefAny(v)
			enc, err := json.Marshal(x)
			require.NoError(t, err, "decoded %s as %#v", data, x)
			back, enc2 := decodeLike(t, x, enc)
			require.Equal(t, x, back, "%s", enc)
			require.Equal(t, string(enc), string(enc2))
		}
		if c, err := UnmarshalCommand(data); err == nil {
			enc, err := json.Marshal(c)
			require.NoError(t, err)
			back, enc2 := decodeLike(t, c, enc)
			require.Equal(t, c, back)
			require.Equal(t, string(enc), string(enc2))
		}
	})
}

func derefAny(v any) any {
	switch p := v.(type) {
	case *Request:
		return *p
	case *Metadata:
		return *p
	case *Result:
		return *p
	case *Summary:
		return *p
	case *Event:
		return *p
	case *Status:
		return *p
	case *Config:
		return *p
	}
	panic(fmt.Sprintf("%T", v))
}

// Item 22: decode errors name the JSON field and what it wants, never an
// internal type; values are shown only where they cannot be secrets.
func TestJSONErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		into any
		json string
		want string
	}{
		{&Request{}, `{"command":{"type":"shell","command":"x"},"timeout_ms":"5s"}`, "timeout_ms: want a number of milliseconds, got string"},
		{&Request{}, `{"id":"x","command":{"type":"shell","command":"x"}}`, `id: want a UUID, got "x"`},
		{&Request{}, `{"id":5,"command":{"type":"shell","command":"x"}}`, `id: want a UUID string, got 5`},
		{&Request{}, `{}`, `command: missing (want an object such as {"type":"shell","command":"echo hi"})`},
		{&Request{}, `{"command":null}`, `command: missing (want an object such as`},
		{&Request{}, `{"command":"echo hi"}`, `command: want an object, got string`},
		{&Request{}, `{"command":{"program":"ls"}}`, `command.type: missing (one of shell, exec, script, aws_cli)`},
		{&Request{}, `{"command":{"type":"powershell"}}`, `command.type: unknown type "powershell" (want shell, exec, script or aws_cli)`},
		{&Request{}, `{"command":{"type":7}}`, `command.type: want a string, got 7`},
		{&Request{}, `{"command":{"type":"exec","program":3}}`, `command.program: want a string, got 3`},
		{&Request{}, `{"command":{"type":"exec","program":"echo","args":"hi"}}`, `command.args: want an array of strings, got string`},
		{&Request{}, `{"command":{"type":"exec","program":"echo","args":["a",1]}}`, `command.args[1]: want a string, got 1`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"env":{"AWS_SECRET_ACCESS_KEY":["wJalrXUtnFEMI"]}}`, `env["AWS_SECRET_ACCESS_KEY"]: want a string, got array`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"env":"A=1"}`, `env: want an object of strings, got string`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"working_dir":false}`, `working_dir: want a string, got bool`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"secrets":["wJalrXUtnFEMI",7]}`, `secrets[1]: want a string, got 7`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"metadata":{"tags":{"k":1}}}`, `metadata.tags["k"]: want a string, got 1`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"metadata":{"conversation_id":"c"}}`, `metadata.conversation_id: want a UUID, got "c"`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"pty":{"cols":70000}}`, `pty.cols: 70000 is too large (at most 65535)`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"pty":{"rows":-1}}`, `pty.rows: -1 is negative`},
		{&Request{}, `{"command":{"type":"shell","command":"x"},"pty":true}`, `pty: want an object, got bool`},
		{&Request{}, `[1]`, `request: want an object, got array`},
		{&Metadata{}, `{"source":1}`, `source: want a string, got 1`},
		{&Result{}, `{"pid":"42"}`, `pid: want an integer, got string`},
		{&Result{}, `{"pid":1.5}`, `pid: want an integer, got 1.5`},
		{&Result{}, `{"exit_code":99999999999999999999}`, `exit_code: 99999999999999999999 is too large`},
		{&Result{}, `{"status":"done"}`, `status: unknown status "done" (want pending, running, completed, failed, timeout or cancelled)`},
		{&Result{}, `{"status":3}`, `status: want a status string, got 3`},
		{&Result{}, `{"success":"yes"}`, `success: want true or false, got string`},
		{&Result{}, `{"started_at":"yesterday"}`, `started_at: want an RFC 3339 time, got "yesterday"`},
		{&Result{}, `{"started_at":12}`, `started_at: want an RFC 3339 time string, got 12`},
		{&Result{}, `{"started_at":"0000-01-01T00:00:00+01:00"}`, `started_at: "0000-01-01T00:00:00+01:00" is outside the years 0 to 9999 in UTC`},
		{&Summary{}, `{"id":"nope"}`, `id: want a UUID, got "nope"`},
		{&Event{}, `{"seq":-1}`, `seq: -1 is negative`},
		{&Event{}, `{"seq":"1"}`, `seq: want a non-negative integer, got string`},
		{&Event{}, `{"event_type":"completed","result":{"pid":"x"}}`, `result.pid: want an integer, got string`},
		{&Event{}, `{"event_type":"completed","result":[]}`, `result: want an object, got array`},
		{&Event{}, `{"event_type":"timeout","timeout_ms":"5"}`, `timeout_ms: want an integer, got string`},
		{new(Config), `{"max_concurrent_executions":"4"}`, `max_concurrent_executions: want an integer, got string`},
		{new(Config), `{"stream_output":1}`, `stream_output: want true or false, got 1`},
		{new(Config), `{"log_dir":{}}`, `log_dir: want a string, got object`},
		{new(Config), `{"max_output_size_bytes":1e9}`, `max_output_size_bytes: want an integer, got 1e9`},
	} {
		err := json.Unmarshal([]byte(tt.json), tt.into)
		require.Error(t, err, tt.json)
		assert.True(t, strings.HasPrefix(err.Error(), tt.want), "%s:\n got %v\nwant %s", tt.json, err, tt.want)
		for _, leak := range []string{"Go ", "JSON", "requestJSON", "execJSON", "int64", "struct", "wJalr", "json:"} {
			assert.NotContains(t, err.Error(), leak, tt.json)
		}
		if _, ok := tt.into.(*Request); ok {
			assert.ErrorIs(t, err, ErrInvalidRequest, tt.json)
		}
		if _, ok := tt.into.(*Config); ok {
			assert.ErrorIs(t, err, ErrInvalidConfig, tt.json)
		}
	}
	_, err := UnmarshalCommand([]byte(`{"type":"exec","args":{}}`))
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.Equal(t, "command.args: want an array of strings, got object", err.Error())
	_, err = UnmarshalCommand([]byte(`{"type":`))
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.True(t, strings.HasPrefix(err.Error(), "command: invalid JSON: "), err.Error())
}

// Item 22: PID 0 and zero times are null in JSON, and null decodes to zero.
func TestJSONUnsetValuesAreNull(t *testing.T) {
	data, err := json.Marshal(Result{ID: uuid.New(), Status: StatusCancelled, ExitCode: -1})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	for _, k := range []string{"pid", "submitted_at", "started_at", "completed_at"} {
		v, ok := m[k]
		assert.True(t, ok, k)
		assert.Nil(t, v, k)
	}
	var r Result
	require.NoError(t, json.Unmarshal([]byte(`{"pid":null,"started_at":null,"exit_code":null,"status":null}`), &r))
	assert.Equal(t, Result{}, r)

	data, err = json.Marshal(Event{Type: EventStdout, Line: ""})
	require.NoError(t, err)
	assert.JSONEq(t, `{"event_type":"stdout","execution_id":"00000000-0000-0000-0000-000000000000","seq":0,"timestamp":null,"line":""}`, string(data))

	// An execution cancelled while it waited for a slot never had a process.
	e := newTestEngine(t, func(c *Config) { c.MaxConcurrentExecutions, c.MaxQueuedExecutions = 1, 1 })
	blocker, err := e.Execute(context.Background(), Request{Command: Exec{Program: "sleep", Args: []string{"30"}}})
	require.NoError(t, err)
	queued, err := e.Execute(context.Background(), Request{Command: Exec{Program: "true"}})
	require.NoError(t, err)
	require.NoError(t, e.Cancel(queued))
	res, err := e.Wait(waitCtx(t), queued)
	require.NoError(t, err)
	require.NoError(t, e.Cancel(blocker))
	data, err = json.Marshal(res)
	require.NoError(t, err)
	m = nil
	require.NoError(t, json.Unmarshal(data, &m))
	assert.Equal(t, "cancelled", m["status"])
	assert.Nil(t, m["pid"], "pid of an execution that never started")
	assert.Nil(t, m["started_at"], "started_at of an execution that never started")
	assert.NotNil(t, m["submitted_at"])
	assert.NotNil(t, m["completed_at"])
	assert.Equal(t, map[string]any{"secs": 0.0, "nanos": 0.0}, m["duration"])
	var back Result
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, 0, back.PID)
	assert.True(t, errors.Is(back.Err(), context.Canceled))
}
