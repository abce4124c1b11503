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
	"slices"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // go:linkname
)

// clockBase anchors the monotonic clock: mono() reads only the runtime's
// monotonic clock (what time.Now reads beside the wall clock), at half the
// cost of time.Now, and clockBase turns its readings into times.
var (
	monoBase  = nanotime()
	clockBase = time.Now()
)

func mono() time.Duration { return time.Duration(nanotime() - monoBase) }

// nanotime is the runtime's monotonic clock, in nanoseconds.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// reqData holds the data of one request (pynba's DataCollector). Its
// states, and what moves it from one to the next:
//
//	pooled  --begin-->  active  --Flush-->  active (flushed: timers sent
//	   ^                  |                 and forgotten; tags, clock and
//	   |                  |                 byte count carry over)
//	   |                finish (or end, when nothing is sent)
//	   |                  v
//	   +------put------ ended
//
// begin (the one place a request's data starts: Middleware, ScriptMonitor
// and Runner call it) resets every field and changes the epoch; finish
// stops running timers, sends the last packet and changes the epoch again;
// put gives back what a huge request grew (shrink) and returns the data to
// its owner's pool. The epoch is the staleness token of every handle: a
// Collector carries the request's epoch, a TimerRef its slot's, and a
// goroutine binding the request's, so a handle kept after its request ended
// is recognised and ignored, never landing in a later request that reuses
// the pooled data.
type reqData struct {
	owner *core

	// mu guards everything below up to encMu. It is taken by the request's
	// own goroutines only (and by late users of stale handles, who leave
	// at once), so it is not contended across requests.
	mu       sync.Mutex
	epoch    uint64 // changes at the start and end of every request
	active   bool
	detached bool
	enabled  bool

	start     time.Duration
	cpu       cpuMark // the CPU reading at the start (cpu.go)
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

	// lastPairs are the last timer's pairs, lastSrc the map given to the
	// last Timer call whose values were not all strings and lastCopy the
	// copy made of it (copyTags); all forgotten when the slots are.
	lastPairs         []tagPair
	lastPairSrc       uintptr // the address of the map lastPairs match
	lastSrc, lastCopy Tags

	// grown says the request grew something beyond what a pooled
	// request's data keeps (timers, tag copies, request tags, the
	// encoder's buffers): shrink, which otherwise costs one load, has work.
	grown atomic.Bool

	lastEpoch uint64       // the epoch of the last timer made (timer slots' epochs)
	slots     []*timerSlot // timers of this request, in creation order
	spare     []*timerSlot // slots kept from earlier requests for reuse

	// builder is the id of the goroutine building a packet (holding
	// encMu), 0 when none: a tag callable that calls Flush runs in it.
	builder atomic.Int64

	// admitted is the script name the caps last admitted for this
	// request data (snapshot), when admittedOK.
	admitted   string
	admittedOK bool

	// encMu guards the encoding state below; taken before mu.
	encMu   sync.Mutex
	snap    []timerSnap
	snapHdr header
	// snapTags are the request tags to send: the configured ones, those
	// set during the request, or merged, a copy of both.
	snapTags Tags
	merged   Tags
	enc      *encoder // allocated by the first build, so a detached timer is small
}

// header is what a packet carries besides timers, copied under mu.
type header struct {
	hostname, serverName, scriptName, schema string
	status, docSize, memPeak, memFoot        uint32
	reqTime                                  time.Duration
	ruUser, ruSys                            float64
}

type timerSnap struct {
	pairs      []tagPair // the tags, when plain (see timerSlot), else tags
	tags       Tags
	value      time.Duration
	hits       uint32
	cpuU, cpuS uint64 // the timer's CPU share, ns (cpu.go)
}

func newReqData(owner *core) *reqData {
	return &reqData{owner: owner}
}

// request is what a request's owner (Middleware, ScriptMonitor, Runner)
// knows when the request starts.
type reqInit struct {
	serverName string
	schema     string
	scriptName string        // before the prefix
	resp       *respWriter   // the web response, nil for others
	req        *http.Request // the web request as the handler sees it, nil for others
}

// begin readies a pooled request's data for a new request, the one place a
// request's data starts: every field reset, the clock read, the owner's
// defaults filled in. It returns the handle to the request. The request's data
// is not reachable by anyone else yet, but for late users of stale handles,
// who take mu and find the epoch changed.
func (c *reqData) begin(r reqInit) Collector {
	start := mono()
	cpu := c.cpuBegin(start)
	c.mu.Lock()
	c.epoch++
	c.active = true
	c.enabled = true
	c.reqTimeOK, c.scriptOK, c.statusOK, c.docSizeOK = false, false, false, false
	c.reqTime = 0
	c.status, c.docSize, c.memPeak, c.memFoot = 0, 0, 0, 0
	if len(c.tags) > 0 {
		clear(c.tags)
	}
	c.hostname, c.serverName, c.schema = "", r.serverName, r.schema
	c.scriptName = r.scriptName
	if k := c.owner; k != nil {
		c.hostname = k.hostname
		c.scriptName = k.cfg.prefix + r.scriptName
	}
	c.resp, c.req = r.resp, r.req
	c.start = start
	c.cpu = cpu
	h := Collector{c, c.epoch}
	c.mu.Unlock()
	return h
}

// recorded reports whether anything was recorded in the request since it
// began: a timer, a request tag, or a value set.
func (c *reqData) recorded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots) > 0 || len(c.tags) > 0 || c.scriptOK || c.statusOK ||
		c.docSizeOK || c.reqTimeOK || c.memPeak != 0 || c.memFoot != 0
}

// end marks the request over: every handle to it becomes stale.
func (c *reqData) end() {
	c.mu.Lock()
	c.epoch++
	c.active = false
	c.resp = nil
	c.req = nil
	c.cpuRelease(mono())
	c.releaseSlots()
	c.mu.Unlock()
}

// releaseSlots invalidates every timer of the request and keeps the slots
// for reuse. Called with mu held.
func (c *reqData) releaseSlots() {
	for _, s := range c.slots {
		s.epoch = 0
		s.tags, s.pairs = nil, nil
		s.data = nil
	}
	c.lastSrc, c.lastCopy, c.lastPairs, c.lastPairSrc = nil, nil, nil, 0
	// In reverse, so that the next request takes the slots in the same
	// order: its timers, made by the same code, find their tags copied
	// already (copyTags).
	for i := len(c.slots) - 1; i >= 0; i-- {
		c.spare = append(c.spare, c.slots[i])
	}
	clear(c.slots)
	c.slots = c.slots[:0]
}

// Limits on what request data keeps when it goes back to the pool: a request
// that once grew large (huge tags, many timers) gives the memory back
// rather than keeping it for every later request.
const (
	keepSlots     = 4096    // timer slots kept for reuse
	keepTagsMap   = 64      // entries of a slot's tags copy kept
	keepBufBytes  = 1 << 17 // bytes of packet, arena and dictionary buffers kept
	keepTimerRows = 4096    // snapshot and encoder rows kept
)

// shrink drops what a finished request grew beyond the limits above.
// Called when the request's data goes back to the pool.
func (c *reqData) shrink() {
	if !c.grown.Load() {
		return // the common case: nothing to give back, and no lock taken
	}
	c.grown.Store(false)
	c.mu.Lock()
	c.shrinkSlots()
	c.mu.Unlock()
	c.encMu.Lock()
	if cap(c.snap) > keepTimerRows {
		c.snap = nil
	}
	if len(c.merged) > keepTagsMap {
		c.merged = nil
	}
	if e := c.enc; e != nil && e.big() {
		c.enc = nil
	}
	c.encMu.Unlock()
}

// shrinkSlots is shrink for what is guarded by mu. Called with mu held.
func (c *reqData) shrinkSlots() {
	if len(c.spare) > keepSlots {
		clear(c.spare[keepSlots:])
		c.spare = slices.Clip(c.spare[:keepSlots])
	}
	if cap(c.spare) > 4*keepSlots {
		c.spare = slices.Clone(c.spare)
	}
	for _, s := range c.spare {
		if len(s.own) > keepTagsMap {
			s.own = nil
		}
		if cap(s.ownPairs) > keepTagsMap {
			s.ownPairs, s.ownSrc = nil, 0
		}
		if s.data != nil {
			s.data = nil
		}
	}
	if cap(c.slots) > keepSlots {
		c.slots = nil
	}
	if len(c.tags) > keepTagsMap {
		c.tags = nil
	}
}

func (c *reqData) stats() *counters {
	if c.owner == nil {
		return nil
	}
	return c.owner.stats
}

func (c *reqData) reportError(err error) {
	if c.owner != nil {
		c.owner.cfg.reportError(err)
	}
}

// late counts and reports a use of a stale handle. Called without mu.
func (c *reqData) late(what string) {
	if c == nil || c.owner == nil {
		return
	}
	c.owner.stats.lateUses.Add(1)
	c.reportError(fmt.Errorf("%w: %s ignored", ErrLate, what))
}

// Collector is a handle to one request's data, as Current and FromContext
// return it. The zero Collector, and one whose request has ended, is
// harmless: its setters do nothing and Timer returns a detached timer.
// A Collector may be used from any goroutine.
type Collector struct {
	c     *reqData
	epoch uint64
}

// lock returns the request's data locked when h's request is still running, nil
// (counting a late use) otherwise.
func (h Collector) lock(what string) *reqData {
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
			out = append(out, TimerRef{s, s.epoch})
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
	// The script name the end of the request would give now (the route is
	// known while the handler runs), so both packets of the request report
	// under one name. Asked with no lock held: it may call user code.
	script, haveScript := "", false
	if k := c.owner; k != nil {
		c.mu.Lock()
		req, code := c.req, 0
		if c.resp != nil {
			code = int(c.resp.code.Load())
		}
		ask := c.epoch == h.epoch && c.active && !c.scriptOK && req != nil
		c.mu.Unlock()
		if ask {
			script, haveScript = k.cfg.prefix+k.routeName(req, code), true
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
		// The snapshot reads the timers' tag copies while the packet is
		// built, when the request goes on and may reuse their slots: the
		// copies go with the snapshot.
		for _, s := range c.slots {
			s.own, s.ownPairs, s.ownSrc = nil, nil, 0
		}
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
func (c *reqData) finish() { c.finishWith("", false, 0) }

// finishWith is finish for Monitor, which gives the script name derived
// from the request (set when haveScript, unless the code set one) and the
// response's status (set when not 0, unless the code set one), all in the
// same critical section.
func (c *reqData) finishWith(script string, haveScript bool, status uint32) {
	c.encMu.Lock()
	c.builder.Store(curGoid())
	// Unlocked in a defer: whatever user code the build calls, encMu is
	// never left held.
	defer func() {
		c.snapTags = nil
		c.builder.Store(0)
		c.encMu.Unlock()
	}()
	c.mu.Lock()
	if haveScript && !c.scriptOK {
		c.scriptName = script
	}
	if status != 0 && !c.statusOK {
		c.status, c.statusOK = status, true
	}
	send := c.enabled
	now := mono()
	if send {
		c.snapshot(now, true)
	}
	c.epoch++
	c.active = false
	c.resp = nil
	c.cpuRelease(now)
	c.releaseSlots()
	c.mu.Unlock()
	if send {
		_ = c.buildAndSend()
	}
}

// errFlushWhileBuilding is returned by a Flush called while the same
// goroutine builds the request's packet (from a tag callable, a String or
// Error method): the Flush does nothing.
var errFlushWhileBuilding = errors.New("pynba: Flush called while the request's packet is being built (from a tag callable, String or Error method): ignored")

// defaultStatus is the status sent when no code was written or set, for
// every kind of request (Python's pynba sends 200 for scripts too).
const defaultStatus = http.StatusOK

// statusNow is the status to send: the code's (SetStatus), else the
// response's, else the default. Called with mu held.
func (c *reqData) statusNow() uint32 {
	if c.statusOK {
		return c.status
	}
	if c.resp != nil {
		if code := c.resp.code.Load(); code != 0 {
			return uint32(code)
		}
	}
	return defaultStatus
}

// docSizeNow is the document size to send: the code's (SetDocumentSize),
// else the bytes of body written. Called with mu held.
func (c *reqData) docSizeNow() uint32 {
	if c.docSizeOK {
		return c.docSize
	}
	if c.resp != nil {
		return clampUint32(c.resp.written.Load())
	}
	return 0
}

// snapshot copies what the packet needs, stopping running timers at now.
// final says the request ends with this packet: nobody can change its tags
// any more, so they need not be copied. Called with encMu and mu held.
func (c *reqData) snapshot(now time.Duration, final bool) {
	hd := &c.snapHdr
	hd.hostname, hd.serverName, hd.scriptName, hd.schema = c.hostname, c.serverName, c.scriptName, c.schema
	if k := c.owner; k != nil {
		hd.hostname = k.cut(hd.hostname, engineHostLen)
		hd.serverName = k.cut(hd.serverName, engineHostLen)
		hd.schema = k.cut(hd.schema, engineSchemaLen)
		name := k.cut(hd.scriptName, engineScriptLen)
		// The last name this request data had admitted is admitted still
		// (the caps never drop a name): the same route costs a string
		// comparison rather than a lookup in the process-wide set.
		if !c.admittedOK || name != c.admitted {
			g := k.guardScript(name)
			if g == name {
				c.admitted, c.admittedOK = name, true
			}
			name = g
		}
		hd.scriptName = name
	}
	hd.status, hd.docSize, hd.memPeak, hd.memFoot = c.status, c.docSize, c.memPeak, c.memFoot
	hd.status, hd.docSize = c.statusNow(), c.docSizeNow()
	if c.reqTimeOK {
		hd.reqTime = c.reqTime
	} else {
		hd.reqTime = now - c.start
	}
	hd.ruUser, hd.ruSys = c.cpuSince(now, final)

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
			c.cpuTimerStop(s, now)
			s.running = false
		}
		if s.deleted || s.hits == 0 {
			continue
		}
		c.snap = append(c.snap, timerSnap{pairs: s.pairs, tags: s.tags, value: s.elapsed, hits: s.hits, cpuU: s.cpuU, cpuS: s.cpuS})
	}
}
