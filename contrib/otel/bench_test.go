package pynbaotel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The processor's added cost per span: each benchmark starts and ends b.N
// spans with a TracerProvider holding the processor, beside its baselines:
// a provider with no processor at all, and one with a processor that does
// nothing (the SDK builds a span snapshot for OnEnd as soon as a provider
// has any processor, so that is the floor of any processor). Spans go to
// no exporter.

var benchAttrs = trace.WithAttributes(
	attribute.String("db.system", "postgresql"),
	attribute.String("db.operation", "SELECT"),
)

// nopProcessor is a SpanProcessor that does nothing.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }

// variants are the configurations compared, baselines first; each makes
// its processor anew, since a provider's Shutdown stops it.
var variants = []struct {
	name string
	proc func() sdktrace.SpanProcessor
}{
	{"baseline=no-processor", nil},
	{"baseline=nop-processor", func() sdktrace.SpanProcessor { return nopProcessor{} }},
	{"processor", func() sdktrace.SpanProcessor { return NewSpanProcessor() }},
	{"processor+attributes+kind", func() sdktrace.SpanProcessor {
		return NewSpanProcessor(WithAttributes("db.system", "db.operation"), WithSpanKind())
	}},
}

func newBenchProvider(proc func() sdktrace.SpanProcessor) *sdktrace.TracerProvider {
	if proc == nil {
		return sdktrace.NewTracerProvider()
	}
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc()))
}

// BenchmarkSpanInRequest starts and ends b.N spans inside monitored
// requests of 1,000 spans each, which send to a loopback receiver. The
// requests' own cost (a thousandth of theirs a span) is in every variant.
// The variant "baseline=nop-processor+AddTimer" adds, by hand, the timer the
// processor would add: what is left between it and "processor" is the
// bridge's own cost (finding the request, the span table, the tags).
func BenchmarkSpanInRequest(b *testing.B) {
	vs := append(variants[:2:2], struct {
		name string
		proc func() sdktrace.SpanProcessor
	}{"baseline=nop-processor+AddTimer", variants[1].proc})
	vs = append(vs, variants[2:]...)
	for _, pv := range vs {
		byHand := pv.name == "baseline=nop-processor+AddTimer"
		tags := pynba.Tags{"group": "otel", "span": "db.query"}
		b.Run(pv.name, func(b *testing.B) {
			tp := newBenchProvider(pv.proc)
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			pin := pinbatest.NewServer()
			defer pin.Close()
			var k int
			mw, err := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				h := pynba.FromContext(ctx)
				for range k {
					_, s := tr.Start(ctx, "db.query", benchAttrs)
					s.End()
					if byHand {
						h.AddTimer(tags, time.Millisecond)
					}
				}
			}), pin.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer mw.Close()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/bench", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for n := b.N; n > 0; n -= k {
				k = min(n, 1000)
				mw.ServeHTTP(rec, req)
			}
			b.StopTimer()
			pin.Take()
		})
	}
}

// BenchmarkSpanOutsideRequests starts and ends b.N spans outside any
// request: the processor only finds that there is none.
func BenchmarkSpanOutsideRequests(b *testing.B) {
	for _, pv := range variants {
		b.Run(pv.name, func(b *testing.B) {
			tp := newBenchProvider(pv.proc)
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, s := tr.Start(ctx, "db.query", benchAttrs)
				s.End()
			}
		})
	}
}
