// Package pynbadebug serves a page that shows a service its own Pinba
// monitor, as net/http/pprof shows its profiles: the monitor's counters,
// the servers it sends to and where they resolved, the last packets it sent,
// decoded and checked against what pinba_engine and pinba2 accept, and live
// per-script, per-timer-tag-set and per-request-tag tables over those
// packets.
//
// Nothing is mounted by default, and importing the package registers
// nothing. Mount the handler where you choose, behind the service's own
// access control, as you would pprof: the page shows script names, tag
// values, host names and addresses, which are the service's internals.
// Serve it on an internal listener or behind authentication, never on the
// public one:
//
//	m, err := pynba.NewMiddleware(app, "127.0.0.1:30002", pynba.WithRecent(256))
//	...
//	debug := http.NewServeMux()
//	debug.Handle("/debug/pynba/", pynbadebug.Handler(m))
//	go http.ListenAndServe("127.0.0.1:6060", debug)
//
// The monitor must keep copies of its last packets (pynba.WithRecent) for
// the page to show packets and tables; without it the page shows the
// counters and servers only.
//
// The page answers HTML at its mount point and JSON (a View) when asked
// with ?format=json or at a path ending in /json. Query parameters: sort
// (a report sort key: time, count, avg, p50, p95, p99, max, cpu, share, name),
// reverse=1, top (rows of each table, default 100, 0 for all), packets
// (recent packets shown, default WithPackets) and, for HTML, refresh
// (seconds between automatic reloads).
//
// # How the tables are fed
//
// The page keeps its own report model, fed at each view with the packets
// of the reporter's ring that it has not seen yet, so the tables cover
// every packet sent as long as the page is viewed at least once each time
// the ring fills: with pynba.WithRecent(n), before n more packets are sent.
// Packets sent between two views beyond the ring's n are not seen; the
// ring numbers its packets (Reporter.RecentSince), so the view says exactly
// how many it missed (Feed.Gap, Feed.Missed). Packets are counted in the window at the time a view first
// sees them, not when they were sent, so rates are true when the page is
// viewed (or reloads itself, ?refresh=N) more often than the window, 60 s
// by default (WithWindow).
//
// Everything shown comes from clients and code (script names, tag names
// and values) and is escaped by html/template; the page has no script and
// sends a Content-Security-Policy that allows none.
package pynbadebug

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/internal/report"
)

// Source is what the page shows: a pynba.Middleware, pynba.ScriptMonitor or
// pynba.Runner.
type Source interface {
	Stats() pynba.Stats
	Reporter() *pynba.Reporter
}

// Option configures Handler.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	window  time.Duration
	packets int
}

// DefaultPackets is how many recent packets a view shows unless told
// (WithPackets, ?packets=N).
const DefaultPackets = 50

// defaultTop is how many rows of each table a view shows unless told.
const defaultTop = 100

// WithWindow sets the span the tables cover, in whole seconds (default
// 60 s, as Pinba's reports; at least 1 s).
func WithWindow(d time.Duration) Option {
	return optionFunc(func(c *config) { c.window = max(d, time.Second) })
}

// WithPackets sets how many of the recent packets a view shows by default
// (DefaultPackets); ?packets=N overrides it. The tables count every packet
// whatever the number shown.
func WithPackets(n int) Option {
	return optionFunc(func(c *config) { c.packets = max(n, 0) })
}

// Handler returns the page showing src. Each Handler keeps its own report
// model, so mount one Handler per source and keep it for the life of the
// source.
func Handler(src Source, opts ...Option) http.Handler {
	c := config{window: report.DefaultWindow, packets: DefaultPackets}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return &handler{src: src, cfg: c, feed: newFeed(report.Options{Window: c.window})}
}

type handler struct {
	src  Source
	cfg  config
	feed *feed
}

// params are a view's query parameters.
type params struct {
	json    bool
	query   report.Query
	packets int
	refresh int
}

func (h *handler) parse(r *http.Request) (params, string) {
	q := r.URL.Query()
	p := params{
		json:    q.Get("format") == "json" || strings.HasSuffix(r.URL.Path, "/json"),
		query:   report.Query{Sort: report.SortTime, Top: defaultTop},
		packets: h.cfg.packets,
	}
	if f := q.Get("format"); f != "" && f != "json" && f != "html" {
		return p, "format must be json or html"
	}
	if s := q.Get("sort"); s != "" {
		k, ok := report.ParseSortKey(s)
		if !ok {
			return p, "unknown sort key; use one of time, count, avg, p50, p95, p99, max, cpu, share, name"
		}
		p.query.Sort = k
	}
	p.query.Reverse = q.Get("reverse") == "1" || q.Get("reverse") == "true"
	var bad string
	num := func(name string, lo, hi int, dst *int) {
		s := q.Get(name)
		if s == "" || bad != "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad = name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
			return
		}
		*dst = n
	}
	num("top", 0, 1<<20, &p.query.Top)
	num("packets", 0, 1<<20, &p.packets)
	num("refresh", 1, 3600, &p.refresh)
	return p, bad
}

// view takes a view: it feeds the model from the ring first, so the tables
// include the packets listed.
func (h *handler) view(p params) View {
	var rep *pynba.Reporter
	if h.src != nil {
		rep = h.src.Reporter()
	}
	var recent recentFunc
	if rep != nil {
		recent = rep.RecentSince
	}
	fr := h.feed.update(recent)
	v := View{
		Time:    time.Now(),
		Servers: serversOf(rep),
		Feed: Feed{Kept: len(fr.pkts), New: fr.added, Seen: fr.seen, Views: fr.views,
			Gap: fr.gap, Gaps: fr.gaps, Missed: fr.missed},
		Report: h.feed.snapshot(p.query),
	}
	if h.src != nil {
		v.Stats = h.src.Stats()
	}
	first := max(len(fr.pkts)-p.packets, 0)
	v.Packets = make([]Packet, 0, len(fr.pkts)-first)
	for i := first; i < len(fr.pkts); i++ {
		v.Packets = append(v.Packets, decodePacket(fr.seqs[i], fr.pkts[i]))
	}
	return v
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	p, bad := h.parse(r)
	if bad != "" {
		http.Error(w, bad, http.StatusBadRequest)
		return
	}
	v := h.view(p)
	if p.json {
		hd.Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v) // a failed write is the client's
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	_ = renderHTML(w, r, v, p) // a failed write is the client's
}
