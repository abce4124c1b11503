package pynba

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ScriptMonitor measures a job that is not a web request (a command, a
// worker loop), as pynba's ScriptMonitor does. It binds the goroutine that
// creates it, so the proxy (Timer, SetTag, ...) works there, and starts
// measuring at once:
//
//	sm, err := pynba.NewScriptMonitor("127.0.0.1:30002")
//	if err != nil { ... }
//	defer sm.Close() // sends what was measured since the last Send
//	pynba.Time(pynba.Tags{"step": "load"}, load)
//
// The script name defaults to the command line (program base name and
// arguments); hostname to os.Hostname(); server name is empty unless given
// with WithServerName. Use it from the goroutine that created it, and
// pynba.Go or Collector().Go for others.
type ScriptMonitor struct {
	core *core

	mu     sync.Mutex
	c      *collector
	gid    int64
	prev   binding
	closed bool
}

// NewScriptMonitor starts measuring in the calling goroutine and returns the
// monitor. servers and options are those of NewMiddleware (WithPrefix,
// WithTags, WithHostname, WithServerName, WithReporter, WithErrorHandler,
// ...; WithScriptName and WithFilter do not apply).
func NewScriptMonitor(servers string, opts ...Option) (*ScriptMonitor, error) {
	k, err := newCore(servers, opts)
	if err != nil {
		return nil, err
	}
	sm := &ScriptMonitor{core: k, c: k.get(), gid: curGoid()}
	sm.begin()
	sm.prev = bind(sm.gid, binding{sm.c, sm.c.epoch})
	return sm, nil
}

func (sm *ScriptMonitor) begin() {
	k, c := sm.core, sm.c
	k.stats.requests.Add(1)
	c.begin()
	c.mu.Lock()
	c.defaultStatus = 0 // a script has no HTTP status
	c.hostname = k.hostname
	c.serverName = k.cfg.serverName
	c.scriptName = k.cfg.prefix + commandLine()
	c.mu.Unlock()
}

func commandLine() string {
	if len(os.Args) == 0 {
		return ""
	}
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	return strings.Join(args, " ")
}

// Collector returns the handle of the current measurement.
func (sm *ScriptMonitor) Collector() Collector {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.closed {
		return Collector{}
	}
	return Collector{sm.c, sm.c.epoch}
}

// Timer registers a timer with the current measurement (pynba's
// ScriptMonitor.timer).
func (sm *ScriptMonitor) Timer(tags Tags) TimerRef { return sm.Collector().Timer(tags) }

// ErrClosed is returned by a ScriptMonitor's Send after Close.
var ErrClosed = errors.New("pynba: monitor closed")

// Send sends what was measured since the monitor started or last sent, as
// one request, and starts a new measurement: timers made before it become
// stale, request tags set with SetTag are cleared. Problems while sending
// go to the error handler; Send returns an error only after Close.
func (sm *ScriptMonitor) Send() error {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.closed {
		return ErrClosed
	}
	sm.sendLocked()
	sm.begin()
	// Rebind: the epoch changed.
	bind(sm.gid, binding{sm.c, sm.c.epoch})
	return nil
}

func (sm *ScriptMonitor) sendLocked() {
	sm.c.finish()
}

// Stats returns the monitor's counts, its reporter's included.
func (sm *ScriptMonitor) Stats() Stats { return sm.core.statsSnapshot() }

// Close sends what was measured since the last Send, unbinds the goroutine
// and stops the reporter (unless given with WithReporter). Later calls do
// nothing.
func (sm *ScriptMonitor) Close() error {
	sm.mu.Lock()
	if sm.closed {
		sm.mu.Unlock()
		return nil
	}
	sm.closed = true
	sm.sendLocked()
	unbind(sm.gid, sm.prev)
	sm.core.put(sm.c)
	sm.mu.Unlock()
	return sm.core.close()
}
