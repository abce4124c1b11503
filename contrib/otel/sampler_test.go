package pynbaotel

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestSampler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		base     sdktrace.Sampler
		exported int // spans exported of the 2 in the request and the 1 outside
	}{
		{"NeverSample", sdktrace.NeverSample(), 0},
		{"AlwaysSample", sdktrace.AlwaysSample(), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pin := pinbatest.NewServer()
			defer pin.Close()
			exp := tracetest.NewInMemoryExporter()
			proc := NewSpanProcessor()
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSampler(Sampler(tc.base)),
				sdktrace.WithSpanProcessor(proc),
				sdktrace.WithSyncer(exp),
			)
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("t")

			mw := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				spanOf(r.Context(), tr, "via-context", time.Millisecond)
				spanOf(context.Background(), tr, "via-goroutine", time.Millisecond)
			}), pin.Addr())
			mw.ServeHTTP(httptestRecorder(), httptestRequest("/s"))

			_, outside := tr.Start(context.Background(), "outside")
			if want := tc.exported != 0; outside.IsRecording() != want {
				t.Errorf("span outside requests recording: %v, want %v", outside.IsRecording(), want)
			}
			outside.End()

			p, err := pin.Next(2 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			mustTimer(t, p, map[string]string{"group": "otel", "span": "via-context"})
			mustTimer(t, p, map[string]string{"group": "otel", "span": "via-goroutine"})
			if n := len(exp.GetSpans()); n != tc.exported {
				t.Errorf("%d spans exported, want %d", n, tc.exported)
			}
		})
	}
}

func TestSamplerDescription(t *testing.T) {
	d := Sampler(sdktrace.NeverSample()).Description()
	if !strings.Contains(d, "AlwaysOffSampler") {
		t.Errorf("Description %q does not name the wrapped sampler", d)
	}
	if d := Sampler(nil).Description(); !strings.Contains(d, "ParentBased") {
		t.Errorf("Sampler(nil).Description() = %q, want the SDK's default", d)
	}
}
