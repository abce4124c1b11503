package pynba

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// newServer6 starts a pinbatest server on [::1], or skips the test if
// ::1 cannot be bound.
func newServer6(tb testing.TB) (srv *pinbatest.Server) {
	tb.Helper()
	func() {
		defer func() {
			if e := recover(); e != nil {
				tb.Skipf("no IPv6 loopback: %v", e)
			}
		}()
		srv = pinbatest.NewServer6()
	}()
	tb.Cleanup(srv.Close)
	return srv
}

func sendErrorsIn(errs []error, target error) []*SendError {
	var out []*SendError
	for _, err := range errs {
		var se *SendError
		if errors.As(err, &se) && (target == nil || errors.Is(err, target)) {
			out = append(out, se)
		}
	}
	return out
}

func TestReporterTwoServersSameDatagram(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := testReporter(t, a.Addr()+", "+b.Addr())
	pkt := rawPacket(t, "/two", 0)
	r.Send(pkt)
	pa, err := a.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pa.Raw, pkt) || !bytes.Equal(pb.Raw, pkt) {
		t.Errorf("received %x and %x, sent %x", pa.Raw, pb.Raw, pkt)
	}
	if pa.ScriptName != "/two" {
		t.Errorf("script %q", pa.ScriptName)
	}
	if s := r.Stats(); s != (Stats{Sent: 2}) {
		t.Errorf("stats %+v", s)
	}
}

func TestReporterIPv6(t *testing.T) {
	srv := newServer6(t)
	v4 := newServer(t)
	r := testReporter(t, fmt.Sprintf("[::1]:%d %s", srv.Port(), v4.Addr()))
	pkt := rawPacket(t, "/v6", 0)
	r.Send(pkt)
	for _, s := range []*pinbatest.Server{srv, v4} {
		p, err := s.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Raw, pkt) {
			t.Errorf("%s received %x, sent %x", s.Addr(), p.Raw, pkt)
		}
	}
	if s := r.Stats(); s.Sent != 2 || s.SendErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// closedPort returns a loopback UDP port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

func TestReporterClosedPort(t *testing.T) {
	live := newServer(t)
	var log errLog
	r := testReporter(t, fmt.Sprintf("127.0.0.1:%d %s", closedPort(t), live.Addr()), WithErrorHandler(log.handle))
	const n = 20
	for i := range n {
		start := time.Now()
		r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("Send took %v", d)
		}
		time.Sleep(100 * time.Microsecond) // let any ICMP error come back
	}
	ps, err := live.Wait(n, wait)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if want := fmt.Sprint("/", i); p.ScriptName != want {
			t.Errorf("packet %d: script %q, want %q", i, p.ScriptName, want)
		}
	}
	s := r.Stats()
	if s.Sent+s.SendErrors != 2*n || s.Sent < n {
		t.Errorf("stats %+v: want Sent+SendErrors = %d", s, 2*n)
	}
	errs := sendErrorsIn(log.all(), nil)
	if uint64(len(errs)) != s.SendErrors {
		t.Errorf("%d errors reported, %d counted", len(errs), s.SendErrors)
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Server, "127.0.0.1:") || !e.Addr.IsValid() {
			t.Errorf("error %v", e)
		}
	}
	t.Logf("the system reported %d of %d sends to a closed port (unconnected sockets seldom hear of ICMP errors)", s.SendErrors, n)
}

// TestReporterSocketError makes the system refuse writes (an IPv6 target
// from an IPv4-only socket, as on a system without IPv6) and checks they
// are counted and reported while another server still receives.
func TestReporterSocketError(t *testing.T) {
	srv6 := newServer6(t)
	live := newServer(t)
	old := listenUDP
	t.Cleanup(func() { listenUDP = old })
	listenUDP = func(network string) (*net.UDPConn, error) {
		if network == "udp6" {
			return nil, errors.New("no IPv6 here")
		}
		return net.ListenUDP("udp4", nil)
	}
	var log errLog
	r := testReporter(t, fmt.Sprintf("[::1]:%d,%s", srv6.Port(), live.Addr()), WithErrorHandler(log.handle))
	if r.socks[0].conn6 != nil {
		t.Fatal("an IPv6 socket was opened")
	}
	const n = 5
	for range n {
		r.Send(rawPacket(t, "/x", 0))
	}
	if _, err := live.Wait(n, wait); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Sent != n || s.SendErrors != n {
		t.Errorf("stats %+v", s)
	}
	errs := sendErrorsIn(log.all(), nil)
	if len(errs) != n {
		t.Fatalf("errors %v", log.all())
	}
	want := fmt.Sprintf("[::1]:%d", srv6.Port())
	if e := errs[0]; e.Server != want || e.Addr.String() != want || e.Size == 0 || e.Err == nil ||
		!strings.Contains(e.Error(), want) {
		t.Errorf("error %#v: %v", e, e)
	}
	t.Log(errs[0])
	if srv6.Received() != 0 {
		t.Errorf("[::1] received %d", srv6.Received())
	}
}

// TestReporterNoDualStack acts out a system whose "udp" socket is
// IPv4-only: IPv6 servers get a socket of their own.
func TestReporterNoDualStack(t *testing.T) {
	srv6 := newServer6(t)
	live := newServer(t)
	old := listenUDP
	t.Cleanup(func() { listenUDP = old })
	listenUDP = func(network string) (*net.UDPConn, error) {
		if network == "udp" {
			network = "udp4"
		}
		return net.ListenUDP(network, nil)
	}
	dns := newFakeDNS()
	dns.set("v6.test", "::1")
	r := testReporter(t, fmt.Sprintf("v6.test:%d %s", srv6.Port(), live.Addr()), WithResolver(dns.resolve))
	if r.socks[0].conn6 == nil {
		t.Fatal("no IPv6 socket")
	}
	r.Send(rawPacket(t, "/x", 0))
	for _, s := range []*pinbatest.Server{srv6, live} {
		if _, err := s.Next(wait); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.Stats(); s.Sent != 2 || s.SendErrors != 0 {
		t.Errorf("stats %+v", s)
	}

	// Only IPv4 servers: no second socket.
	r4 := testReporter(t, live.Addr())
	if r4.socks[0].conn6 != nil {
		t.Error("IPv6 socket opened for IPv4 servers only")
	}
}

func TestReporterTooLarge(t *testing.T) {
	srv := newServer(t)
	var log errLog
	r := testReporter(t, srv.Addr(), WithMaxPacketSize(512), WithErrorHandler(log.handle))
	r.Send(rawPacket(t, "/big", 513))
	r.Send(rawPacket(t, "/fits", 512))
	p, err := srv.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Raw) != 512 {
		t.Errorf("received %d bytes", len(p.Raw))
	}
	if s := r.Stats(); s != (Stats{Sent: 1, TooLarge: 1}) {
		t.Errorf("stats %+v", s)
	}
	errs := sendErrorsIn(log.all(), ErrTooLarge)
	if len(errs) != 1 || errs[0].Size != 513 || errs[0].Limit != 512 || errs[0].Server != "" {
		t.Fatalf("errors %v", log.all())
	}
	if want := "pynba: packet of 513 bytes not sent: over the 512-byte limit"; errs[0].Error() != want {
		t.Errorf("error %q, want %q", errs[0].Error(), want)
	}
	if srv.Received() != 1 {
		t.Errorf("received %d datagrams", srv.Received())
	}

	// The default limit is the largest UDP datagram.
	r2 := testReporter(t, srv.Addr())
	r2.Send(make([]byte, DefaultMaxPacketSize+1))
	if s := r2.Stats(); s != (Stats{TooLarge: 1}) {
		t.Errorf("stats %+v", s)
	}
}

func TestReporterAsync(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := testReporter(t, a.Addr()+" "+b.Addr(), WithAsync(64))
	const n = 10
	var sent [][]byte
	for i := range n {
		pkt := rawPacket(t, fmt.Sprint("/", i), 0)
		sent = append(sent, pkt)
		r.Send(pkt)
		pkt[len(pkt)-1] ^= 0xff // Send copied it: this does not change what is sent
	}
	for _, srv := range []*pinbatest.Server{a, b} {
		ps, err := srv.Wait(n, wait)
		if err != nil {
			t.Fatal(err)
		}
		// Several sender goroutines write: datagrams may arrive in any
		// order, as UDP allows.
		seen := map[string]bool{}
		for _, p := range ps {
			var i int
			if _, err := fmt.Sscanf(p.ScriptName, "/%d", &i); err != nil || i < 0 || i >= n || seen[p.ScriptName] {
				t.Fatalf("packet %q", p.ScriptName)
			}
			seen[p.ScriptName] = true
			sent[i][len(sent[i])-1] ^= 0xff
			if !bytes.Equal(p.Raw, sent[i]) {
				t.Errorf("packet %d: %x, want %x", i, p.Raw, sent[i])
			}
			sent[i][len(sent[i])-1] ^= 0xff
		}
	}
	mustEventually(t, "Sent to count", func() bool { return r.Stats().Sent == 2*n })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s != (Stats{Sent: 2 * n}) {
		t.Errorf("stats %+v", s)
	}
}

// TestReporterAsyncBatches sends packets in a burst, as a busy server's
// requests do: the senders write them many at once (a sender that wrote
// part of a batch waits asyncLinger before it looks again, and the Sends
// meanwhile wake nobody), every packet is delivered, and Close, called
// while a sender lingers, still writes what is queued.
func TestReporterAsyncBatches(t *testing.T) {
	srv := newServer(t)
	r := testReporter(t, srv.Addr(), WithAsync(1024))
	const n = 512
	start := time.Now()
	for i := range n {
		r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
		// Requests apart (a busy wait: a sleep this short takes much
		// longer): a sender that wrote at once would find one packet at
		// a time.
		for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
		}
	}
	elapsed := time.Since(start)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Wait(n, wait); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Sent != n || s.QueueDropped != 0 {
		t.Errorf("stats %+v, want %d sent", s, n)
	}
	// At most a batch a linger, and the full batches: one packet a batch
	// would be n.
	most := uint64(elapsed/asyncLinger) + n/maxBatch + 4
	if b := r.batches.Load(); b > most {
		t.Errorf("%d packets written in %d batches over %v, want at most %d", n, b, elapsed, most)
	} else {
		t.Logf("%d packets written in %d batches", n, b)
	}
}

// blockingReporter returns an async reporter whose sender goroutine blocks,
// on its first packet, in the error handler (the first server never
// resolves), until release is closed; entered is closed once it blocks.
func blockingReporter(t *testing.T, queueLen int, live *pinbatest.Server) (r *Reporter, entered, release chan struct{}) {
	oneSender(t)
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	handler := func(err error) {
		if errors.Is(err, ErrUnresolved) {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
	}
	r = testReporter(t, "blocked.test "+live.Addr(), WithAsync(queueLen), WithErrorHandler(handler), WithResolver(newFakeDNS().resolve))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	r.Send(rawPacket(t, "/first", 0))
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the sender never took the first packet")
	}
	return r, entered, release
}

func TestReporterAsyncQueueFull(t *testing.T) {
	live := newServer(t)
	r, _, release := blockingReporter(t, 1, live)
	// The sender is blocked: one packet fills the queue, the rest are
	// dropped.
	const n = 10
	for i := range n {
		r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
	}
	if s := r.Stats(); s.QueueDropped != n-1 {
		t.Errorf("stats %+v, want %d dropped", s, n-1)
	}
	close(release)
	ps, err := live.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].ScriptName != "/first" || ps[1].ScriptName != "/0" {
		t.Errorf("received %q, %q", ps[0].ScriptName, ps[1].ScriptName)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s != (Stats{Sent: 2, Unresolved: 2, ResolveErrors: 1, QueueDropped: n - 1}) {
		t.Errorf("stats %+v", s)
	}
	if live.Received() != 2 {
		t.Errorf("received %d", live.Received())
	}
}

func TestReporterAsyncQueueFullCounted(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := testReporter(t, a.Addr()+","+b.Addr(), WithAsync(1))
	const n = 2000
	pkt := rawPacket(t, "/many", 0)
	for range n {
		r.Send(pkt)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.Sent+2*s.QueueDropped != 2*n || s.SendErrors != 0 {
		t.Errorf("stats %+v: Sent + 2*QueueDropped != %d", s, 2*n)
	}
	if s.Sent == 0 {
		t.Error("nothing sent")
	}
	t.Logf("%d packets: %d datagrams sent, %d packets dropped", n, s.Sent, s.QueueDropped)
}

func TestReporterAsyncCloseDrains(t *testing.T) {
	live := newServer(t)
	r, _, release := blockingReporter(t, 16, live)
	const n = 10
	for i := range n {
		r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
	}
	// Close while the n packets wait in the queue.
	closed := make(chan error)
	go func() { closed <- r.Close() }()
	mustEventually(t, "Close to begin", r.closed.Load)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the queue was sent", err)
	default:
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	if s := r.Stats(); s.Sent != n+1 || s.QueueDropped != 0 {
		t.Errorf("stats %+v", s)
	}
	ps, err := live.Wait(n+1, wait)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps[1:] {
		if want := fmt.Sprint("/", i); p.ScriptName != want {
			t.Errorf("packet %d: %q, want %q", i, p.ScriptName, want)
		}
	}
}

func TestReporterCloseDuringSends(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprint("async=", async), func(t *testing.T) {
			live := newServer(t)
			var opts []Option
			if async {
				opts = append(opts, WithAsync(16))
			}
			var reported atomic.Int64
			opts = append(opts, WithErrorHandler(func(error) { reported.Add(1) }))
			r, err := NewReporter(live.Addr(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			pkt := rawPacket(t, "/race", 0)
			var total atomic.Uint64
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for !stop.Load() {
						r.Send(pkt)
						total.Add(1)
					}
				})
			}
			mustEventually(t, "sends", func() bool { return total.Load() > 200 })
			if err := r.Close(); err != nil {
				t.Error(err)
			}
			after := total.Load()
			mustEventually(t, "sends after Close", func() bool { return total.Load() > after+100 })
			stop.Store(true)
			wg.Wait()
			if err := r.Close(); err != nil {
				t.Error(err)
			}
			s := r.Stats()
			if s.Sent+s.SendErrors+s.QueueDropped != total.Load() {
				t.Errorf("stats %+v: %d sends not all counted", s, total.Load())
			}
			if uint64(reported.Load()) != s.QueueDropped {
				t.Errorf("%d errors reported, %d queue drops", reported.Load(), s.QueueDropped)
			}
			t.Logf("%d sends: %+v", total.Load(), s)
		})
	}
}

func TestReporterSendAfterClose(t *testing.T) {
	srv := newServer(t)
	var log errLog
	r, err := NewReporter(srv.Addr()+" 127.0.0.1:1", WithErrorHandler(log.handle))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r.Send(rawPacket(t, "/late", 0))
	if s := r.Stats(); s != (Stats{SendErrors: 2}) {
		t.Errorf("stats %+v", s)
	}
	if errs := log.all(); len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
	if _, err := srv.Next(50 * time.Millisecond); err == nil {
		t.Error("a packet arrived after Close")
	}
}

func TestReporterSendAllocs(t *testing.T) {
	addr, received := discardServer(t)
	addr2, _ := discardServer(t)
	pkt := rawPacket(t, "/allocs", 700)

	r := testReporter(t, addr+" "+addr2)
	r.Send(pkt)
	if a := testing.AllocsPerRun(1000, func() { r.Send(pkt) }); a != 0 {
		t.Errorf("sync Send: %v allocations", a)
	}

	ra := testReporter(t, addr, WithAsync(1024))
	// The warm-up goes once round the queue's ring: each slot makes its
	// buffer when it first holds a packet, and keeps it.
	warm := uint64(len(ra.queue.slots))
	for range warm {
		ra.Send(pkt)
		runtime.Gosched()
	}
	mustEventually(t, "async warm-up", func() bool { s := ra.Stats(); return s.Sent+s.QueueDropped == warm })
	// Gosched lets the sender run and free its slots, as it does between
	// requests.
	if a := testing.AllocsPerRun(1000, func() { ra.Send(pkt); runtime.Gosched() }); a != 0 {
		t.Errorf("async Send: %v allocations", a)
	}
	mustEventually(t, "datagrams", func() bool { return received.Load() > 0 })
}

func ExampleNewReporter() {
	srv := pinbatest.NewServer() // a Pinba server on 127.0.0.1
	defer srv.Close()

	r, err := NewReporter(srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	rec := pb.Record{Hostname: "web1", ServerName: "example.com", ScriptName: "/index", RequestCount: 1}
	pkt, _ := rec.Append(nil)
	r.Send(pkt)

	p, err := srv.Next(time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.ScriptName, r.Stats().Sent)

	_, err = NewReporter("127.0.0.1:99999")
	fmt.Println(err)
	// Output:
	// /index 1
	// pynba: bad Pinba server "127.0.0.1:99999": port out of range (1 to 65535)
}

// oneSender makes the async reporters the test creates start one sender
// goroutine, for tests that block it and count what the queue holds.
func oneSender(t *testing.T) {
	old := asyncSenders
	asyncSenders = 1
	t.Cleanup(func() { asyncSenders = old })
}

// TestReporterSocketPerP sends from many goroutines at once in sync mode:
// the Reporter has a socket per P, and every server still gets every
// datagram.
func TestReporterSocketPerP(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := testReporter(t, a.Addr()+","+b.Addr())
	if want := min(runtime.GOMAXPROCS(0), maxSockets); len(r.socks) != want {
		t.Errorf("%d sockets, want %d", len(r.socks), want)
	}
	const workers, each = 8, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r.Send(rawPacket(t, fmt.Sprintf("/%d/%d", w, i), 0))
			}
		})
	}
	wg.Wait()
	for _, srv := range []*pinbatest.Server{a, b} {
		ps, err := srv.Wait(workers*each, wait)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, p := range ps {
			seen[p.ScriptName] = true
		}
		if len(seen) != workers*each {
			t.Errorf("%d distinct packets of %d", len(seen), workers*each)
		}
	}
	if s := r.Stats(); s.Sent != 2*workers*each || s.SendErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestReporterAsyncExactCount floods a small async queue from several
// goroutines: every packet is either received (by both servers) or
// counted as dropped, none twice, and Close sends what was queued.
func TestReporterAsyncExactCount(t *testing.T) {
	a, b := newServer(t), newServer(t)
	r := testReporter(t, a.Addr()+" "+b.Addr(), WithAsync(8))
	const workers, each = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r.Send(rawPacket(t, fmt.Sprintf("/%d/%d", w, i), 0))
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.Sent%2 != 0 || s.Sent/2+s.QueueDropped != workers*each || s.SendErrors != 0 {
		t.Fatalf("stats %+v: %d packets not all sent or dropped", s, workers*each)
	}
	for _, srv := range []*pinbatest.Server{a, b} {
		if _, err := srv.Wait(int(s.Sent/2), wait); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // nothing more arrives
		if got := srv.Received(); got != int(s.Sent/2) {
			t.Errorf("received %d, sent %d", got, s.Sent/2)
		}
	}
	t.Logf("%d packets: %d sent to each server, %d dropped", workers*each, s.Sent/2, s.QueueDropped)
}

// TestReporterAsyncAddressFamilies sends batches to IPv4 and IPv6
// servers from a dual-stack socket and from an IPv4 socket with an IPv6
// one beside it (the two ways sendmmsg's addresses are built).
func TestReporterAsyncAddressFamilies(t *testing.T) {
	for _, dual := range []bool{true, false} {
		t.Run(fmt.Sprint("dual=", dual), func(t *testing.T) {
			srv6 := newServer6(t)
			live := newServer(t)
			if !dual {
				old := listenUDP
				t.Cleanup(func() { listenUDP = old })
				listenUDP = func(network string) (*net.UDPConn, error) {
					if network == "udp" {
						network = "udp4"
					}
					return net.ListenUDP(network, nil)
				}
			}
			r := testReporter(t, fmt.Sprintf("[::1]:%d %s", srv6.Port(), live.Addr()), WithAsync(256))
			if r.socks[0].dual != dual || (r.socks[0].conn6 != nil) == dual {
				t.Fatalf("socket dual %v, IPv6 socket %v", r.socks[0].dual, r.socks[0].conn6 != nil)
			}
			const n = 50
			for i := range n {
				r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
			}
			for _, s := range []*pinbatest.Server{srv6, live} {
				if _, err := s.Wait(n, wait); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if s := r.Stats(); s.Sent != 2*n || s.SendErrors != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestReporterHandlerPanics gives an error handler that always panics: the
// async sender and the refresh loop, which call it, go on working, and
// every panic is counted.
func TestReporterHandlerPanics(t *testing.T) {
	live := newServer(t)
	handler := func(err error) { panic("handler boom") }
	r := testReporter(t, "never.test "+live.Addr(), WithAsync(64), WithErrorHandler(handler),
		WithResolver(newFakeDNS().resolve), WithResolveInterval(time.Millisecond))
	const n = 20
	for i := range n {
		r.Send(rawPacket(t, fmt.Sprint("/", i), 0))
	}
	if _, err := live.Wait(n, wait); err != nil {
		t.Fatal(err)
	}
	mustEventually(t, "the refresh loop to go on", func() bool { return r.Stats().ResolveErrors >= 3 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.Sent != n || s.Unresolved != n || s.CallbackPanics != s.Unresolved+s.ResolveErrors {
		t.Errorf("stats %+v", s)
	}
}
