package pynbaotel

import (
	"github.com/pynba-go/pynba"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Sampler wraps a TracerProvider's sampler so that every span started inside
// a monitored request is recorded, and so reaches the SpanProcessor, even
// when base drops it: base's Drop becomes RecordOnly there, which the SDK's
// exporting processors (batch, simple) do not export. Outside requests, and
// whenever base records or samples, base's decision stands. A span's request
// is found as the SpanProcessor finds it (the parent context, else the
// calling goroutine).
//
//	sdktrace.NewTracerProvider(
//		sdktrace.WithSampler(pynbaotel.Sampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))),
//		sdktrace.WithSpanProcessor(pynbaotel.NewSpanProcessor()),
//		sdktrace.WithBatcher(exporter),
//	)
//
// A recorded span costs more than a dropped one (the SDK builds it), so this
// makes every span of a monitored request cost what a sampled one does,
// less the export. A nil base stands for the SDK's default sampler,
// ParentBased(AlwaysSample()).
func Sampler(base sdktrace.Sampler) sdktrace.Sampler {
	if base == nil {
		base = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return sampler{base}
}

type sampler struct{ base sdktrace.Sampler }

func (s sampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	r := s.base.ShouldSample(p)
	if r.Decision != sdktrace.Drop {
		return r
	}
	h := pynba.FromContext(p.ParentContext)
	if h == (pynba.Collector{}) {
		h = pynba.Current()
	}
	if h != (pynba.Collector{}) {
		r.Decision = sdktrace.RecordOnly
	}
	return r
}

func (s sampler) Description() string {
	return "PynbaRecordInRequests{" + s.base.Description() + "}"
}
