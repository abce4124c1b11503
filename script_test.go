package pynba

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
)

func TestScriptMonitor(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	sm, err := NewScriptMonitor(srv.Addr(), WithHostname("batch-1"), WithServerName("jobs"), WithTags(Tags{"job": "import"}))
	if err != nil {
		t.Fatal(err)
	}
	// The proxy works in the goroutine that created the monitor.
	if !Enabled() {
		t.Fatal("Enabled() is false under a ScriptMonitor")
	}
	Time(Tags{"step": "load"}, func() {})
	sm.Timer(Tags{"step": "parse"}).Start().Stop()
	if err := sm.Send(); err != nil {
		t.Fatal(err)
	}
	SetScriptName("nightly")
	Timer(Tags{"step": "save"}).Start().Stop()
	if err := sm.Close(); err != nil {
		t.Fatal(err)
	}
	if Enabled() || registrySize() != 0 {
		t.Error("still bound after Close")
	}
	if err := sm.Send(); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	ps, err := srv.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	a, b := ps[0], ps[1]
	for _, p := range ps {
		if err := pinbatest.Validate(p.Raw); err != nil {
			t.Error(err)
		}
		if p.Hostname != "batch-1" || p.ServerName != "jobs" || p.Tags.Get("job") != "import" || p.Status != 200 || p.RequestCount != 1 {
			t.Errorf("packet %+v", p)
		}
	}
	if a.ScriptName != commandLine() || len(a.Timers) != 2 {
		t.Errorf("first: script %q timers %v", a.ScriptName, a.Timers)
	}
	if b.ScriptName != "nightly" || len(b.Timers) != 1 || b.Timers[0].Tags.Get("step") != "save" {
		t.Errorf("second: script %q timers %v", b.ScriptName, b.Timers)
	}
	if s := sm.Stats(); s.Packets != 2 || s.Requests != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestScriptMonitorCallbacksDoNotDeadlock(t *testing.T) {
	srv := newServer(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sm, err := NewScriptMonitor(srv.Addr())
		if err != nil {
			t.Error(err)
			return
		}
		var sendErr error
		var h Collector
		sm.Timer(Tags{"step": func() string {
			sendErr = sm.Send()
			h = sm.Collector()
			return "load"
		}}).Start().Stop()
		if err := sm.Send(); err != nil {
			t.Error(err)
		}
		if !errors.Is(sendErr, ErrSending) || h.Valid() {
			t.Errorf("Send from a tag callable: %v, handle valid %v; want ErrSending and a stale handle", sendErr, h.Valid())
		}
		sm.Close()
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("ScriptMonitor.Send or Collector from a tag callable deadlocks")
	}
	p := next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("step") != "load" {
		t.Errorf("timers %v", p.Timers)
	}
}

func TestScriptMonitorCloseSendsOnlyWhatIsLeft(t *testing.T) {
	srv := newServer(t)
	sm, err := NewScriptMonitor(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const jobs = 5
	for i := range jobs {
		Timer(Tags{"job": fmt.Sprint(i)}).Start().Stop()
		sm.Send()
	}
	sm.Close()
	if _, err := srv.Wait(jobs, wait); err != nil {
		t.Fatal(err)
	}
	noMorePackets(t, srv, newMiddleware(t, func(http.ResponseWriter, *http.Request) {}, srv.Addr()))
	if s := sm.Stats(); s.Packets != jobs {
		t.Errorf("Packets %d, want %d", s.Packets, jobs)
	}

	// Something recorded after the last Send is sent by Close; a monitor
	// that never sent sends its one request.
	sm2, _ := NewScriptMonitor(srv.Addr())
	sm2.Send()
	SetTag("late", "yes")
	sm2.Close()
	sm3, _ := NewScriptMonitor(srv.Addr())
	sm3.Close()
	ps, err := srv.Wait(3, wait)
	if err != nil {
		t.Fatal(err)
	}
	if ps[1].Tags.Get("late") != "yes" || ps[2].Status != 200 {
		t.Errorf("packets %v / %v", ps[1].Tags, ps[2].Status)
	}
}
