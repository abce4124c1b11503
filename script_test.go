package pynba

import (
	"errors"
	"testing"

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
