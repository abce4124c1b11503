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
	"hash/maphash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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

// buildAndSend builds the packet from the snapshot and hands it to the
// reporter. Called with encMu held and mu not held, so tag callables may
// use the proxy.
func (c *collector) buildAndSend() error {
	core := c.owner
	if core == nil {
		return nil
	}
	pkt, err := c.build()
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

// Unwrap returns ErrTooLarge, so errors.Is(err, ErrTooLarge) holds for a
// packet trimmed or dropped here as for one the Reporter refuses.
func (e *PacketTooLargeError) Unwrap() error { return ErrTooLarge }

func (e *PacketTooLargeError) Error() string {
	if e.Dropped {
		return fmt.Sprintf("pynba: packet of %d bytes is over the %d-byte limit even with no timers: dropped", e.Size, e.Limit)
	}
	return fmt.Sprintf("pynba: packet of %d bytes (%d timers) is over the %d-byte limit: sent the first %d timers in %d bytes",
		e.Size, e.Timers, e.Limit, e.Kept, e.SentBytes)
}

// trim re-encodes the packet with fewer timers until it fits in limit.
func (c *collector) trim(pkt []byte, limit int) ([]byte, error) {
	total := len(c.enc.out)
	e := &PacketTooLargeError{Size: len(pkt), Limit: limit, Timers: total}
	lo, hi := 0, total // the packet with lo timers fits (checked below), hi does not
	fits := func(n int) ([]byte, bool) {
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

// encoder is the state that turns a snapshot into a packet, kept with the
// collector so that a request allocates nothing once it has grown.
//
// The work per timer is: flatten its tags into sorted (name, value) pairs;
// give each word its dictionary index; look the set of indexes up in a hash
// table of the timers already seen, to merge identical timers; append.
// Words get their indexes in first-seen order, request tags first, as the
// PHP extension does, so the dictionary needed by the first n timers is a
// prefix of the whole one, and trimming a packet to n timers only cuts the
// arrays (see encode).
type encoder struct {
	flat  flatBuf   // pairs of tags that are not plain strings
	pairs []tagPair // the pairs of the tags being flattened
	out   []outTimer
	table []int32 // open addressing: index+1 into out, 0 empty
	dict  dictTable
	// gen numbers the builds: word and memo entries of an earlier build
	// are stale (the flatBuf arena their strings may point into is reused).
	gen        uint32
	words      [wordCacheSize]wordEntry
	memo       [memoSize]memoEntry
	rec        pb.Record
	buf        []byte
	reqDictEnd int // dictionary length after the request tags
	onErr      func(error)
}

// tagPair is one flattened tag. Its strings are the user's own for tags
// whose values are plain strings, else they point into the flatBuf arena.
type tagPair struct{ name, value string }

// outTimer is one timer of the packet: the first of the timers of its tag
// set, with the hits and values of the others added.
type outTimer struct {
	tagStart, tagEnd int32  // its entries in rec.TimerTagName and TimerTagValue
	dictEnd          int32  // dictionary length once its words are in
	hash             uint64 // of its (name, value) index pairs
	value            time.Duration
	hits             uint64
}

// A wordEntry caches, for one build, the dictionary index of the string at
// p of length n: strings are immutable, so the same memory holds the same
// word, and a word met again in the build (a tag name, a common value)
// costs a pointer comparison instead of a hash table lookup. Equal words
// at different addresses are found equal by the dictTable.
type wordEntry struct {
	p   *byte
	n   int
	idx uint32
	gen uint32
}

// A memoEntry remembers that the Tags map at p, whose values were all
// plain strings, made out timer out in this build: a loop of timers made
// with the same map flattens it once.
type memoEntry struct {
	p   unsafe.Pointer
	out int32
	gen uint32
}

const (
	wordCacheBits = 9
	wordCacheSize = 1 << wordCacheBits
	memoBits      = 6
	memoSize      = 1 << memoBits
)

func ptrHash(p uintptr, bits uint) uint64 {
	return (uint64(p) * 0x9E3779B97F4A7C15) >> (64 - bits)
}

// build flattens the snapshot's tags, merges identical timers and encodes
// them all. Called with encMu held.
func (c *collector) build() ([]byte, error) {
	e := &c.enc
	e.gen++
	if e.gen == 0 { // wrapped: forget every entry rather than trust one
		clear(e.words[:])
		clear(e.memo[:])
		e.gen = 1
	}
	e.dict.reset(e.gen)
	e.flat.reset()
	if e.onErr == nil {
		e.onErr = c.tagError
	}
	r := &e.rec
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
	ps, _ := e.flatten(c.snapTags)
	for _, p := range ps {
		v := e.word(p.value)
		r.TagValue = append(r.TagValue, v)
		r.TagName = append(r.TagName, e.word(p.name))
	}
	e.reqDictEnd = len(r.Dictionary)

	e.out = e.out[:0]
	size := 16
	for size < 2*len(c.snap) && size < 1024 {
		size *= 2
	}
	e.resetTable(size)
	for i := range c.snap {
		e.addTimer(&c.snap[i])
	}
	for _, o := range e.out {
		r.TimerHitCount = append(r.TimerHitCount, uint32(min(o.hits, 1<<32-1)))
		r.TimerValue = append(r.TimerValue, float32(o.value.Seconds()))
	}
	return c.encode(len(e.out))
}

var errNoTags = errors.New("pynba: a timer with no tags is not sent (pinba_engine skips such timers)")

func (c *collector) tagError(err error) {
	if c.owner != nil {
		c.owner.stats.tagErrors.Add(1)
		c.owner.cfg.reportError(err)
	}
}

// flatten returns the sorted, deduplicated pairs of tags (see Flatten), in
// e.pairs, and whether they were all plain strings. A map whose values are
// all strings, by far the most common, is read directly: its keys are its
// names, distinct, so sorting them is all there is to do. Any other goes
// through the flatBuf, which knows every rule.
func (e *encoder) flatten(tags Tags) (ps []tagPair, plain bool) {
	ps = e.pairs[:0]
	plain = true
	for k, v := range tags {
		s, ok := v.(string)
		if !ok || k == "" {
			plain = false
			break
		}
		ps = append(ps, tagPair{k, s})
	}
	if plain {
		if len(ps) <= 12 {
			for i := 1; i < len(ps); i++ {
				for j := i; j > 0 && ps[j].name < ps[j-1].name; j-- {
					ps[j], ps[j-1] = ps[j-1], ps[j]
				}
			}
		} else {
			slices.SortFunc(ps, func(a, b tagPair) int { return strings.Compare(a.name, b.name) })
		}
		e.pairs = ps
		return ps, true
	}
	ps = ps[:0]
	start, end := e.flat.add(tags, e.onErr)
	for i := start; i < end; i++ {
		ps = append(ps, tagPair{arenaString(e.flat.name(i)), arenaString(e.flat.value(i))})
	}
	e.pairs = ps
	return ps, false
}

// arenaString returns b as a string sharing its memory: the flatBuf arena
// is not written over until the next build's reset.
func arenaString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// word returns the dictionary index of s, adding it when new.
func (e *encoder) word(s string) uint32 {
	p := unsafe.StringData(s)
	w := &e.words[ptrHash(uintptr(unsafe.Pointer(p))^uintptr(len(s))<<1, wordCacheBits)]
	if w.p == p && w.n == len(s) && w.gen == e.gen {
		return w.idx
	}
	i := e.dict.index(s, &e.rec.Dictionary)
	*w = wordEntry{p: p, n: len(s), idx: i, gen: e.gen}
	return i
}

// dictTable finds the index of a word in the dictionary being built: an
// open-addressing table of indexes into it, keyed by the word's hash. A
// slot is empty unless it holds the current build's generation, so a build
// starts without clearing the table.
type dictTable struct {
	slots []dictSlot
	n     int // words in the table
	gen   uint32
}

type dictSlot struct {
	hash uint32
	idx  uint32
	gen  uint32
}

var dictSeed = maphash.MakeSeed()

func (t *dictTable) reset(gen uint32) {
	t.n, t.gen = 0, gen
	if len(t.slots) == 0 {
		t.slots = make([]dictSlot, 64)
	}
	if gen == 1 { // the generation wrapped: old slots might look current
		clear(t.slots)
	}
}

// index returns the index of s in *dict, appending it when it is new.
func (t *dictTable) index(s string, dict *[]string) uint32 {
	h := maphash.String(dictSeed, s)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.gen != t.gen {
			idx := uint32(len(*dict))
			*dict = append(*dict, s)
			*sl = dictSlot{hash: uint32(h), idx: idx, gen: t.gen}
			if t.n++; 2*t.n > len(t.slots) {
				t.grow(*dict)
			}
			return idx
		}
		if sl.hash == uint32(h) && (*dict)[sl.idx] == s {
			return sl.idx
		}
	}
}

// grow doubles the table and puts the words of dict back in it.
func (t *dictTable) grow(dict []string) {
	t.slots = make([]dictSlot, 2*len(t.slots))
	mask := uint64(len(t.slots) - 1)
	for idx, s := range dict {
		h := maphash.String(dictSeed, s)
		for i := h & mask; ; i = (i + 1) & mask {
			if sl := &t.slots[i]; sl.gen != t.gen {
				*sl = dictSlot{hash: uint32(h), idx: uint32(idx), gen: t.gen}
				break
			}
		}
	}
}

// addTimer adds a snapshot timer to the packet: to the out timer of the same
// tag set when there is one, else as a new out timer.
func (e *encoder) addTimer(t *timerSnap) {
	mp := *(*unsafe.Pointer)(unsafe.Pointer(&t.tags))
	var m *memoEntry
	if mp != nil {
		m = &e.memo[ptrHash(uintptr(mp), memoBits)]
		if m.p == mp && m.gen == e.gen {
			o := &e.out[m.out]
			o.value = addDur(o.value, t.value)
			o.hits += uint64(t.hits)
			return
		}
	}
	ps, plain := e.flatten(t.tags)
	if len(ps) == 0 {
		e.onErr(errNoTags)
		return
	}
	r := &e.rec
	start := len(r.TimerTagName)
	h := uint64(0xcbf29ce484222325)
	for _, p := range ps {
		n, v := e.word(p.name), e.word(p.value)
		r.TimerTagName = append(r.TimerTagName, n)
		r.TimerTagValue = append(r.TimerTagValue, v)
		h = (h ^ (uint64(n)<<32 | uint64(v))) * 0x100000001b3
		h ^= h >> 29
	}
	j := e.findOrAdd(h, start)
	o := &e.out[j]
	o.value = addDur(o.value, t.value)
	o.hits += uint64(t.hits)
	if plain && m != nil {
		*m = memoEntry{p: mp, out: int32(j), gen: e.gen}
	}
}

// findOrAdd returns the out timer whose tag indexes equal those from start
// to the end of rec's arrays, which it then cuts off; or, when there is
// none, a new out timer holding them.
func (e *encoder) findOrAdd(h uint64, start int) int {
	r := &e.rec
	end := len(r.TimerTagName)
	mask := uint64(len(e.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		x := e.table[i]
		if x == 0 {
			e.out = append(e.out, outTimer{tagStart: int32(start), tagEnd: int32(end), dictEnd: int32(len(r.Dictionary)), hash: h})
			r.TimerTagCount = append(r.TimerTagCount, uint32(end-start))
			e.table[i] = int32(len(e.out))
			if 2*len(e.out) > len(e.table) {
				e.resetTable(2 * len(e.table))
				for j := range e.out {
					e.insert(e.out[j].hash, int32(j+1))
				}
			}
			return len(e.out) - 1
		}
		o := &e.out[x-1]
		if o.hash == h && int(o.tagEnd-o.tagStart) == end-start &&
			slices.Equal(r.TimerTagName[o.tagStart:o.tagEnd], r.TimerTagName[start:end]) &&
			slices.Equal(r.TimerTagValue[o.tagStart:o.tagEnd], r.TimerTagValue[start:end]) {
			r.TimerTagName = r.TimerTagName[:start]
			r.TimerTagValue = r.TimerTagValue[:start]
			return int(x - 1)
		}
	}
}

func (e *encoder) resetTable(size int) {
	if cap(e.table) < size {
		e.table = make([]int32, size)
	} else {
		e.table = e.table[:size]
		clear(e.table)
	}
}

func (e *encoder) insert(h uint64, x int32) {
	mask := uint64(len(e.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if e.table[i] == 0 {
			e.table[i] = x
			return
		}
	}
}

// encode encodes the record with the request tags and the first n out
// timers into the collector's buffer. The first n timers' arrays and the
// dictionary they need are prefixes of the whole ones.
func (c *collector) encode(n int) ([]byte, error) {
	e := &c.enc
	r := &e.rec
	if n < len(e.out) {
		cut := *r
		tagEnd, dictEnd := 0, e.reqDictEnd
		if n > 0 {
			tagEnd, dictEnd = int(e.out[n-1].tagEnd), int(e.out[n-1].dictEnd)
		}
		cut.TimerHitCount = cut.TimerHitCount[:n]
		cut.TimerValue = cut.TimerValue[:n]
		cut.TimerTagCount = cut.TimerTagCount[:n]
		cut.TimerTagName = cut.TimerTagName[:tagEnd]
		cut.TimerTagValue = cut.TimerTagValue[:tagEnd]
		cut.Dictionary = cut.Dictionary[:dictEnd]
		r = &cut
	}
	var err error
	e.buf, err = r.Append(e.buf[:0])
	return e.buf, err
}

type ctxKey struct{}

// reqCtx is the request's context: the parent with the request's collector
// as a value.
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
