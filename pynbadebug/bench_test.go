package pynbadebug_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"github.com/pynba-go/pynba/pynbadebug"
)

// benchSource is a Middleware whose ring of 256 packets is full.
func benchSource(b *testing.B) *pynba.Middleware {
	b.Helper()
	srv := pinbatest.NewServer()
	b.Cleanup(srv.Close)
	m, err := pynba.NewMiddleware(app(), srv.Addr(), pynba.WithRecent(256))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	for i := range 256 {
		r := httptest.NewRequest("GET", "/items/1?n="+string(rune('a'+i%26)), nil)
		m.ServeHTTP(httptest.NewRecorder(), r)
	}
	return m
}

// BenchmarkRecent is the baseline of a view: copying the ring.
func BenchmarkRecent(b *testing.B) {
	m := benchSource(b)
	b.ReportAllocs()
	for b.Loop() {
		if len(m.Reporter().Recent()) != 256 {
			b.Fatal("ring not full")
		}
	}
}

// BenchmarkViewJSON is one view of the page in JSON, 50 packets decoded
// and checked, with no packet sent since the last view (the ring compared
// with the previous one, nothing added).
func BenchmarkViewJSON(b *testing.B) {
	h := pynbadebug.Handler(benchSource(b))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/debug/pynba/?format=json", nil))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkViewHTML is BenchmarkViewJSON for the HTML page.
func BenchmarkViewHTML(b *testing.B) {
	h := pynbadebug.Handler(benchSource(b))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/debug/pynba/", nil))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
