package pynba

import (
	"net/netip"
	"slices"
	"sync"
)

// What a service's own debug page (package pynbadebug) shows of its
// monitor: the packets sent last and where the servers resolved to.

// maxRecent bounds WithRecent.
const maxRecent = 4096

// WithRecent makes a Reporter keep a copy of the last n packets handed to
// it (at most 4,096), for Reporter.Recent and the pynbadebug page. Keeping
// them costs a copy of each packet under a lock, so it is off (0) unless
// asked.
func WithRecent(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 || n > maxRecent {
			return &RangeError{Field: "WithRecent", Value: int64(n), Sent: uint32(min(max(n, 0), maxRecent))}
		}
		c.recent = n
		c.reporterOnly = append(c.reporterOnly, "WithRecent")
		return nil
	})
}

// recentRing holds copies of the last packets sent, oldest overwritten.
type recentRing struct {
	mu   sync.Mutex
	pkts [][]byte
	next int
	full bool
}

func newRecentRing(n int) *recentRing {
	if n <= 0 {
		return nil
	}
	return &recentRing{pkts: make([][]byte, n)}
}

// add keeps a copy of pkt, reusing the buffer of the packet it replaces.
func (q *recentRing) add(pkt []byte) {
	q.mu.Lock()
	q.pkts[q.next] = append(q.pkts[q.next][:0], pkt...)
	q.next++
	if q.next == len(q.pkts) {
		q.next, q.full = 0, true
	}
	q.mu.Unlock()
}

// list returns copies of the packets kept, oldest first.
func (q *recentRing) list() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]byte
	if q.full {
		for _, p := range q.pkts[q.next:] {
			out = append(out, slices.Clone(p))
		}
	}
	for _, p := range q.pkts[:q.next] {
		out = append(out, slices.Clone(p))
	}
	return out
}

// Recent returns copies of the last packets handed to Send, oldest first,
// as many as WithRecent asked to keep (none without it). Packets Send
// refused for their size are not kept.
func (r *Reporter) Recent() [][]byte {
	if r.recent == nil {
		return nil
	}
	return r.recent.list()
}

// Addrs returns the address each server was last resolved to, in the
// order of Servers; the zero AddrPort for a name not resolved yet.
func (r *Reporter) Addrs() []netip.AddrPort {
	return slices.Clone(*r.addrs.Load())
}

// Reporter returns the Reporter the Middleware sends through.
func (m *Middleware) Reporter() *Reporter { return m.core.reporter }

// Reporter returns the Reporter the ScriptMonitor sends through.
func (sm *ScriptMonitor) Reporter() *Reporter { return sm.core.reporter }

// Reporter returns the Reporter the Runner sends through.
func (r *Runner) Reporter() *Reporter { return r.core.reporter }
