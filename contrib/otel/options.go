package pynbaotel

import (
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultMaxSpans is how many spans a SpanProcessor remembers at once by
// default (see WithMaxSpans).
const DefaultMaxSpans = 1 << 16

// DefaultGroup is the value of the "group" tag of every timer the processor
// adds, unless WithGroup changes it.
const DefaultGroup = "otel"

// Option configures a SpanProcessor.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	group       string
	attrs       []string
	kindTag     bool
	serverSpans bool
	filter      func(sdktrace.ReadOnlySpan) bool
	maxSpans    int
}

func newConfig(opts []Option) config {
	c := config{group: DefaultGroup, maxSpans: DefaultMaxSpans}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithGroup sets the value of the "group" tag of every timer (default
// "otel"). An empty group sends no "group" tag.
func WithGroup(group string) Option {
	return optionFunc(func(c *config) { c.group = group })
}

// WithAttributes copies the span attributes of these keys into the timer's
// tags, each under its key ("db.system=postgresql"). A span that lacks an
// attribute gets no tag for it. Attributes are read when the span ends, so
// those set after the start count. Strings, booleans and numbers give one
// tag value each, formatted as pynba formats tags; a slice gives one value
// per distinct element; other kinds give their OpenTelemetry text form.
// The "group", "span" and "kind" tags win over attributes of the same key.
//
// Choose attributes with few distinct values (a database system, a method,
// a status code), not identifiers: each distinct set of tags is a line of
// Pinba's reports. Calling WithAttributes again adds keys. An empty key
// makes NewSpanProcessor panic.
func WithAttributes(keys ...string) Option {
	keys = append([]string(nil), keys...)
	return optionFunc(func(c *config) { c.attrs = append(c.attrs, keys...) })
}

// WithSpanKind adds a "kind" tag with the span's kind: "internal",
// "server", "client", "producer" or "consumer".
func WithSpanKind() Option {
	return optionFunc(func(c *config) { c.kindTag = true })
}

// WithServerSpans records server-kind spans too. By default they are
// skipped: an instrumented handler's server span covers the whole request,
// which Pinba already reports as the request's time, so its timer would only
// repeat it (and, when the instrumentation wraps the monitor from outside,
// the span starts before the request and is skipped anyway).
func WithServerSpans() Option {
	return optionFunc(func(c *config) { c.serverSpans = true })
}

// WithFilter sets a function, called when a span of a request ends, that says
// whether it becomes a timer. It runs in the goroutine that ends the span and
// must be safe for concurrent use; a filter that panics is recovered and the
// span is not recorded (counted in Stats.Filtered).
func WithFilter(fn func(s sdktrace.ReadOnlySpan) bool) Option {
	return optionFunc(func(c *config) { c.filter = fn })
}

// WithMaxSpans sets how many spans of requests the processor remembers at
// once between their start and their end (default DefaultMaxSpans). It
// bounds the memory the processor holds even when spans never end. The
// table is split by span id into 64 parts of n/64 entries each (rounded
// up): when the part a span falls in is full, the entries there of spans
// whose request has ended are removed (Stats.Evicted), and if that frees
// nothing the span is not recorded (Stats.Untracked). The table takes
// about 53 bytes per span of its size once it has filled (3.5 MB at the
// default), and keeps that memory. n must be at least 1, else
// NewSpanProcessor panics.
func WithMaxSpans(n int) Option {
	return optionFunc(func(c *config) { c.maxSpans = n })
}

// check panics on a configuration mistake, naming the bad value.
func (c *config) check() {
	if c.maxSpans < 1 {
		panic(fmt.Sprintf("pynbaotel: WithMaxSpans(%d): must be at least 1", c.maxSpans))
	}
	for i, k := range c.attrs {
		if k == "" {
			panic(fmt.Sprintf("pynbaotel: WithAttributes: key %d is empty", i))
		}
	}
}
