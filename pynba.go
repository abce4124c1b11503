// Package pynba is a Pinba client for Go web services, a port of Python's
// pynba. Pinba (pinba_engine, pinba2) is a MySQL/MariaDB engine that receives
// one UDP packet per request and serves live reports as SQL tables.
//
// Wrap the main handler with Monitor, and every request sends one packet
// with its time, CPU, status, size, request tags and the timers the code
// started anywhere below it:
//
//	http.ListenAndServe(":8080", pynba.Monitor("127.0.0.1:30002")(mux))
//
// Code running in the request's goroutine reaches the request through the
// package-level proxy, with no context passed through, as pynba's
// thread-local proxy does:
//
//	t := pynba.Timer(pynba.Tags{"group": "db", "op": "select"}).Start()
//	rows, err := db.Query(q)
//	t.Stop()
//
// Code that prefers contexts gets the same request with
// FromContext(r.Context()). Outside a request every proxy function is
// harmless: Timer returns a detached timer whose result goes nowhere,
// Enabled is false, setters do nothing.
package pynba

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// clockBase anchors the monotonic clock: mono() reads only the monotonic
// clock, which is cheaper than time.Now.
var clockBase = time.Now()

func mono() time.Duration { return time.Since(clockBase) }

// collector holds the data of one request (pynba's DataCollector). It is
// pooled: the Collector and TimerRef handles given to users carry the epoch
// or sequence number they were made for, so a handle kept after its request
// ended is recognised and ignored.
type collector struct {
	owner *core

	// mu guards everything below up to encMu. It is taken by the request's
	// own goroutines only (and by late users of stale handles, who leave
	// at once), so it is not contended across requests.
	mu       sync.Mutex
	epoch    uint64 // changes at the start and end of every request
	active   bool
	detached bool
	// defaultStatus is sent when no code was written or set: 200 for web
	// requests, 0 for scripts.
	defaultStatus uint32
	enabled       bool

	start     time.Duration
	ruUser    float64
	ruSys     float64
	reqTime   time.Duration
	reqTimeOK bool

	hostname   string
	serverName string
	scriptName string
	scriptOK   bool // scriptName set by the code
	schema     string
	status     uint32
	statusOK   bool
	docSize    uint32
	docSizeOK  bool
	memPeak    uint32
	memFoot    uint32
	tags       Tags // set with SetTag during the request

	// resp is the response of the web request running (nil for scripts):
	// its status code and byte count.
	resp *respWriter
	// req is the web request running, as the handler sees it (nil for
	// scripts): a Flush asks WithScriptName for its name, as the end does.
	req *http.Request

	seq   uint64       // last timer sequence number given
	slots []*timerSlot // timers of this request, in creation order
	spare []*timerSlot // slots kept from earlier requests for reuse

	// builder is the id of the goroutine building a packet (holding
	// encMu), 0 when none: a tag callable that calls Flush runs in it.
	builder atomic.Int64

	// encMu guards the encoding state below; taken before mu.
	encMu   sync.Mutex
	snap    []timerSnap
	snapHdr header
	// snapTags are the request tags to send: the configured ones, those
	// set during the request, or merged, a copy of both.
	snapTags Tags
	merged   Tags
	enc      encoder
}

// header is what a packet carries besides timers, copied under mu.
type header struct {
	hostname, serverName, scriptName, schema string
	status, docSize, memPeak, memFoot        uint32
	reqTime                                  time.Duration
	ruUser, ruSys                            float64
}

type timerSnap struct {
	tags  Tags
	value time.Duration
	hits  uint32
}

func newCollector(owner *core) *collector {
	return &collector{owner: owner}
}

// begin readies a pooled collector for a new request. The collector is not
// reachable by anyone else yet, but for late users of stale handles, who
// take mu and find the epoch changed.
func (c *collector) begin() {
	start := mono()
	u, s := cpuTimes()
	c.mu.Lock()
	c.beginLocked(start, u, s)
	c.mu.Unlock()
}

func (c *collector) beginLocked(start time.Duration, ruUser, ruSys float64) {
	c.epoch++
	c.active = true
	c.enabled = true
	c.reqTimeOK, c.scriptOK, c.statusOK, c.docSizeOK = false, false, false, false
	c.reqTime = 0
	c.hostname, c.serverName, c.scriptName, c.schema = "", "", "", ""
	c.status, c.docSize, c.memPeak, c.memFoot = 0, 0, 0, 0
	if len(c.tags) > 0 {
		clear(c.tags)
	}
	c.resp = nil
	c.req = nil
	c.start = start
	c.ruUser, c.ruSys = ruUser, ruSys
}

// end marks the request over: every handle to it becomes stale.
func (c *collector) end() {
	c.mu.Lock()
	c.epoch++
	c.active = false
	c.resp = nil
	c.req = nil
	c.releaseSlots()
	c.mu.Unlock()
}

// releaseSlots invalidates every timer of the request and keeps the slots
// for reuse. Called with mu held.
func (c *collector) releaseSlots() {
	for _, s := range c.slots {
		s.seq = 0
		s.tags = nil
		s.data = nil
	}
	c.spare = append(c.spare, c.slots...)
	clear(c.slots)
	c.slots = c.slots[:0]
}

func (c *collector) stats() *counters {
	if c.owner == nil {
		return nil
	}
	return &c.owner.stats
}

func (c *collector) reportError(err error) {
	if c.owner != nil {
		c.owner.cfg.reportError(err)
	}
}

// ErrLate is reported (wrapped) when a Collector or TimerRef is used after
// its request ended. Such uses are ignored and counted in Stats.LateTimers.
var ErrLate = errors.New("pynba: request already ended")

// late counts and reports a use of a stale handle. Called without mu.
func (c *collector) late(what string) {
	if c == nil || c.owner == nil {
		return
	}
	c.owner.stats.lateTimers.Add(1)
	c.reportError(fmt.Errorf("%w: %s ignored", ErrLate, what))
}

// Collector is a handle to one request's data, as Current and FromContext
// return it. The zero Collector, and one whose request has ended, is
// harmless: its setters do nothing and Timer returns a detached timer.
// A Collector may be used from any goroutine.
type Collector struct {
	c     *collector
	epoch uint64
}

// lock returns the collector locked when h's request is still running, nil
// (counting a late use) otherwise.
func (h Collector) lock(what string) *collector {
	c := h.c
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if c.epoch != h.epoch || !c.active {
		c.mu.Unlock()
		c.late(what)
		return nil
	}
	return c
}

// Valid reports whether h refers to a request still running.
func (h Collector) Valid() bool {
	c := h.c
	if c == nil {
		return false
	}
	c.mu.Lock()
	ok := c.epoch == h.epoch && c.active
	c.mu.Unlock()
	return ok
}

// Enabled reports whether the request will send its data (pynba's enabled):
// false outside a request and after SetEnabled(false).
func (h Collector) Enabled() bool {
	c := h.c
	if c == nil {
		return false
	}
	c.mu.Lock()
	ok := c.epoch == h.epoch && c.active && c.enabled
	c.mu.Unlock()
	return ok
}

// SetEnabled turns sending on or off for this request: a request disabled
// when it ends sends nothing.
func (h Collector) SetEnabled(on bool) {
	if c := h.lock("SetEnabled"); c != nil {
		c.enabled = on
		c.mu.Unlock()
	}
}

// SetScriptName sets the script name sent, instead of the one Monitor
// derives from the request. The prefix is not applied to it.
func (h Collector) SetScriptName(name string) {
	if c := h.lock("SetScriptName"); c != nil {
		c.scriptName, c.scriptOK = name, true
		c.mu.Unlock()
	}
}

// SetHostname sets the hostname sent.
func (h Collector) SetHostname(name string) {
	if c := h.lock("SetHostname"); c != nil {
		c.hostname = name
		c.mu.Unlock()
	}
}

// SetServerName sets the server name sent.
func (h Collector) SetServerName(name string) {
	if c := h.lock("SetServerName"); c != nil {
		c.serverName = name
		c.mu.Unlock()
	}
}

// SetSchema sets the schema sent ("http", "https", ...).
func (h Collector) SetSchema(schema string) {
	if c := h.lock("SetSchema"); c != nil {
		c.schema = schema
		c.mu.Unlock()
	}
}

// SetStatus sets the status sent, instead of the response's code.
func (h Collector) SetStatus(code uint32) {
	if c := h.lock("SetStatus"); c != nil {
		c.status, c.statusOK = code, true
		c.mu.Unlock()
	}
}

// SetDocumentSize sets the document size sent, instead of the bytes of body
// the handler wrote.
func (h Collector) SetDocumentSize(n uint32) {
	if c := h.lock("SetDocumentSize"); c != nil {
		c.docSize, c.docSizeOK = n, true
		c.mu.Unlock()
	}
}

// SetMemoryPeak sets the memory peak sent, in bytes (0 unless set).
func (h Collector) SetMemoryPeak(n uint32) {
	if c := h.lock("SetMemoryPeak"); c != nil {
		c.memPeak = n
		c.mu.Unlock()
	}
}

// SetMemoryFootprint sets the memory footprint sent, in bytes (0 unless set).
func (h Collector) SetMemoryFootprint(n uint32) {
	if c := h.lock("SetMemoryFootprint"); c != nil {
		c.memFoot = n
		c.mu.Unlock()
	}
}

// SetRequestTime sets the request time sent, instead of the time measured
// (as PHP's pinba_request_time_set).
func (h Collector) SetRequestTime(d time.Duration) {
	if c := h.lock("SetRequestTime"); c != nil {
		c.reqTime, c.reqTimeOK = d, true
		c.mu.Unlock()
	}
}

// SetTag sets a request tag. The value is flattened as timer tag values are
// (see Flatten) when the packet is built; it replaces a tag of the same name
// given with WithTags.
func (h Collector) SetTag(name string, value any) {
	if c := h.lock("SetTag"); c != nil {
		if c.tags == nil {
			c.tags = make(Tags)
		}
		c.tags[name] = value
		c.mu.Unlock()
	}
}

// DeleteTag removes a request tag set with SetTag.
func (h Collector) DeleteTag(name string) {
	if c := h.lock("DeleteTag"); c != nil {
		delete(c.tags, name)
		c.mu.Unlock()
	}
}

// Tag returns the value of a request tag set with SetTag, and whether it is
// set.
func (h Collector) Tag(name string) (any, bool) {
	if c := h.lock("Tag"); c != nil {
		v, ok := c.tags[name]
		c.mu.Unlock()
		return v, ok
	}
	return nil, false
}

// Elapsed returns the time since the request started (0 outside a request).
func (h Collector) Elapsed() time.Duration {
	if c := h.lock("Elapsed"); c != nil {
		d := mono() - c.start
		c.mu.Unlock()
		return d
	}
	return 0
}

// Timers returns the request's timers that are not deleted, in creation
// order.
func (h Collector) Timers() []TimerRef {
	c := h.lock("Timers")
	if c == nil {
		return nil
	}
	defer c.mu.Unlock()
	out := make([]TimerRef, 0, len(c.slots))
	for _, s := range c.slots {
		if !s.deleted {
			out = append(out, TimerRef{s, s.seq})
		}
	}
	return out
}

// Flush sends the request's data now, as PHP's pinba_flush does: running
// timers are stopped and included, and every timer is then forgotten (their
// TimerRefs become stale). Request tags, the request clock and the byte
// count carry over, so the packet sent when the request ends holds the
// timers made after the flush and the request's whole time. Flush returns
// an error only when the packet could not be built; sending problems go to
// the error handler, as for any packet. Outside a request it does nothing.
func (h Collector) Flush() error {
	c := h.c
	if c == nil {
		return nil
	}
	gid := curGoid()
	if gid != 0 && c.builder.Load() == gid {
		// A tag callable (or String or Error method) of this request, run
		// while this goroutine builds a packet: encMu is already ours.
		c.reportError(errFlushWhileBuilding)
		return errFlushWhileBuilding
	}
	// The script name WithScriptName gives now (r.Pattern is known while
	// the handler runs), so both packets of the request report under one
	// name. Asked with no lock held: it is the user's code.
	script, haveScript := "", false
	if k := c.owner; k != nil && k.cfg.scriptName != nil {
		c.mu.Lock()
		req := c.req
		ask := c.epoch == h.epoch && c.active && !c.scriptOK && req != nil
		c.mu.Unlock()
		if ask {
			if n := k.scriptName(req); n != "" {
				script, haveScript = k.cfg.prefix+n, true
			}
		}
	}
	c.encMu.Lock()
	c.builder.Store(gid)
	defer func() {
		c.builder.Store(0)
		c.encMu.Unlock()
	}()
	c.mu.Lock()
	if c.epoch != h.epoch || !c.active {
		c.mu.Unlock()
		c.late("Flush")
		return nil
	}
	if haveScript && !c.scriptOK {
		c.scriptName = script
	}
	send := c.enabled
	if send {
		c.snapshot(mono(), false)
	}
	c.releaseSlots()
	c.mu.Unlock()
	if !send {
		return nil
	}
	return c.buildAndSend()
}

// finish sends the request's final packet and ends the request. It is
// called by the request's owner (ScriptMonitor).
func (c *collector) finish() { c.finishWith("", false, 0) }

// finishWith is finish for Monitor, which gives the script name derived
// from the request (set when haveScript, unless the code set one) and the
// response's status (set when not 0, unless the code set one), all in the
// same critical section.
func (c *collector) finishWith(script string, haveScript bool, status uint32) {
	c.encMu.Lock()
	c.builder.Store(curGoid())
	c.mu.Lock()
	if haveScript && !c.scriptOK {
		c.scriptName = script
	}
	if status != 0 && !c.statusOK {
		c.status, c.statusOK = status, true
	}
	send := c.enabled
	if send {
		c.snapshot(mono(), true)
	}
	c.epoch++
	c.active = false
	c.resp = nil
	c.releaseSlots()
	c.mu.Unlock()
	if send {
		_ = c.buildAndSend()
	}
	c.snapTags = nil
	c.builder.Store(0)
	c.encMu.Unlock()
}

// errFlushWhileBuilding is returned by a Flush called while the same
// goroutine builds the request's packet (from a tag callable, a String or
// Error method): the Flush does nothing.
var errFlushWhileBuilding = errors.New("pynba: Flush called while the request's packet is being built (from a tag callable, String or Error method): ignored")

// snapshot copies what the packet needs, stopping running timers at now.
// final says the request ends with this packet: nobody can change its tags
// any more, so they need not be copied. Called with encMu and mu held.
func (c *collector) snapshot(now time.Duration, final bool) {
	hd := &c.snapHdr
	hd.hostname, hd.serverName, hd.scriptName, hd.schema = c.hostname, c.serverName, c.scriptName, c.schema
	hd.status, hd.docSize, hd.memPeak, hd.memFoot = c.status, c.docSize, c.memPeak, c.memFoot
	var code int64
	var written uint64
	if c.resp != nil {
		code, written = c.resp.code.Load(), c.resp.written.Load()
	}
	if !c.statusOK {
		hd.status = uint32(code)
		if hd.status == 0 {
			hd.status = c.defaultStatus
		}
	}
	if !c.docSizeOK {
		hd.docSize = clampUint32(written)
	}
	if c.reqTimeOK {
		hd.reqTime = c.reqTime
	} else {
		hd.reqTime = now - c.start
	}
	u, s := cpuTimes()
	hd.ruUser, hd.ruSys = max(u-c.ruUser, 0), max(s-c.ruSys, 0)

	// Request tags: those set with SetTag replace configured ones of the
	// same name. The configured map is the user's, read as it is; the
	// request's own is read directly at the end of the request, copied
	// when the request goes on (Flush) and may change it meanwhile.
	var cfgTags Tags
	if c.owner != nil {
		cfgTags = c.owner.cfg.tags
	}
	switch {
	case len(c.tags) == 0:
		c.snapTags = cfgTags
	case len(cfgTags) == 0 && final:
		c.snapTags = c.tags
	default:
		if c.merged == nil {
			c.merged = make(Tags)
		}
		clear(c.merged)
		for k, v := range cfgTags {
			c.merged[k] = v
		}
		for k, v := range c.tags {
			c.merged[k] = v
		}
		c.snapTags = c.merged
	}

	c.snap = c.snap[:0]
	for _, s := range c.slots {
		if s.running {
			s.elapsed = addDur(s.elapsed, now-s.startedAt)
			s.running = false
		}
		if s.deleted || s.hits == 0 {
			continue
		}
		c.snap = append(c.snap, timerSnap{tags: s.tags, value: s.elapsed, hits: s.hits})
	}
}
