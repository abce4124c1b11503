package pynbaotel

import (
	"context"
	"sync"

	"github.com/pynba-go/pynba"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// SpanProcessor is an sdktrace.SpanProcessor that adds a Pinba timer to a
// monitored request for every span of that request, when the span ends (see
// the package documentation). Create it with NewSpanProcessor and register
// it with sdktrace.WithSpanProcessor. It is safe for concurrent use.
//
// A span's timer is added when the span ends, with the span's duration as
// its value (pynba's Collector.AddTimer). A span still running when its
// request ends misses that request's packet: when it ends it is dropped and
// counted, in Stats.Late here and in Stats.LateUses of the request's
// monitor. A span never ended stays in the processor's table until the table
// is full and its request has ended (see WithMaxSpans).
type SpanProcessor struct {
	cfg   config
	group any    // cfg.group, boxed once
	kinds [6]any // trace.SpanKind names, boxed once
	table *spanTable
	maps  sync.Pool // of *pynba.Tags, empty
}

var _ sdktrace.SpanProcessor = (*SpanProcessor)(nil)

// NewSpanProcessor returns a SpanProcessor configured by opts. It panics on a
// configuration mistake (WithMaxSpans below 1, an empty attribute key), as
// time.NewTicker does on a bad interval.
func NewSpanProcessor(opts ...Option) *SpanProcessor {
	c := newConfig(opts)
	c.check()
	p := &SpanProcessor{cfg: c, table: newSpanTable(c.maxSpans)}
	if c.group != "" {
		p.group = c.group
	}
	for i := range p.kinds {
		p.kinds[i] = trace.SpanKind(i).String()
	}
	return p
}

// OnStart remembers the request s belongs to: the one parent carries, else
// the one bound to the calling goroutine. A span of no request is ignored.
func (p *SpanProcessor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	h := pynba.FromContext(parent)
	if h == (pynba.Collector{}) {
		h = pynba.Current()
		if h == (pynba.Collector{}) {
			return
		}
	}
	if !p.cfg.serverSpans && s.SpanKind() == trace.SpanKindServer {
		return
	}
	p.table.put(key(s.SpanContext().SpanID()), h)
}

// OnEnd adds the timer of s to its request, if OnStart remembered one.
func (p *SpanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	h, sh, ok := p.table.take(key(s.SpanContext().SpanID()))
	if !ok {
		return
	}
	if !h.Valid() {
		// The request has ended: the core drops the use and counts it
		// in its Stats.LateUses, and tells its error handler.
		h.AddTimer(nil, 0)
		sh.late.Add(1)
		return
	}
	if p.cfg.filter != nil && !p.keep(s) {
		sh.filtered.Add(1)
		return
	}
	tags := p.tags(s)
	h.AddTimer(*tags, s.EndTime().Sub(s.StartTime()))
	clear(*tags)
	p.maps.Put(tags)
	sh.recorded.Add(1)
}

// keep calls the filter, reading a panic as false.
func (p *SpanProcessor) keep(s sdktrace.ReadOnlySpan) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return p.cfg.filter(s)
}

// tags builds the timer's tags for s in a pooled map (AddTimer copies the
// map's entries, so the map is free again once it returns).
func (p *SpanProcessor) tags(s sdktrace.ReadOnlySpan) *pynba.Tags {
	m, ok := p.maps.Get().(*pynba.Tags)
	if !ok {
		t := make(pynba.Tags, 3+len(p.cfg.attrs))
		m = &t
	}
	tags := *m
	if len(p.cfg.attrs) > 0 {
		for _, kv := range s.Attributes() {
			for _, k := range p.cfg.attrs {
				if string(kv.Key) == k {
					if v, ok := tagValue(kv.Value); ok {
						tags[k] = v
					}
					break
				}
			}
		}
	}
	if p.group != nil {
		tags["group"] = p.group
	}
	tags["span"] = s.Name()
	if p.cfg.kindTag {
		if k := int(s.SpanKind()); k >= 0 && k < len(p.kinds) {
			tags["kind"] = p.kinds[k]
		} else {
			tags["kind"] = s.SpanKind().String()
		}
	}
	return m
}

// tagValue returns what pynba's flattening turns into the tag values of v.
func tagValue(v attribute.Value) (any, bool) {
	switch v.Type() {
	case attribute.STRING:
		return v.AsString(), true
	case attribute.BOOL:
		return v.AsBool(), true
	case attribute.INT64:
		return v.AsInt64(), true
	case attribute.FLOAT64:
		return v.AsFloat64(), true
	case attribute.STRINGSLICE:
		return v.AsStringSlice(), true
	case attribute.BOOLSLICE:
		return v.AsBoolSlice(), true
	case attribute.INT64SLICE:
		return v.AsInt64Slice(), true
	case attribute.FLOAT64SLICE:
		return v.AsFloat64Slice(), true
	case attribute.EMPTY:
		return nil, false
	default:
		return v.Emit(), true
	}
}

// Shutdown stops the processor: later spans are ignored, and the spans it
// remembers are forgotten (they make no timer). It holds nothing to send, so
// it returns at once, with nil.
func (p *SpanProcessor) Shutdown(context.Context) error {
	p.table.stop()
	return nil
}

// ForceFlush returns nil at once: a span's timer is added to its request
// when the span ends, and the request sends it with its packet, so the
// processor never holds a timer to flush.
func (p *SpanProcessor) ForceFlush(context.Context) error {
	return nil
}

// Stats counts what a SpanProcessor did. Every count but Pending only grows.
// A span that ends at the very moment its request ends may count as Recorded
// while the request, already finishing, drops its timer as late.
type Stats struct {
	Recorded  uint64 // timers added to a running request
	Late      uint64 // spans that ended after their request had ended (no timer)
	Filtered  uint64 // spans the WithFilter function refused, or panicked on
	Untracked uint64 // spans of a request not remembered: the table was full
	Evicted   uint64 // spans forgotten to make room: their request had ended
	Pending   int    // spans remembered now: started in a request, not ended nor evicted
}

// Stats returns the processor's counts.
func (p *SpanProcessor) Stats() Stats {
	var st Stats
	for i := range p.table.shards {
		s := &p.table.shards[i]
		st.Recorded += s.recorded.Load()
		st.Late += s.late.Load()
		st.Filtered += s.filtered.Load()
		st.Untracked += s.untracked.Load()
		st.Evicted += s.evicted.Load()
	}
	st.Pending = p.table.len()
	return st
}
