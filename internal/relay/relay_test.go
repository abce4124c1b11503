package relay

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pynba-go/pynba/pinbatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestForwarderRelaysUnchanged(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	listen := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	f, err := New(srv.Addr(), listen, "the tool")
	if err != nil {
		t.Fatal(err)
	}
	pkt := []byte{0x0a, 0x01, 'h', 0x12, 0x00, 0x1a, 0x01, '/', 0x20, 0x01, 0x28, 0, 0x30, 0, 0x3d, 0, 0, 0, 0, 0x45, 0, 0, 0, 0, 0x4d, 0, 0, 0, 0}
	for range 3 {
		f.Send(pkt)
	}
	f.Close()
	ps, err := srv.Wait(3, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !bytes.Equal(p.Raw, pkt) {
			t.Errorf("relayed % x, sent % x", p.Raw, pkt)
		}
	}
	if f.Sent.Load() != 3 || f.Errors.Load() != 0 || f.Dropped.Load() != 0 || f.LastError() != nil {
		t.Errorf("sent %d errors %d dropped %d", f.Sent.Load(), f.Errors.Load(), f.Dropped.Load())
	}
}

func TestForwarderRefusesItsOwnAddress(t *testing.T) {
	listen := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 30999}
	if _, err := New("127.0.0.1:30999", listen, "the tool"); err == nil || !strings.Contains(err.Error(), "the tool listens on") {
		t.Errorf("forwarding to the listening address: %v", err)
	}
}
