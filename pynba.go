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
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/felixge/httpsnoop"

	"github.com/pynba-go/pynba/pb"
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

	seq   uint64       // last timer sequence number given
	slots []*timerSlot // timers of this request, in creation order
	spare []*timerSlot // slots kept from earlier requests for reuse

	// Response figures, written by the response writer hooks.
	written atomic.Uint64
	code    atomic.Int64
	hooks   *httpsnoop.Hooks

	// encMu guards the encoding scratch below; taken before mu.
	encMu       sync.Mutex
	snap        []timerSnap
	merged      Tags
	flat        flatBuf
	out         []outTimer
	byHash      map[uint64]int32
	dict        map[string]uint32
	rec         pb.Record
	buf         []byte
	snapHdr     header
	reqTagRange [2]int
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

type outTimer struct {
	start, end int // pairs in flat
	value      time.Duration
	hits       uint64
	next       int32 // next out timer with the same hash, -1 at the end
}

func newCollector(owner *core) *collector {
	return &collector{owner: owner}
}

// begin readies a pooled collector for a new request. Called with no lock:
// the collector is not reachable by anyone else yet.
func (c *collector) begin() {
	c.mu.Lock()
	c.epoch++
	c.active = true
	c.enabled = true
	c.reqTimeOK, c.scriptOK, c.statusOK, c.docSizeOK = false, false, false, false
	c.reqTime = 0
	c.hostname, c.serverName, c.scriptName, c.schema = "", "", "", ""
	c.status, c.docSize, c.memPeak, c.memFoot = 0, 0, 0, 0
	clear(c.tags)
	c.written.Store(0)
	c.code.Store(0)
	c.start = mono()
	c.ruUser, c.ruSys = cpuTimes()
	c.mu.Unlock()
}

// end marks the request over: every handle to it becomes stale.
func (c *collector) end() {
	c.mu.Lock()
	c.epoch++
	c.active = false
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
	c.encMu.Lock()
	defer c.encMu.Unlock()
	c.mu.Lock()
	if c.epoch != h.epoch || !c.active {
		c.mu.Unlock()
		c.late("Flush")
		return nil
	}
	send := c.enabled
	c.snapshot(mono())
	c.releaseSlots()
	c.mu.Unlock()
	if !send {
		return nil
	}
	return c.buildAndSend()
}

// finish sends the request's final packet and ends the request. It is
// called by the request's owner (Monitor, ScriptMonitor).
func (c *collector) finish() {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	c.mu.Lock()
	send := c.enabled
	if send {
		c.snapshot(mono())
	}
	c.epoch++
	c.active = false
	c.releaseSlots()
	c.mu.Unlock()
	if send {
		_ = c.buildAndSend()
	}
}

// snapshot copies what the packet needs, stopping running timers at now.
// Called with encMu and mu held.
func (c *collector) snapshot(now time.Duration) {
	hd := &c.snapHdr
	hd.hostname, hd.serverName, hd.scriptName, hd.schema = c.hostname, c.serverName, c.scriptName, c.schema
	hd.status, hd.docSize, hd.memPeak, hd.memFoot = c.status, c.docSize, c.memPeak, c.memFoot
	if !c.statusOK {
		hd.status = uint32(c.code.Load())
		if hd.status == 0 {
			hd.status = c.defaultStatus
		}
	}
	if !c.docSizeOK {
		hd.docSize = clampUint32(c.written.Load())
	}
	if c.reqTimeOK {
		hd.reqTime = c.reqTime
	} else {
		hd.reqTime = now - c.start
	}
	u, s := cpuTimes()
	hd.ruUser, hd.ruSys = max(u-c.ruUser, 0), max(s-c.ruSys, 0)

	if c.merged == nil {
		c.merged = make(Tags)
	}
	clear(c.merged)
	if c.owner != nil {
		for k, v := range c.owner.cfg.tags {
			c.merged[k] = v
		}
	}
	for k, v := range c.tags {
		c.merged[k] = v
	}

	c.snap = c.snap[:0]
	for _, s := range c.slots {
		if s.running {
			s.elapsed += now - s.startedAt
			s.running = false
		}
		if s.deleted || s.hits == 0 {
			continue
		}
		c.snap = append(c.snap, timerSnap{tags: s.tags, value: s.elapsed, hits: s.hits})
	}
}

// buildAndSend builds the packet from the snapshot and hands it to the
// reporter. Called with encMu held and mu not held, so tag callables may
// use the proxy.
func (c *collector) buildAndSend() error {
	core := c.owner
	if core == nil {
		return nil
	}
	pkt, err := c.build(len(c.snap))
	if err != nil {
		core.stats.encodeErrors.Add(1)
		core.cfg.reportError(err)
		return err
	}
	if limit := core.cfg.maxPacketSize; len(pkt) > limit {
		pkt, err = c.trim(pkt, limit)
		if err != nil {
			core.stats.tooLarge.Add(1)
			core.cfg.reportError(err)
			return err
		}
	}
	core.stats.packets.Add(1)
	core.reporter.Send(pkt)
	return nil
}

// PacketTooLargeError says a request's packet was over the size limit, and
// what was done: timers trimmed from the end to fit, or the packet dropped.
type PacketTooLargeError struct {
	Size      int  // bytes of the whole packet, after merging identical timers
	Limit     int  // the limit (WithMaxPacketSize)
	Timers    int  // timers in the whole packet
	Kept      int  // timers kept in the packet sent
	Dropped   bool // nothing was sent: even with no timers it was too large
	SentBytes int  // bytes of the packet sent (0 when Dropped)
}

func (e *PacketTooLargeError) Error() string {
	if e.Dropped {
		return fmt.Sprintf("pynba: packet of %d bytes is over the %d-byte limit even with no timers: dropped", e.Size, e.Limit)
	}
	return fmt.Sprintf("pynba: packet of %d bytes (%d timers) is over the %d-byte limit: sent the first %d timers in %d bytes",
		e.Size, e.Timers, e.Limit, e.Kept, e.SentBytes)
}

// trim re-encodes the packet with fewer timers until it fits in limit.
func (c *collector) trim(pkt []byte, limit int) ([]byte, error) {
	e := &PacketTooLargeError{Size: len(pkt), Limit: limit, Timers: len(c.out)}
	total := len(c.out)
	lo, hi := 0, total // the packet with lo timers fits (checked below), hi does not
	fits := func(n int) ([]byte, bool) {
		c.buf = c.buf[:0]
		p, err := c.encode(n)
		return p, err == nil && len(p) <= limit
	}
	if _, ok := fits(0); !ok {
		e.Dropped = true
		return nil, e
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, ok := fits(mid); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	p, _ := fits(lo)
	e.Kept, e.SentBytes = lo, len(p)
	c.owner.stats.tooLarge.Add(1)
	c.owner.cfg.reportError(e)
	return p, nil
}

// build flattens the snapshot's tags, merges identical timers and encodes.
func (c *collector) build(n int) ([]byte, error) {
	clear(c.dict) // its keys point into flat's arena: clear before reusing it
	c.flat.reset()
	onErr := c.tagError
	rs, re := c.flat.add(c.merged, onErr)
	if c.byHash == nil {
		c.byHash = make(map[uint64]int32)
	}
	clear(c.byHash)
	c.out = c.out[:0]
	for _, t := range c.snap[:n] {
		s, e := c.flat.add(t.tags, onErr)
		if s == e {
			c.tagError(errNoTags)
			continue
		}
		h := c.flat.hashSet(s, e)
		merged := false
		last := int32(-1)
		if i, ok := c.byHash[h]; ok {
			for j := i; j >= 0; j = c.out[j].next {
				o := &c.out[j]
				if c.flat.sameSet(o.start, o.end, s, e) {
					o.value += t.value
					o.hits += uint64(t.hits)
					merged = true
					break
				}
				last = j
			}
		}
		if merged {
			continue
		}
		c.out = append(c.out, outTimer{start: s, end: e, value: t.value, hits: uint64(t.hits), next: -1})
		if last >= 0 {
			c.out[last].next = int32(len(c.out) - 1)
		} else {
			c.byHash[h] = int32(len(c.out) - 1)
		}
	}
	c.reqTagRange = [2]int{rs, re}
	c.buf = c.buf[:0]
	return c.encode(len(c.out))
}

var errNoTags = errors.New("pynba: a timer with no tags is not sent (pinba_engine skips such timers)")

func (c *collector) tagError(err error) {
	if c.owner != nil {
		c.owner.stats.tagErrors.Add(1)
		c.owner.cfg.reportError(err)
	}
}

// word returns the dictionary index of b, adding it when new. The map key
// and the dictionary entry point into flat's arena, which stays unchanged
// until the next build.
func (c *collector) word(b []byte) uint32 {
	k := unsafe.String(unsafe.SliceData(b), len(b))
	if i, ok := c.dict[k]; ok {
		return i
	}
	i := uint32(len(c.rec.Dictionary))
	c.dict[k] = i
	c.rec.Dictionary = append(c.rec.Dictionary, k)
	return i
}

// encode fills the record with the header, the request tags and the first n
// merged timers, and encodes it into c.buf.
func (c *collector) encode(n int) ([]byte, error) {
	if c.dict == nil {
		c.dict = make(map[string]uint32)
	}
	clear(c.dict)
	r := &c.rec
	r.Reset()
	hd := &c.snapHdr
	r.Hostname, r.ServerName, r.ScriptName = hd.hostname, hd.serverName, hd.scriptName
	r.RequestCount = 1
	r.DocumentSize, r.MemoryPeak = hd.docSize, hd.memPeak
	r.RequestTime = float32(hd.reqTime.Seconds())
	r.RUUtime, r.RUStime = float32(hd.ruUser), float32(hd.ruSys)
	r.Status, r.HasStatus = hd.status, true
	r.MemoryFootprint, r.HasMemoryFootprint = hd.memFoot, true
	if hd.schema != "" {
		r.Schema, r.HasSchema = hd.schema, true
	}
	// Request tags first, value before name, as the PHP extension does.
	for i := c.reqTagRange[0]; i < c.reqTagRange[1]; i++ {
		v := c.word(c.flat.value(i))
		r.TagValue = append(r.TagValue, v)
		r.TagName = append(r.TagName, c.word(c.flat.name(i)))
	}
	for _, o := range c.out[:n] {
		hits := o.hits
		if hits > 1<<32-1 {
			hits = 1<<32 - 1
		}
		r.TimerHitCount = append(r.TimerHitCount, uint32(hits))
		r.TimerValue = append(r.TimerValue, float32(o.value.Seconds()))
		r.TimerTagCount = append(r.TimerTagCount, uint32(o.end-o.start))
		for i := o.start; i < o.end; i++ {
			r.TimerTagName = append(r.TimerTagName, c.word(c.flat.name(i)))
			r.TimerTagValue = append(r.TimerTagValue, c.word(c.flat.value(i)))
		}
	}
	var err error
	c.buf, err = r.Append(c.buf[:0])
	return c.buf, err
}

type ctxKey struct{}

// reqCtx is the request's context: the parent with the request's collector
// as a value. One allocation holds both the value and the epoch.
type reqCtx struct {
	context.Context
	h Collector
}

func (x *reqCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return x
	}
	return x.Context.Value(key)
}

// NewContext returns a copy of ctx that carries the request h refers to,
// for FromContext.
func NewContext(ctx context.Context, h Collector) context.Context {
	return &reqCtx{ctx, h}
}

// FromContext returns the request that ctx carries (Monitor puts it in the
// request's context), or the zero Collector.
func FromContext(ctx context.Context) Collector {
	if ctx == nil {
		return Collector{}
	}
	if x, ok := ctx.Value(ctxKey{}).(*reqCtx); ok {
		return x.h
	}
	return Collector{}
}
