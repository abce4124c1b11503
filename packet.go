package pynba

import (
	"errors"
	"hash/maphash"
	"slices"
	"time"
	"unsafe"

	"github.com/pynba-go/pynba/pb"
)

// buildAndSend builds the packet from the snapshot and hands it to the
// reporter. Called with encMu held and mu not held, so tag callables may
// use the proxy.
func (c *reqData) buildAndSend() error {
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

// trim re-encodes the packet with fewer timers until it fits in limit.
func (c *reqData) trim(pkt []byte, limit int) ([]byte, error) {
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
// request data so that a request allocates nothing once it has grown.
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
	k          *core // whose limits apply (guard.go); nil in some tests
	// admitted remembers tag pairs of user strings the caps admitted
	// (guardPlain); it keeps those strings alive. Its size, a power of
	// two (admittedBits), follows the number of pairs of the packets built
	// (sizeAdmitted), so that a request's every pair fits.
	admitted     []tagPair
	admittedBits uint
}

// The bounds of the admitted cache's size, in bits: 256 to 4,096 pairs.
const (
	minAdmittedBits = 8
	maxAdmittedBits = 12
)

// sizeAdmitted grows the admitted cache to about twice pairs entries (a
// new, empty cache), within its bounds.
func (e *encoder) sizeAdmitted(pairs int) {
	bits := uint(minAdmittedBits)
	for bits < maxAdmittedBits && 1<<bits < 2*pairs {
		bits++
	}
	if e.admitted == nil || bits > e.admittedBits {
		e.admitted, e.admittedBits = make([]tagPair, 1<<bits), bits
	}
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
	cpuU, cpuS       uint64 // CPU share, ns (cpu.go)
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

// guardPlain is guard for pairs whose strings are the user's own (not in
// the flattening arena): a pair admitted before is remembered by its
// strings' addresses, which the cache keeps alive, so the same strings skip
// the process-wide sets on later packets.
func (e *encoder) guardPlain(ps []tagPair) {
	if e.k == nil {
		return
	}
	for i := range ps {
		p := &ps[i]
		np, vp := unsafe.StringData(p.name), unsafe.StringData(p.value)
		slot := &e.admitted[ptrHash(uintptr(unsafe.Pointer(np))^uintptr(unsafe.Pointer(vp))<<1^uintptr(len(p.value)), e.admittedBits)]
		if unsafe.StringData(slot.name) == np && len(slot.name) == len(p.name) &&
			unsafe.StringData(slot.value) == vp && len(slot.value) == len(p.value) {
			continue
		}
		v := e.k.guardTagValue(p.name, p.value)
		if v == p.value {
			*slot = tagPair{p.name, p.value}
		}
		p.value = v
	}
}

// guard replaces the values past their tag name's cap (WithMaxTagValues).
func (e *encoder) guard(ps []tagPair) {
	if e.k == nil {
		return
	}
	for i := range ps {
		ps[i].value = e.k.guardTagValue(ps[i].name, ps[i].value)
	}
}

// big reports whether the encoder grew beyond what a pooled request's data
// keeps (see shrink).
func (e *encoder) big() bool {
	r := &e.rec
	return cap(e.buf) > keepBufBytes || cap(e.flat.arena) > keepBufBytes ||
		cap(e.flat.pairs) > keepTimerRows || cap(e.pairs) > keepTimerRows ||
		cap(e.out) > keepTimerRows || len(e.table) > 4*keepTimerRows ||
		len(e.dict.slots) > 4*keepTimerRows || cap(r.Dictionary) > keepTimerRows ||
		cap(r.TimerTagName) > 4*keepTimerRows || cap(r.TimerHitCount) > keepTimerRows
}

// build flattens the snapshot's tags, merges identical timers and encodes
// them all. Called with encMu held.
func (c *reqData) build() ([]byte, error) {
	if c.enc == nil {
		c.enc = new(encoder)
	}
	e := c.enc
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
	e.k = c.owner
	if e.k != nil {
		pairs := len(c.snapTags)
		for i := range c.snap {
			pairs += len(c.snap[i].pairs) + len(c.snap[i].tags)
		}
		e.sizeAdmitted(pairs)
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
	if c.timerCPU() {
		for _, o := range e.out {
			r.TimerRUUtime = append(r.TimerRUUtime, float32(nsSeconds(o.cpuU)))
			r.TimerRUStime = append(r.TimerRUStime, float32(nsSeconds(o.cpuS)))
		}
	}
	pkt, err := c.encode(len(e.out))
	if cap(c.snap) > keepTimerRows || len(c.merged) > keepTagsMap || e.big() {
		c.grown.Store(true)
	}
	return pkt, err
}

var errNoTags = errors.New("pynba: a timer with no tags is not sent (pinba_engine skips such timers)")

func (c *reqData) tagError(err error) {
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
	ps, plain = appendPlain(e.pairs[:0], tags)
	if plain {
		sortPairs(ps)
		e.guardPlain(ps)
		e.pairs = ps
		return ps, true
	}
	ps = ps[:0]
	start, end := e.flat.add(tags, e.onErr)
	for i := start; i < end; i++ {
		ps = append(ps, tagPair{arenaString(e.flat.name(i)), arenaString(e.flat.value(i))})
	}
	e.guard(ps)
	e.pairs = ps
	return ps, false
}

// arenaString returns b as a string sharing its memory: the flatBuf arena
// is not written over until the next build's reset.
func arenaString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// word returns the dictionary index of s, adding it when new.
func (e *encoder) word(s string) uint32 {
	if len(s) > engineWordLen && e.k != nil {
		s = e.k.cut(s, engineWordLen)
	}
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
	var mp unsafe.Pointer
	if t.pairs != nil {
		mp = unsafe.Pointer(unsafe.SliceData(t.pairs))
	} else {
		mp = *(*unsafe.Pointer)(unsafe.Pointer(&t.tags))
	}
	var m *memoEntry
	if mp != nil {
		m = &e.memo[ptrHash(uintptr(mp), memoBits)]
		if m.p == mp && m.gen == e.gen {
			o := &e.out[m.out]
			o.value = addDur(o.value, t.value)
			o.hits += uint64(t.hits)
			o.cpuU, o.cpuS = o.cpuU+t.cpuU, o.cpuS+t.cpuS
			return
		}
	}
	var ps []tagPair
	plain := true
	if t.pairs != nil {
		// Sorted, distinct, plain already: only the caps to apply.
		ps = append(e.pairs[:0], t.pairs...)
		e.guardPlain(ps)
		e.pairs = ps
	} else {
		ps, plain = e.flatten(t.tags)
	}
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
	o.cpuU, o.cpuS = o.cpuU+t.cpuU, o.cpuS+t.cpuS
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
// timers into the request's data's buffer. The first n timers' arrays and the
// dictionary they need are prefixes of the whole ones.
func (c *reqData) encode(n int) ([]byte, error) {
	e := c.enc
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
		if len(cut.TimerRUUtime) > 0 {
			cut.TimerRUUtime = cut.TimerRUUtime[:n]
			cut.TimerRUStime = cut.TimerRUStime[:n]
		}
		cut.TimerTagName = cut.TimerTagName[:tagEnd]
		cut.TimerTagValue = cut.TimerTagValue[:tagEnd]
		cut.Dictionary = cut.Dictionary[:dictEnd]
		r = &cut
	}
	var err error
	e.buf, err = r.Append(e.buf[:0])
	return e.buf, err
}
