package pynba

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
)

func TestOutsideRequestIsHarmless(t *testing.T) {
	if Enabled() || Current().Valid() || Elapsed() != 0 {
		t.Fatal("outside a request, Enabled or Valid is true")
	}
	tm := Timer(Tags{"x": "y"}).Start()
	time.Sleep(time.Millisecond)
	tm.Stop()
	if !tm.Detached() || tm.Elapsed() < time.Millisecond {
		t.Errorf("detached timer: detached %v elapsed %v", tm.Detached(), tm.Elapsed())
	}
	SetTag("a", "b")
	SetScriptName("x")
	SetDocumentSize(3)
	SetEnabled(true)
	Time(Tags{"a": "b"}, func() {})
	if err := Flush(); err != nil {
		t.Errorf("Flush outside a request: %v", err)
	}
	if v, ok := Current().Tag("a"); ok || v != nil {
		t.Error("tag outside a request")
	}
	var zero TimerRef
	zero.Start().Stop()
	zero.Delete()
	if zero.Elapsed() != 0 || zero.Clone().Started() {
		t.Error("zero TimerRef")
	}
}

func TestConcurrentRequestsKeepTheirTimers(t *testing.T) {
	const n = 100
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		for i := range 5 {
			tm := Timer(Tags{"req": id, "i": i}).Start()
			time.Sleep(100 * time.Microsecond)
			tm.Stop()
		}
		SetTag("req", id)
	}))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(m, fmt.Sprintf("/r?id=%d", i))
		}()
	}
	wg.Wait()
	ps, err := srv.Wait(n, wait)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		id := p.Tags.Get("req")
		seen[id] = true
		if len(p.Timers) != 5 {
			t.Errorf("request %s has %d timers", id, len(p.Timers))
		}
		for _, tm := range p.Timers {
			if tm.Tags.Get("req") != id {
				t.Errorf("timer of request %s in the packet of request %s", tm.Tags.Get("req"), id)
			}
		}
		if err := pinbatest.Validate(p.Raw); err != nil {
			t.Error(err)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct requests, want %d", len(seen), n)
	}
	if registrySize() != 0 {
		t.Errorf("registry holds %d goroutines", registrySize())
	}
}

func TestGoChildLandsInItsRequest(t *testing.T) {
	release := make(chan struct{})
	plainDone := make(chan TimerRef, 1)
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/a" {
			return
		}
		var wg sync.WaitGroup
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			Timer(Tags{"from": "child"}).Start().Stop()
		})
		wg.Wait()
		go func() {
			// A plain goroutine is not bound: its timer is detached.
			<-release
			plainDone <- Timer(Tags{"from": "plain"}).Start().Stop()
		}()
	}))
	serve(m, "/a")
	p := next(t, srv)
	if _, ok := p.FindTimer(map[string]string{"from": "child"}); !ok || len(p.Timers) != 1 {
		t.Errorf("timers %v, want the child's", p.Timers)
	}
	// Another request runs while the plain goroutine makes its timer.
	close(release)
	tm := <-plainDone
	serve(m, "/b")
	p = next(t, srv)
	if len(p.Timers) != 0 || !tm.Detached() {
		t.Errorf("second request got timers %v; plain timer detached %v", p.Timers, tm.Detached())
	}
}
