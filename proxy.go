package pynba

import "time"

// The package-level proxy: each function finds the request bound to the
// calling goroutine (by Monitor, ScriptMonitor or Go) and forwards to it.
// Outside a request they are harmless: Timer returns a detached timer,
// Enabled is false, the setters do nothing, Flush returns nil.

// Current returns the request bound to the calling goroutine, or the zero
// Collector outside a request.
func Current() Collector {
	b := lookupCurrent()
	return Collector{b.c, b.epoch}
}

// Timer registers a new timer with the current request, not started
// (pynba.timer(**tags)):
//
//	t := pynba.Timer(pynba.Tags{"group": "db"}).Start()
//	defer t.Stop()
func Timer(tags Tags) TimerRef { return Current().Timer(tags) }

// AddTimer registers a stopped timer of one hit whose value is d (PHP's
// pinba_timer_add).
func AddTimer(tags Tags, d time.Duration) TimerRef { return Current().AddTimer(tags, d) }

// Time runs fn with a timer of the given tags running, stopped even if fn
// panics (pynba's `with pynba.timer(...):` and decorator forms).
func Time(tags Tags, fn func()) { Current().Time(tags, fn) }

// Enabled reports whether the current request will send its data: false
// outside a request and after SetEnabled(false).
func Enabled() bool { return Current().Enabled() }

// SetEnabled turns sending on or off for the current request.
func SetEnabled(on bool) { Current().SetEnabled(on) }

// SetScriptName sets the current request's script name.
func SetScriptName(name string) { Current().SetScriptName(name) }

// ScriptName returns the current request's script name; see
// Collector.ScriptName.
func ScriptName() string { return Current().ScriptName() }

// Status returns the status the current request would send now.
func Status() int { return Current().Status() }

// DocumentSize returns the document size the current request would send
// now.
func DocumentSize() int { return Current().DocumentSize() }

// SetHostname sets the current request's hostname.
func SetHostname(name string) { Current().SetHostname(name) }

// SetServerName sets the current request's server name.
func SetServerName(name string) { Current().SetServerName(name) }

// SetSchema sets the current request's schema.
func SetSchema(schema string) { Current().SetSchema(schema) }

// SetStatus sets the current request's status, instead of the response's.
func SetStatus(code int) { Current().SetStatus(code) }

// SetDocumentSize sets the current request's document size, instead of the
// bytes of body written.
func SetDocumentSize(n int) { Current().SetDocumentSize(n) }

// SetMemoryPeak sets the current request's memory peak in bytes.
func SetMemoryPeak(n int) { Current().SetMemoryPeak(n) }

// SetMemoryFootprint sets the current request's memory footprint in bytes.
func SetMemoryFootprint(n int) { Current().SetMemoryFootprint(n) }

// SetRequestTime sets the current request's time, instead of the time
// measured.
func SetRequestTime(d time.Duration) { Current().SetRequestTime(d) }

// SetTag sets a request tag of the current request.
func SetTag(name string, value any) { Current().SetTag(name, value) }

// DeleteTag removes a request tag of the current request.
func DeleteTag(name string) { Current().DeleteTag(name) }

// Elapsed returns the time since the current request started.
func Elapsed() time.Duration { return Current().Elapsed() }

// Flush sends the current request's data now (PHP's pinba_flush); see
// Collector.Flush.
func Flush() error { return Current().Flush() }

// Go runs fn in a new goroutine bound to the current request, so the proxy
// works in it. Outside a request it is a plain go statement. A goroutine
// still running after its request ended finds its uses ignored (counted in
// Stats.LateUses), never landing in another request.
func Go(fn func()) { Current().Go(fn) }

// Go runs fn in a new goroutine bound to h's request.
func (h Collector) Go(fn func()) {
	if h.c == nil {
		go fn()
		return
	}
	go func() {
		gid := curGoid()
		prev := bind(gid, binding{h.c, h.epoch})
		defer unbind(gid, prev)
		fn()
	}()
}
