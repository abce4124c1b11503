package pynbahttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pynba-go/pynba"
	pynbahttp "github.com/pynba-go/pynba/contrib/httpclient"
	"github.com/pynba-go/pynba/pinbatest"
)

// The benchmarks compare each wrapped call with the unwrapped one in the
// same run. "fixed" sends through a RoundTripper that answers from memory,
// so that what is measured is the wrapper alone; "loopback" sends real
// requests to an httptest server, to put that cost beside a real call.
//
// "inside" runs the calls in a Pinba request (a ScriptMonitor), which is
// sent, off the clock, every 1000 calls.

// fixedRT answers every request with a 200 and an empty body, allocating
// nothing.
type fixedRT struct {
	resp http.Response
	body emptyBody
}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

func (f *fixedRT) RoundTrip(*http.Request) (*http.Response, error) {
	r := f.resp
	r.Body = f.body
	return &r, nil
}

func newFixed() *fixedRT { return &fixedRT{resp: http.Response{StatusCode: 200}} }

func roundTrips(b *testing.B, rt http.RoundTripper, req *http.Request, sm *pynba.ScriptMonitor, srv *pinbatest.Server) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if sm != nil && i%1000 == 999 {
			b.StopTimer()
			sm.Send()
			srv.Take()
			b.StartTimer()
		}
	}
}

func benchMonitor(b *testing.B) (*pynba.ScriptMonitor, *pinbatest.Server) {
	srv := pinbatest.NewServer()
	b.Cleanup(srv.Close)
	sm, err := pynba.NewScriptMonitor(srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sm.Close() })
	return sm, srv
}

func BenchmarkFixed(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9/x", nil)
	b.Run("unwrapped", func(b *testing.B) {
		roundTrips(b, newFixed(), req, nil, nil)
	})
	b.Run("outside", func(b *testing.B) {
		roundTrips(b, pynbahttp.Transport(newFixed()), req, nil, nil)
	})
	b.Run("inside/body", func(b *testing.B) {
		sm, srv := benchMonitor(b)
		roundTrips(b, pynbahttp.Transport(newFixed()), req, sm, srv)
	})
	b.Run("inside/headers", func(b *testing.B) {
		sm, srv := benchMonitor(b)
		roundTrips(b, pynbahttp.Transport(newFixed(), pynbahttp.WithBody(false)), req, sm, srv)
	})
}

func BenchmarkLoopback(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	req, _ := http.NewRequest(http.MethodGet, backend.URL+"/", nil)
	run := func(b *testing.B, wrap func(http.RoundTripper) http.RoundTripper, inside bool) {
		base := &http.Transport{}
		defer base.CloseIdleConnections()
		var sm *pynba.ScriptMonitor
		var srv *pinbatest.Server
		if inside {
			sm, srv = benchMonitor(b)
		}
		roundTrips(b, wrap(base), req, sm, srv)
	}
	plain := func(rt http.RoundTripper) http.RoundTripper { return rt }
	wrapped := func(rt http.RoundTripper) http.RoundTripper { return pynbahttp.Transport(rt) }
	b.Run("unwrapped", func(b *testing.B) { run(b, plain, false) })
	b.Run("outside", func(b *testing.B) { run(b, wrapped, false) })
	b.Run("inside", func(b *testing.B) { run(b, wrapped, true) })
}
