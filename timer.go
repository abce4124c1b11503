package pynba

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// timerSlot is the storage of one timer. Slots belong to one request's
// data for its whole life and are reused across its requests; epoch tells
// which timer a slot holds now (0: none).
type timerSlot struct {
	c     *reqData
	epoch uint64
	// The timer's tags, copied: pairs when every value is a string and no
	// name is empty (the common case, which needs no flattening: pairs
	// are sorted by name, and are the slot's ownPairs or the previous
	// timer's when equal to them); else tags, a copy in the slot's own map
	// (or the previous timer's copy of the same unchanged map).
	pairs     []tagPair
	tags      Tags
	elapsed   time.Duration
	startedAt time.Duration
	hits      uint32
	running   bool
	// The timer's CPU share (cpu.go), ns: summed over its stopped
	// cycles, and the integral when the running one started.
	cpuU, cpuS, cpuU0, cpuS0 uint64
	deleted                  bool
	data                     any
	// ownPairs and own are the slot's storage for copies of the tags
	// given to Timer, kept across requests so that copying allocates
	// nothing in steady state.
	ownPairs []tagPair
	ownSrc   uintptr // the address of the map ownPairs was copied from
	own      Tags
}

// tagsMap returns the timer's tags as a map: its copy, or a new map of its
// pairs.
func (s *timerSlot) tagsMap() Tags {
	if s.pairs == nil {
		return s.tags
	}
	m := make(Tags, len(s.pairs))
	for _, p := range s.pairs {
		m[p.name] = p.value
	}
	return m
}

// TimerRef is a timer of a request (pynba's Timer), as Timer returns it. It
// is a small handle: copies refer to the same timer. Its methods are safe
// for concurrent use. Once the timer's request has ended (or Flush has sent
// it), the handle is stale: its methods do nothing, and the use is counted
// in Stats.LateUses and reported to the error handler.
//
// A timer's elapsed time adds up over its Start/Stop cycles, and each Start
// counts one hit. A timer still running when the request ends is stopped
// and sent; one never started, or deleted, is not sent. Timers with the
// same tags (after flattening) are sent as one, their hits and times summed,
// as the PHP extension does.
//
// Timer copies the Tags map's entries when it is called, as pynba copies
// its keyword arguments: changing the map afterwards does not change the
// timer (the values themselves are not copied: a slice or map held in a
// value is read, and a callable called, when the packet is built). The copy
// lives in storage the request reuses, so it allocates nothing in steady
// state, and a timer given the same unchanged map as the one before shares
// that one's copy.
type TimerRef struct {
	s     *timerSlot
	epoch uint64
}

// newTimer registers a new timer in c. Called with c.mu held.
func (c *reqData) newTimer(tags Tags) TimerRef {
	var s *timerSlot
	if n := len(c.spare); n > 0 {
		s = c.spare[n-1]
		c.spare = c.spare[:n-1]
	} else {
		s = &timerSlot{c: c}
	}
	c.lastEpoch++
	// Every field but c, which a stale TimerRef reads before it takes the
	// lock: a slot belongs to its request data for good.
	s.epoch, s.data = c.lastEpoch, nil
	s.pairs, s.tags = c.copyTags(s, tags)
	s.elapsed, s.startedAt, s.hits, s.running, s.deleted = 0, 0, 0, false, false
	s.cpuU, s.cpuS = 0, 0
	c.slots = append(c.slots, s)
	if len(c.slots) > keepSlots || len(tags) > keepTagsMap {
		c.grown.Store(true)
	}
	return TimerRef{s, c.lastEpoch}
}

// copyTags returns the tags the timer in slot s keeps (see timerSlot):
// sorted pairs of tags, when its values are all strings, else a copy of the
// map. Equal pairs to the previous timer's, or the same map with the same
// entries, share the previous timer's copy, so that identical timers carry
// one, which the encoder flattens once. Called with c.mu held.
func (c *reqData) copyTags(s *timerSlot, tags Tags) ([]tagPair, Tags) {
	if len(tags) == 0 {
		return nil, nil
	}
	// The same map as the previous timer's, or as this slot's last timer's
	// (the handler that ran in it before makes its timers in the same
	// order), is compared entry by entry rather than read again: reading
	// a map costs more than looking its few keys up.
	src := mapAddr(tags)
	if c.lastPairs != nil && c.lastPairSrc == src && equalPairs(tags, c.lastPairs) {
		return c.lastPairs, nil
	}
	var ps []tagPair
	if s.ownSrc == src && len(s.ownPairs) > 0 && equalPairs(tags, s.ownPairs) {
		ps = s.ownPairs
	} else {
		var plain bool
		ps, plain = appendPlain(s.ownPairs[:0], tags)
		if !plain {
			s.ownPairs, s.ownSrc = ps[:0], 0
			return nil, c.copyMap(s, tags)
		}
		sortPairs(ps)
		s.ownPairs, s.ownSrc = ps, src
	}
	c.lastPairSrc = src
	if slices.Equal(ps, c.lastPairs) {
		return c.lastPairs, nil
	}
	c.lastPairs = ps
	return ps, nil
}

// copyMap returns the copy kept of tags, whose values are not all strings:
// the previous timer's when tags is the same map with the same entries,
// else a copy in the slot's own map. Called with c.mu held.
func (c *reqData) copyMap(s *timerSlot, tags Tags) Tags {
	if c.lastCopy != nil && sameMap(tags, c.lastSrc) && sameEntries(tags, c.lastCopy) {
		return c.lastCopy
	}
	own := s.own
	if own == nil {
		own = make(Tags, len(tags))
		s.own = own
	} else {
		clear(own)
	}
	for k, v := range tags {
		own[k] = v
	}
	c.lastSrc, c.lastCopy = tags, own
	return own
}

// mapAddr returns the address of m's map, as a number: it does not keep
// the map alive, and a map later made at the same address is told apart by
// its entries (equalPairs).
func mapAddr(m Tags) uintptr { return uintptr(*(*unsafe.Pointer)(unsafe.Pointer(&m))) }

// equalPairs reports whether tags holds exactly the entries of ps (sorted
// pairs of distinct, non-empty names, as copyTags makes them).
func equalPairs(tags Tags, ps []tagPair) bool {
	if len(tags) != len(ps) {
		return false
	}
	for _, p := range ps {
		v, ok := tags[p.name]
		if !ok {
			return false
		}
		if str, ok := v.(string); !ok || str != p.value {
			return false
		}
	}
	return true
}

// appendPlain appends tags to ps as pairs, unsorted, and reports whether
// they are plain: every value a string, no name empty. When they are not,
// ps holds some of them.
func appendPlain(ps []tagPair, tags Tags) ([]tagPair, bool) {
	for k, v := range tags {
		s, ok := v.(string)
		if !ok || k == "" {
			return ps, false
		}
		ps = append(ps, tagPair{k, s})
	}
	return ps, true
}

// sortPairs sorts pairs of distinct names by name.
func sortPairs(ps []tagPair) {
	if len(ps) > 12 {
		slices.SortFunc(ps, func(a, b tagPair) int { return strings.Compare(a.name, b.name) })
		return
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].name < ps[j-1].name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// sameMap reports whether a and b are the same map.
func sameMap(a, b Tags) bool {
	return len(a) == len(b) && *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// sameEntries reports whether a and b hold the same entries, comparing only
// values of scalar types (any other value makes them differ: comparing it
// could panic or miss a change inside it).
func sameEntries(a, b Tags) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !sameScalar(va, vb) {
			return false
		}
	}
	return true
}

func sameScalar(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int:
		y, ok := b.(int)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case uint64:
		y, ok := b.(uint64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	}
	return false
}

// detachedTimer returns a timer that belongs to no request: it measures,
// but what it measures is sent nowhere. Its request data, slot and slot list
// come in one allocation, and its tags are kept, not copied, since they are
// never sent.
func detachedTimer(tags Tags) TimerRef {
	d := &struct {
		c   reqData
		s   timerSlot
		one [1]*timerSlot
	}{}
	d.c.detached, d.c.active, d.c.lastEpoch = true, true, 1
	d.s.c, d.s.epoch, d.s.tags = &d.c, 1, tags
	d.one[0] = &d.s
	d.c.slots = d.one[:]
	return TimerRef{&d.s, 1}
}

// Timer registers a new timer with the request, not started (pynba's
// timer(**tags)). Outside a running request it returns a detached timer.
func (h Collector) Timer(tags Tags) TimerRef {
	c := h.lock("Timer")
	if c == nil {
		return detachedTimer(tags)
	}
	t := c.newTimer(tags)
	c.mu.Unlock()
	return t
}

// AddTimer registers a stopped timer of one hit whose value is d, as PHP's
// pinba_timer_add does.
func (h Collector) AddTimer(tags Tags, d time.Duration) TimerRef {
	c := h.lock("AddTimer")
	if c == nil {
		t := detachedTimer(tags)
		t.s.elapsed, t.s.hits = max(d, 0), 1
		return t
	}
	t := c.newTimer(tags)
	t.s.elapsed, t.s.hits = max(d, 0), 1
	c.mu.Unlock()
	return t
}

// Time runs fn with a timer of the given tags running (pynba's `with
// timer:`). The timer is stopped even when fn panics.
func (h Collector) Time(tags Tags, fn func()) {
	t := h.Timer(tags).Start()
	defer t.Stop()
	fn()
}

// lock returns t's slot locked when t is still current, nil otherwise.
func (t TimerRef) lock(what string) *timerSlot {
	s := t.s
	if s == nil {
		return nil
	}
	s.c.mu.Lock()
	if s.epoch != t.epoch || s.epoch == 0 {
		s.c.mu.Unlock()
		s.c.late(what)
		return nil
	}
	return s
}

// Start starts the timer and returns it. Starting a running timer does
// nothing and reports ErrTimerRunning.
func (t TimerRef) Start() TimerRef {
	now := mono()
	s := t.lock("Timer.Start")
	if s == nil {
		return t
	}
	if s.running {
		tags := s.tagsMap()
		s.c.mu.Unlock()
		s.c.misuse(ErrTimerRunning, tags)
		return t
	}
	s.running = true
	s.startedAt = now
	s.c.cpuTimerStart(s, now)
	s.hits++
	s.c.mu.Unlock()
	return t
}

// Stop stops the timer and returns it. Stopping a timer that is not running
// does nothing and reports ErrTimerStopped.
func (t TimerRef) Stop() TimerRef {
	now := mono()
	s := t.lock("Timer.Stop")
	if s == nil {
		return t
	}
	if !s.running {
		tags := s.tagsMap()
		s.c.mu.Unlock()
		s.c.misuse(ErrTimerStopped, tags)
		return t
	}
	s.running = false
	s.elapsed = addDur(s.elapsed, now-s.startedAt)
	s.c.cpuTimerStop(s, now)
	s.c.mu.Unlock()
	return t
}

func (c *reqData) misuse(err error, tags Tags) {
	if c.owner != nil {
		c.owner.stats.timerMisuse.Add(1)
		c.reportError(fmt.Errorf("%w (tags: %s)", err, describe(tags)))
	}
}

// Delete removes the timer from the request: it is not sent.
func (t TimerRef) Delete() {
	if s := t.lock("Timer.Delete"); s != nil {
		s.deleted = true
		s.running = false
		s.c.mu.Unlock()
	}
}

// Clone registers a new timer with the same tags, not started (pynba's
// clone). Cloning a stale timer gives a detached one.
func (t TimerRef) Clone() TimerRef {
	s := t.lock("Timer.Clone")
	if s == nil {
		return detachedTimer(nil)
	}
	c := s.c
	var n TimerRef
	if s.pairs != nil {
		// The pairs are not written over while the request runs: the
		// clone shares them, as equal timers do.
		n = c.newTimer(nil)
		n.s.pairs = s.pairs
	} else {
		n = c.newTimer(s.tags)
	}
	c.mu.Unlock()
	return n
}

// Elapsed returns the time measured so far, including the running cycle.
func (t TimerRef) Elapsed() time.Duration {
	now := mono()
	s := t.lock("Timer.Elapsed")
	if s == nil {
		return 0
	}
	d := s.elapsed
	if s.running {
		d = addDur(d, now-s.startedAt)
	}
	s.c.mu.Unlock()
	return d
}

// Started reports whether the timer is running.
func (t TimerRef) Started() bool {
	s := t.lock("Timer.Started")
	if s == nil {
		return false
	}
	r := s.running
	s.c.mu.Unlock()
	return r
}

// Hits returns how many times the timer was started (1 for AddTimer).
func (t TimerRef) Hits() uint32 {
	s := t.lock("Timer.Hits")
	if s == nil {
		return 0
	}
	n := s.hits
	s.c.mu.Unlock()
	return n
}

// Tags returns the timer's tags, as given.
func (t TimerRef) Tags() Tags {
	s := t.lock("Timer.Tags")
	if s == nil {
		return nil
	}
	var tags Tags
	if s.pairs != nil {
		tags = s.tagsMap()
	} else {
		tags = maps.Clone(s.tags)
	}
	s.c.mu.Unlock()
	return tags
}

// Data returns the user data set with SetData (pynba's timer.data). It is
// never sent.
func (t TimerRef) Data() any {
	s := t.lock("Timer.Data")
	if s == nil {
		return nil
	}
	d := s.data
	s.c.mu.Unlock()
	return d
}

// SetData attaches user data to the timer. It is never sent.
func (t TimerRef) SetData(v any) {
	if s := t.lock("Timer.SetData"); s != nil {
		s.data = v
		s.c.mu.Unlock()
	}
}

// Detached reports whether the timer belongs to no request (it was made
// outside one): what it measures is sent nowhere.
func (t TimerRef) Detached() bool { return t.s == nil || t.s.c.detached }

// addDur returns a+b for durations that are not negative, saturating at the
// largest Duration instead of wrapping to a negative sum (sent as 0).
func addDur(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
