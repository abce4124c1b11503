// Package pynbaotel turns OpenTelemetry spans into Pinba timers: every span
// that starts and ends inside a request monitored by pynba (Monitor,
// NewMiddleware, ScriptMonitor, Runner) becomes one timer of that request,
// whose value is the span's duration.
//
// Register the processor with the SDK's TracerProvider:
//
//	tp := sdktrace.NewTracerProvider(
//		sdktrace.WithSpanProcessor(pynbaotel.NewSpanProcessor(
//			pynbaotel.WithAttributes("db.system", "http.request.method"),
//		)),
//	)
//
// A span belongs to the request that its parent context carries
// (pynba.FromContext), else to the request bound to the goroutine that
// starts it (pynba.Current, which also works in goroutines started with
// pynba.Go). Its timer has the tags group=otel (see WithGroup), span=<the
// span's name>, and the span attributes chosen with WithAttributes. A span
// that starts outside any request is not recorded: it costs the processor a
// context lookup and a goroutine lookup when it starts, and an atomic load
// (or, while spans of requests are open, a map lookup) when it ends.
//
// Server-kind spans are skipped unless WithServerSpans is given: the server
// span of an instrumented handler (otelhttp's, otelgrpc's) measures the
// request itself, which the packet already carries as its request time, and
// its name (usually the route) is already the script name.
//
// The SDK calls span processors only for spans that are recorded: a span
// that the TracerProvider's sampler drops never reaches the processor and
// makes no timer. Wrap the sampler with Sampler so that spans inside
// requests are always recorded (and still exported only when the wrapped
// sampler samples them).
package pynbaotel
