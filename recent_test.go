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
