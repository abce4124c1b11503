package pynbadebug_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"github.com/pynba-go/pynba/pynbadebug"
)

// tagSets formats each timer's tags in wire order, one string a timer.
func tagSets[T any](timers []T, tags func(T) []string) []string {
	var out []string
	for _, t := range timers {
		out = append(out, strings.Join(tags(t), ","))
	}
	return out
}

func TestJSONMatchesWhatWasSent(t *testing.T) {
	g := newRig(t, 64)
	paths := []string{"/items/1", "/items/2", "/fail", "/items/3", "/list", "/fail", "/items/4", "/items/5"}
	for _, p := range paths {
		g.get(p)
	}
	got := g.settle(len(paths))
	v := g.view("?format=json")

	if want := g.m.Stats(); v.Stats != want {
		t.Errorf("stats\n got %+v\nwant %+v", v.Stats, want)
	}
	if v.Stats.Requests != uint64(len(paths)) || v.Stats.Sent != uint64(len(paths)) {
		t.Errorf("Requests %d, Sent %d, want %d", v.Stats.Requests, v.Stats.Sent, len(paths))
	}
	if len(v.Servers) != 1 || v.Servers[0].Name != g.pinba.Addr() || v.Servers[0].Addr != g.pinba.Addr() || !v.Servers[0].Resolved {
		t.Errorf("servers %+v, want %s resolved to itself", v.Servers, g.pinba.Addr())
	}
	if len(v.Packets) != len(got) {
		t.Fatalf("%d packets shown, pinbatest received %d", len(v.Packets), len(got))
	}
	statuses := map[string]int64{}
	for i, p := range v.Packets {
		r := got[i]
		if p.Seq != uint64(i+1) {
			t.Errorf("packet %d: seq %d", i, p.Seq)
		}
		if p.ScriptName != r.ScriptName || p.Status != r.Status || p.Hostname != r.Hostname || p.RequestTime != r.RequestTime || p.Size != len(r.Raw) {
			t.Errorf("packet %d: %q %d %q %v %dB, received %q %d %q %v %dB", i,
				p.ScriptName, p.Status, p.Hostname, p.RequestTime, p.Size, r.ScriptName, r.Status, r.Hostname, r.RequestTime, len(r.Raw))
		}
		gotTags := tagSets(p.Timers, func(t pynbadebug.Timer) []string {
			var s []string
			for _, tg := range t.Tags {
				s = append(s, tg.Name+"="+tg.Value)
			}
			return append(s, fmt.Sprintf("hits=%d value=%v", t.Hits, t.Value))
		})
		wantTags := tagSets(r.Timers, func(t pinbatest.Timer) []string {
			var s []string
			for _, tg := range t.Tags {
				s = append(s, tg.Name+"="+tg.Value)
			}
			return append(s, fmt.Sprintf("hits=%d value=%v", t.HitCount, t.Value))
		})
		if !slices.Equal(gotTags, wantTags) {
			t.Errorf("packet %d timers\n got %q\nwant %q", i, gotTags, wantTags)
		}
		var rt []string
		for _, tg := range p.Tags {
			rt = append(rt, tg.Name+"="+tg.Value)
		}
		if want := []string{fmt.Sprintf("n=%d", i+1)}; !slices.Equal(rt, want) {
			t.Errorf("packet %d request tags %q, want %q", i, rt, want)
		}
		problems, warnings := pinbatest.Inspect(r.Raw)
		if len(p.Problems) != len(problems) || len(p.Warnings) != len(warnings) {
			t.Errorf("packet %d: %d problems %d warnings, pinbatest finds %d and %d", i, len(p.Problems), len(p.Warnings), len(problems), len(warnings))
		}
		repeated := slices.ContainsFunc(p.Warnings, func(w pynbadebug.Problem) bool { return w.Rule == pinbatest.RuleRepeatedTagName })
		if want := paths[i] == "/list"; repeated != want {
			t.Errorf("packet %d (%s): repeated-tag-name warning shown: %v, want %v: %+v", i, paths[i], repeated, want, p.Warnings)
		}
		statuses[fmt.Sprint(r.Status)]++
	}

	// The tables hold every packet once.
	tot := v.Report.Totals
	if tot.Requests != int64(len(paths)) || tot.Datagrams != int64(len(paths)) || tot.Invalid != 0 {
		t.Errorf("report totals: %d requests, %d datagrams, %d invalid; want %d, %d, 0", tot.Requests, tot.Datagrams, tot.Invalid, len(paths), len(paths))
	}
	if !maps(tot.Status, statuses) {
		t.Errorf("report statuses %v, received %v", tot.Status, statuses)
	}
	perScript := map[string]int64{}
	for _, r := range got {
		perScript[r.ScriptName]++
	}
	rows := map[string]int64{}
	for _, s := range v.Report.Scripts {
		rows[s.Name] = s.Requests
	}
	if !maps(rows, perScript) {
		t.Errorf("script rows %v, received %v", rows, perScript)
	}
	var selectHits int64
	for _, tr := range v.Report.TimerTags {
		if tr.Tags == "group=db,op=select" {
			selectHits = tr.Hits
		}
	}
	if selectHits != 2*5 {
		t.Errorf("group=db,op=select hits %d, want 10 (5 requests of 2 hits)", selectHits)
	}
	if v.Feed.Kept != len(paths) || v.Feed.New != len(paths) || v.Feed.Seen != uint64(len(paths)) || v.Feed.Gap {
		t.Errorf("feed %+v", v.Feed)
	}
}

func maps[K comparable](a, b map[K]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEachPacketCountedOnce views the page between bursts of requests,
// with the ring wrapping between views, and checks the tables count every
// packet the ring held at a view exactly once.
func TestEachPacketCountedOnce(t *testing.T) {
	const ring = 8
	g := newRig(t, ring)
	check := func(step string, wantNew int, wantSeen uint64, wantGap bool) pynbadebug.View {
		t.Helper()
		g.settle(0)
		v := g.view("/json")
		if v.Feed.New != wantNew || v.Feed.Seen != wantSeen || v.Feed.Gap != wantGap {
			t.Errorf("%s: feed %+v, want new %d seen %d gap %v", step, v.Feed, wantNew, wantSeen, wantGap)
		}
		if v.Report.Totals.Requests != int64(wantSeen) {
			t.Errorf("%s: report counts %d requests, want %d", step, v.Report.Totals.Requests, wantSeen)
		}
		if n := min(g.sent, ring); len(v.Packets) != n || v.Feed.Kept != n {
			t.Errorf("%s: %d packets shown, %d kept, want %d", step, len(v.Packets), v.Feed.Kept, n)
		}
		for i, p := range v.Packets { // the page numbers what it saw in order
			if i > 0 && p.Seq != v.Packets[i-1].Seq+1 {
				t.Errorf("%s: packet %d seq %d after %d", step, i, p.Seq, v.Packets[i-1].Seq)
			}
		}
		// Packets are numbered as the reporter kept them, from 1.
		if len(v.Packets) > 0 && v.Packets[len(v.Packets)-1].Seq != uint64(g.sent) {
			t.Errorf("%s: newest packet seq %d, want %d", step, v.Packets[len(v.Packets)-1].Seq, g.sent)
		}
		if v.Feed.Seen+v.Feed.Missed != uint64(g.sent) {
			t.Errorf("%s: %d seen and %d missed, want the %d sent", step, v.Feed.Seen, v.Feed.Missed, g.sent)
		}
		return v
	}
	check("empty", 0, 0, false)
	for range 5 {
		g.get("/items/1")
	}
	check("5 sent", 5, 5, false)
	check("none sent since", 0, 5, false)
	for range 6 { // the ring now holds 2 packets seen and 6 not
		g.get("/fail")
	}
	v := check("6 more, ring wrapped", 6, 11, false)
	if s := v.Report.Scripts; len(s) != 2 {
		t.Errorf("scripts %+v", s)
	}
	for range 3 * ring { // more than the ring holds: 16 are never seen
		g.get("/items/2")
	}
	check("3 rings more", ring, 11+ring, true)
	check("again", 0, 11+ring, false)
	g.pinba.Take()
}

func TestWithoutRecent(t *testing.T) {
	g := newRig(t, 0)
	g.get("/items/1")
	g.settle(1)
	v := g.view("?format=json")
	if v.Stats.Requests != 1 || len(v.Packets) != 0 || v.Report.Totals.Requests != 0 {
		t.Errorf("stats %+v, %d packets, %d in the report", v.Stats, len(v.Packets), v.Report.Totals.Requests)
	}
	html, _ := g.body("")
	if !strings.Contains(html, "pynba.WithRecent(n)") {
		t.Error("the page does not say WithRecent is needed")
	}
}

func TestQueryParameters(t *testing.T) {
	g := newRig(t, 16, pynbadebug.WithPackets(3))
	for _, p := range []string{"/items/1", "/fail", "/fail", "/items/2", "/list"} {
		g.get(p)
	}
	g.settle(5)
	if v := g.view("?format=json"); len(v.Packets) != 3 || v.Packets[2].Seq != 5 {
		t.Errorf("WithPackets(3): %d packets, last %+v", len(v.Packets), v.Packets)
	}
	if v := g.view("?format=json&packets=10&sort=count&top=1"); len(v.Packets) != 5 || len(v.Report.Scripts) != 1 || v.Report.Scripts[0].Name != "GET /fail" {
		t.Errorf("packets=10 sort=count top=1: %d packets, scripts %+v", len(v.Packets), v.Report.Scripts)
	}
	for _, q := range []string{"?sort=nope", "?top=-1", "?packets=x", "?refresh=0", "?format=xml"} {
		resp, err := g.debug.Client().Get(g.debug.URL + "/" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", q, resp.Status)
		}
	}
	resp, err := g.debug.Client().Post(g.debug.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	html, h := g.body("?refresh=5")
	if !strings.Contains(html, `<meta http-equiv="refresh" content="5">`) {
		t.Error("refresh=5 gives no meta refresh")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// Every monitor of the core is a Source.
var (
	_ pynbadebug.Source = (*pynba.Middleware)(nil)
	_ pynbadebug.Source = (*pynba.ScriptMonitor)(nil)
	_ pynbadebug.Source = (*pynba.Runner)(nil)
)

func TestRunnerSource(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	r, err := pynba.NewRunner(srv.Addr(), pynba.WithRecent(8))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, fail := range []bool{false, true} {
		r.Run(context.Background(), "consume orders", func(ctx context.Context) error {
			pynba.AddTimer(pynba.Tags{"group": "queue"}, time.Millisecond)
			if fail {
				return errors.New("bad message")
			}
			return nil
		})
	}
	if _, err := srv.Wait(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	pynbadebug.Handler(r).ServeHTTP(w, httptest.NewRequest("GET", "/debug/pynba/json", nil))
	var v pynbadebug.View
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Packets) != 2 || v.Packets[0].Status != 200 || v.Packets[1].Status != 500 || v.Packets[1].ScriptName != "consume orders" {
		t.Errorf("packets %+v", v.Packets)
	}
	if len(v.Report.Scripts) != 1 || v.Report.Scripts[0].Requests != 2 {
		t.Errorf("scripts %+v", v.Report.Scripts)
	}
}
