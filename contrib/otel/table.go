package pynbaotel

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/pynba-go/pynba"
	"go.opentelemetry.io/otel/trace"
)

// The table remembers, between a span's start and its end, the request the
// span belongs to. It is keyed by span id and split in shards, each a map
// under its own mutex, so that spans ending on different cores rarely meet
// on one lock or one cache line. Each shard holds at most limit entries:
// memory stays bounded when spans never end. A shard's count is also kept in
// an atomic, so that a span that was never remembered (one outside any
// request) ends without taking a lock.

const shardCount = 64

type shard struct {
	n  atomic.Int64 // len(m), readable without mu
	mu sync.Mutex
	m  map[uint64]pynba.Collector
	// puts counts every put; a shard full of spans of running requests is
	// swept again only once puts reaches nextSweep.
	puts, nextSweep uint64

	recorded, late, untracked, evicted, filtered atomic.Uint64

	_ [64]byte // keep shards on separate cache lines
}

type spanTable struct {
	limit   int // entries per shard
	stopped atomic.Bool
	shards  [shardCount]shard
}

func newSpanTable(maxSpans int) *spanTable {
	t := &spanTable{limit: (maxSpans + shardCount - 1) / shardCount}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]pynba.Collector)
	}
	return t
}

// key turns a span id into the table's key. Span ids are random, but an
// IDGenerator may make sequential ones: the multiply spreads both.
func key(id trace.SpanID) uint64 {
	return binary.LittleEndian.Uint64(id[:])
}

func (t *spanTable) shard(k uint64) *shard {
	return &t.shards[(k*0x9E3779B97F4A7C15)>>(64-6)]
}

// put remembers h for span k. It returns false when the shard is full of
// spans whose requests are still running, or the table is stopped (read under
// the shard's lock, so that no put lands after stop has cleared the shard).
func (t *spanTable) put(k uint64, h pynba.Collector) bool {
	s := t.shard(k)
	s.mu.Lock()
	if t.stopped.Load() {
		s.mu.Unlock()
		return false
	}
	s.puts++
	if len(s.m) >= t.limit {
		if _, ok := s.m[k]; !ok && !s.makeRoom(t.limit) {
			s.mu.Unlock()
			s.untracked.Add(1)
			return false
		}
	}
	s.m[k] = h
	s.n.Store(int64(len(s.m)))
	s.mu.Unlock()
	return true
}

// makeRoom removes the entries whose request has ended (their spans either
// never end or will end too late to count) and reports whether there is room
// for one more. A sweep reads every entry, so after one that left the shard
// full the next waits for a quarter of the shard's size in puts: the cost per
// put stays constant. Called with s.mu held; Valid takes the request's
// own lock, which is never held while this table's locks are taken.
func (s *shard) makeRoom(limit int) bool {
	if s.puts < s.nextSweep {
		return false
	}
	for k, h := range s.m {
		if !h.Valid() {
			delete(s.m, k)
			s.evicted.Add(1)
		}
	}
	if len(s.m) < limit {
		return true
	}
	s.nextSweep = s.puts + uint64(max(limit/4, 1))
	return false
}

// take removes and returns the request remembered for span k.
func (t *spanTable) take(k uint64) (pynba.Collector, *shard, bool) {
	s := t.shard(k)
	if s.n.Load() == 0 {
		return pynba.Collector{}, s, false
	}
	s.mu.Lock()
	h, ok := s.m[k]
	if ok {
		delete(s.m, k)
		s.n.Store(int64(len(s.m)))
	}
	s.mu.Unlock()
	return h, s, ok
}

// len returns how many spans are remembered.
func (t *spanTable) len() int {
	n := 0
	for i := range t.shards {
		n += int(t.shards[i].n.Load())
	}
	return n
}

// stop forgets every span and refuses later ones.
func (t *spanTable) stop() {
	t.stopped.Store(true)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.n.Store(0)
		s.mu.Unlock()
	}
}
