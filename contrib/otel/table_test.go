package pynbaotel

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"go.opentelemetry.io/otel/trace"
)

func TestTableEmptiesAfterManyRequests(t *testing.T) {
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		ctx, s := rg.tr.Start(r.Context(), "outer")
		for range 4 {
			spanOf(ctx, rg.tr, "inner", time.Microsecond)
		}
		s.End()
	})
	const requests = 500
	for i := range requests {
		p := rg.serve("/many")
		if len(p.Timers) != 2 {
			t.Fatalf("request %d: want 2 timers, got %v", i, p.Timers)
		}
	}
	if st := rg.proc.Stats(); st.Pending != 0 || st.Recorded != 5*requests || st.Untracked != 0 {
		t.Errorf("Stats %+v, want none pending, %d recorded", st, 5*requests)
	}
}

// Once its shards have grown to their steady size, remembering and
// forgetting spans allocates nothing: the maps do not grow with the number
// of spans that went through them.
func TestTableDoesNotGrow(t *testing.T) {
	tb := newSpanTable(DefaultMaxSpans)
	h := pynba.Collector{}
	next := uint64(1)
	cycle := func() {
		// 256 spans open at once, then ended.
		var keys [256]uint64
		for i := range keys {
			keys[i] = next * 0x9E3779B97F4A7C15
			next++
			if !tb.put(keys[i], h) {
				t.Fatal("put refused")
			}
		}
		for _, k := range keys {
			if _, _, ok := tb.take(k); !ok {
				t.Fatal("take found nothing")
			}
		}
	}
	for range 100 {
		cycle()
	}
	if a := testing.AllocsPerRun(200, cycle); a != 0 {
		t.Errorf("%v allocations per 256 spans, want 0", a)
	}
	if n := tb.len(); n != 0 {
		t.Errorf("len %d, want 0", n)
	}
}

func TestSpansThatNeverEndStayBounded(t *testing.T) {
	const maxSpans = 640 // 10 a shard
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		for range 50 {
			rg.tr.Start(r.Context(), "leaked") // never ended
		}
		for range 20 {
			spanOf(r.Context(), rg.tr, "ended", time.Millisecond)
		}
	}, WithMaxSpans(maxSpans))

	for i := range 100 {
		p := rg.serve("/leak")
		// The leaked spans of ended requests are swept to make room:
		// every request keeps all of its spans that end in time.
		tm := mustTimer(t, p, map[string]string{"group": "otel", "span": "ended"})
		if tm.HitCount != 20 {
			t.Fatalf("request %d: timer %v, want 20 hits", i, tm)
		}
		if n := rg.proc.Stats().Pending; n > maxSpans {
			t.Fatalf("request %d: %d spans pending, over the cap of %d", i, n, maxSpans)
		}
	}
	st := rg.proc.Stats()
	if st.Evicted == 0 || st.Untracked != 0 || st.Recorded != 100*20 {
		t.Errorf("Stats %+v, want evictions, nothing untracked, %d recorded", st, 100*20)
	}
	if st.Evicted+uint64(st.Pending) != 100*50 {
		t.Errorf("evicted %d + pending %d, want the %d leaked spans", st.Evicted, st.Pending, 100*50)
	}
}

func TestFullTableRefusesAndCounts(t *testing.T) {
	const maxSpans = 64 // one a shard
	const open = 1000
	var pending Stats
	rg := newRig(t, func(rg *rig, w http.ResponseWriter, r *http.Request) {
		spans := make([]trace.Span, 0, open)
		for range open {
			_, s := rg.tr.Start(r.Context(), "many")
			spans = append(spans, s)
		}
		pending = rg.proc.Stats()
		for _, s := range spans {
			s.End()
		}
	}, WithMaxSpans(maxSpans))

	p := rg.serve("/full")
	if pending.Pending > maxSpans || pending.Pending == 0 {
		t.Errorf("%d spans pending with %d open, want 1 to %d", pending.Pending, open, maxSpans)
	}
	if int(pending.Untracked)+pending.Pending != open {
		t.Errorf("untracked %d + pending %d, want %d", pending.Untracked, pending.Pending, open)
	}
	tm := mustTimer(t, p, map[string]string{"group": "otel", "span": "many"})
	if int(tm.HitCount) != pending.Pending {
		t.Errorf("timer %v, want %d hits (the spans remembered)", tm, pending.Pending)
	}
	if st := rg.proc.Stats(); st.Pending != 0 || st.Recorded != uint64(pending.Pending) {
		t.Errorf("Stats %+v after the spans ended", st)
	}
}

func TestOutsideRequestsTouchesNoTable(t *testing.T) {
	proc := NewSpanProcessor()
	tp := newProvider(proc)
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("t")
	for range 1000 {
		_, s := tr.Start(context.Background(), "x")
		s.End()
	}
	for i := range proc.table.shards {
		if n := len(proc.table.shards[i].m); n != 0 {
			t.Fatalf("shard %d holds %d entries", i, n)
		}
	}
	if st := proc.Stats(); st != (Stats{}) {
		t.Errorf("Stats %+v, want zero", st)
	}
}
