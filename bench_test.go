package pynba

// The cost benchmarks, each beside the baseline it is judged against, in
// the same run: bench/run.sh runs them with -count and writes the medians
// and ratios into BENCHMARKS.md. Sub-benchmark names end in /impl=X so that
// benchstat -col /impl puts a measure and its baseline side by side.
//
// Packets go to a loopback sink that reads and discards (udpSink): -benchmem
// counts the allocations of every goroutine, so a receiver that decodes
// (pinbatest) would be counted against the library.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petermattis/goid"
	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pinbatest"
)

// udpSink is the loopback UDP receiver of the benchmarks: a goroutine that
// reads and only counts, so that it allocates nothing (-benchmem counts
// every goroutine's allocations). The kernel's work of delivering a
// datagram is paid by the sender's write, as with a Pinba server on the
// same host.
type udpSink struct {
	conn *net.UDPConn
	addr netip.AddrPort
	last atomic.Int64 // size of the last datagram
	n    atomic.Int64 // datagrams received
}

func newSink(tb testing.TB) *udpSink {
	tb.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	s := &udpSink{conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			s.last.Store(int64(n))
			s.n.Add(1)
		}
	}()
	tb.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

// waitFor waits until the sink has received n datagrams in all.
func (s *udpSink) waitFor(tb testing.TB, n int64) {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.n.Load() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("sink received %d datagrams, want %d", s.n.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

var okBody = []byte("ok")

// trivial is the bare handler every Monitor benchmark is judged against.
func trivial(w http.ResponseWriter, r *http.Request) { w.Write(okBody) }

// benchTagSets returns n tag sets of 3 tags each, built once and reused, as
// an application keeps them: the same group, one of 4 operations, and a
// distinct table, so that n timers make n timers on the wire.
func benchTagSets(n int) []Tags {
	ops := [...]string{"select", "insert", "update", "delete"}
	out := make([]Tags, n)
	for i := range out {
		out[i] = Tags{"group": "db", "op": ops[i%4], "table": "t" + strconv.Itoa(i)}
	}
	return out
}

// timersHandler is trivial plus one timer started and stopped through the
// proxy for each tag set.
func timersHandler(sets []Tags) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, tags := range sets {
			Timer(tags).Start().Stop()
		}
		w.Write(okBody)
	}
}

func benchMiddleware(tb testing.TB, h http.Handler, sink *udpSink, opts ...Option) *Middleware {
	tb.Helper()
	opts = append([]Option{WithHostname("web-01"), WithErrorHandler(func(err error) { tb.Error(err) })}, opts...)
	m, err := NewMiddleware(h, sink.addr.String(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// warmUp serves requests through h from several goroutines at once, so
// that the collector pool holds a collector grown for them on every P:
// sync.Pool keeps one per P, and a benchmark goroutine that moves to
// another P would otherwise make a new one, growing its timer slots
// again, which is not the steady state being measured.
func warmUp(h http.Handler) {
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &benchWriter{h: http.Header{}}
			for range 4 {
				h.ServeHTTP(w, benchRequest)
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
}

// packetSize runs one request through h and returns the size of the
// datagram the sink received.
func packetSize(tb testing.TB, h http.Handler, sink *udpSink) int {
	tb.Helper()
	before := sink.n.Load()
	h.ServeHTTP(&benchWriter{h: http.Header{}}, benchRequest)
	sink.waitFor(tb, before+1)
	return int(sink.last.Load())
}

// rawSender writes datagrams the way the Reporter does: one unconnected
// UDP socket, WriteToUDPAddrPort.
func rawSender(tb testing.TB) *net.UDPConn {
	tb.Helper()
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// BenchmarkMonitor measures one request through Monitor around a trivial
// handler that starts and stops 0, 1, 20 or 1,000 timers of 3 tags
// (impl=monitor), against the bare handler without timers (impl=bare) and
// one raw write of a datagram of the same size to the same receiver
// (impl=udp). Monitor's added cost is monitor minus bare.
//
// impl=floor is the system calls a request of the process-delta model
// (impl=delta, WithCPU(CPUProcessDelta)) cannot do without, one after the
// other: the two readings of the CPU time and the write; under the fair
// share (impl=monitor) a request reads the CPU time at most once a
// millisecond, so its floor is the write alone. Writes apart
// cost more than writes back to back (the receiver has gone to sleep and
// must be woken), so the floor is more than their sum measured alone.
// impl=async is impl=monitor with WithAsync: the request queues its packet
// for the sender goroutine.
func BenchmarkMonitor(b *testing.B) {
	for _, n := range []int{0, 1, 20, 1000} {
		b.Run(fmt.Sprintf("timers=%d", n), func(b *testing.B) {
			benchMonitor(b, benchTagSets(n))
		})
	}
}

func benchMonitor(b *testing.B, sets []Tags) {
	sink := newSink(b)
	h := timersHandler(sets)
	size := packetSize(b, benchMiddleware(b, h, sink), sink)
	b.Run("impl=udp", func(b *testing.B) {
		conn := rawSender(b)
		pkt := make([]byte, size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := conn.WriteToUDPAddrPort(pkt, sink.addr); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "datagram-B")
	})
	b.Run("impl=floor", func(b *testing.B) {
		conn := rawSender(b)
		pkt := make([]byte, size)
		b.ReportAllocs()
		var cpu float64
		for b.Loop() {
			u, s := cpuTimes()
			u2, s2 := cpuTimes()
			cpu += u2 - u + s2 - s
			if _, err := conn.WriteToUDPAddrPort(pkt, sink.addr); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "datagram-B")
	})
	b.Run("impl=bare", func(b *testing.B) {
		w := &benchWriter{h: http.Header{}}
		h := http.HandlerFunc(trivial)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, benchRequest)
		}
	})
	b.Run("impl=monitor", func(b *testing.B) {
		m := benchMiddleware(b, h, sink)
		w := &benchWriter{h: http.Header{}}
		warmUp(m)
		b.ReportAllocs()
		for b.Loop() {
			m.ServeHTTP(w, benchRequest)
		}
		b.ReportMetric(float64(size), "datagram-B")
	})
	b.Run("impl=async", func(b *testing.B) {
		benchAsync(b, h, sink, size)
	})
	// impl=nowrite is impl=monitor sending to a server whose name never
	// resolves: the library's whole work but the write (counted as
	// unresolved). impl=nowrite+udp adds a raw write of the datagram
	// after each request, as a sync request does them one after the
	// other: against nowrite and udp measured apart, what the write costs
	// the code after it.
	noWrite := func(b *testing.B) *Middleware {
		m, err := NewMiddleware(h, "unresolved.test", WithHostname("web-01"), WithErrorHandler(nil),
			WithResolver(func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		warmUp(m)
		return m
	}
	b.Run("impl=nowrite", func(b *testing.B) {
		m := noWrite(b)
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			m.ServeHTTP(w, benchRequest)
		}
	})
	b.Run("impl=nowrite+udp", func(b *testing.B) {
		m := noWrite(b)
		w := &benchWriter{h: http.Header{}}
		conn := rawSender(b)
		pkt := make([]byte, size)
		b.ReportAllocs()
		for b.Loop() {
			m.ServeHTTP(w, benchRequest)
			if _, err := conn.WriteToUDPAddrPort(pkt, sink.addr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=delta", func(b *testing.B) {
		m := benchMiddleware(b, h, sink, WithCPU(CPUProcessDelta))
		w := &benchWriter{h: http.Header{}}
		warmUp(m)
		b.ReportAllocs()
		for b.Loop() {
			m.ServeHTTP(w, benchRequest)
		}
		b.ReportMetric(float64(size), "datagram-B")
	})
}

// benchAsync measures requests through a Middleware in async mode. The
// queue is never let fill: after every 256 requests the clock stops until
// the sender goroutine has written all of them, so that every request
// queues its packet (a dropped packet would cost less) and the figure is
// the request path's.
func benchAsync(b *testing.B, h http.Handler, sink *udpSink, size int) {
	const batch = 256
	m := benchMiddleware(b, h, sink, WithAsync(4*batch))
	w := &benchWriter{h: http.Header{}}
	warmUp(m)
	drain := func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := m.Stats()
			if s.Sent+s.QueueDropped+s.SendErrors >= s.Packets {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("the async queue did not drain: %+v", s)
			}
			runtime.Gosched()
		}
	}
	drain()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.ServeHTTP(w, benchRequest)
		if i++; i%batch == 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	if s := m.Stats(); s.QueueDropped != 0 {
		b.Errorf("%d packets dropped", s.QueueDropped)
	}
	b.ReportMetric(float64(size), "datagram-B")
}

// BenchmarkMonitorIdenticalTimers measures a request that starts and stops
// 10,000 timers with the same Tags. Before measuring, it checks that the
// request sends one timer with 10,000 hits.
func BenchmarkMonitorIdenticalTimers(b *testing.B) {
	tags := Tags{"group": "db", "op": "select", "table": "users"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 10000 {
			Timer(tags).Start().Stop()
		}
		w.Write(okBody)
	})
	srv := pinbatest.NewServer()
	check, err := NewMiddleware(h, srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	check.ServeHTTP(&benchWriter{h: http.Header{}}, benchRequest)
	p, err := srv.Next(3 * time.Second)
	check.Close()
	srv.Close()
	if err != nil {
		b.Fatal(err)
	}
	if len(p.Timers) != 1 || p.Timers[0].HitCount != 10000 {
		b.Fatalf("10,000 identical timers sent as %v", p.Timers)
	}

	sink := newSink(b)
	m := benchMiddleware(b, h, sink)
	size := packetSize(b, m, sink)
	warmUp(m)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		m.ServeHTTP(w, benchRequest)
	}
	b.ReportMetric(float64(size), "datagram-B")
}

// BenchmarkMonitorParallel runs requests with one timer from GOMAXPROCS
// goroutines at once: when the registry and the pools do not contend, the
// time per request divides by the number of CPUs as the bare handler's and
// the raw write's do. impl=udp writes from one socket per goroutine,
// impl=udp-shared from one socket for all, as the Reporter does: net's
// UDPConn lets one write at a time through.
func BenchmarkMonitorParallel(b *testing.B) {
	sink := newSink(b)
	sets := benchTagSets(1)
	h := timersHandler(sets)
	size := packetSize(b, benchMiddleware(b, h, sink), sink)
	b.Run("impl=udp", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			conn, err := net.ListenUDP("udp", nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			pkt := make([]byte, size)
			for pb.Next() {
				conn.WriteToUDPAddrPort(pkt, sink.addr)
			}
		})
	})
	b.Run("impl=udp-shared", func(b *testing.B) {
		conn := rawSender(b)
		pkt := make([]byte, size)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				conn.WriteToUDPAddrPort(pkt, sink.addr)
			}
		})
	})
	b.Run("impl=bare", func(b *testing.B) {
		h := http.HandlerFunc(trivial)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &benchWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, benchRequest)
			}
		})
	})
	b.Run("impl=monitor", func(b *testing.B) {
		m := benchMiddleware(b, h, sink)
		warmUp(m)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &benchWriter{h: http.Header{}}
			for pb.Next() {
				m.ServeHTTP(w, benchRequest)
			}
		})
	})
}

// inRequest runs fn in the calling goroutine bound to a request of a
// Middleware sending to a sink. Every 1,024 calls of tick the request is
// ended and a new one begun, without building a packet, so that timer
// slots are reused as they are across real requests.
func inRequest(b *testing.B, fn func(tick func())) {
	sink := newSink(b)
	m := benchMiddleware(b, http.HandlerFunc(trivial), sink)
	c := m.core.get()
	c.begin(reqInit{})
	gid := curGoid()
	prev := bind(gid, binding{c, c.epoch})
	i := 0
	tick := func() {
		i++
		if i&1023 == 0 {
			c.end()
			c.begin(reqInit{})
			bind(gid, binding{c, c.epoch})
		}
	}
	fn(tick)
	unbind(gid, prev)
	c.end()
	m.core.put(c)
}

// BenchmarkTimer measures pynba.Timer(tags).Start() and Stop() through the
// proxy, with a Tags map built once (impl=proxy), against two time.Now
// calls (impl=now-x2). impl=handle goes through a Collector handle kept by
// the caller, without the goroutine lookup.
func BenchmarkTimer(b *testing.B) {
	tags := Tags{"group": "db", "op": "select", "table": "users"}
	b.Run("impl=now-x2", func(b *testing.B) {
		b.ReportAllocs()
		var d time.Duration
		for b.Loop() {
			t0 := time.Now()
			t1 := time.Now()
			d += t1.Sub(t0)
		}
		_ = d
	})
	b.Run("impl=proxy", func(b *testing.B) {
		inRequest(b, func(tick func()) {
			Timer(tags).Start().Stop()
			b.ReportAllocs()
			for b.Loop() {
				Timer(tags).Start().Stop()
				tick()
			}
		})
	})
	b.Run("impl=handle", func(b *testing.B) {
		inRequest(b, func(tick func()) {
			b.ReportAllocs()
			for b.Loop() {
				Current().Timer(tags).Start().Stop()
				tick()
			}
		})
	})
}

var sinkGid int64

// BenchmarkLookup measures finding the current request (Current: goroutine
// id and registry lookup), against reading the goroutine id alone with goid
// (impl=goid) and through the runtime.Stack fallback (impl=stack).
func BenchmarkLookup(b *testing.B) {
	b.Run("impl=goid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkGid += goid.Get()
		}
	})
	b.Run("impl=registry", func(b *testing.B) {
		inRequest(b, func(func()) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if lookupCurrent().c != nil {
					n++
				}
			}
			sinkGid = int64(n)
		})
	})
	b.Run("impl=current", func(b *testing.B) {
		inRequest(b, func(func()) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if Current().c != nil {
					n++
				}
			}
			sinkGid = int64(n)
		})
	})
	b.Run("impl=stack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkGid += stackGoid()
		}
	})
}

// BenchmarkLookupParallel is BenchmarkLookup from GOMAXPROCS goroutines,
// each bound to its own request.
func BenchmarkLookupParallel(b *testing.B) {
	sink := newSink(b)
	m := benchMiddleware(b, http.HandlerFunc(trivial), sink)
	b.Run("impl=goid", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var n int64
			for pb.Next() {
				n += goid.Get()
			}
			atomic.AddInt64(&sinkGid, n)
		})
	})
	b.Run("impl=registry", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			c := m.core.get()
			c.begin(reqInit{})
			gid := curGoid()
			prev := bind(gid, binding{c, c.epoch})
			var n int
			for pb.Next() {
				if lookupCurrent().c != nil {
					n++
				}
			}
			unbind(gid, prev)
			c.end()
			m.core.put(c)
			atomic.AddInt64(&sinkGid, int64(n))
		})
	})
}

// encodeCollector returns a collector holding a finished request of n
// timers of benchTagSets, ready to build.
func encodeCollector(b *testing.B, n int) *reqData {
	sink := newSink(b)
	m := benchMiddleware(b, http.HandlerFunc(trivial), sink)
	c := newReqData(m.core)
	c.begin(reqInit{})
	c.hostname, c.serverName, c.scriptName, c.schema = "web-01", "shop.example.com", "/cart/42", "http"
	for i, tags := range benchTagSets(n) {
		t := c.newTimer(tags)
		t.s.elapsed, t.s.hits = time.Duration(i+1)*time.Microsecond, 1
	}
	c.encMu.Lock()
	c.mu.Lock()
	c.snapshot(mono(), true)
	c.mu.Unlock()
	c.encMu.Unlock()
	return c
}

// BenchmarkEncode measures encoding a request of n timers of 3 tags:
// pb.Record.Append (impl=append) against proto.Marshal of the generated
// message, built beforehand (impl=proto) or built from the record each time
// as generated code is used naively (impl=proto-build). impl=build is the
// whole of what a request pays besides the write: flattening the tags,
// merging identical timers, the dictionary and Append.
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{0, 1, 20, 1000} {
		b.Run(fmt.Sprintf("timers=%d", n), func(b *testing.B) {
			c := encodeCollector(b, n)
			c.encMu.Lock()
			defer c.encMu.Unlock()
			if _, err := c.build(); err != nil {
				b.Fatal(err)
			}
			rec := &c.enc.rec
			msg := rec.Proto()
			b.Run("impl=proto", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					proto.Marshal(msg)
				}
			})
			b.Run("impl=append", func(b *testing.B) {
				buf := make([]byte, 0, 64<<10)
				b.ReportAllocs()
				for b.Loop() {
					buf, _ = rec.Append(buf[:0])
				}
			})
			b.Run("impl=proto-build", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					proto.Marshal(rec.Proto())
				}
			})
			b.Run("impl=build", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.build()
				}
			})
		})
	}
}

// BenchmarkMonitorScaling serves requests with one timer (sync Monitor)
// from 1 and 2 goroutines (GOMAXPROCS unchanged): ns/op is the wall time
// per request, so 1's ns/op over 2's is the speed-up. impl=udp writes the
// same datagram from a socket per goroutine, impl=udp-shared from one
// socket for all.
func BenchmarkMonitorScaling(b *testing.B) {
	sink := newSink(b)
	h := timersHandler(benchTagSets(1))
	size := packetSize(b, benchMiddleware(b, h, sink), sink)
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d/impl=monitor", g), func(b *testing.B) {
			m := benchMiddleware(b, h, sink)
			warmUp(m)
			b.ReportAllocs()
			runSplit(b, g, func() func() {
				w := &benchWriter{h: http.Header{}}
				return func() { m.ServeHTTP(w, benchRequest) }
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=udp", g), func(b *testing.B) {
			var conns []*net.UDPConn
			for range g {
				conns = append(conns, rawSender(b))
			}
			var k atomic.Int32
			pkt := make([]byte, size)
			runSplit(b, g, func() func() {
				conn := conns[k.Add(1)-1]
				return func() { conn.WriteToUDPAddrPort(pkt, sink.addr) }
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=udp-shared", g), func(b *testing.B) {
			conn := rawSender(b)
			pkt := make([]byte, size)
			runSplit(b, g, func() func() {
				return func() { conn.WriteToUDPAddrPort(pkt, sink.addr) }
			})
		})
	}
}

// runSplit runs b.N calls of the function mk returns, split among g
// goroutines (each calls mk once).
func runSplit(b *testing.B, g int, mk func() func()) {
	var next atomic.Int64
	fns := make([]func(), g)
	for i := range fns {
		fns[i] = mk()
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				fn()
			}
		})
	}
	wg.Wait()
}

// BenchmarkAsyncThroughput serves requests with one timer through an
// async Middleware from GOMAXPROCS goroutines as fast as they go, and
// reports the datagrams the sink received per second (delivered/s) and
// the share of packets dropped (dropped/op); impl=udp writes the same
// datagram from a socket per goroutine, the most the machine delivers.
func BenchmarkAsyncThroughput(b *testing.B) {
	sink := newSink(b)
	h := timersHandler(benchTagSets(1))
	size := packetSize(b, benchMiddleware(b, h, sink), sink)
	b.Run("impl=udp", func(b *testing.B) {
		before := sink.n.Load()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			conn, err := net.ListenUDP("udp", nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			pkt := make([]byte, size)
			for pb.Next() {
				conn.WriteToUDPAddrPort(pkt, sink.addr)
			}
		})
		time.Sleep(5 * time.Millisecond) // the sink reads the last ones
		b.ReportMetric(float64(sink.n.Load()-before)/time.Since(start).Seconds(), "delivered/s")
	})
	b.Run("impl=async", func(b *testing.B) {
		m := benchMiddleware(b, h, sink, WithAsync(4096), WithErrorHandler(func(error) {}))
		warmUp(m)
		b.ReportAllocs()
		before, dropped0 := sink.n.Load(), m.Stats().QueueDropped
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			w := &benchWriter{h: http.Header{}}
			for pb.Next() {
				m.ServeHTTP(w, benchRequest)
			}
		})
		m.Close() // sends what is queued
		time.Sleep(5 * time.Millisecond)
		b.ReportMetric(float64(sink.n.Load()-before)/time.Since(start).Seconds(), "delivered/s")
		b.ReportMetric(float64(m.Stats().QueueDropped-dropped0)/float64(b.N), "dropped/op")
	})
}

// httpWraps are the handlers BenchmarkHTTP and BenchmarkHTTPPaired serve:
// the bare handler, and the handler with one timer wrapped with Monitor,
// sync, async, and async with the CPU share off.
func httpWraps(sink *udpSink) []struct {
	impl string
	wrap func(b *testing.B) http.Handler
} {
	h := timersHandler(benchTagSets(1))
	return []struct {
		impl string
		wrap func(b *testing.B) http.Handler
	}{
		{"bare", func(b *testing.B) http.Handler { return http.HandlerFunc(trivial) }},
		{"monitor", func(b *testing.B) http.Handler { return benchMiddleware(b, h, sink) }},
		{"async", func(b *testing.B) http.Handler {
			return benchMiddleware(b, h, sink, WithAsync(1024), WithErrorHandler(func(error) {}))
		}},
		{"async-cpuoff", func(b *testing.B) http.Handler {
			return benchMiddleware(b, h, sink, WithAsync(1024), WithErrorHandler(func(error) {}), WithCPU(CPUOff))
		}},
	}
}

// httpGetter serves h from an httptest.Server and returns a function that
// makes one request to it with a keep-alive client.
func httpGetter(b *testing.B, h http.Handler) func() {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1
	b.Cleanup(client.CloseIdleConnections)
	get := func() {
		resp, err := client.Get(srv.URL + "/cart/42")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	return get
}

// BenchmarkHTTP measures a whole request over HTTP: an httptest.Server and
// a keep-alive client, the handler starting one timer. impl=bare is the
// handler unwrapped; impl=monitor and impl=async wrapped with Monitor,
// sync and async; impl=async-cpuoff async with WithCPU(CPUOff).
func BenchmarkHTTP(b *testing.B) {
	sink := newQuietSink(b)
	for _, c := range httpWraps(sink) {
		b.Run("impl="+c.impl, func(b *testing.B) {
			get := httpGetter(b, c.wrap(b))
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}

// BenchmarkHTTPPaired is BenchmarkHTTP measured in pairs: every iteration
// makes one request to the bare handler and one to the wrapped one (in
// turn first), timing each, so that both see the same moments of a busy
// machine, whose HTTP round trips vary by tens of percent from one second
// to the next. It reports the wrapped requests' time over the bare ones'
// (x/bare) and the difference per request (added-ns); ns/op is the pair's.
func BenchmarkHTTPPaired(b *testing.B) {
	sink := newQuietSink(b)
	for _, c := range httpWraps(sink)[1:] {
		b.Run("impl="+c.impl, func(b *testing.B) {
			bare := httpGetter(b, http.HandlerFunc(trivial))
			wrapped := httpGetter(b, c.wrap(b))
			var tb, tw time.Duration
			i := 0
			for b.Loop() {
				t0 := mono()
				if i++; i&1 == 0 {
					bare()
					t1 := mono()
					wrapped()
					tb, tw = tb+t1-t0, tw+mono()-t1
				} else {
					wrapped()
					t1 := mono()
					bare()
					tw, tb = tw+t1-t0, tb+mono()-t1
				}
			}
			b.ReportMetric(float64(tw)/float64(tb), "x/bare")
			b.ReportMetric(float64(tw-tb)/float64(i), "added-ns")
		})
	}
}
