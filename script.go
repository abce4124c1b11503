package pynba

import (
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

	// mu guards the fields below. It is never held while a packet is
	// built, since building calls user code (tag callables) that may call
	// back into the monitor.
	mu      sync.Mutex
	c       *reqData
	gid     int64
	prev    binding
	closed  bool
	sending bool // a Send or Close is building a packet
	sent    bool // a Send has sent
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
	h := sm.begin()
	sm.prev = bind(sm.gid, binding{h.c, h.epoch})
	return sm, nil
}

// begin starts a new measurement and returns its handle.
func (sm *ScriptMonitor) begin() Collector {
	k := sm.core
	k.stats.requests.Add(1)
	return sm.c.begin(reqInit{serverName: k.cfg.serverName, scriptName: commandLine()})
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
	c := sm.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return Collector{c, c.epoch}
}

// Timer registers a timer with the current measurement (pynba's
// ScriptMonitor.timer).
func (sm *ScriptMonitor) Timer(tags Tags) TimerRef { return sm.Collector().Timer(tags) }

// Send sends what was measured since the monitor started or last sent, as
// one request, and starts a new measurement: timers made before it become
// stale, request tags set with SetTag are cleared. Problems while sending
// go to the error handler; Send returns an error only after Close
// (ErrClosed) or from a callable run while the monitor is sending
// (ErrSending).
func (sm *ScriptMonitor) Send() error {
	sm.mu.Lock()
	if sm.closed {
		sm.mu.Unlock()
		return ErrClosed
	}
	if sm.sending {
		sm.mu.Unlock()
		return ErrSending
	}
	sm.sending = true
	c := sm.c
	sm.mu.Unlock()

	defer func() {
		sm.mu.Lock()
		sm.sending, sm.sent = false, true
		if !sm.closed {
			// Rebind: the epoch changed.
			h := sm.begin()
			bind(sm.gid, binding{h.c, h.epoch})
		}
		sm.mu.Unlock()
	}()
	c.finish()
	return nil
}

// Stats returns the monitor's counts, its reporter's included.
func (sm *ScriptMonitor) Stats() Stats { return sm.core.statsSnapshot() }

// Close ends the monitor: it sends what was measured since the last Send
// as one more request, unbinds the goroutine and stops the reporter (unless
// given with WithReporter). Close sends that last request only when there
// is something to send: always when Send was never called (the whole job is
// one request), and after a Send only when timers, request tags or values
// were recorded since, so a loop of N Sends followed by Close reports N
// requests. Later calls do nothing.
func (sm *ScriptMonitor) Close() error {
	sm.mu.Lock()
	if sm.closed {
		sm.mu.Unlock()
		return nil
	}
	if sm.sending {
		sm.mu.Unlock()
		return ErrSending
	}
	sm.closed, sm.sending = true, true
	c, sent := sm.c, sm.sent
	sm.mu.Unlock()

	defer func() {
		unbind(sm.gid, sm.prev)
		sm.core.put(c)
		sm.mu.Lock()
		sm.sending = false
		sm.mu.Unlock()
	}()
	if !sent || c.recorded() {
		c.finish()
	} else {
		c.end()
	}
	return sm.core.close()
}
