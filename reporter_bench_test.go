package pynba

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/pynba-go/pynba/pinbatest"
)

// BenchmarkReporterSend measures Reporter.Send of one 700-byte datagram to
// one loopback server, synchronous (impl=sync) and queued (impl=async,
// WithAsync(1024)), beside its baseline: one WriteToUDPAddrPort of the same
// datagram to the same server from a raw unconnected socket (impl=udp).
//
// recv=pinbatest receives with a pinbatest.Server, which decodes and keeps
// every datagram: -benchmem counts the allocations of every goroutine, so
// its B/op and allocs/op are the receiver's. recv=discard receives with a
// reader that allocates nothing, so B/op and allocs/op are the sender's.
//
// Both async variants measure what the caller pays. The sender goroutine
// cannot keep up with a loop that does nothing but Send: impl=async waits,
// untimed, for it to empty the queue every 512 packets, so none is dropped;
// impl=async-flood does not wait, so most packets are dropped (cheaper).
// The sent/op and dropped/op metrics say how many.
func BenchmarkReporterSend(b *testing.B) {
	pkt := rawPacket(b, "/bench", 700)
	b.Run("recv=pinbatest", func(b *testing.B) {
		srv := pinbatest.NewServer()
		defer srv.Close()
		benchReporterSend(b, srv.Addr(), pkt, func() { srv.Take() })
	})
	b.Run("recv=discard", func(b *testing.B) {
		addr, _ := discardServer(b)
		benchReporterSend(b, addr, pkt, func() {})
	})
}

// benchReporterSend runs impl=sync, async and udp towards addr; drain is
// called every 1,024 sends to drop what the receiver kept.
func benchReporterSend(b *testing.B, addr string, pkt []byte, drain func()) {
	run := func(b *testing.B, send func()) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		i := 0
		for b.Loop() {
			send()
			if i++; i%1024 == 0 {
				drain()
			}
		}
	}
	b.Run("impl=sync", func(b *testing.B) {
		r := testReporter(b, addr)
		r.Send(pkt)
		run(b, func() { r.Send(pkt) })
		reportReporter(b, r)
	})
	b.Run("impl=async", func(b *testing.B) {
		r := testReporter(b, addr, WithAsync(1024))
		r.Send(pkt)
		i := 0
		run(b, func() {
			r.Send(pkt)
			if i++; i%512 == 0 { // wait, untimed, for the sender to catch up
				b.StopTimer()
				for r.queue.len() > 0 {
					runtime.Gosched()
				}
				b.StartTimer()
			}
		})
		reportReporter(b, r)
	})
	b.Run("impl=async-flood", func(b *testing.B) {
		r := testReporter(b, addr, WithAsync(1024))
		r.Send(pkt)
		run(b, func() { r.Send(pkt) })
		reportReporter(b, r)
	})
	b.Run("impl=udp", func(b *testing.B) {
		conn, to := rawUDP(b, addr)
		run(b, func() {
			if _, err := conn.WriteToUDPAddrPort(pkt, to); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkReporterSendParallel is BenchmarkReporterSend with recv=discard
// from GOMAXPROCS goroutines at once: what concurrent requests pay. As in
// impl=async-flood above, the queue is not waited for, so most packets are
// dropped.
func BenchmarkReporterSendParallel(b *testing.B) {
	pkt := rawPacket(b, "/bench", 700)
	addr, _ := discardServer(b)
	run := func(b *testing.B, send func()) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				send()
			}
		})
	}
	b.Run("impl=sync", func(b *testing.B) {
		r := testReporter(b, addr)
		run(b, func() { r.Send(pkt) })
		reportReporter(b, r)
	})
	b.Run("impl=async-flood", func(b *testing.B) {
		r := testReporter(b, addr, WithAsync(1024))
		run(b, func() { r.Send(pkt) })
		reportReporter(b, r)
	})
	b.Run("impl=udp", func(b *testing.B) {
		conn, to := rawUDP(b, addr)
		run(b, func() {
			if _, err := conn.WriteToUDPAddrPort(pkt, to); err != nil {
				b.Error(err)
			}
		})
	})
}

// reportReporter closes r (sending what it queued) and reports how many
// datagrams per Send it sent and dropped; any send error fails b.
func reportReporter(b *testing.B, r *Reporter) {
	b.StopTimer()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	s := r.Stats()
	if s.SendErrors+s.Unresolved+s.TooLarge != 0 {
		b.Fatalf("stats %+v", s)
	}
	n := float64(s.Sent + s.QueueDropped)
	b.ReportMetric(float64(s.Sent)/n, "sent/op")
	b.ReportMetric(float64(s.QueueDropped)/n, "dropped/op")
}

// rawUDP opens the baseline's socket as the Reporter does: unconnected,
// on the unspecified address.
func rawUDP(b *testing.B, addr string) (*net.UDPConn, netip.AddrPort) {
	b.Helper()
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn, to
}
