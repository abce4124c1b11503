package pinbatest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pynba-go/pynba/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// send sends each datagram to srv with a plain UDP socket.
func send(t *testing.T, srv *Server, datagrams ...[]byte) {
	t.Helper()
	conn, err := net.Dial("udp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range datagrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

func encode(t *testing.T, r pb.Record) []byte {
	t.Helper()
	b, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func script(t *testing.T, name string) []byte {
	return encode(t, pb.Record{Hostname: "web1", ScriptName: name, RequestCount: 1})
}

func TestServerReceivesInOrder(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.Port() == 0 {
		t.Fatalf("Addr %q, Port %d", srv.Addr(), srv.Port())
	}
	if !strings.HasSuffix(srv.Addr(), fmt.Sprintf(":%d", srv.Port())) {
		t.Errorf("Addr %q does not end with Port %d", srv.Addr(), srv.Port())
	}

	const n = 20
	var want []string
	var datagrams [][]byte
	for i := range n {
		name := fmt.Sprintf("/page/%d", i)
		want = append(want, name)
		datagrams = append(datagrams, script(t, name))
	}
	send(t, srv, datagrams...)

	ps, err := srv.Wait(n, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if p.Err != nil {
			t.Fatalf("packet %d: %v", i, p.Err)
		}
		if p.ScriptName != want[i] {
			t.Errorf("packet %d: script %q, want %q", i, p.ScriptName, want[i])
		}
		if p.Hostname != "web1" || p.RequestCount != 1 {
			t.Errorf("packet %d: %+v", i, p)
		}
		if string(p.Raw) != string(datagrams[i]) {
			t.Errorf("packet %d: Raw differs from what was sent", i)
		}
		if from, ok := p.From.(*net.UDPAddr); !ok || !from.IP.IsLoopback() {
			t.Errorf("packet %d: From %v", i, p.From)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("packet %d: %v", i, err)
		}
	}
	if got := srv.Received(); got != n {
		t.Errorf("Received %d, want %d", got, n)
	}
	if rest := srv.Take(); len(rest) != 0 {
		t.Errorf("Take after Wait: %d packets left", len(rest))
	}
}

func TestServerWaitTimeout(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	send(t, srv, script(t, "/one"))
	if _, err := srv.Next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	send(t, srv, script(t, "/two"))
	// Make sure /two is in before asking for more than there is.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Received() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	ps, err := srv.Wait(3, 50*time.Millisecond)
	if err == nil {
		t.Fatalf("Wait(3) returned %d packets, want a timeout", len(ps))
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("Wait returned after %v, before its timeout", time.Since(start))
	}
	if msg := err.Error(); !strings.Contains(msg, "waited 50ms for 3 packets, 1 arrived") {
		t.Errorf("timeout message %q", msg)
	}
	// The timeout took nothing.
	p, err := srv.Next(time.Second)
	if err != nil || p.ScriptName != "/two" {
		t.Fatalf("Next after a timeout: %v, %v", p, err)
	}
	if ps, err := srv.Wait(0, time.Millisecond); err != nil || len(ps) != 0 {
		t.Errorf("Wait(0) = %v, %v", ps, err)
	}
}

func TestServerTakeAndReceived(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	if ps := srv.Take(); len(ps) != 0 {
		t.Fatalf("Take on a new server: %d packets", len(ps))
	}
	send(t, srv, script(t, "/a"), script(t, "/b"), []byte("not protobuf \xff"))
	deadline := time.Now().Add(5 * time.Second)
	for srv.Received() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ps := srv.Take()
	if len(ps) != 3 {
		t.Fatalf("Take: %d packets, want 3", len(ps))
	}
	if ps[0].ScriptName != "/a" || ps[1].ScriptName != "/b" {
		t.Errorf("Take order: %q, %q", ps[0].ScriptName, ps[1].ScriptName)
	}
	if ps[2].Err == nil || ps[2].Request != nil || string(ps[2].Raw) != "not protobuf \xff" {
		t.Errorf("garbage datagram: Err %v, Request %v, Raw %q", ps[2].Err, ps[2].Request, ps[2].Raw)
	}
	if err := ps[2].Validate(); err == nil {
		t.Error("garbage datagram validates")
	}
	if ps := srv.Take(); len(ps) != 0 {
		t.Errorf("second Take: %d packets", len(ps))
	}
	if srv.Received() != 3 {
		t.Errorf("Received %d after Take, want 3 (taken packets count)", srv.Received())
	}
}

func TestServerCloseIdempotent(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv := NewServer()
	addr := srv.Addr()
	send(t, srv, script(t, "/x"))
	srv.Close()
	srv.Close()
	goleak.VerifyNone(t, before)

	// Concurrent Closes all return after the reader ended.
	srv = NewServer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(srv.Close)
	}
	wg.Wait()
	goleak.VerifyNone(t, before)

	// A closed server's port is released.
	again, err := Listen(addr)
	if err != nil {
		t.Fatalf("listen again on %s after Close: %v", addr, err)
	}
	again.Close()
}

func TestServerWaitEndsOnClose(t *testing.T) {
	srv := NewServer()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Wait(1, time.Minute)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Wait on Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when the server closed")
	}
}

func TestServer6(t *testing.T) {
	srv := func() (srv *Server) {
		defer func() {
			if r := recover(); r != nil {
				t.Skipf("no IPv6 loopback: %v", r)
			}
		}()
		return NewServer6()
	}()
	defer srv.Close()
	if !strings.HasPrefix(srv.Addr(), "[::1]:") {
		t.Fatalf("Addr %q", srv.Addr())
	}
	send(t, srv, script(t, "/v6"))
	p, err := srv.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p.ScriptName != "/v6" {
		t.Errorf("script %q", p.ScriptName)
	}
}

func TestListen(t *testing.T) {
	srv, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	send(t, srv, script(t, "/listen"))
	if p, err := srv.Next(5 * time.Second); err != nil || p.ScriptName != "/listen" {
		t.Fatalf("Next: %v, %v", p, err)
	}

	if srv6, err := Listen("[::1]:0"); err == nil {
		srv6.Close()
	} else if !strings.Contains(err.Error(), "listen on") {
		t.Errorf("Listen on [::1]: %v", err)
	}
}

// Listen must refuse any address that is not loopback. It only resolves
// literal addresses here and sends nothing anywhere.
func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{
		"0.0.0.0:0",
		"192.0.2.1:1", // TEST-NET-1, never routed
		":0",
		"[::]:0",
		"[2001:db8::1]:30002", // documentation prefix
		"10.1.2.3:30002",
	} {
		srv, err := Listen(addr)
		if err == nil {
			srv.Close()
			t.Errorf("Listen(%q) succeeded", addr)
			continue
		}
		if !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Listen(%q): %v", addr, err)
		}
	}
	if _, err := Listen("no port"); err == nil || !strings.Contains(err.Error(), "bad address") {
		t.Errorf("Listen without a port: %v", err)
	}
}

func TestDecodeResolves(t *testing.T) {
	r := pb.Record{
		Hostname: "web1", ServerName: "example.com", ScriptName: "/checkout", Schema: "https", HasSchema: true,
		RequestCount: 1, DocumentSize: 2048, MemoryPeak: 1 << 20, MemoryFootprint: 1 << 19, HasMemoryFootprint: true,
		Status: 201, HasStatus: true, RequestTime: 0.25, RUUtime: 0.125, RUStime: 0.0625,
		// Dictionary: 0 group, 1 db, 2 server, 3 replica, 4 cache, 5 country, 6 fr
		Dictionary:    []string{"group", "db", "server", "replica", "cache", "country", "fr"},
		TimerHitCount: []uint32{2, 1},
		TimerValue:    []float32{0.5, 0.25},
		TimerTagCount: []uint32{2, 1},
		TimerTagName:  []uint32{0, 2, 0},
		TimerTagValue: []uint32{1, 3, 4},
		TimerRUUtime:  []float32{0.1, 0.2},
		TimerRUStime:  []float32{0.01, 0.02},
		TagName:       []uint32{5},
		TagValue:      []uint32{6},
		Requests:      []pb.Record{{Hostname: "child", ScriptName: "/child", Dictionary: []string{"k", "v"}, TagName: []uint32{0}, TagValue: []uint32{1}}},
	}
	p := Decode(encode(t, r))
	if p.Err != nil || p.Request == nil {
		t.Fatal(p.Err)
	}
	if p.Hostname != "web1" || p.ServerName != "example.com" || p.ScriptName != "/checkout" || p.Schema != "https" ||
		p.RequestCount != 1 || p.DocumentSize != 2048 || p.MemoryPeak != 1<<20 || p.MemoryFootprint != 1<<19 ||
		p.Status != 201 || p.RequestTime != 0.25 || p.RUUtime != 0.125 || p.RUStime != 0.0625 {
		t.Errorf("fields: %+v", p)
	}
	if len(p.Timers) != 2 {
		t.Fatalf("%d timers", len(p.Timers))
	}
	t0, t1 := p.Timers[0], p.Timers[1]
	if t0.HitCount != 2 || t0.Value != 0.5 || t0.RUUtime != 0.1 || t0.RUStime != 0.01 ||
		t0.Tags.Get("group") != "db" || t0.Tags.Get("server") != "replica" || len(t0.Tags) != 2 {
		t.Errorf("timer 0: %+v", t0)
	}
	if t1.Tags.Get("group") != "cache" || len(t1.Tags) != 1 || t1.Tags[0] != (Tag{"group", "cache"}) {
		t.Errorf("timer 1: %+v", t1)
	}
	if got := t0.String(); got != "hits=2 value=0.5s [{group db} {server replica}]" {
		t.Errorf("Timer.String() = %q", got)
	}
	if tm, ok := p.FindTimer(map[string]string{"group": "cache"}); !ok || tm.Value != 0.25 {
		t.Errorf("FindTimer(group=cache) = %v, %v", tm, ok)
	}
	if _, ok := p.FindTimer(map[string]string{"group": "nope"}); ok {
		t.Error("FindTimer found a timer that does not exist")
	}
	if p.Tags.Get("country") != "fr" || len(p.Tags) != 1 {
		t.Errorf("request tags %v", p.Tags)
	}
	if len(p.Requests) != 1 {
		t.Fatalf("%d nested requests", len(p.Requests))
	}
	c := p.Requests[0]
	if c.Hostname != "child" || c.ScriptName != "/child" || c.Tags.Get("k") != "v" || len(c.Raw) == 0 {
		t.Errorf("nested request: %+v", c)
	}
}

func TestDecodeMarksBadIndexes(t *testing.T) {
	pkt := head().
		u(10, 1).f(11, 1).u(12, 2).u(13, 0).u(13, 9).u(14, 1).u(14, 0).
		u(20, 0).u(20, 1).u(21, 7).
		str(15, "a").str(15, "b")
	p := Decode(pkt)
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	want := []Tag{{"a", "b"}, {"<bad index 9>", "a"}}
	if len(p.Timers) != 1 || fmt.Sprint(p.Timers[0].Tags) != fmt.Sprint(want) {
		t.Errorf("timer tags %v, want %v", p.Timers, want)
	}
	wantTags := []Tag{{"a", "<bad index 7>"}, {"b", "<missing>"}}
	if fmt.Sprint(p.Tags) != fmt.Sprint(wantTags) {
		t.Errorf("request tags %v, want %v", p.Tags, wantTags)
	}
	ps := problemsOf(t, p.Validate())
	if !ps.Has(RuleDictionaryIndex) || !ps.Has(RuleRequestTagLengths) {
		t.Errorf("Validate: %v", ps)
	}

	// Tag counts beyond the tag arrays stop at their end.
	p = Decode(head().u(10, 1).f(11, 1).u(12, 1000).u(13, 0).u(14, 0).str(15, "a"))
	if len(p.Timers) != 1 || len(p.Timers[0].Tags) != 1 {
		t.Errorf("timer with a too large tag count: %v", p.Timers)
	}
}

func TestDecodeNotPinba(t *testing.T) {
	for _, b := range [][]byte{{0xff}, {0x0a, 0x05, 'a'}, []byte("GET / HTTP/1.1\r\n")} {
		p := Decode(b)
		if p.Err == nil || p.Request != nil || string(p.Raw) != string(b) {
			t.Errorf("Decode(%q): Err %v, Request %v", b, p.Err, p.Request)
		}
		if !strings.HasPrefix(p.Err.Error(), "pinbatest: not a Pinba.Request") {
			t.Errorf("Decode(%q): %v", b, p.Err)
		}
	}
	// Decode copies its input.
	b := script(t, "/copy")
	p := Decode(b)
	for i := range b {
		b[i] = 0
	}
	if Decode(p.Raw).ScriptName != "/copy" {
		t.Error("Decode kept a reference to its input")
	}
}
