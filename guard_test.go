package pynba

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScriptNameCapHoldsMemoryFlat(t *testing.T) {
	cfg := &config{maxScriptNames: 100}
	k := &core{cfg: cfg, stats: &cfg.stats}
	// Other tests may have admitted names already: count from here.
	start := scriptNames.len()
	limit := start + 100
	k.cfg.maxScriptNames = limit
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	const n = 1000000
	kept := 0
	for i := range n {
		if k.guardScript(fmt.Sprintf("/u/%d", i)) != OverflowName {
			kept++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if kept != 100 || k.stats.scriptOverflows.Load() != n-100 {
		t.Errorf("kept %d names, overflows %d", kept, k.stats.scriptOverflows.Load())
	}
	if grown := int64(ms.HeapAlloc) - int64(heap0); grown > 1<<20 {
		t.Errorf("heap grew %d bytes over %d distinct names", grown, n)
	}
	if scriptNames.len() != limit {
		t.Errorf("set holds %d names, want %d", scriptNames.len(), limit)
	}
}

func TestTagValueCap(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"capped-user": r.URL.Path}).Start().Stop()
	}, srv.Addr(), WithMaxTagValues(3))
	for i := range 5 {
		serve(m, fmt.Sprintf("/%d", i))
	}
	ps, err := srv.Wait(5, wait)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, p := range ps {
		vals = append(vals, p.Timers[0].Tags.Get("capped-user"))
	}
	if fmt.Sprint(vals) != "[/0 /1 /2 (other) (other)]" || m.Stats().TagOverflows != 2 {
		t.Errorf("values %v, overflows %d", vals, m.Stats().TagOverflows)
	}
}

func TestEngineLimitsCutAtCharacterBoundaries(t *testing.T) {
	for _, tc := range []struct{ s string }{{strings.Repeat("é", 40)}, {strings.Repeat("日", 30)}, {"a" + strings.Repeat("ü", 40)}, {strings.Repeat("\xff", 80)}} {
		got, cut := cutString(tc.s, 64)
		if !cut || len(got) > 64 || len(got) < 61 || (utf8.ValidString(tc.s) && !utf8.ValidString(got)) {
			t.Errorf("cutString(%q) = %q, %v", tc.s, got, cut)
		}
	}
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		SetScriptName(strings.Repeat("Ж", 100))
		Timer(Tags{"v": strings.Repeat("é", 50)}).Start().Stop()
	}, srv.Addr(), WithEngineLimits(true), WithHostname(strings.Repeat("h", 40)))
	serve(m, "/")
	p := next(t, srv)
	if !utf8.ValidString(p.ScriptName) || len(p.ScriptName) != 128 || len(p.Hostname) != 32 ||
		len(p.Timers[0].Tags.Get("v")) != 64 || m.Stats().StringsCut != 3 {
		t.Errorf("script %d bytes, hostname %d, tag %d, cut %d", len(p.ScriptName), len(p.Hostname), len(p.Timers[0].Tags.Get("v")), m.Stats().StringsCut)
	}
}
