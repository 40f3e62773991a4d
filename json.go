package execengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The JSON forms follow the Rust crate's serde wire shape: snake_case
// fields, Option::None as null, commands tagged by "type", events by
// "event_type", RFC 3339 UTC timestamps, durations as {"secs","nanos"}
// plus duration_ms.
//
// Round trips: decoding what MarshalJSON wrote gives back an equal value,
// except where the wire is coarser than Go: a duration in a *_ms or *_secs
// field is written rounded up to its unit (never down, so 500µs is 1 ms,
// not 0 = "the default"), times come back in UTC without a monotonic
// reading, empty maps and slices come back nil, invalid UTF-8 becomes
// U+FFFD. Writing the decoded value again gives the same bytes. Values the
// wire cannot carry (a negative duration, a year outside 0…9999, an
// unknown Status) make MarshalJSON fail rather than write something that
// decodes to another meaning.
//
// Decoding is done field by field, so every error names the JSON field
// (command.args[1], metadata.tags["k"], result.pid …) and what it wants,
// and never an internal Go type. Numbers are read as exact integers: a
// duration that does not fit in a time.Duration is rejected, never wrapped.

// jsonError is a decode or encode error: its own message, matching kind
// (ErrInvalidRequest, ErrTimeoutTooLarge, ErrInvalidConfig) when set.
type jsonError struct {
	msg  string
	kind error
}

func (e *jsonError) Error() string { return e.msg }
func (e *jsonError) Unwrap() error { return e.kind }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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

// jsonTime writes a time as RFC 3339 in UTC; years outside 0…9999 are an
// error, as with time.Time.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return time.Time(t).UTC().MarshalJSON()
}

// optTime is nil (JSON null) for the zero time.
func optTime(t time.Time) *jsonTime {
	if t.IsZero() {
		return nil
	}
	return (*jsonTime)(&t)
}

func optInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// rustDuration is std::time::Duration as serde writes it.
type rustDuration struct {
	Secs  int64 `json:"secs"`
	Nanos int64 `json:"nanos"`
}

func toRustDuration(field string, d time.Duration) (rustDuration, error) {
	if d < 0 {
		return rustDuration{}, &jsonError{msg: fmt.Sprintf("%s: %v is negative", field, d)}
	}
	return rustDuration{Secs: int64(d / time.Second), Nanos: int64(d % time.Second)}, nil
}

// ceilUnits is d in whole units, rounded up; d must not be negative.
func ceilUnits(d, unit time.Duration) int64 {
	n := int64(d / unit)
	if d%unit != 0 {
		n++
	}
	return n
}

// maxUnits is the largest count of unit that decodes: ceil(MaxInt64/unit),
// what the largest Duration is written as, and decodes back to it.
func maxUnits(unit time.Duration) int64 { return ceilUnits(math.MaxInt64, unit) }

// unitsField writes d in whole units (rounded up) for a *_ms or *_secs field.
func unitsField(field string, d, unit time.Duration, kind error) (int64, error) {
	if d < 0 {
		return 0, &jsonError{fmt.Sprintf("%s: %v is negative", field, d), kind}
	}
	return ceilUnits(d, unit), nil
}

// fromUnits is the Duration of n units; n is in 0…maxUnits(unit), and
// maxUnits(unit) is the largest Duration.
func fromUnits(n int64, unit time.Duration) time.Duration {
	if n == maxUnits(unit) {
		return math.MaxInt64
	}
	return time.Duration(n) * unit
}

// unitNames are the words used in errors for each duration unit.
var unitNames = map[time.Duration]string{time.Millisecond: "milliseconds", time.Second: "seconds"}

// jsonKind names the JSON type of a value for "got …" in errors: numbers
// are shown, strings are not (they may be secrets).
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return string(raw)
}

// quoteShort quotes a value that is not a secret (a UUID, a time, a
// status), at most 64 bytes of it.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

func isNullOrAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// objReader decodes one JSON object field by field. Each getter returns
// the zero value for an absent or null field; the first error is kept,
// naming the field by its JSON path.
type objReader struct {
	path string // prefix of the fields' names: "", "command.", "result." …
	kind error
	m    map[string]json.RawMessage
	err  error
}

// readObject starts reading data, which must be a JSON object; what names
// it in an error when path is "".
func readObject(what, path string, data []byte, kind error) (*objReader, error) {
	o := &objReader{path: path, kind: kind}
	if err := json.Unmarshal(data, &o.m); err != nil || o.m == nil {
		name := strings.TrimSuffix(path, ".")
		if name == "" {
			name = what
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &jsonError{fmt.Sprintf("%s: invalid JSON: %v", name, err), kind}
		}
		return nil, &jsonError{fmt.Sprintf("%s: want an object, got %s", name, jsonKind(data)), kind}
	}
	return o, nil
}

func (o *objReader) failKind(kind error, name, format string, args ...any) {
	if o.err == nil {
		o.err = &jsonError{o.path + name + ": " + fmt.Sprintf(format, args...), kind}
	}
}

func (o *objReader) fail(name, format string, args ...any) {
	o.failKind(o.kind, name, format, args...)
}

// raw returns the field's value, or nil when it is absent or null.
func (o *objReader) raw(name string) json.RawMessage {
	r := o.m[name]
	if isNullOrAbsent(r) {
		return nil
	}
	return r
}

func (o *objReader) has(name string) bool { return o.raw(name) != nil }

func (o *objReader) str(name string) string {
	r := o.raw(name)
	if r == nil {
		return ""
	}
	var s string
	if r[0] != '"' || json.Unmarshal(r, &s) != nil {
		o.fail(name, "want a string, got %s", jsonKind(r))
	}
	return s
}

// base64 reads a []byte the way encoding/json writes it.
func (o *objReader) base64(name string) []byte {
	r := o.raw(name)
	if r == nil {
		return nil
	}
	var b []byte
	if r[0] != '"' || json.Unmarshal(r, &b) != nil {
		o.fail(name, "want a base64 string, got %s", jsonKind(r))
	}
	return b
}

func (o *objReader) boolean(name string) bool {
	r := o.raw(name)
	if r == nil {
		return false
	}
	var b bool
	if json.Unmarshal(r, &b) != nil {
		o.fail(name, "want true or false, got %s", jsonKind(r))
	}
	return b
}

// integer reads a JSON integer literal exactly (no float on the way).
func (o *objReader) integer(name string, bits int) int64 {
	r := o.raw(name)
	if r == nil {
		return 0
	}
	n, err := strconv.ParseInt(string(r), 10, bits)
	if err != nil {
		o.intError(name, r, err, "an integer")
	}
	return n
}

func (o *objReader) intError(name string, r json.RawMessage, err error, want string) {
	switch {
	case errors.Is(err, strconv.ErrRange) && r[0] == '-':
		o.fail(name, "%s is too small", r)
	case errors.Is(err, strconv.ErrRange):
		o.fail(name, "%s is too large", r)
	default:
		o.fail(name, "want %s, got %s", want, jsonKind(r))
	}
}

func (o *objReader) uinteger(name string) uint64 {
	r := o.raw(name)
	if r == nil {
		return 0
	}
	n, err := strconv.ParseUint(string(r), 10, 64)
	if err != nil {
		if r[0] == '-' {
			o.fail(name, "%s is negative", r)
		} else {
			o.intError(name, r, err, "a non-negative integer")
		}
	}
	return n
}

func (o *objReader) stringMap(name string) map[string]string {
	r := o.raw(name)
	if r == nil {
		return nil
	}
	var m map[string]json.RawMessage
	if r[0] != '{' || json.Unmarshal(r, &m) != nil {
		o.fail(name, "want an object of strings, got %s", jsonKind(r))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if isNullOrAbsent(v) || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			// The key is named, never the value: it may be a secret.
			o.fail(fmt.Sprintf("%s[%q]", name, k), "want a string, got %s", jsonKind(v))
			return nil
		}
		out[k] = s
	}
	return nilIfEmpty(out)
}

func (o *objReader) stringList(name string) []string {
	r := o.raw(name)
	if r == nil {
		return nil
	}
	var l []json.RawMessage
	if r[0] != '[' || json.Unmarshal(r, &l) != nil {
		o.fail(name, "want an array of strings, got %s", jsonKind(r))
		return nil
	}
	out := make([]string, len(l))
	for i, v := range l {
		if isNullOrAbsent(v) || v[0] != '"' || json.Unmarshal(v, &out[i]) != nil {
			o.fail(fmt.Sprintf("%s[%d]", name, i), "want a string, got %s", jsonKind(v))
			return nil
		}
	}
	return nilIfNone(out)
}

func (o *objReader) uuid(name string) uuid.UUID {
	r := o.raw(name)
	if r == nil {
		return uuid.Nil
	}
	var s string
	if r[0] != '"' || json.Unmarshal(r, &s) != nil {
		o.fail(name, "want a UUID string, got %s", jsonKind(r))
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		o.fail(name, "want a UUID, got %s", quoteShort(s))
	}
	return id
}

func (o *objReader) nullUUID(name string) uuid.NullUUID {
	if !o.has(name) {
		return uuid.NullUUID{}
	}
	return uuid.NullUUID{UUID: o.uuid(name), Valid: true}
}

// time reads an RFC 3339 time, in UTC; null is the zero time.
func (o *objReader) time(name string) time.Time {
	r := o.raw(name)
	if r == nil {
		return time.Time{}
	}
	var t time.Time
	if r[0] != '"' || t.UnmarshalJSON(r) != nil {
		if r[0] == '"' {
			var s string
			_ = json.Unmarshal(r, &s)
			o.fail(name, "want an RFC 3339 time, got %s", quoteShort(s))
		} else {
			o.fail(name, "want an RFC 3339 time string, got %s", jsonKind(r))
		}
		return time.Time{}
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		o.fail(name, "%s is outside the years 0 to 9999 in UTC", r)
		return time.Time{}
	}
	return t
}

// units reads a whole number of unit (a *_ms or *_secs field): negative
// values and values that do not fit in a time.Duration are errors, the
// latter matching tooLarge. It reports whether the field was set.
func (o *objReader) units(name string, unit time.Duration, tooLarge error) (time.Duration, bool) {
	r := o.raw(name)
	if r == nil {
		return 0, false
	}
	word := unitNames[unit]
	n, err := strconv.ParseInt(string(r), 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange) && r[0] == '-', err == nil && n < 0:
		o.fail(name, "%s is negative: want a whole number of %s, 0 or more", r, word)
	case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > maxUnits(unit):
		o.failKind(tooLarge, name, "%s %s is too large: the largest is %d (about 292 years)", r, word, maxUnits(unit))
	case err != nil && r[0] != '"' && r[0] != '{' && r[0] != '[' && r[0] != 't' && r[0] != 'f':
		o.fail(name, "want a whole number of %s, got %s", word, r)
	case err != nil:
		o.fail(name, "want a number of %s, got %s", word, jsonKind(r))
	default:
		return fromUnits(n, unit), true
	}
	return 0, false
}

// rustDuration reads {"secs":…,"nanos":…}; nanos of a second or more
// carry into secs, as in Rust. null is 0.
func (o *objReader) rustDuration(name string) time.Duration {
	r := o.raw(name)
	if r == nil {
		return 0
	}
	d, err := readObject("", o.path+name+".", r, o.kind)
	if err != nil {
		o.recordNested(err)
		return 0
	}
	secs, nanos := d.uinteger("secs"), d.uinteger("nanos")
	if d.err != nil {
		o.recordNested(d.err)
		return 0
	}
	const maxSecs = math.MaxInt64 / int64(time.Second)
	if secs > uint64(maxSecs) || nanos > math.MaxInt64 ||
		int64(secs)*int64(time.Second) > math.MaxInt64-int64(nanos) {
		o.fail(name, "{secs %d, nanos %d} is too large: the largest is {secs %d, nanos %d} (about 292 years)",
			secs, nanos, maxSecs, math.MaxInt64%int64(time.Second))
		return 0
	}
	return time.Duration(secs)*time.Second + time.Duration(nanos)
}

// recordNested keeps err from a nested reader unless an error came first.
func (o *objReader) recordNested(err error) {
	if o.err == nil && err != nil {
		o.err = err
	}
}

func (o *objReader) status(name string) Status {
	r := o.raw(name)
	if r == nil {
		return ""
	}
	var s Status
	if err := s.UnmarshalJSON(r); err != nil {
		o.fail(name, "%v", err)
	}
	return s
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

// UnmarshalCommand decodes a command in its tagged JSON form. Its errors
// name the field (command.type, command.args[0] …) and match
// [ErrInvalidRequest].
func UnmarshalCommand(data []byte) (Command, error) {
	return decodeCommand("command.", data, ErrInvalidRequest)
}

func decodeCommand(path string, data []byte, kind error) (Command, error) {
	o, err := readObject("command", path, data, kind)
	if err != nil {
		return nil, err
	}
	if !o.has("type") {
		o.fail("type", "missing (one of shell, exec, script, aws_cli)")
		return nil, o.err
	}
	var c Command
	switch t := o.str("type"); t {
	case "shell":
		c = Shell{o.str("command"), o.str("shell")}
	case "exec":
		c = Exec{o.str("program"), o.stringList("args")}
	case "script":
		c = Script{o.str("path"), o.str("interpreter")}
	case "aws_cli":
		c = AWSCLI{o.str("service"), o.str("operation"), o.stringList("args"), o.str("profile"), o.str("region")}
	default:
		if o.err == nil {
			o.fail("type", "unknown type %s (want shell, exec, script or aws_cli)", quoteShort(t))
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	return c, nil
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
	if isNullOrAbsent(data) {
		return nil
	}
	v, err := decodeMetadata("", data, nil)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func decodeMetadata(path string, data []byte, kind error) (Metadata, error) {
	o, err := readObject("metadata", path, data, kind)
	if err != nil {
		return Metadata{}, err
	}
	m := Metadata{Source: o.str("source"), ConversationID: o.nullUUID("conversation_id"), Tags: o.stringMap("tags")}
	return m, o.err
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
	Chunks        bool              `json:"chunks,omitempty"`
	NoLineEvents  bool              `json:"no_line_events,omitempty"`
	Interactive   bool              `json:"interactive,omitempty"`
	PTY           *ptyJSON          `json:"pty,omitempty"`
}

type ptyJSON struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
	Term string `json:"term"`
}

// decodePTY reads {"cols","rows","term"}; absent fields are 0 and "" (the
// defaults).
func decodePTY(path string, data []byte, kind error) (*PTY, error) {
	o, err := readObject("pty", path, data, kind)
	if err != nil {
		return nil, err
	}
	p := &PTY{Term: o.str("term")}
	for _, f := range []struct {
		name string
		v    *uint16
	}{{"cols", &p.Cols}, {"rows", &p.Rows}} {
		if n := o.uinteger(f.name); n > 0xffff {
			o.fail(f.name, "%d is too large (at most 65535)", n)
		} else {
			*f.v = uint16(n)
		}
	}
	return p, o.err
}

// MarshalJSON writes the Rust ExecutionRequest shape: timeout_ms is null
// when Timeout is 0, else Timeout in milliseconds rounded up (so a
// sub-millisecond timeout is 1, never 0, which would mean the default); a
// negative Timeout or a nil Command is an error. "stdin", "secrets",
// "chunks", "no_line_events", "interactive" and "pty" are added only when set.
func (r Request) MarshalJSON() ([]byte, error) {
	j := requestJSON{ID: r.ID, Env: r.Env, WorkingDir: optString(r.WorkingDir), Stdin: r.Stdin,
		OutputLogPath: optString(r.OutputLogPath), Metadata: r.Metadata, Secrets: r.Secrets,
		Chunks: r.Chunks, NoLineEvents: r.NoLineEvents, Interactive: r.Interactive}
	if r.PTY != nil {
		j.PTY = &ptyJSON{Cols: r.PTY.Cols, Rows: r.PTY.Rows, Term: r.PTY.Term}
	}
	if j.Env == nil {
		j.Env = map[string]string{}
	}
	if r.Timeout != 0 {
		ms, err := unitsField("timeout_ms", r.Timeout, time.Millisecond, ErrInvalidRequest)
		if err != nil {
			return nil, err
		}
		j.TimeoutMS = &ms
	}
	if r.Command == nil {
		return nil, &jsonError{"command: missing: a request without a Command cannot be decoded", ErrInvalidRequest}
	}
	c, err := json.Marshal(r.Command)
	if err != nil {
		return nil, err
	}
	j.Command = c
	return json.Marshal(j)
}

// UnmarshalJSON reads the Rust ExecutionRequest shape. "command" is
// required; an absent "id" leaves uuid.Nil (Execute assigns one); a null or
// absent "timeout_ms" means the default timeout. Every error names the
// field and matches [ErrInvalidRequest]; a timeout_ms too large for a
// time.Duration also matches [ErrTimeoutTooLarge].
func (r *Request) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	o, err := readObject("request", "", data, ErrInvalidRequest)
	if err != nil {
		return err
	}
	req := Request{ID: o.uuid("id")}
	if raw := o.raw("command"); raw == nil {
		o.fail("command", `missing (want an object such as {"type":"shell","command":"echo hi"})`)
	} else if o.err == nil {
		req.Command, err = decodeCommand("command.", raw, ErrInvalidRequest)
		o.recordNested(err)
	}
	req.Env = o.stringMap("env")
	req.WorkingDir = o.str("working_dir")
	req.Timeout, _ = o.units("timeout_ms", time.Millisecond, ErrTimeoutTooLarge)
	req.Stdin = o.str("stdin")
	req.OutputLogPath = o.str("output_log_path")
	req.Secrets = o.stringList("secrets")
	req.Chunks = o.boolean("chunks")
	req.NoLineEvents = o.boolean("no_line_events")
	req.Interactive = o.boolean("interactive")
	if raw := o.raw("pty"); raw != nil && o.err == nil {
		req.PTY, err = decodePTY("pty.", raw, ErrInvalidRequest)
		o.recordNested(err)
	}
	if raw := o.raw("metadata"); raw != nil && o.err == nil {
		req.Metadata, err = decodeMetadata("metadata.", raw, ErrInvalidRequest)
		o.recordNested(err)
	}
	if o.err != nil {
		return o.err
	}
	*r = req
	return nil
}

// MarshalJSON writes the status as a string, and the zero Status as null.
// A Status that is not one of the six is an error.
func (s Status) MarshalJSON() ([]byte, error) {
	switch s {
	case "":
		return []byte("null"), nil
	case StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusTimeout, StatusCancelled:
		return json.Marshal(string(s))
	}
	return nil, &jsonError{msg: fmt.Sprintf("unknown status %s", quoteShort(string(s)))}
}

// UnmarshalJSON accepts the lowercase names and, as the Rust crate may
// send them, PascalCase ones. null leaves s as it is (the zero Status in a
// new value).
func (s *Status) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return &jsonError{msg: fmt.Sprintf("want a status string, got %s", jsonKind(data))}
	}
	st := Status(strings.ToLower(str))
	switch st {
	case StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusTimeout, StatusCancelled:
		*s = st
		return nil
	}
	return &jsonError{msg: fmt.Sprintf("unknown status %s (want pending, running, completed, failed, timeout or cancelled)", quoteShort(str))}
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
	PID         *int         `json:"pid"`
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

// MarshalJSON writes the Rust ExecutionResult shape plus this port's
// fields. Unset values are null: PID 0 (never started), zero times.
// duration_ms is Duration in whole milliseconds, for display; decoding
// reads the exact "duration".
func (r Result) MarshalJSON() ([]byte, error) {
	d, err := toRustDuration("duration", r.Duration)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resultJSON{
		ID: r.ID, Status: r.Status, Success: r.Success, ExitCode: r.ExitCode, Signal: optString(r.Signal),
		Stdout: r.Stdout, Stderr: r.Stderr, StdoutFile: optString(r.StdoutFile), StderrFile: optString(r.StderrFile),
		Truncated: r.Truncated, PID: optInt(r.PID), SubmittedAt: optTime(r.SubmittedAt), StartedAt: optTime(r.StartedAt),
		CompletedAt: optTime(r.CompletedAt), Duration: d, DurationMS: r.Duration.Milliseconds(),
		Error: optString(r.Error), ErrorCode: optString(r.ErrorCode), OutputIncomplete: r.OutputIncomplete,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes; null fields are zero.
func (r *Result) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	res, err := decodeResult("", data)
	if err != nil {
		return err
	}
	*r = res
	return nil
}

func decodeResult(path string, data []byte) (Result, error) {
	o, err := readObject("result", path, data, nil)
	if err != nil {
		return Result{}, err
	}
	r := Result{
		ID: o.uuid("id"), Status: o.status("status"), Success: o.boolean("success"),
		ExitCode: int(o.integer("exit_code", 0)), Signal: o.str("signal"),
		Stdout: o.str("stdout"), Stderr: o.str("stderr"), StdoutFile: o.str("stdout_file"), StderrFile: o.str("stderr_file"),
		Truncated: o.boolean("truncated"), PID: int(o.integer("pid", 0)),
		SubmittedAt: o.time("submitted_at"), StartedAt: o.time("started_at"), CompletedAt: o.time("completed_at"),
		Duration: o.rustDuration("duration"), Error: o.str("error"), ErrorCode: o.str("error_code"),
		OutputIncomplete: o.boolean("output_incomplete"),
	}
	return r, o.err
}

type summaryJSON struct {
	ID         uuid.UUID     `json:"id"`
	Status     Status        `json:"status"`
	StartedAt  *jsonTime     `json:"started_at"`
	Duration   *rustDuration `json:"duration"`
	DurationMS *int64        `json:"duration_ms"`
}

// MarshalJSON writes {"id","status","started_at","duration","duration_ms"};
// duration is null while the execution is not terminal (Duration 0).
func (s Summary) MarshalJSON() ([]byte, error) {
	j := summaryJSON{ID: s.ID, Status: s.Status, StartedAt: optTime(s.StartedAt)}
	if s.Status.IsTerminal() || s.Duration != 0 {
		d, err := toRustDuration("duration", s.Duration)
		if err != nil {
			return nil, err
		}
		ms := s.Duration.Milliseconds()
		j.Duration, j.DurationMS = &d, &ms
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; null fields are zero.
func (s *Summary) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	o, err := readObject("summary", "", data, nil)
	if err != nil {
		return err
	}
	v := Summary{ID: o.uuid("id"), Status: o.status("status"), StartedAt: o.time("started_at"), Duration: o.rustDuration("duration")}
	if o.err != nil {
		return o.err
	}
	*s = v
	return nil
}

type eventJSON struct {
	Type        EventType       `json:"event_type"`
	ExecutionID uuid.UUID       `json:"execution_id"`
	Seq         uint64          `json:"seq"`
	Timestamp   *jsonTime       `json:"timestamp"`
	Command     *string         `json:"command,omitempty"`
	Line        *string         `json:"line,omitempty"`
	Data        *[]byte         `json:"data,omitempty"`
	Error       *string         `json:"error,omitempty"`
	TimeoutMS   *int64          `json:"timeout_ms,omitempty"`
	OldStatus   *Status         `json:"old_status,omitempty"`
	NewStatus   *Status         `json:"new_status,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
}

// MarshalJSON writes the Rust ExecutionEvent shape: "event_type", the
// fields of that type (others are not written), "timestamp" (null when
// zero), and this port's "seq".
func (ev Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Type: ev.Type, ExecutionID: ev.ExecutionID, Seq: ev.Seq, Timestamp: optTime(ev.Timestamp)}
	switch ev.Type {
	case EventStarted:
		j.Command = &ev.Command
	case EventStdout, EventStderr:
		j.Line = &ev.Line
	case EventStdoutChunk, EventStderrChunk:
		j.Data = &ev.Data
	case EventFailed:
		j.Error = &ev.Error
	case EventTimeout:
		j.TimeoutMS = &ev.TimeoutMS
	case EventStatusChanged:
		j.OldStatus, j.NewStatus = &ev.OldStatus, &ev.NewStatus
	}
	if ev.Type.IsTerminal() {
		res := []byte("null")
		if ev.Result != nil {
			var err error
			if res, err = ev.Result.MarshalJSON(); err != nil {
				return nil, err
			}
		}
		j.Result = res
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes: the fields of the
// event's type (others are ignored); null fields are zero.
func (ev *Event) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	o, err := readObject("event", "", data, nil)
	if err != nil {
		return err
	}
	v := Event{Type: EventType(o.str("event_type")), ExecutionID: o.uuid("execution_id"), Seq: o.uinteger("seq"),
		Timestamp: o.time("timestamp")}
	// Only the fields of the type are read, as only they are written.
	switch v.Type {
	case EventStarted:
		v.Command = o.str("command")
	case EventStdout, EventStderr:
		v.Line = o.str("line")
	case EventStdoutChunk, EventStderrChunk:
		v.Data = o.base64("data")
	case EventFailed:
		v.Error = o.str("error")
	case EventTimeout:
		v.TimeoutMS = o.integer("timeout_ms", 64)
	case EventStatusChanged:
		v.OldStatus, v.NewStatus = o.status("old_status"), o.status("new_status")
	}
	if raw := o.raw("result"); raw != nil && v.Type.IsTerminal() && o.err == nil {
		res, err := decodeResult("result.", raw)
		o.recordNested(err)
		v.Result = &res
	}
	if o.err != nil {
		return o.err
	}
	*ev = v
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
	MaxRetainedOutputBytes  int64                   `json:"max_retained_output_bytes"`
	ExecutionRetentionSecs  int64                   `json:"execution_retention_secs"`
	CleanupIntervalSecs     int64                   `json:"cleanup_interval_secs"`
	EnableAutoCleanup       bool                    `json:"enable_auto_cleanup"`
	MaxOutputSizeBytes      int64                   `json:"max_output_size_bytes"`
	OversizedOutputStrategy OversizedOutputStrategy `json:"oversized_output_strategy"`
	KillGracePeriodMS       int64                   `json:"kill_grace_period_ms"`
}

// configDurations are Config's duration fields with their JSON names and units.
func configDurations(c *Config) []struct {
	name string
	d    *time.Duration
	unit time.Duration
} {
	return []struct {
		name string
		d    *time.Duration
		unit time.Duration
	}{
		{"default_timeout_ms", &c.DefaultTimeout, time.Millisecond},
		{"max_timeout_ms", &c.MaxTimeout, time.Millisecond},
		{"execution_retention_secs", &c.ExecutionRetention, time.Second},
		{"cleanup_interval_secs", &c.CleanupInterval, time.Second},
		{"kill_grace_period_ms", &c.KillGracePeriod, time.Millisecond},
	}
}

// MarshalJSON writes the Rust ExecutionConfig field names plus this port's
// (max_queued_executions, max_retained_output_bytes, cleanup_interval_secs,
// kill_grace_period_ms).
// Durations are written in their field's unit, rounded up (a 500 ms
// CleanupInterval is 1 s, never the invalid 0); a negative one is an error
// matching [ErrInvalidConfig]. EventHandler and Logger are not data and
// are left out.
func (c Config) MarshalJSON() ([]byte, error) {
	j := configJSON{
		StreamOutput: c.StreamOutput, LogDir: optString(c.LogDir),
		MaxConcurrentExecutions: c.MaxConcurrentExecutions, MaxQueuedExecutions: c.MaxQueuedExecutions,
		MaxInMemoryExecutions: c.MaxInMemoryExecutions, MaxRetainedOutputBytes: c.MaxRetainedOutputBytes,
		EnableAutoCleanup:  c.EnableAutoCleanup,
		MaxOutputSizeBytes: c.MaxOutputSizeBytes, OversizedOutputStrategy: c.OversizedOutputStrategy,
	}
	out := []*int64{&j.DefaultTimeoutMS, &j.MaxTimeoutMS, &j.ExecutionRetentionSecs, &j.CleanupIntervalSecs, &j.KillGracePeriodMS}
	for i, f := range configDurations(&c) {
		n, err := unitsField(f.name, *f.d, f.unit, ErrInvalidConfig)
		if err != nil {
			return nil, err
		}
		*out[i] = n
	}
	return json.Marshal(j)
}

// UnmarshalJSON sets the fields present (and not null) in data and leaves
// the others as they are: decode into DefaultConfig() to get defaults for
// absent fields. log_dir null means no LogDir. An error names the JSON
// field, matches [ErrInvalidConfig] and leaves c unchanged; a duration
// that is negative or does not fit in a time.Duration is an error.
func (c *Config) UnmarshalJSON(data []byte) error {
	if isNullOrAbsent(data) {
		return nil
	}
	o, err := readObject("config", "", data, ErrInvalidConfig)
	if err != nil {
		return err
	}
	v := *c
	for _, f := range configDurations(&v) {
		if d, ok := o.units(f.name, f.unit, ErrInvalidConfig); ok {
			*f.d = d
		}
	}
	setBool := func(name string, p *bool) {
		if o.has(name) {
			*p = o.boolean(name)
		}
	}
	setInt := func(name string, p *int) {
		if o.has(name) {
			*p = int(o.integer(name, 0))
		}
	}
	setInt64 := func(name string, p *int64) {
		if o.has(name) {
			*p = o.integer(name, 64)
		}
	}
	setBool("stream_output", &v.StreamOutput)
	if _, ok := o.m["log_dir"]; ok {
		v.LogDir = o.str("log_dir")
	}
	setInt("max_concurrent_executions", &v.MaxConcurrentExecutions)
	setInt("max_queued_executions", &v.MaxQueuedExecutions)
	setInt("max_in_memory_executions", &v.MaxInMemoryExecutions)
	setInt64("max_retained_output_bytes", &v.MaxRetainedOutputBytes)
	setBool("enable_auto_cleanup", &v.EnableAutoCleanup)
	setInt64("max_output_size_bytes", &v.MaxOutputSizeBytes)
	if o.has("oversized_output_strategy") {
		v.OversizedOutputStrategy = OversizedOutputStrategy(o.str("oversized_output_strategy"))
	}
	if o.err != nil {
		return o.err
	}
	*c = v
	return nil
}
