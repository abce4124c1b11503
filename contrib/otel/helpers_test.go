package pynbaotel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// rig is a Pinba receiver on loopback, a TracerProvider with the processor,
// and a Middleware sending to the receiver.
type rig struct {
	t    *testing.T
	pin  *pinbatest.Server
	proc *SpanProcessor
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	mw   *pynba.Middleware
}

// newRig starts a rig whose Middleware runs handler; the handler receives the
// rig, to reach its tracer.
func newRig(t *testing.T, handler func(rg *rig, w http.ResponseWriter, r *http.Request), opts ...Option) *rig {
	t.Helper()
	rg := &rig{t: t, pin: pinbatest.NewServer(), proc: NewSpanProcessor(opts...)}
	rg.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rg.proc))
	rg.tr = rg.tp.Tracer("pynbaotel-test")
	mw, err := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(rg, w, r)
	}), rg.pin.Addr(), pynba.WithHostname("test"))
	if err != nil {
		rg.pin.Close()
		t.Fatal(err)
	}
	rg.mw = mw
	t.Cleanup(func() {
		if err := rg.tp.Shutdown(context.Background()); err != nil {
			t.Errorf("TracerProvider.Shutdown: %v", err)
		}
		rg.mw.Close()
		rg.pin.Close()
	})
	return rg
}

// serve runs one request through the Middleware and returns its packet.
func (rg *rig) serve(path string) *pinbatest.Packet {
	rg.t.Helper()
	rg.mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	p, err := rg.pin.Next(2 * time.Second)
	if err != nil {
		rg.t.Fatalf("no packet for %s: %v", path, err)
	}
	if err := p.Validate(); err != nil {
		rg.t.Errorf("packet for %s would be dropped: %v", path, err)
	}
	return p
}

// spanOf runs a span named name of exactly d, with its start and end times
// given, so that its timer's value is known.
func spanOf(ctx context.Context, tr trace.Tracer, name string, d time.Duration, opts ...trace.SpanStartOption) {
	start := time.Now()
	opts = append(opts, trace.WithTimestamp(start))
	_, s := tr.Start(ctx, name, opts...)
	s.End(trace.WithTimestamp(start.Add(d)))
}

// mustTimer returns the packet's one timer with the tags of want (every tag
// of the timer, exactly).
func mustTimer(t *testing.T, p *pinbatest.Packet, want map[string]string) pinbatest.Timer {
	t.Helper()
	var found []pinbatest.Timer
	for _, tm := range p.Timers {
		if sameTags(tm.Tags, want) {
			found = append(found, tm)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one timer with tags %v, found %d among %v", want, len(found), p.Timers)
	}
	return found[0]
}

// sameTags reports whether the pairs of a are exactly those of b.
func sameTags(a pinbatest.Tags, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if !a.Has(k, v) {
			return false
		}
	}
	return true
}

// near reports whether a timer's value (float32 seconds) is d.
func near(v float32, d time.Duration) bool {
	diff := float64(v) - d.Seconds()
	return diff < 1e-6 && diff > -1e-6
}

func newProvider(p *SpanProcessor) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httptestRequest(target string) *http.Request { return httptest.NewRequest("GET", target, nil) }

// mustMiddleware returns a Middleware running h, closed when the test ends.
func mustMiddleware(t *testing.T, h http.Handler, servers string) *pynba.Middleware {
	t.Helper()
	mw, err := pynba.NewMiddleware(h, servers, pynba.WithHostname("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	return mw
}
