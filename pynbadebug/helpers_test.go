package pynbadebug_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"github.com/pynba-go/pynba/pynbadebug"
)

// rig is a monitored service sending to a pinbatest server, with its
// debug page on a server of its own (not monitored, so views send
// nothing).
type rig struct {
	t     *testing.T
	pinba *pinbatest.Server
	m     *pynba.Middleware
	app   *httptest.Server
	debug *httptest.Server
	sent  int // requests made
}

// tags sets the request tags the query names: n and country.
func tags(r *http.Request) {
	for _, name := range []string{"n", "country"} {
		if v := r.URL.Query().Get(name); v != "" {
			pynba.SetTag(name, v)
		}
	}
}

// app is the monitored service: routes with timers and tags.
func app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		tags(r)
		t := pynba.Timer(pynba.Tags{"group": "db", "op": "select"})
		t.Start().Stop()
		t.Start().Stop()
		pynba.AddTimer(pynba.Tags{"group": "cache", "op": "get"}, 300*time.Microsecond)
		io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		tags(r)
		pynba.Time(pynba.Tags{"group": "search", "op": "query"}, func() { time.Sleep(2 * time.Millisecond) })
		pynba.AddTimer(pynba.Tags{"group": "db", "op": "select"}, 700*time.Microsecond)
		io.WriteString(w, "results")
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		tags(r)
		pynba.AddTimer(pynba.Tags{"group": "db", "op": "insert"}, 2*time.Millisecond)
		http.Error(w, "failed", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /list", func(w http.ResponseWriter, r *http.Request) {
		tags(r)
		// A list value sends one pair per element: a repeated tag name.
		pynba.AddTimer(pynba.Tags{"group": "db", "shard": []string{"a", "b"}}, time.Millisecond)
	})
	mux.HandleFunc("GET /esc", func(w http.ResponseWriter, r *http.Request) {
		tags(r)
		pynba.SetScriptName(`<script>alert("name")</script>`)
		pynba.AddTimer(pynba.Tags{"<script>tn": `<script>alert("tv")</script>`}, time.Millisecond)
		pynba.SetTag("<script>rn", `<script>alert("rv")</script>`)
	})
	return mux
}

func newRig(t *testing.T, recent int, opts ...pynbadebug.Option) *rig {
	t.Helper()
	srv := pinbatest.NewServer()
	t.Cleanup(srv.Close)
	m, err := pynba.NewMiddleware(app(), srv.Addr(), pynba.WithRecent(recent), pynba.WithHostname("test-host"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	a := httptest.NewServer(m)
	t.Cleanup(a.Close)
	d := httptest.NewServer(pynbadebug.Handler(m, opts...))
	t.Cleanup(d.Close)
	return &rig{t: t, pinba: srv, m: m, app: a, debug: d}
}

// get requests path from the monitored service (one packet each), with
// a request tag n of its own, which makes every packet's bytes distinct.
func (g *rig) get(path string) {
	g.t.Helper()
	g.getQuery(path, "n="+strconv.Itoa(g.sent+1))
}

// getQuery requests path?query (one packet).
func (g *rig) getQuery(path, query string) {
	g.t.Helper()
	g.sent++
	resp, err := g.app.Client().Get(g.app.URL + path + "?" + query)
	if err != nil {
		g.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// settle waits until the pinbatest server holds want packets and the
// monitor has counted each as sent, so its counters stay still.
func (g *rig) settle(want int) []*pinbatest.Packet {
	g.t.Helper()
	pkts, err := g.pinba.Wait(want, 5*time.Second)
	if err != nil {
		g.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.m.Stats().Sent < uint64(g.sent) {
		if time.Now().After(deadline) {
			g.t.Fatalf("Sent = %d, want %d", g.m.Stats().Sent, g.sent)
		}
		time.Sleep(time.Millisecond)
	}
	return pkts
}

// body fetches the debug page at query q.
func (g *rig) body(q string) (string, http.Header) {
	g.t.Helper()
	resp, err := g.debug.Client().Get(g.debug.URL + "/debug/pynba/" + q)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET %s: %s: %s", q, resp.Status, b)
	}
	return string(b), resp.Header
}

// view fetches and decodes the JSON form.
func (g *rig) view(q string) pynbadebug.View {
	g.t.Helper()
	b, h := g.body(q)
	if ct := h.Get("Content-Type"); ct != "application/json" {
		g.t.Fatalf("Content-Type %q", ct)
	}
	var v pynbadebug.View
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		g.t.Fatalf("decoding the JSON: %v\n%s", err, b)
	}
	return v
}
