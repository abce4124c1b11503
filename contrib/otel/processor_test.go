package pynbaotel

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestSpansOfARequestBecomeTimers(t *testing.T) {
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		ctx, parent := rg.tr.Start(r.Context(), "checkout")
		spanOf(ctx, rg.tr, "db.query", 3*time.Millisecond, trace.WithAttributes(
			attribute.String("db.system", "postgresql"),
			attribute.String("db.statement", "SELECT 1"), // not chosen: no tag
		))
		spanOf(ctx, rg.tr, "db.query", 5*time.Millisecond, trace.WithAttributes(
			attribute.String("db.system", "postgresql"),
		))
		spanOf(ctx, rg.tr, "cache.get", 2*time.Millisecond) // no db.system: no tag for it
		parent.End()
	}, WithAttributes("db.system"))

	p := rg.serve("/checkout")
	if len(p.Timers) != 3 {
		t.Fatalf("want 3 timers (two db.query merged, cache.get, checkout), got %v", p.Timers)
	}
	db := mustTimer(t, p, map[string]string{"group": "otel", "span": "db.query", "db.system": "postgresql"})
	if db.HitCount != 2 || !near(db.Value, 8*time.Millisecond) {
		t.Errorf("db.query timer %v, want 2 hits, 0.008s", db)
	}
	cache := mustTimer(t, p, map[string]string{"group": "otel", "span": "cache.get"})
	if cache.HitCount != 1 || !near(cache.Value, 2*time.Millisecond) {
		t.Errorf("cache.get timer %v, want 1 hit, 0.002s", cache)
	}
	if outer := mustTimer(t, p, map[string]string{"group": "otel", "span": "checkout"}); outer.HitCount != 1 {
		t.Errorf("checkout timer %v, want 1 hit", outer)
	}
	if st := rg.proc.Stats(); st.Recorded != 4 || st.Pending != 0 || st.Late != 0 {
		t.Errorf("Stats %+v, want 4 recorded, none pending or late", st)
	}
}

func TestSpansWithoutContextUseTheBoundGoroutine(t *testing.T) {
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		// No request context: the proxy finds the request from the
		// goroutine, here and in a pynba.Go child.
		spanOf(context.Background(), rg.tr, "in-handler", time.Millisecond)
		done := make(chan struct{})
		pynba.Go(func() {
			defer close(done)
			spanOf(context.Background(), rg.tr, "in-child", 2*time.Millisecond)
		})
		<-done
		// A plain goroutine with the request's context: found through
		// the context.
		ctx := r.Context()
		done2 := make(chan struct{})
		go func() {
			defer close(done2)
			spanOf(ctx, rg.tr, "in-plain-goroutine", 4*time.Millisecond)
		}()
		<-done2
		// A plain goroutine without it belongs to no request.
		done3 := make(chan struct{})
		go func() {
			defer close(done3)
			spanOf(context.Background(), rg.tr, "lost", time.Millisecond)
		}()
		<-done3
	})

	p := rg.serve("/bound")
	for name, d := range map[string]time.Duration{
		"in-handler": time.Millisecond, "in-child": 2 * time.Millisecond, "in-plain-goroutine": 4 * time.Millisecond,
	} {
		tm := mustTimer(t, p, map[string]string{"group": "otel", "span": name})
		if tm.HitCount != 1 || !near(tm.Value, d) {
			t.Errorf("%s: timer %v, want 1 hit of %v", name, tm, d)
		}
	}
	if len(p.Timers) != 3 {
		t.Errorf("want 3 timers, got %v", p.Timers)
	}
}

func TestServerSpansAndKinds(t *testing.T) {
	handler := func(rg *rig, w http.ResponseWriter, r *http.Request) {
		ctx, srv := rg.tr.Start(r.Context(), "GET /items", trace.WithSpanKind(trace.SpanKindServer))
		spanOf(ctx, rg.tr, "fetch", time.Millisecond, trace.WithSpanKind(trace.SpanKindClient))
		spanOf(ctx, rg.tr, "compute", time.Millisecond)
		srv.End()
	}
	t.Run("default", func(t *testing.T) {
		p := newRig(t, handler).serve("/items")
		if len(p.Timers) != 2 {
			t.Fatalf("want the 2 non-server spans, got %v", p.Timers)
		}
		mustTimer(t, p, map[string]string{"group": "otel", "span": "fetch"})
		mustTimer(t, p, map[string]string{"group": "otel", "span": "compute"})
	})
	t.Run("WithServerSpans+WithSpanKind", func(t *testing.T) {
		p := newRig(t, handler, WithServerSpans(), WithSpanKind()).serve("/items")
		if len(p.Timers) != 3 {
			t.Fatalf("want 3 timers, got %v", p.Timers)
		}
		mustTimer(t, p, map[string]string{"group": "otel", "span": "GET /items", "kind": "server"})
		mustTimer(t, p, map[string]string{"group": "otel", "span": "fetch", "kind": "client"})
		mustTimer(t, p, map[string]string{"group": "otel", "span": "compute", "kind": "internal"})
	})
}

func TestGroupAndAttributeValues(t *testing.T) {
	handler := func(rg *rig, w http.ResponseWriter, r *http.Request) {
		_, s := rg.tr.Start(r.Context(), "op", trace.WithAttributes(
			attribute.Int("http.response.status_code", 404),
			attribute.Bool("cache.hit", false),
			attribute.Float64("ratio", 0.5),
			attribute.StringSlice("shards", []string{"b", "a", "b"}),
			attribute.String("span", "attribute loses to the span name"),
		))
		s.SetAttributes(attribute.String("late.attr", "set after start"))
		s.End()
	}
	attrs := WithAttributes("http.response.status_code", "cache.hit", "ratio", "shards", "span", "late.attr", "absent")

	p := newRig(t, handler, WithGroup("rpc"), attrs).serve("/v")
	if len(p.Timers) != 1 {
		t.Fatalf("want 1 timer, got %v", p.Timers)
	}
	got := p.Timers[0].Tags
	want := "[cache.hit=false group=rpc http.response.status_code=404 late.attr=set after start ratio=0.5 shards=a shards=b span=op]"
	var pairs []string
	for _, tg := range got {
		pairs = append(pairs, tg.Name+"="+tg.Value)
	}
	if fmt.Sprint(pairs) != want {
		t.Errorf("tags\n got %v\nwant %v", pairs, want)
	}

	p = newRig(t, handler, WithGroup("")).serve("/v")
	if len(p.Timers) != 1 || !sameTags(p.Timers[0].Tags, map[string]string{"span": "op"}) {
		t.Errorf("WithGroup(\"\"): want one timer tagged span=op only, got %v", p.Timers)
	}
}

func TestConcurrentRequestsSeeOnlyTheirSpans(t *testing.T) {
	const requests = 16
	// Every handler starts its spans, then waits until all the requests'
	// spans are started before ending its own, so that they overlap.
	var started sync.WaitGroup
	started.Add(requests)
	allStarted := make(chan struct{})
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		attr := trace.WithAttributes(attribute.String("req", id))
		_, viaCtx := rg.tr.Start(r.Context(), "work", attr)
		_, viaGoroutine := rg.tr.Start(context.Background(), "work", attr)
		child := make(chan trace.Span)
		pynba.Go(func() {
			_, s := rg.tr.Start(context.Background(), "work", attr)
			child <- s
		})
		inChild := <-child
		started.Done()
		select {
		case <-allStarted:
		case <-time.After(5 * time.Second):
			t.Error("the other requests did not start their spans")
		}
		viaCtx.End()
		viaGoroutine.End()
		inChild.End()
	}, WithAttributes("req"))

	srv := httptest.NewServer(rg.mw)
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/r?id=" + strconv.Itoa(i))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	waited := make(chan struct{})
	go func() { started.Wait(); close(waited) }()
	select {
	case <-waited:
		if n := rg.proc.Stats().Pending; n != 3*requests {
			t.Errorf("%d spans pending while every request holds 3, want %d", n, 3*requests)
		}
	case <-time.After(5 * time.Second):
		t.Error("requests did not start their spans")
	}
	close(allStarted)
	wg.Wait()
	<-waited

	pkts, err := rg.pin.Wait(requests, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pkts {
		if len(p.Timers) != 1 {
			t.Errorf("want 1 timer (3 identical spans merged), got %v", p.Timers)
			continue
		}
		tm := p.Timers[0]
		id := tm.Tags.Get("req")
		if seen[id] {
			t.Errorf("two packets hold the spans of request %s", id)
		}
		seen[id] = true
		if tm.HitCount != 3 {
			t.Errorf("request %s: timer %v, want its own 3 spans", id, tm)
		}
		if want := "/r"; p.ScriptName != want {
			t.Errorf("script %q, want %q", p.ScriptName, want)
		}
	}
	if len(seen) != requests {
		t.Errorf("saw the spans of %d requests, want %d", len(seen), requests)
	}
	if st := rg.proc.Stats(); st.Recorded != 3*requests || st.Pending != 0 {
		t.Errorf("Stats %+v, want %d recorded, none pending", st, 3*requests)
	}
}

func TestSpansOutsideRequestsSendNothing(t *testing.T) {
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {})
	for range 100 {
		spanOf(context.Background(), rg.tr, "background", time.Millisecond)
	}
	// One request with no span: its packet is the only one, with no timer.
	p := rg.serve("/empty")
	if len(p.Timers) != 0 {
		t.Errorf("want no timers, got %v", p.Timers)
	}
	if n := rg.pin.Received(); n != 1 {
		t.Errorf("received %d packets, want 1", n)
	}
	if st := rg.proc.Stats(); st != (Stats{}) {
		t.Errorf("Stats %+v, want all zero", st)
	}
}

func TestSpanEndingAfterItsRequestIsDroppedAndCounted(t *testing.T) {
	var leftover trace.Span
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		_, leftover = rg.tr.Start(r.Context(), "outlives-request")
		spanOf(r.Context(), rg.tr, "in-time", time.Millisecond)
	})
	p := rg.serve("/late")
	mustTimer(t, p, map[string]string{"group": "otel", "span": "in-time"})
	if len(p.Timers) != 1 {
		t.Errorf("want only the span that ended in time, got %v", p.Timers)
	}
	leftover.End()
	if st := rg.proc.Stats(); st.Late != 1 || st.Recorded != 1 || st.Pending != 0 {
		t.Errorf("Stats %+v, want 1 late, 1 recorded, none pending", st)
	}
	if n := rg.mw.Stats().LateUses; n != 1 {
		t.Errorf("Middleware Stats.LateUses = %d, want 1", n)
	}
	// A later request (which may reuse the pooled request storage) does
	// not get the late span either.
	rg.serve("/next")
	if p, err := rg.pin.Next(50 * time.Millisecond); err == nil {
		t.Errorf("unexpected packet %v", p)
	}
}

func TestFilter(t *testing.T) {
	handler := func(rg *rig, w http.ResponseWriter, r *http.Request) {
		spanOf(r.Context(), rg.tr, "keep", time.Millisecond)
		spanOf(r.Context(), rg.tr, "skip", time.Millisecond)
		spanOf(r.Context(), rg.tr, "panic", time.Millisecond)
	}
	rg := newRig(t, handler, WithFilter(func(s sdktrace.ReadOnlySpan) bool {
		switch s.Name() {
		case "skip":
			return false
		case "panic":
			panic("filter bug")
		}
		return true
	}))
	p := rg.serve("/f")
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("span") != "keep" {
		t.Errorf("want only span=keep, got %v", p.Timers)
	}
	if st := rg.proc.Stats(); st.Filtered != 2 || st.Recorded != 1 {
		t.Errorf("Stats %+v, want 2 filtered, 1 recorded", st)
	}
}

func TestShutdown(t *testing.T) {
	var open trace.Span
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		_, open = rg.tr.Start(r.Context(), "open")
		if n := rg.proc.Stats().Pending; n != 1 {
			t.Errorf("%d spans pending, want the open one", n)
		}
		if err := rg.proc.ForceFlush(context.Background()); err != nil {
			t.Errorf("ForceFlush: %v", err)
		}
		if err := rg.proc.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if n := rg.proc.Stats().Pending; n != 0 {
			t.Errorf("%d spans pending after Shutdown, want 0", n)
		}
		open.End() // still called by the provider: ignored
		spanOf(r.Context(), rg.tr, "after-shutdown", time.Millisecond)
	})
	p := rg.serve("/s")
	if len(p.Timers) != 0 {
		t.Errorf("want no timers after Shutdown, got %v", p.Timers)
	}
	if st := rg.proc.Stats(); st != (Stats{}) {
		t.Errorf("Stats %+v, want all zero", st)
	}
	// The provider's Shutdown (at cleanup) calls it again: harmless.
}

func TestScriptMonitor(t *testing.T) {
	pin := pinbatest.NewServer()
	defer pin.Close()
	proc := NewSpanProcessor()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc))
	defer tp.Shutdown(context.Background())

	sm, err := pynba.NewScriptMonitor(pin.Addr())
	if err != nil {
		t.Fatal(err)
	}
	spanOf(context.Background(), tp.Tracer("job"), "step", 7*time.Millisecond)
	if err := sm.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := pin.Next(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tm := mustTimer(t, p, map[string]string{"group": "otel", "span": "step"})
	if !near(tm.Value, 7*time.Millisecond) {
		t.Errorf("timer %v, want 0.007s", tm)
	}
}

func TestInvalidOptionsPanic(t *testing.T) {
	for name, opt := range map[string]Option{
		"WithMaxSpans(0)":    WithMaxSpans(0),
		`WithAttributes("")`: WithAttributes("a", ""),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewSpanProcessor did not panic", name)
				}
			}()
			NewSpanProcessor(opt)
		}()
	}
}

func TestRunner(t *testing.T) {
	pin := pinbatest.NewServer()
	defer pin.Close()
	proc := NewSpanProcessor(WithSpanKind())
	tp := newProvider(proc)
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("worker")

	run, err := pynba.NewRunner(pin.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	err = run.Run(context.Background(), "queue:orders", func(ctx context.Context) error {
		ctx, msg := tr.Start(ctx, "orders process", trace.WithSpanKind(trace.SpanKindConsumer))
		spanOf(ctx, tr, "charge", 6*time.Millisecond, trace.WithSpanKind(trace.SpanKindClient))
		msg.End()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pin.Next(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p.ScriptName != "queue:orders" {
		t.Errorf("script %q", p.ScriptName)
	}
	tm := mustTimer(t, p, map[string]string{"group": "otel", "span": "charge", "kind": "client"})
	if !near(tm.Value, 6*time.Millisecond) {
		t.Errorf("timer %v, want 0.006s", tm)
	}
	// Only server spans are skipped by default: a consumer span is kept.
	mustTimer(t, p, map[string]string{"group": "otel", "span": "orders process", "kind": "consumer"})
}
