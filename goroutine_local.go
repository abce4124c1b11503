package pynba

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/petermattis/goid"
)

// The registry maps a goroutine id to the request bound to it, so that the
// package-level proxy (Timer, SetTag, ...) finds the current request with no
// context passed through, as pynba's thread-local proxy does.
//
// Only goroutine g binds, unbinds or looks up key g, so an entry never sees
// two writers. Entries live in a fixed open-addressed table of atomics:
// a lookup is a hash and a few atomic loads, with no lock, and requests on
// different goroutines never contend. When a probe window is full (more
// than tableProbe bound goroutines hash to the same place), the binding goes
// to an overflow map under a mutex; overflowCount keeps lookups from looking
// there while it is empty.

const (
	tableBits  = 14
	tableSize  = 1 << tableBits
	tableProbe = 16
)

type regEntry struct {
	gid   atomic.Int64
	c     atomic.Pointer[reqData]
	epoch atomic.Uint64
	_     [8]byte // pad to 32 bytes: two entries a cache line
}

type binding struct {
	c     *reqData
	epoch uint64
}

var registry struct {
	table         [tableSize]regEntry
	overflowCount atomic.Int64
	overflowMu    sync.Mutex
	overflow      map[int64]binding
}

// slot returns the table index where gid's probe window starts.
func slot(gid int64) uint64 {
	return (uint64(gid) * 0x9E3779B97F4A7C15) >> (64 - tableBits)
}

// bind binds b to goroutine gid and returns what was bound before (the zero
// binding when nothing was), which unbind restores.
func bind(gid int64, b binding) binding {
	i := slot(gid)
	for k := uint64(0); k < tableProbe; k++ {
		e := &registry.table[(i+k)&(tableSize-1)]
		if e.gid.Load() == gid {
			prev := binding{e.c.Load(), e.epoch.Load()}
			e.c.Store(b.c)
			e.epoch.Store(b.epoch)
			return prev
		}
	}
	if registry.overflowCount.Load() > 0 {
		registry.overflowMu.Lock()
		prev, ok := registry.overflow[gid]
		if ok {
			registry.overflow[gid] = b
		}
		registry.overflowMu.Unlock()
		if ok {
			return prev
		}
	}
	for k := uint64(0); k < tableProbe; k++ {
		e := &registry.table[(i+k)&(tableSize-1)]
		if e.gid.Load() == 0 && e.gid.CompareAndSwap(0, gid) {
			e.c.Store(b.c)
			e.epoch.Store(b.epoch)
			return binding{}
		}
	}
	// A window full of other goroutines: use the overflow map.
	registry.overflowMu.Lock()
	if registry.overflow == nil {
		registry.overflow = make(map[int64]binding)
	}
	registry.overflow[gid] = b
	registry.overflowCount.Store(int64(len(registry.overflow)))
	registry.overflowMu.Unlock()
	return binding{}
}

// unbind restores prev, what bind returned, as goroutine gid's binding.
func unbind(gid int64, prev binding) {
	i := slot(gid)
	for k := uint64(0); k < tableProbe; k++ {
		e := &registry.table[(i+k)&(tableSize-1)]
		if e.gid.Load() == gid {
			if prev.c != nil {
				e.c.Store(prev.c)
				e.epoch.Store(prev.epoch)
				return
			}
			e.c.Store(nil)
			e.epoch.Store(0)
			e.gid.Store(0)
			return
		}
	}
	if registry.overflowCount.Load() > 0 {
		registry.overflowMu.Lock()
		if _, ok := registry.overflow[gid]; ok {
			if prev.c != nil {
				registry.overflow[gid] = prev
			} else {
				delete(registry.overflow, gid)
			}
			registry.overflowCount.Store(int64(len(registry.overflow)))
		}
		registry.overflowMu.Unlock()
	}
}

// lookup returns goroutine gid's binding, the zero binding when it has none.
func lookup(gid int64) binding {
	e := &registry.table[slot(gid)]
	if e.gid.Load() == gid {
		return binding{e.c.Load(), e.epoch.Load()}
	}
	return lookupSlow(gid)
}

// lookupCurrent returns the calling goroutine's binding: curGoid and lookup
// in one function, so that the common case (the fast goroutine id, the
// binding at the start of its probe window) makes no other call than goid's.
func lookupCurrent() binding {
	var gid int64
	if goidFast {
		gid = goid.Get()
	} else {
		gid = curGoidSlow()
	}
	e := &registry.table[slot(gid)]
	if e.gid.Load() == gid {
		return binding{e.c.Load(), e.epoch.Load()}
	}
	return lookupSlow(gid)
}

func lookupSlow(gid int64) binding {
	i := slot(gid)
	for k := uint64(1); k < tableProbe; k++ {
		e := &registry.table[(i+k)&(tableSize-1)]
		if e.gid.Load() == gid {
			return binding{e.c.Load(), e.epoch.Load()}
		}
	}
	if registry.overflowCount.Load() > 0 {
		registry.overflowMu.Lock()
		b := registry.overflow[gid]
		registry.overflowMu.Unlock()
		return b
	}
	return binding{}
}

// registrySize counts the goroutines bound now (for tests).
func registrySize() int {
	n := 0
	for i := range registry.table {
		if registry.table[i].gid.Load() != 0 {
			n++
		}
	}
	registry.overflowMu.Lock()
	n += len(registry.overflow)
	registry.overflowMu.Unlock()
	return n
}

// Goroutine ids come from goid.Get (about 2 ns), after a self-check at the
// first use against the id runtime.Stack prints, on this goroutine and on a
// new one. If they disagree (a Go release goid does not know), the slow but
// always right runtime.Stack path is used, and the first Middleware or
// ScriptMonitor created says so once through its error handler.
var (
	goidCheckOnce sync.Once
	goidFast      bool
	goidCheckErr  error
	goidReported  atomic.Bool
)

func checkGoid() {
	goidCheckOnce.Do(func() {
		fast, slow := goid.Get(), stackGoid()
		var other [2]int64
		done := make(chan struct{})
		go func() {
			other[0], other[1] = goid.Get(), stackGoid()
			close(done)
		}()
		<-done
		if fast == slow && other[0] == other[1] && fast != other[0] && fast > 0 {
			goidFast = true
			return
		}
		goidCheckErr = fmt.Errorf("pynba: goid.Get disagrees with runtime.Stack (%d vs %d, new goroutine %d vs %d) on %s; using runtime.Stack, which is slower",
			fast, slow, other[0], other[1], runtime.Version())
	})
}

// reportGoidCheck passes the self-check's failure, if any, to report once
// per process.
func reportGoidCheck(report func(error)) {
	checkGoid()
	if goidCheckErr != nil && goidReported.CompareAndSwap(false, true) {
		report(goidCheckErr)
	}
}

// curGoid returns the id of the calling goroutine. The check is a plain
// load of goidFast, set once by checkGoid before any request binds.
func curGoid() int64 {
	if goidFast {
		return goid.Get()
	}
	return curGoidSlow()
}

func curGoidSlow() int64 {
	checkGoid()
	if goidFast {
		return goid.Get()
	}
	return stackGoid()
}

// stackGoid parses the id from the first line of runtime.Stack's output:
// "goroutine 18 [running]:".
func stackGoid() int64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s, ok := bytes.CutPrefix(s, []byte("goroutine "))
	if !ok {
		return 0
	}
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	id, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
