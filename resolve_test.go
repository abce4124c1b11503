package pynba

import (
	"testing"
	"time"
)

// Close does not wait for a lookup in progress: the lookup's context is
// canceled.
func TestCloseDoesNotWaitForALookup(t *testing.T) {
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
}
