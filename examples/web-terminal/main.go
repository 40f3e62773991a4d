// Command web-terminal serves a page on 127.0.0.1 where a user runs a
// command on a pseudo-terminal and sees it live in a browser terminal
// (xterm.js): output by Server-Sent Events, keystrokes, window size and
// cancel by POST. It is the shape a Wails or web backend takes; see
// README.md.
//
// Every request but those for the static scripts needs the token (in the
// URL as ?token=, or the X-Token header), made at random unless -token is
// given; a request with another Origin, or for another Host, is refused.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/escher-dbai/execengine"
	"github.com/google/uuid"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (a loopback one: the page runs commands)")
	token := flag.String("token", "", "the token every request needs (\"\": a random one)")
	assets := flag.String("assets", "node_modules", "where npm installed @xterm/xterm and @xterm/addon-fit")
	flag.Parse()
	if *token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		*token = hex.EncodeToString(b)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := newServer(*token, *assets)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.eng.Close()
	fmt.Printf("http://%s/?token=%s\n", ln.Addr(), *token)

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.eng.Close() // cancels the commands; their event streams end
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// server is the page's backend: one engine, one event stream per execution.
type server struct {
	token  string
	assets string
	eng    *execengine.Engine
	hub    *hub
	mux    *http.ServeMux
}

func newServer(token, assets string) (*server, error) {
	s := &server{token: token, assets: assets, hub: &hub{subs: map[uuid.UUID]*subscriber{}}}
	cfg := execengine.DefaultConfig()
	cfg.DefaultTimeout = time.Hour
	cfg.KillGracePeriod = time.Second
	// The browser is called at most every 16 ms per execution, however
	// chatty the command; a slow page slows the command, never the server.
	cfg.EventHandler = execengine.NewCoalescer(s.hub, execengine.CoalesceOptions{})
	eng, err := execengine.New(cfg)
	if err != nil {
		return nil, err
	}
	s.eng = eng
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.page)
	s.mux.HandleFunc("GET /assets/{file}", s.asset)
	s.mux.HandleFunc("GET /api/events", s.events)
	s.mux.HandleFunc("POST /api/run", s.run)
	s.mux.HandleFunc("POST /api/stdin", s.stdin)
	s.mux.HandleFunc("POST /api/resize", s.resize)
	s.mux.HandleFunc("POST /api/cancel", s.cancel)
	return s, nil
}

// ServeHTTP refuses what did not come from the page: another Host (DNS
// rebinding), another Origin, or no token.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "[::1]" && host != "::1") {
		http.Error(w, "forbidden host", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		http.Error(w, "forbidden origin", http.StatusForbidden)
		return
	}
	got := r.Header.Get("X-Token")
	if got == "" {
		got = r.URL.Query().Get("token")
	}
	public := strings.HasPrefix(r.URL.Path, "/assets/") // xterm.js and the page's script: no secrets
	if !public && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		http.Error(w, "missing or wrong token", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	_, _ = w.Write(pageHTML)
}

//go:embed page.html
var pageHTML []byte

//go:embed page.js
var pageJS []byte

var assetFiles = map[string]string{
	"xterm.js":     "@xterm/xterm/lib/xterm.js",
	"xterm.css":    "@xterm/xterm/css/xterm.css",
	"addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
	"page.js":      "",
}

func (s *server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	rel, ok := assetFiles[name]
	switch {
	case !ok:
		http.NotFound(w, r)
	case name == "page.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(pageJS)
	default:
		http.ServeFile(w, r, filepath.Join(s.assets, rel))
	}
}

type runRequest struct {
	ID      uuid.UUID `json:"id"`
	Command string    `json:"command"`
	Cols    uint16    `json:"cols"`
	Rows    uint16    `json:"rows"`
}

// run starts a command on a terminal; the page subscribed to its events
// (by the id it chose) before, so it misses none.
func (s *server) run(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if !decode(w, r, &req) {
		return
	}
	id, err := s.eng.Execute(r.Context(), execengine.Request{
		ID:          req.ID,
		Command:     execengine.Shell{Command: req.Command, Shell: "bash"},
		PTY:         &execengine.PTY{Cols: req.Cols, Rows: req.Rows},
		Interactive: true,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply(w, map[string]any{"id": id})
}

type controlRequest struct {
	ID   uuid.UUID `json:"id"`
	Data string    `json:"data"` // stdin: what was typed
	Cols uint16    `json:"cols"` // resize
	Rows uint16    `json:"rows"`
}

func (s *server) stdin(w http.ResponseWriter, r *http.Request) {
	var req controlRequest
	if decode(w, r, &req) {
		_, err := s.eng.WriteStdin(req.ID, []byte(req.Data))
		answer(w, err)
	}
}

func (s *server) resize(w http.ResponseWriter, r *http.Request) {
	var req controlRequest
	if decode(w, r, &req) {
		answer(w, s.eng.Resize(req.ID, req.Cols, req.Rows))
	}
}

func (s *server) cancel(w http.ResponseWriter, r *http.Request) {
	var req controlRequest
	if decode(w, r, &req) {
		answer(w, s.eng.Cancel(req.ID))
	}
}

// events streams one execution's events as Server-Sent Events, one JSON
// event (the engine's wire shape, chunk bytes in base64 "data") each,
// until its terminal event.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, "id: want a UUID", http.StatusBadRequest)
		return
	}
	sub, ok := s.hub.subscribe(id)
	if !ok {
		http.Error(w, "already subscribed", http.StatusConflict)
		return
	}
	defer s.hub.unsubscribe(id, sub)
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case msg, ok := <-sub.ch:
			if !ok {
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", msg); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// hub passes each execution's events to its subscriber. The Coalescer in
// front of it calls it at most every 16 ms per execution with merged
// output; a subscriber that does not keep up makes the call wait
// (back-pressure on the command), one that went away drops the events.
type hub struct {
	mu   sync.Mutex
	subs map[uuid.UUID]*subscriber
}

type subscriber struct {
	ch   chan []byte   // closed after the terminal event
	gone chan struct{} // closed when the page's stream ended
}

func (h *hub) subscribe(id uuid.UUID) (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[id] != nil {
		return nil, false
	}
	sub := &subscriber{ch: make(chan []byte, 16), gone: make(chan struct{})}
	h.subs[id] = sub
	return sub, true
}

func (h *hub) unsubscribe(id uuid.UUID, sub *subscriber) {
	close(sub.gone)
	h.mu.Lock()
	if h.subs[id] == sub {
		delete(h.subs, id)
	}
	h.mu.Unlock()
}

// HandleEvent encodes ev during the call (Data is valid only then) and
// hands it to the subscriber.
func (h *hub) HandleEvent(ev execengine.Event) {
	h.mu.Lock()
	sub := h.subs[ev.ExecutionID]
	if sub != nil && ev.Type.IsTerminal() {
		delete(h.subs, ev.ExecutionID)
	}
	h.mu.Unlock()
	if sub == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	select {
	case sub.ch <- b:
	case <-sub.gone:
		return
	}
	if ev.Type.IsTerminal() {
		close(sub.ch)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func answer(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, execengine.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		reply(w, map[string]any{"ok": true})
	}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
