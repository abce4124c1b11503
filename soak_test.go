package pynba

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pynba-go/pynba/pinbatest"
)

// soakDuration is how long TestSoak runs: PYNBA_SOAK (a Go duration, such
// as 20s, which .ci/run sets), else 1 s so that go test ./... stays fast.
func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("PYNBA_SOAK")
	if v == "" {
		return time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("PYNBA_SOAK=%q is not a positive duration", v)
	}
	return d
}

// soakCounts is what the handlers and the error handler count, to account
// for every request at the end.
type soakCounts struct {
	calls, flushes, disabled     atomic.Int64 // handler runs, Flush calls that send, requests disabled at the end
	lateOps                      atomic.Int64 // uses of handles after their request ended
	trimmed, dropped             atomic.Int64 // packets over the limit, trimmed or dropped (error handler)
	queueFull                    atomic.Int64 // packets dropped by the async queue (error handler)
	tagErrors, lateErrs, unknown atomic.Int64 // other errors heard
	firstUnknown                 atomic.Value // the first unexpected error
}

func (c *soakCounts) handle(err error) {
	var tl *PacketTooLargeError
	var te *TagError
	switch {
	case errors.As(err, &tl) && tl.Dropped:
		c.dropped.Add(1)
	case errors.As(err, &tl):
		c.trimmed.Add(1)
	case errors.As(err, &te):
		c.tagErrors.Add(1)
	case errors.Is(err, ErrQueueFull):
		c.queueFull.Add(1)
	case errors.Is(err, ErrLate):
		c.lateErrs.Add(1)
	default:
		c.unknown.Add(1)
		c.firstUnknown.CompareAndSwap(nil, err.Error())
	}
}

// soakTagSets are the timer tag sets: few, so that timers merge.
var soakTagSets = []Tags{
	{"group": "db", "op": "select"},
	{"group": "db", "op": "insert"},
	{"group": "cache", "op": "get", "hit": "yes"},
	{"group": "http", "service": []string{"a", "b"}},
	{"group": "render", "tpl": func() string { return "page" }},
}

// soakHandler does, at random, what real handlers do with the library.
func soakHandler(c *soakCounts, lateWG *sync.WaitGroup) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		for range rand.IntN(8) {
			tm := Timer(soakTagSets[rand.IntN(len(soakTagSets))]).Start()
			if rand.IntN(4) > 0 {
				tm.Stop() // else left running: stopped and sent at the end
			}
		}
		if rand.IntN(3) == 0 {
			AddTimer(Tags{"group": "added", "n": rand.IntN(3)}, time.Duration(rand.Int64N(int64(time.Second)))-time.Millisecond)
		}
		Time(Tags{"group": "time"}, func() {})
		SetTag("route", fmt.Sprint("r", rand.IntN(5)))
		if rand.IntN(10) == 0 {
			SetTag("bad", make(chan int)) // dropped, counted
		}
		if rand.IntN(5) == 0 {
			var wg sync.WaitGroup
			wg.Add(1)
			Go(func() {
				defer wg.Done()
				Timer(Tags{"group": "child"}).Start().Stop()
			})
			wg.Wait()
		}
		switch rand.IntN(50) {
		case 0: // many distinct timers: trimmed
			for i := range 300 {
				AddTimer(Tags{"group": "many", "i": i}, time.Microsecond)
			}
		case 1: // a request tag larger than the limit: dropped
			SetTag("huge", strings.Repeat("h", 5000))
		}
		if rand.IntN(40) == 0 { // a timer and a handle kept after the request
			kept := Timer(Tags{"group": "kept"}).Start()
			h := Current()
			ctx := r.Context()
			lateWG.Add(1)
			go func() {
				defer lateWG.Done()
				<-ctx.Done()
				kept.Stop()
				h.SetTag("late", "yes")
				h.Timer(Tags{"late": "yes"}).Start().Stop()
				c.lateOps.Add(3)
			}()
		}
		if rand.IntN(20) == 0 {
			c.flushes.Add(1)
			var tl *PacketTooLargeError
			if err := Flush(); err != nil && !errors.As(err, &tl) {
				c.unknown.Add(1)
				c.firstUnknown.CompareAndSwap(nil, err.Error())
			}
		}
		io.WriteString(w, "ok")
		if rand.IntN(30) == 0 {
			c.disabled.Add(1)
			SetEnabled(false)
		}
		switch rand.IntN(60) {
		case 0:
			panic(http.ErrAbortHandler)
		case 1:
			panic("soak panic")
		}
	}
}

// A bounded soak: many goroutines send requests through two Middlewares
// (one sync, one async), over real HTTP and directly, with random timers,
// tags, flushes, panics, oversized packets and late uses. At the end every
// request is accounted for (received plus counted drops equals sent), the
// heap is stable, the registry empty and no goroutine is left.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := pinbatest.NewServer()
	defer srv.Close()

	var c soakCounts
	var lateWG sync.WaitGroup
	h := soakHandler(&c, &lateWG)
	const limit = 4096
	sync1, err := NewMiddleware(h, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(c.handle), WithTags(Tags{"mw": "sync"}))
	if err != nil {
		t.Fatal(err)
	}
	async, err := NewMiddleware(h, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(c.handle), WithTags(Tags{"mw": "async"}), WithAsync(64))
	if err != nil {
		t.Fatal(err)
	}
	mws := []*Middleware{sync1, async}
	stats := func() (s Stats) {
		for _, m := range mws {
			ms := m.Stats()
			s.Requests += ms.Requests
			s.Packets += ms.Packets
			s.Sent += ms.Sent
			s.SendErrors += ms.SendErrors
			s.Unresolved += ms.Unresolved
			s.QueueDropped += ms.QueueDropped
			s.TooLarge += ms.TooLarge
			s.TagErrors += ms.TagErrors
			s.LateUses += ms.LateUses
			s.EncodeErrors += ms.EncodeErrors
		}
		return s
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/async") {
			async.ServeHTTP(w, r)
		} else {
			sync1.ServeHTTP(w, r)
		}
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	client := ts.Client()
	client.Timeout = wait

	// The consumer takes and checks every packet, so the server's queue
	// does not grow.
	var received, bad atomic.Int64
	var firstBad atomic.Value
	consumerStop := make(chan struct{})
	consumerDone := make(chan struct{})
	check := func(ps []*pinbatest.Packet) {
		for _, p := range ps {
			received.Add(1)
			err := p.Err
			if err == nil {
				err = pinbatest.Validate(p.Raw)
			}
			if err == nil && (p.Tags.Get("late") != "" || p.Tags.Get("bad") != "" || p.Tags.Get("huge") != "" || len(p.Raw) > limit) {
				err = fmt.Errorf("packet with tags %v, %d bytes", p.Tags, len(p.Raw))
			}
			for _, tm := range p.Timers {
				if err == nil && (tm.Tags.Get("late") != "" || tm.HitCount == 0) {
					err = fmt.Errorf("timer %v", tm)
				}
			}
			if err != nil {
				bad.Add(1)
				firstBad.CompareAndSwap(nil, err.Error())
			}
		}
	}
	go func() {
		defer close(consumerDone)
		for {
			select {
			case <-consumerStop:
				return
			case <-time.After(5 * time.Millisecond):
				check(srv.Take())
			}
		}
	}()

	// Workers; each waits while the receiver is far behind, so that the
	// kernel never drops a datagram for want of buffer, and while the
	// consumer is.
	stop := make(chan struct{})
	var workers sync.WaitGroup
	var clientErrs atomic.Int64
	for i := range 8 {
		workers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				for deadline := time.Now().Add(wait); ; {
					// Also while the consumer is far behind the receiver: the
					// packets it has not taken yet are the test's memory,
					// not the library's.
					if s := stats(); int64(s.Sent)-int64(srv.Received()) < 256 && int64(srv.Received())-received.Load() < 1024 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("the receiver fell behind for %v", wait)
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
				path := "/sync"
				if n%2 == 1 {
					path = "/async"
				}
				if i%2 == 0 {
					resp, err := client.Get(ts.URL + path)
					if err != nil {
						clientErrs.Add(1) // an aborted request
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					continue
				}
				m := sync1
				if n%2 == 1 {
					m = async
				}
				ctx, cancel := context.WithCancel(context.Background())
				req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
				func() {
					defer func() { recover() }()
					m.ServeHTTP(httptest.NewRecorder(), req)
				}()
				cancel()
			}
		})
	}

	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	warmUp := max(dur/5, 200*time.Millisecond)
	time.Sleep(warmUp)
	heapWarm := heap()
	callsWarm := c.calls.Load()
	time.Sleep(dur - warmUp)
	heapEnd := heap()
	close(stop)
	workers.Wait()
	ts.Close() // waits for the handlers still running
	lateWG.Wait()
	for _, m := range mws {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if !eventually(func() bool { return uint64(srv.Received()) == stats().Sent }) {
		t.Errorf("%d packets received, %d sent", srv.Received(), stats().Sent)
	}
	close(consumerStop)
	<-consumerDone
	check(srv.Take())

	s := stats()
	calls := c.calls.Load()
	t.Logf("%v: %d requests (%d after warm-up), %d packets, %d received, %d flushes, %d disabled, %d trimmed, %d dropped, %d queue drops, %d late uses, %d client errors; heap %d KiB after warm-up, %d KiB at the end",
		dur, calls, calls-callsWarm, s.Packets, received.Load(), c.flushes.Load(), c.disabled.Load(), c.trimmed.Load(), c.dropped.Load(),
		s.QueueDropped, c.lateOps.Load(), clientErrs.Load(), heapWarm>>10, heapEnd>>10)

	if calls < 100 {
		t.Errorf("only %d requests in %v", calls, dur)
	}
	if s.Requests != uint64(calls) {
		t.Errorf("%d requests counted, %d handled", s.Requests, calls)
	}
	// Every packet built is sent or counted as dropped: one per request and
	// per Flush, but for requests disabled at the end.
	if attempts := calls + c.flushes.Load() - c.disabled.Load(); int64(s.Packets)+c.dropped.Load() != attempts {
		t.Errorf("%d packets + %d dropped over the limit, want %d (requests + flushes - disabled)", s.Packets, c.dropped.Load(), attempts)
	}
	if s.QueueDropped != uint64(c.queueFull.Load()) {
		t.Errorf("QueueDropped %d, %d reported", s.QueueDropped, c.queueFull.Load())
	}
	if s.Packets != s.Sent+s.SendErrors+s.Unresolved+s.QueueDropped {
		t.Errorf("%d packets, but %d sent + %d send errors + %d unresolved + %d queue drops", s.Packets, s.Sent, s.SendErrors, s.Unresolved, s.QueueDropped)
	}
	if uint64(received.Load()) != s.Sent {
		t.Errorf("%d packets received, %d sent", received.Load(), s.Sent)
	}
	if s.TooLarge != uint64(c.trimmed.Load()+c.dropped.Load()) {
		t.Errorf("TooLarge %d, %d trimmed + %d dropped reported", s.TooLarge, c.trimmed.Load(), c.dropped.Load())
	}
	if s.LateUses != uint64(c.lateOps.Load()) || c.lateErrs.Load() != c.lateOps.Load() {
		t.Errorf("LateUses %d, %d ErrLate reported, %d late uses made", s.LateUses, c.lateErrs.Load(), c.lateOps.Load())
	}
	if s.TagErrors != uint64(c.tagErrors.Load()) || s.EncodeErrors != 0 || s.SendErrors != 0 || s.Unresolved != 0 {
		t.Errorf("stats %+v; %d tag errors reported", s, c.tagErrors.Load())
	}
	if n := c.unknown.Load(); n != 0 {
		t.Errorf("%d unexpected errors, the first: %v", n, c.firstUnknown.Load())
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d bad packets, the first: %v", n, firstBad.Load())
	}
	if heapEnd > heapWarm+32<<20 {
		t.Errorf("heap grew from %d KiB after warm-up to %d KiB", heapWarm>>10, heapEnd>>10)
	}
	if n := registrySize(); n != 0 {
		t.Errorf("registry holds %d goroutines", n)
	}
}
