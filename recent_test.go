package pynba

import (
	"bytes"
	"net/http"
	"testing"
)

func TestReporterKeepsRecentPacketsAndAddrs(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {}, srv.Addr(), WithRecent(2))
	for _, p := range []string{"/a", "/b", "/c"} {
		serve(m, p)
	}
	ps, err := srv.Wait(3, wait)
	if err != nil {
		t.Fatal(err)
	}
	rec := m.Reporter().Recent()
	if len(rec) != 2 || !bytes.Equal(rec[0], ps[1].Raw) || !bytes.Equal(rec[1], ps[2].Raw) {
		t.Errorf("Recent holds %d packets, want the last 2 sent", len(rec))
	}
	addrs := m.Reporter().Addrs()
	if len(addrs) != 1 || addrs[0].String() != srv.Addr() {
		t.Errorf("Addrs %v, want [%s]", addrs, srv.Addr())
	}
	if _, err := NewReporter(srv.Addr(), WithRecent(-1)); err == nil {
		t.Error("WithRecent(-1) accepted")
	}
	r, err := NewReporter(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Send([]byte{0x0a, 0})
	if r.Recent() != nil {
		t.Error("a Reporter without WithRecent keeps packets")
	}
}

func TestRecentSinceNumbersPackets(t *testing.T) {
	srv := newServer(t)
	r, err := NewReporter(srv.Addr(), WithRecent(3))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	send := func(n int) {
		for range n {
			r.Send([]byte{0x0a, 1, byte(n)})
		}
	}
	send(2)
	pkts, first, next := r.RecentSince(0)
	if len(pkts) != 2 || first != 0 || next != 2 {
		t.Errorf("after 2: %d packets, first %d, next %d", len(pkts), first, next)
	}
	if pkts, first, next = r.RecentSince(next); len(pkts) != 0 || first != 2 || next != 2 {
		t.Errorf("nothing new: %d packets, first %d, next %d", len(pkts), first, next)
	}
	send(5) // packets 2 to 6; the ring keeps 4 to 6
	if pkts, first, next = r.RecentSince(2); len(pkts) != 3 || first != 4 || next != 7 {
		t.Errorf("after 5 more: %d packets, first %d (want 4: 2 and 3 lost), next %d", len(pkts), first, next)
	}
}
