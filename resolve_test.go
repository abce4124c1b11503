package pynba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReporterUnresolvable(t *testing.T) {
	live := newServer(t)
	dns := newFakeDNS()
	var log errLog
	start := time.Now()
	r := testReporter(t, "nowhere.test "+live.Addr(), WithResolver(dns.resolve), WithErrorHandler(log.handle))
	if s := r.Stats(); s.ResolveErrors != 1 {
		t.Errorf("stats %+v", s)
	}
	errs := log.all()
	var re *ResolveError
	if len(errs) != 1 || !errors.As(errs[0], &re) || re.Host != "nowhere.test" {
		t.Fatalf("errors %v", errs)
	}
	var dnsErr *net.DNSError
	if !errors.As(errs[0], &dnsErr) || !strings.Contains(errs[0].Error(), `"nowhere.test"`) {
		t.Errorf("error %v does not unwrap to the resolver's", errs[0])
	}

	const n = 3
	for range n {
		r.Send(rawPacket(t, "/ok", 0))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("NewReporter and %d Sends took %v", n, d)
	}
	if _, err := live.Wait(n, wait); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s != (Stats{Sent: n, Unresolved: n, ResolveErrors: 1}) {
		t.Errorf("stats %+v", s)
	}
	un := sendErrorsIn(log.all(), ErrUnresolved)
	if len(un) != n || un[0].Server != "nowhere.test:30002" || un[0].Addr.IsValid() {
		t.Fatalf("errors %v", log.all())
	}
	if want := "pynba: packet of " + fmt.Sprint(len(rawPacket(t, "/ok", 0))) + " bytes not sent to Pinba server nowhere.test:30002: server name has no address yet"; un[0].Error() != want {
		t.Errorf("error %q, want %q", un[0].Error(), want)
	}
}

func TestReporterResolvesLater(t *testing.T) {
	srv := newServer(t)
	dns := newFakeDNS()
	r := testReporter(t, fmt.Sprintf("late.test:%d", srv.Port()), WithResolver(dns.resolve), WithResolveInterval(2*time.Millisecond))
	r.Send(rawPacket(t, "/before", 0))
	if s := r.Stats(); s.Unresolved != 1 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}

	// The name starts resolving: the next refresh picks it up.
	dns.set("late.test", "127.0.0.1")
	mustEventually(t, "the new address", func() bool {
		r.Send(rawPacket(t, "/after", 0))
		return r.Stats().Sent > 0
	})
	p, err := srv.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	if p.ScriptName != "/after" {
		t.Errorf("script %q", p.ScriptName)
	}

	// The name stops resolving: the last address stays in use.
	dns.set("late.test")
	errsBefore := r.Stats().ResolveErrors
	mustEventually(t, "failed lookups", func() bool { return r.Stats().ResolveErrors >= errsBefore+2 })
	srv.Take()
	sentBefore := r.Stats().Sent
	r.Send(rawPacket(t, "/kept", 0))
	if p, err := srv.Next(wait); err != nil || p.ScriptName != "/kept" {
		t.Fatalf("packet %v, %v", p, err)
	}
	if s := r.Stats(); s.Sent != sentBefore+1 {
		t.Errorf("stats %+v", s)
	}
}

func TestReporterPrefersIPv4(t *testing.T) {
	srv := newServer(t)
	dns := newFakeDNS()
	dns.set("both.test", "::1", "::ffff:127.0.0.1", "127.0.0.2")
	r := testReporter(t, fmt.Sprintf("both.test:%d", srv.Port()), WithResolver(dns.resolve))
	if got := *r.addrs.Load(); got[0] != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(srv.Port())) {
		t.Fatalf("address %v", got)
	}
	r.Send(rawPacket(t, "/x", 0))
	if _, err := srv.Next(wait); err != nil {
		t.Fatal(err)
	}

	// An answer with no address is a failed lookup.
	dns.set("empty.test", "0.0.0.0")
	dns.names["empty.test"] = []netip.Addr{{}}
	var log errLog
	r2 := testReporter(t, "empty.test", WithResolver(dns.resolve), WithErrorHandler(log.handle))
	if s := r2.Stats(); s.ResolveErrors != 1 || !errors.Is(log.all()[0], errNoAddress) {
		t.Errorf("stats %+v, errors %v", s, log.all())
	}
}

// TestReporterResolverPanics gives a resolver that panics: NewReporter
// returns, the lookup counts as failed and is reported once, and the
// refresh loop goes on until a lookup succeeds.
func TestReporterResolverPanics(t *testing.T) {
	live := newServer(t)
	var calls atomic.Int64
	resolver := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if calls.Add(1) <= 3 {
			panic("resolver boom")
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	var log errLog
	r := testReporter(t, fmt.Sprintf("pinba.test:%d", live.Port()), WithResolver(resolver),
		WithResolveInterval(time.Millisecond), WithErrorHandler(log.handle))
	errs := log.all()
	var re *ResolveError
	// NewReporter's lookup has failed (the refresh loop may have begun).
	if len(errs) == 0 || !errors.As(errs[0], &re) || !errors.Is(errs[0], ErrResolverPanic) || re.Host != "pinba.test" {
		t.Fatalf("errors %v, want a ResolveError of a panic", errs)
	}
	if strings.Contains(errs[0].Error(), "boom") {
		t.Errorf("error %q formats the panic's value", errs[0])
	}
	mustEventually(t, "a lookup to succeed", func() bool {
		r.Send(rawPacket(t, "/x", 0))
		return live.Received() > 0
	})
	if s := r.Stats(); s.ResolveErrors != 3 {
		t.Errorf("stats %+v, want 3 resolve errors", s)
	}
}

// Close does not wait for a lookup in progress: the lookup's context is
// canceled, Close returns at once, a canceled lookup is not counted as a
// failure, and a Send after Close is counted, not sent.
func TestCloseCancelsALookup(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"lookup waiting on a gate", func(t *testing.T) {
			g := &gatedResolver{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			r, err := NewReporter("pinba.test", WithResolver(g.lookup), WithResolveInterval(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-g.entered:
			case <-time.After(wait):
				t.Fatal("the resolver was not asked again")
			}
			closed := make(chan struct{})
			go func() { r.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(wait):
				close(g.gate)
				<-closed
				t.Fatal("Close waited for a lookup instead of canceling it")
			}
			r.Send([]byte("after close")) // counted, not sent, no panic
			if s := r.Stats(); s.SendErrors != 1 || s.Sent != 0 {
				t.Errorf("Send after Close: stats %+v", s)
			}
		}},
		{"lookup waiting for its context", func(t *testing.T) {
			var calls atomic.Int64
			blocked := make(chan struct{})
			resolver := func(ctx context.Context, host string) ([]netip.Addr, error) {
				if calls.Add(1) == 1 {
					return nil, errors.New("not yet")
				}
				if calls.Load() == 2 {
					close(blocked)
				}
				<-ctx.Done()
				return nil, ctx.Err()
			}
			var log errLog
			r, err := NewReporter("slow.test", WithResolver(resolver), WithResolveInterval(time.Millisecond), WithErrorHandler(log.handle))
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-blocked:
			case <-time.After(wait):
				t.Fatal("no second lookup")
			}
			start := time.Now()
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v", d)
			}
			if s := r.Stats(); s.ResolveErrors != 1 || len(log.all()) != 1 {
				t.Errorf("stats %+v, errors %v: a canceled lookup is not a failure", s, log.all())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}
