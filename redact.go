package execengine

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Redacted replaces every stretch of output that is (part of) a secret.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest secret accepted: masking "{" or "e" would
// destroy all output.
const MinSecretLen = 6

// DefaultSecretEnvPatterns returns the env var name patterns used when
// Config.SecretEnvPatterns is nil.
func DefaultSecretEnvPatterns() []string {
	return []string{"*_TOKEN", "*_SECRET", "*_SECRET_*", "*SECRET_ACCESS_KEY", "*_PASSWORD", "*_PASSWD",
		"*_API_KEY", "*_PRIVATE_KEY", "AWS_SESSION_TOKEN"}
}

// checkSecrets refuses secrets shorter than MinSecretLen, naming the
// position (where, e.g. "Request.Secrets") and never the value.
func checkSecrets(where string, secrets []string) error {
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return fmt.Errorf("%s[%d] is %d bytes; a secret needs at least %d", where, i, len(s), MinSecretLen)
		}
	}
	return nil
}

// secretEnvMatch reports whether the env var name matches one of the
// patterns (path.Match, case-insensitive).
func secretEnvMatch(patterns []string, name string) bool {
	name = strings.ToUpper(name)
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToUpper(p), name); ok {
			return true
		}
	}
	return false
}

// needles returns the byte strings that count as the secret s in output:
// the value, and for a multi-line value its LF and CRLF forms and each line
// of at least MinSecretLen bytes; each of those as given, JSON-string
// escaped, percent-encoded and base64 encoded at the three byte alignments.
func needles(s string) []string {
	forms := []string{s}
	if strings.ContainsAny(s, "\r\n") {
		lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
		forms = append(forms, strings.Join(lines, "\n"), strings.Join(lines, "\r\n"))
		for _, l := range lines {
			if len(l) >= MinSecretLen {
				forms = append(forms, l)
			}
		}
	}
	var out []string
	for _, f := range forms {
		out = append(out, f)
		out = append(out, jsonForms(f)...)
		q := url.QueryEscape(f)
		out = append(out, q, strings.ReplaceAll(q, "+", "%20"), url.PathEscape(f))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			out = append(out, base64Forms(enc, f)...)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(n string) bool { return len(n) == 0 })
}

// jsonForms: Go's escaping (with and without HTML escapes) and the
// ASCII-only form (non-ASCII as \uXXXX, as Python's json.dumps writes).
func jsonForms(s string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			q := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
			out = append(out, string(q[1:len(q)-1]))
		}
	}
	if utf8.ValidString(s) && strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		var b strings.Builder
		for _, r := range out[1] {
			if r < utf8.RuneSelf {
				b.WriteRune(r)
			} else if r > 0xFFFF {
				r1, r2 := (r-0x10000)>>10+0xD800, (r-0x10000)&0x3FF+0xDC00
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// base64Forms returns the characters of the encoding of s that depend on s
// alone, with s at each of the three byte offsets of a 3-byte group: the
// characters shared with the bytes before or after, and padding, dropped.
// At offset 0 a value longer than 57 bytes is also given wrapped at 76
// columns, as the base64 tool writes it.
func base64Forms(enc *base64.Encoding, s string) []string {
	var out []string
	for k := range 3 {
		buf := make([]byte, k+len(s)+3)
		copy(buf[k:], s)
		full := enc.EncodeToString(buf)
		first := (8*k + 5) / 6
		last := (8*k + 8*len(s)) / 6 // exclusive
		if last > first {
			out = append(out, full[first:last])
		}
		if k == 0 && last > 76 {
			var b strings.Builder
			for i := 0; i < last; i += 76 {
				if i > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(full[i:min(i+76, last)])
			}
			out = append(out, b.String())
		}
	}
	return out
}

// A matcher is an Aho-Corasick automaton over a set of needles, immutable
// once built and shared by any number of redactors. Shallow states have a
// full transition row over byte classes (one table load per input byte);
// deep ones, which text reaches only while it spells a long needle, keep
// their trie edges and failure link, so memory stays linear in the total
// needle length however long a secret is.
//
// A state is a uint32: dense state k is k*ncls (a row offset), sparse
// state j is denseEnd+j. Dense states that end a needle are numbered last,
// so one comparison (st >= hot) finds both matches and sparse states.
type matcher struct {
	cls      [256]byte
	ncls     uint32
	tab      []uint32 // dense rows
	hot      uint32   // first dense match state
	denseEnd uint32   // first sparse state
	nDense   uint32
	// per node index (dense first, then sparse):
	depth []int32 // length of the state's string
	match []int32 // longest needle that is a suffix of it, or 0
	// sparse nodes only, by j:
	fail      []uint32
	edgeStart []int32 // edges of j: edges[edgeStart[j]:edgeStart[j+1]]
	edges     []edge
	maxLen    int
	needles   []string
	// The prefilter: a bitset of hashed 4-byte grams of the needles, and
	// the sampling step (0: no prefilter).
	grams      []uint64
	sampleStep int
}

const gramBits = 20 // 128 KiB of bitset: few false hits

type edge struct {
	b  byte
	to uint32
}

// denseBudget bounds the dense table (entries of 4 bytes).
const denseBudget = 1 << 18

func (m *matcher) node(st uint32) uint32 {
	if st < m.denseEnd {
		return st / m.ncls
	}
	return st - m.denseEnd + m.nDense
}

// step is the transition from a sparse state.
func (m *matcher) step(st uint32, b byte) uint32 {
	for st >= m.denseEnd {
		j := st - m.denseEnd
		for _, e := range m.edges[m.edgeStart[j]:m.edgeStart[j+1]] {
			if e.b == b {
				return e.to
			}
		}
		st = m.fail[j]
	}
	return m.tab[st+uint32(m.cls[b])]
}

// newMatcher builds the automaton for the secrets' needles; nil if there
// are none.
func newMatcher(secrets []string) *matcher {
	var all []string
	for _, s := range secrets {
		all = append(all, needles(s)...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 {
		return nil
	}
	m := &matcher{needles: all}
	minLen := len(all[0])
	for _, n := range all {
		minLen = min(minLen, len(n))
	}
	if minLen >= 6 {
		m.sampleStep = minLen - 3
		m.grams = make([]uint64, 1<<gramBits/64)
		for _, n := range all {
			for i := 0; i+4 <= len(n); i++ {
				h := (binary.LittleEndian.Uint32([]byte(n[i:])) * 0x9E3779B1) >> (32 - gramBits)
				m.grams[h>>6] |= 1 << (h & 63)
			}
		}
	}
	// Byte classes: each byte used by a needle has its own, the rest share 0.
	ncls := 1
	for _, n := range all {
		for i := 0; i < len(n); i++ {
			if m.cls[n[i]] == 0 {
				m.cls[n[i]] = byte(ncls)
				ncls++
			}
		}
		m.maxLen = max(m.maxLen, len(n))
	}
	// 255 distinct bytes plus class 0 still fit: a byte class index ≤ 255.
	m.ncls = uint32(ncls)

	// The trie, children as sorted edge lists.
	type tnode struct {
		kids  []edge // to = trie node index
		depth int32
		term  bool
	}
	trie := []tnode{{}}
	for _, n := range all {
		u := uint32(0)
		for i := 0; i < len(n); i++ {
			c := n[i]
			k, found := slices.BinarySearchFunc(trie[u].kids, c, func(e edge, c byte) int { return int(e.b) - int(c) })
			if found {
				u = trie[u].kids[k].to
				continue
			}
			v := uint32(len(trie))
			trie = append(trie, tnode{depth: trie[u].depth + 1})
			trie[u].kids = slices.Insert(trie[u].kids, k, edge{c, v})
			u = v
		}
		trie[u].term = true
	}

	// BFS order; failure links; longest match per node.
	N := len(trie)
	order := make([]uint32, 0, N)
	order = append(order, 0)
	failT := make([]uint32, N)
	matchT := make([]int32, N)
	for h := 0; h < len(order); h++ {
		u := order[h]
		if trie[u].term {
			matchT[u] = trie[u].depth
		} else if u != 0 {
			matchT[u] = matchT[failT[u]]
		}
		for _, e := range trie[u].kids {
			v := e.to
			if u != 0 {
				f := failT[u]
				for {
					k, ok := slices.BinarySearchFunc(trie[f].kids, e.b, func(e edge, c byte) int { return int(e.b) - int(c) })
					if ok {
						failT[v] = trie[f].kids[k].to
						break
					}
					if f == 0 {
						break
					}
					f = failT[f]
				}
			}
			order = append(order, v)
		}
	}

	// Number the nodes: the first nDense in BFS order are dense, non-match
	// ones first; then the sparse ones.
	nDense := min(N, max(1, denseBudget/ncls))
	idx := make([]uint32, N)
	next := uint32(0)
	for _, u := range order[:nDense] {
		if matchT[u] == 0 {
			idx[u], next = next, next+1
		}
	}
	hotIdx := next
	for _, u := range order[:nDense] {
		if matchT[u] != 0 {
			idx[u], next = next, next+1
		}
	}
	for _, u := range order[nDense:] {
		idx[u], next = next, next+1
	}
	m.nDense = uint32(nDense)
	m.denseEnd = uint32(nDense) * m.ncls
	m.hot = hotIdx * m.ncls
	enc := func(u uint32) uint32 {
		i := idx[u]
		if i < m.nDense {
			return i * m.ncls
		}
		return m.denseEnd + i - m.nDense
	}
	m.depth = make([]int32, N)
	m.match = make([]int32, N)
	for u := range trie {
		m.depth[idx[u]], m.match[idx[u]] = trie[u].depth, matchT[u]
	}
	nSparse := N - nDense
	m.fail = make([]uint32, nSparse)
	m.edgeStart = make([]int32, nSparse+1)
	for _, u := range order[nDense:] {
		j := idx[u] - m.nDense
		m.fail[j] = enc(failT[u])
		m.edgeStart[j+1] = int32(len(trie[u].kids))
	}
	for j := range nSparse {
		m.edgeStart[j+1] += m.edgeStart[j]
	}
	m.edges = make([]edge, m.edgeStart[nSparse])
	for _, u := range order[nDense:] {
		j := idx[u] - m.nDense
		for k, e := range trie[u].kids {
			m.edges[int(m.edgeStart[j])+k] = edge{e.b, enc(e.to)}
		}
	}
	// Dense rows in BFS order: a missing edge goes where the failure
	// link's state goes, which is shallower and so already known.
	m.tab = make([]uint32, m.denseEnd)
	for _, u := range order[:nDense] {
		row := m.tab[idx[u]*m.ncls : (idx[u]+1)*m.ncls]
		kids := trie[u].kids
		for c := range row {
			row[c] = 0 // class 0 and unknown bytes: root, unless failure says otherwise
		}
		if u != 0 {
			f := enc(failT[u])
			for c := uint32(1); c < m.ncls; c++ {
				row[c] = m.stepEncoded(f, c)
			}
		}
		for _, e := range kids {
			row[m.cls[e.b]] = enc(e.to)
		}
	}
	return m
}

// stepEncoded is the transition on byte class c while the table is built:
// f is dense (its row is done) or sparse (its failure chain leads to rows
// that are done).
func (m *matcher) stepEncoded(f uint32, c uint32) uint32 {
	for f >= m.denseEnd {
		j := f - m.denseEnd
		for _, e := range m.edges[m.edgeStart[j]:m.edgeStart[j+1]] {
			if uint32(m.cls[e.b]) == c {
				return e.to
			}
		}
		f = m.fail[j]
	}
	return m.tab[f+c]
}

// span is a masked range of input positions [start, end).
type span struct{ start, end int64 }

// A redactor masks the needles of a matcher in one byte stream written in
// pieces of any size. It holds back only the bytes that may still turn out
// to be part of a needle: the longest suffix of the input that is a prefix
// of one, and masked ranges that a later match could still extend. Every
// maximal run of input bytes covered by matches (overlapping or touching)
// becomes one Redacted. Not safe for concurrent use; the secret set it
// follows may grow from other goroutines (AddSecrets).
type redactor struct {
	set   *secretSet // followed for new needles; nil: m is fixed
	m     *matcher
	st    uint32
	pos   int64  // input bytes seen
	base  int64  // input before base has been released
	hold  []byte // input [pos-len(hold), pos); covers [base, pos) but for a masked gap at the front
	spans []span // matched ranges not yet released, in order, disjoint and not touching
	out   []byte
}

func newRedactor(set *secretSet) *redactor {
	return &redactor{set: set, m: set.matcher()}
}

// Write takes the next piece of the stream and returns the bytes that are
// now known: input with the masks applied. The result may alias p or an
// internal buffer; it is valid until the next call.
func (r *redactor) Write(p []byte) []byte {
	r.refresh()
	if r.m == nil {
		return p
	}
	r.scan(p)
	if len(r.hold) == 0 && len(r.spans) == 0 {
		// Nothing held, nothing masked: pass p on, holding its tail back.
		d := int(r.m.depth[r.m.node(r.st)])
		r.pos += int64(len(p))
		r.base = r.pos - int64(d)
		r.hold = append(r.hold, p[len(p)-d:]...)
		return p[:len(p)-d]
	}
	r.hold = append(r.hold, p...)
	r.pos += int64(len(p))
	return r.release(false)
}

// Flush releases everything held: the end of the stream.
func (r *redactor) Flush() []byte {
	r.refresh()
	out := r.release(true)
	r.st = 0 // anything written after starts afresh
	return out
}

// refresh follows the secret set: with new needles, what is held is
// scanned again from the start.
func (r *redactor) refresh() {
	if r.set == nil {
		return
	}
	m := r.set.matcher()
	if m == r.m {
		return
	}
	r.m, r.st = m, 0
	old := r.spans
	r.spans = nil
	r.pos -= int64(len(r.hold))
	r.scan(r.hold)
	r.pos += int64(len(r.hold))
	all := append(old, r.spans...)
	slices.SortFunc(all, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	r.spans = r.spans[:0:0]
	for _, sp := range all {
		if n := len(r.spans); n > 0 && r.spans[n-1].end >= sp.start {
			r.spans[n-1].end = max(r.spans[n-1].end, sp.end)
			continue
		}
		r.spans = append(r.spans, sp)
	}
}

// scan runs p through the automaton, recording matches; r.pos is the
// position of p[0]. In a long piece only the parts near a sampled 4-byte
// gram that occurs in some needle are run: every needle is at least
// m.minLen long, so an occurrence inside p holds one of the grams sampled
// every minLen-3 bytes. The first and last maxLen bytes are always run, so
// a match across the piece's start is found and the state at its end is
// exact.
func (r *redactor) scan(p []byte) {
	m := r.m
	if m == nil {
		return
	}
	ml := m.maxLen
	if m.sampleStep == 0 || len(p) < 4*ml+256 {
		r.run(p, 0)
		return
	}
	r.run(p[:ml], 0)
	next := ml // p[:next] is done
	grams := m.grams
	for i := 0; i+4 <= len(p); i += m.sampleStep {
		h := (binary.LittleEndian.Uint32(p[i:]) * 0x9E3779B1) >> (32 - gramBits)
		if grams[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		a, b := max(i+4-ml, next), min(i+ml, len(p))
		if a >= b {
			continue
		}
		if a > next {
			r.st = 0 // nothing that ends after a started before it
		}
		r.run(p[a:b], a)
		next = b
	}
	if a := max(len(p)-ml, next); a < len(p) {
		if a > next {
			r.st = 0
		}
		r.run(p[a:], a)
	}
}

// run runs q, at offset off of the piece, through the automaton.
func (r *redactor) run(q []byte, off int) {
	m := r.m
	tab, cls, hot, dense := m.tab, &m.cls, m.hot, m.denseEnd
	st := r.st
	at := r.pos + int64(off)
	for i := 0; i < len(q); i++ {
		if st < dense {
			st = tab[st+uint32(cls[q[i]])]
		} else {
			st = m.step(st, q[i])
		}
		if st >= hot {
			if l := m.match[m.node(st)]; l > 0 {
				end := at + int64(i) + 1
				r.addSpan(end-int64(l), end)
			}
		}
	}
	r.st = st
}

func (r *redactor) addSpan(start, end int64) {
	for n := len(r.spans); n > 0 && r.spans[n-1].end >= start; n-- {
		start, end = min(start, r.spans[n-1].start), max(end, r.spans[n-1].end)
		r.spans = r.spans[:n-1]
	}
	r.spans = append(r.spans, span{start, end})
}

// release emits the input before the point where a needle could still
// start (everything, at the end), masks applied, and drops it from hold.
func (r *redactor) release(final bool) []byte {
	upTo := r.pos
	if !final && r.m != nil {
		upTo -= int64(r.m.depth[r.m.node(r.st)])
	}
	holdAt := r.pos - int64(len(r.hold))
	byteAt := func(a, b int64) []byte { return r.hold[a-holdAt : b-holdAt] }
	out := r.out[:0]
	k := 0
	for ; k < len(r.spans); k++ {
		sp := r.spans[k]
		if !final && sp.end >= upTo {
			break // a later match may still extend it
		}
		if sp.start > r.base {
			out = append(out, byteAt(r.base, sp.start)...)
		}
		out = append(out, Redacted...)
		r.base = sp.end
	}
	r.spans = r.spans[:copy(r.spans, r.spans[k:])]
	stop := upTo
	if len(r.spans) > 0 {
		stop = min(stop, r.spans[0].start)
	}
	if stop > r.base {
		out = append(out, byteAt(r.base, stop)...)
		r.base = stop
	}
	// Keep only what is still needed: from base, less the middle of an
	// open mask (its bytes are never emitted; the last maxLen stay for a
	// rescan with new needles).
	keepFrom := r.base
	if len(r.spans) > 0 && r.spans[0].start == r.base && r.m != nil {
		keepFrom = max(keepFrom, r.spans[0].end-int64(r.m.maxLen))
	}
	if drop := keepFrom - holdAt; drop > 0 {
		r.hold = r.hold[:copy(r.hold, r.hold[drop:])]
	}
	r.out = out
	return out
}

// secretSet is the secrets of one execution: the engine's, the request's
// and those added while it runs. Its matcher is replaced, never changed.
type secretSet struct {
	mu      sync.Mutex // serializes AddSecrets
	secrets []string
	cur     atomic.Pointer[matcher]
}

func newSecretSet(secrets []string, m *matcher) *secretSet {
	s := &secretSet{secrets: secrets}
	s.cur.Store(m)
	return s
}

func (s *secretSet) matcher() *matcher {
	if s == nil {
		return nil
	}
	return s.cur.Load()
}

func (s *secretSet) add(secrets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := append(slices.Clip(s.secrets), secrets...)
	s.cur.Store(newMatcher(all))
	s.secrets = all
}

// maskString masks the needles of m in s.
func (m *matcher) maskString(s string) string {
	if m == nil || s == "" {
		return s
	}
	r := &redactor{m: m}
	out := append([]byte(nil), r.Write([]byte(s))...)
	out = append(out, r.Flush()...)
	return string(out)
}

// maskedError keeps what errors.Is finds in an error whose message has
// been masked, without exposing the original message through Unwrap.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }

// Is reports whether the original error matches target.
func (e *maskedError) Is(target error) bool { return errors.Is(e.err, target) }

func (m *matcher) maskError(err error) error {
	if err == nil || m == nil {
		return err
	}
	if msg := m.maskString(err.Error()); msg != err.Error() {
		return &maskedError{msg, err}
	}
	return err
}

// secretsFor collects what is masked in req's execution: Config.Secrets,
// req.Secrets and the values of req.Env entries whose names match
// Config.SecretEnvPatterns. A secret that is too short is refused, named by
// its position or env var name, never by its value.
func (e *Engine) secretsFor(req *Request) (*secretSet, error) {
	if err := checkSecrets("Request.Secrets", req.Secrets); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	own := slices.Clone(req.Secrets)
	patterns := e.cfg.SecretEnvPatterns
	if patterns == nil {
		patterns = DefaultSecretEnvPatterns()
	}
	names := make([]string, 0, len(req.Env))
	for k, v := range req.Env {
		if v != "" && secretEnvMatch(patterns, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		if v := req.Env[k]; len(v) < MinSecretLen {
			return nil, fmt.Errorf("%w: Env[%q] matches SecretEnvPatterns but is %d bytes; a secret needs at least %d",
				ErrInvalidRequest, k, len(v), MinSecretLen)
		}
		own = append(own, req.Env[k])
	}
	if len(own) == 0 {
		return newSecretSet(e.cfg.Secrets, e.secrets), nil
	}
	all := append(slices.Clone(e.cfg.Secrets), own...)
	return newSecretSet(all, newMatcher(all)), nil
}

// AddSecrets masks more values in a running execution from now on: in the
// output it has not yet released (bytes that may begin a secret are held
// back, so a secret being printed as AddSecrets returns is masked), its
// log and spill files, and the error of its final Result. Output already
// delivered is not changed. For a pending execution they apply from its
// start; for a terminal one AddSecrets does nothing. It returns
// [ErrNotFound] for an unknown id, and an error matching
// [ErrInvalidRequest] for a secret shorter than [MinSecretLen].
func (e *Engine) AddSecrets(id uuid.UUID, secrets ...string) error {
	x, err := e.lookup(id)
	if err != nil {
		return err
	}
	if err := checkSecrets("AddSecrets secrets", secrets); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if len(secrets) > 0 && x.secrets != nil {
		x.secrets.add(secrets)
	}
	return nil
}

// streamRedactor sits between a pipe and the stream: it reads raw bytes,
// masks them and hands the result on, so the limit, stored output, line
// splitting, events, logs and spill files all see masked bytes only.
type streamRedactor struct {
	r    *redactor
	raw  *[blockSize]byte
	pend []byte // masked bytes not yet handed on
}

// read is r.Read, through the redactor once the execution has secrets.
// Without any, the pipe is read straight into the stream's block.
func (s *stream) read(r *os.File, p []byte) (int, error) {
	if s.red != nil {
		return s.red.read(r.Read, p)
	}
	n, err := r.Read(p)
	return s.late(p, n, err)
}

// readNow is readNow, through the redactor once the execution has secrets.
func (s *stream) readNow(r *os.File, p []byte) (int, error) {
	if s.red != nil {
		return s.red.read(func(b []byte) (int, error) { return readNow(r, b) }, p)
	}
	n, err := readNow(r, p)
	return s.late(p, n, err)
}

// late starts redacting when secrets were added (AddSecrets) while the
// stream had none; the bytes just read are masked before anyone sees them.
func (s *stream) late(p []byte, n int, err error) (int, error) {
	if s.x.secrets.matcher() == nil {
		return n, err
	}
	s.red = &streamRedactor{r: newRedactor(s.x.secrets), raw: blockPool.Get().(*[blockSize]byte)}
	s.red.take(p, n, err)
	if len(s.red.pend) == 0 {
		return 0, err
	}
	return s.red.serve(p), nil
}

// take masks what a read returned. It flushes the redactor at the end of
// the input: end of file, or any error but a read deadline (after which
// the stream goes on with readNow).
func (sr *streamRedactor) take(b []byte, n int, err error) {
	if n > 0 {
		sr.pend = append(sr.pend, sr.r.Write(b[:n])...)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 && err == nil {
		sr.pend = append(sr.pend, sr.r.Flush()...)
	}
}

// read fills p with masked bytes, reading the pipe when none are pending.
func (sr *streamRedactor) read(readRaw func([]byte) (int, error), p []byte) (int, error) {
	for len(sr.pend) == 0 {
		n, err := readRaw(sr.raw[:])
		sr.take(sr.raw[:], n, err)
		if len(sr.pend) == 0 && (err != nil || n == 0) {
			return 0, err
		}
	}
	return sr.serve(p), nil
}

func (sr *streamRedactor) serve(p []byte) int {
	k := copy(p, sr.pend)
	sr.pend = sr.pend[:copy(sr.pend, sr.pend[k:])]
	return k
}
