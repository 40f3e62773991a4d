package execengine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// referenceMask is the non-streaming definition of redaction: every byte
// inside any occurrence of any needle is masked, and each maximal run of
// masked bytes becomes one Redacted.
func referenceMask(needles []string, in []byte) []byte {
	masked := make([]bool, len(in))
	for _, n := range needles {
		for i := 0; i < len(in); {
			k := bytes.Index(in[i:], []byte(n))
			if k < 0 {
				break
			}
			for j := i + k; j < i+k+len(n); j++ {
				masked[j] = true
			}
			i += k + 1
		}
	}
	var out []byte
	for i := 0; i < len(in); i++ {
		if !masked[i] {
			out = append(out, in[i])
			continue
		}
		out = append(out, Redacted...)
		for i+1 < len(in) && masked[i+1] {
			i++
		}
	}
	return out
}

// streamed runs in through a redactor in pieces of the sizes cuts gives
// (cycled; each size%97+1), then flushes.
func streamed(m *matcher, in []byte, cuts []byte) []byte {
	r := &redactor{m: m}
	var out []byte
	for i, c := 0, 0; i < len(in); c++ {
		n := len(in) - i
		if len(cuts) > 0 {
			n = min(n, int(cuts[c%len(cuts)])%97+1)
		}
		out = append(out, r.Write(in[i:i+n])...)
		i += n
	}
	return append(out, r.Flush()...)
}

// checkRedaction asserts the two properties: the streamed output equals
// the reference, and no stretch of it between masks holds a needle.
func checkRedaction(t *testing.T, m *matcher, in, cuts []byte) {
	t.Helper()
	got := streamed(m, in, cuts)
	if want := referenceMask(m.needles, in); !bytes.Equal(got, want) {
		t.Fatalf("streamed in pieces %v:\n got %q\nwant %q\n(input %q)", cuts, trunc(got), trunc(want), trunc(in))
	}
	for _, piece := range bytes.Split(got, []byte(Redacted)) {
		for _, n := range m.needles {
			if bytes.Contains(piece, []byte(n)) {
				t.Fatalf("output %q holds needle %q", trunc(got), trunc([]byte(n)))
			}
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:150]) + fmt.Sprintf("…(%d bytes)…", len(b)-300) + string(b[len(b)-150:])
	}
	return string(b)
}

// expand replaces each byte 0x01–0x07 of text with a needle, so that
// random texts are full of secrets, encodings and near misses.
func expand(text []byte, needles []string) []byte {
	var in []byte
	for _, b := range text {
		if b >= 1 && b <= 7 {
			in = append(in, needles[int(b)%len(needles)]...)
			continue
		}
		in = append(in, b)
	}
	return in
}

func splitSecrets(list string) []string {
	var secrets []string
	for _, s := range strings.Split(list, "\x00") {
		if len(s) >= MinSecretLen && len(secrets) < 8 {
			secrets = append(secrets, s)
		}
	}
	return secrets
}

// FuzzRedact: secrets (NUL-separated; shorter ones ignored), a text whose
// bytes 1–7 stand for needles, and the sizes of the writes.
func FuzzRedact(f *testing.F) {
	f.Add("aaaaab", []byte("aaaaaaab aaaa\x01ab"), []byte{3, 2})
	f.Add("secret\x00cret-token", []byte("xx secret-token yy\x01\x02"), []byte{1})
	f.Add("abcdef\x00bcde12", []byte("abcdefbcde12 abcdef"), []byte{0, 4})
	f.Add("sekrit-at-end", []byte("the end: sekrit-at-end"), []byte{5})
	f.Add("line-one\r\nline-two", []byte("a line-one\r\nline-two b line-one\nline-two\r\n"), []byte{8, 0})
	f.Fuzz(func(t *testing.T, list string, text, cuts []byte) {
		secrets := splitSecrets(list)
		if len(secrets) == 0 || len(text) > 1<<18 {
			return
		}
		m := newMatcher(secrets)
		checkRedaction(t, m, expand(text, m.needles), cuts)
	})
}

// TestRedactRandom is the property test in every run: random secrets over
// a small alphabet (so they overlap, nest and nearly match), random texts
// made of them, random chunkings.
func TestRedactRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("aab\n\r+/=\"%")
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for iter := range 3000 {
		var secrets []string
		for range 1 + rng.IntN(4) {
			secrets = append(secrets, word(MinSecretLen+rng.IntN(6)))
		}
		m := newMatcher(secrets)
		var text []byte
		for range rng.IntN(30) {
			if rng.IntN(2) == 0 {
				text = append(text, m.needles[rng.IntN(len(m.needles))]...)
			} else {
				text = append(text, word(rng.IntN(8))...)
			}
		}
		cuts := make([]byte, 1+rng.IntN(5))
		for i := range cuts {
			cuts[i] = byte(rng.IntN(12))
		}
		t.Run(fmt.Sprint(iter), func(t *testing.T) { checkRedaction(t, m, text, cuts) })
		if t.Failed() {
			return
		}
	}
}

// TestRedactAaAb is the case GitLab's masker misses: a secret written as
// "aa" + "ab" in two writes, in every split.
func TestRedactAaAb(t *testing.T) {
	secret := "aaaaab"
	m := newMatcher([]string{secret})
	in := []byte("aaaaaaab|aaaaab|aaaaaaaaab")
	for cut := 1; cut < len(in); cut++ {
		r := &redactor{m: m}
		got := append(append([]byte(nil), r.Write(in[:cut])...), r.Write(in[cut:])...)
		got = append(got, r.Flush()...)
		if want := "aa[REDACTED]|[REDACTED]|aaaa[REDACTED]"; string(got) != want {
			t.Fatalf("cut at %d: got %q, want %q", cut, got, want)
		}
	}
}

// TestRedactNeverReleasesEarly: no prefix of the output, at any moment,
// holds the start of a secret that is still being written.
func TestRedactNeverReleasesEarly(t *testing.T) {
	secret := "hunter2-the-password"
	m := newMatcher([]string{secret})
	r := &redactor{m: m}
	var out []byte
	in := "log: " + secret + " done"
	for i := range len(in) {
		out = append(out, r.Write([]byte{in[i]})...)
		if i >= 5 && i < 5+len(secret) && bytes.Contains(out, []byte("h")) {
			t.Fatalf("after %q the output %q already shows a byte of the secret", in[:i+1], out)
		}
	}
	out = append(out, r.Flush()...)
	if string(out) != "log: [REDACTED] done" {
		t.Fatalf("got %q", out)
	}
}

func TestRedactOverlapAndNested(t *testing.T) {
	m := newMatcher([]string{"abcdefgh", "efghijkl", "cdef12", "xxcdef12xx"})
	for _, c := range []struct{ in, want string }{
		{"1abcdefghijkl2", "1[REDACTED]2"}, // overlapping: one mask over the union
		{"1xxcdef12xx2", "1[REDACTED]2"},   // nested
		{"abcdefghabcdefgh", "[REDACTED]"}, // touching
		{"abcdefgh abcdefgh", "[REDACTED] [REDACTED]"},
		{"abcdefg", "abcdefg"}, // a near miss at the end is released at Flush
	} {
		if got := m.maskString(c.in); got != c.want {
			t.Errorf("mask(%q) = %q, want %q", c.in, got, c.want)
		}
		checkRedaction(t, m, []byte(c.in), []byte{0, 1, 2})
	}
}

// TestRedactCRLF: a multi-line secret printed with CRLF line ends, and its
// lines one by one.
func TestRedactCRLF(t *testing.T) {
	secret := "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----"
	m := newMatcher([]string{secret})
	crlf := strings.ReplaceAll(secret, "\n", "\r\n")
	in := "key:\r\n" + crlf + "\r\nline: MIIEowIBAAKCAQEA\r\n"
	want := "key:\r\n[REDACTED]\r\nline: [REDACTED]\r\n"
	if got := m.maskString(in); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	checkRedaction(t, m, []byte(in), []byte{0, 3, 7})
}

// TestRedactEncodings: each listed encoding of the value is masked.
func TestRedactEncodings(t *testing.T) {
	secret := `p@ss "wörd"/<1>&%`
	m := newMatcher([]string{secret})
	js, _ := json.Marshal(secret)
	for _, enc := range []string{
		secret,
		string(js[1 : len(js)-1]),
		url.QueryEscape(secret),
		url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte("u:" + secret)),
		base64.StdEncoding.EncodeToString([]byte("us:" + secret + "x")),
		base64.URLEncoding.EncodeToString([]byte("user:" + secret)),
		`p@ss \"w\u00f6rd\"/<1>&%`,
	} {
		got := m.maskString("<" + enc + ">")
		if !strings.Contains(got, Redacted) {
			t.Errorf("encoding %q: masked to %q", enc, got)
		}
		checkRedaction(t, m, []byte("<"+enc+">"), []byte{2, 5})
	}
}

// TestRedactLongSecret: a secret longer than a 64 KiB block, written in
// block-sized and odd pieces; it lives in the automaton's sparse states.
func TestRedactLongSecret(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 70<<10)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
	}
	secret := string(b)
	m := newMatcher([]string{secret, "short-one"})
	in := []byte("start " + secret[:1000] + " " + secret + "\nshort-one " + secret[:len(secret)-1])
	for _, cuts := range [][]byte{nil, {96}, {13, 200, 1}} {
		checkRedaction(t, m, in, cuts)
	}
	r := &redactor{m: m}
	var out []byte
	for i := 0; i < len(in); i += blockSize {
		out = append(out, r.Write(in[i:min(i+blockSize, len(in))])...)
	}
	out = append(out, r.Flush()...)
	if want := referenceMask(m.needles, in); !bytes.Equal(out, want) {
		t.Fatalf("in 64 KiB blocks: got %d bytes, want %d", len(out), len(want))
	}
}

// TestRedactorAddSecretsMidStream: needles added while a secret is half
// written still catch it; what was released before stays as it was.
func TestRedactorAddSecretsMidStream(t *testing.T) {
	set := newSecretSet([]string{"abcdef-old"}, newMatcher([]string{"abcdef-old"}))
	r := newRedactor(set)
	var out []byte
	out = append(out, r.Write([]byte("before abcdef-new "))...)
	out = append(out, r.Write([]byte("half: abcdef-"))...) // held: it may be the old secret
	set.add([]string{"abcdef-new"})
	out = append(out, r.Write([]byte("new after abcdef-old abcdef-new"))...)
	out = append(out, r.Flush()...)
	if want := "before abcdef-new half: [REDACTED] after [REDACTED] [REDACTED]"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestSecretValidation(t *testing.T) {
	err := checkSecrets("Request.Secrets", []string{"long-enough", "abc"})
	if err == nil || err.Error() != "Request.Secrets[1] is 3 bytes; a secret needs at least 6" {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "abc") {
		t.Fatalf("the error names the value: %v", err)
	}
	m := newMatcher([]string{"sekrit-value"})
	masked := m.maskError(fmt.Errorf("%w: argument %q", ErrInvalidRequest, "x sekrit-value"))
	if !errors.Is(masked, ErrInvalidRequest) || masked.Error() != `execengine: invalid request: argument "x [REDACTED]"` {
		t.Fatalf("masked error %v", masked)
	}
}

func TestSecretEnvMatch(t *testing.T) {
	p := DefaultSecretEnvPatterns()
	for name, want := range map[string]bool{
		"AWS_SECRET_ACCESS_KEY": true, "aws_secret_access_key": true, "GITHUB_TOKEN": true,
		"DB_PASSWORD": true, "MY_SECRET_VALUE": true, "AWS_SESSION_TOKEN": true, "OPENAI_API_KEY": true,
		"HOME": false, "TOKENS": false, "PATH": false, "AWS_ACCESS_KEY_ID": false,
	} {
		if got := secretEnvMatch(p, name); got != want {
			t.Errorf("secretEnvMatch(%q) = %v, want %v", name, got, want)
		}
	}
}

// benchSecrets are 20 secrets of the kind playbooks handle.
func benchSecrets() []string {
	rng := rand.New(rand.NewPCG(5, 6))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
	var s []string
	for i := range 20 {
		b := make([]byte, 20+i)
		for j := range b {
			b[j] = chars[rng.IntN(len(chars))]
		}
		s = append(s, string(b))
	}
	return s
}

// benchText is n bytes of log-like lines of 100 bytes.
func benchText(n int) []byte {
	line := []byte("2026-12-02T05:00:00Z INFO request handled path=/api/v1/items status=200 bytes=5123 user=ops-bot\n")
	line = append(bytes.Repeat([]byte("x"), 100-len(line)), line...)
	return bytes.Repeat(line, n/len(line))
}

// BenchmarkRedact is the redactor alone over 64 KiB writes, 20 secrets and
// all their encodings configured (target ≥ 500 MB/s).
func BenchmarkRedact(b *testing.B) {
	m := newMatcher(benchSecrets())
	text := benchText(4 << 20)
	b.SetBytes(int64(len(text)))
	b.ReportMetric(float64(len(m.needles)), "needles")
	r := &redactor{m: m}
	for b.Loop() {
		for i := 0; i < len(text); i += blockSize {
			r.Write(text[i:min(i+blockSize, len(text))])
		}
	}
	r.Flush()
}

// BenchmarkNewMatcher is the cost of building the automaton for 20 secrets:
// paid once per engine for Config.Secrets, per execution for its own.
func BenchmarkNewMatcher(b *testing.B) {
	s := benchSecrets()
	b.ReportAllocs()
	for b.Loop() {
		newMatcher(s)
	}
}

// TestRedactPrefilter: long writes take the sampled-gram path; the result
// must still equal the reference, for needles across every sampling phase.
func TestRedactPrefilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("abcdefgh\n=+/%")
	word := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	for iter := range 200 {
		var secrets []string
		for range 1 + rng.IntN(20) {
			secrets = append(secrets, string(word(MinSecretLen+rng.IntN(30))))
		}
		m := newMatcher(secrets)
		var text []byte
		for len(text) < 20000 {
			if rng.IntN(4) == 0 {
				n := m.needles[rng.IntN(len(m.needles))]
				if rng.IntN(3) == 0 {
					n = n[:rng.IntN(len(n))] // a near miss
				}
				text = append(text, n...)
			} else {
				text = append(text, word(rng.IntN(300))...)
			}
		}
		got := streamed(m, text, nil)
		r := &redactor{m: m}
		var chunked []byte
		for i := 0; i < len(text); {
			n := min(len(text)-i, 1+rng.IntN(8000))
			chunked = append(chunked, r.Write(text[i:i+n])...)
			i += n
		}
		chunked = append(chunked, r.Flush()...)
		want := referenceMask(m.needles, text)
		if !bytes.Equal(got, want) || !bytes.Equal(chunked, want) {
			t.Fatalf("iteration %d: prefiltered output differs from the reference", iter)
		}
	}
}
