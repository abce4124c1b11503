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
// Packets are numbered from 0 in the order they were added: packet i is in
// slot i % len(pkts) while i >= total-len(pkts).
type recentRing struct {
	mu    sync.Mutex
	pkts  [][]byte
	total uint64 // packets added
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
	i := q.total % uint64(len(q.pkts))
	q.pkts[i] = append(q.pkts[i][:0], pkt...)
	q.total++
	q.mu.Unlock()
}

// since returns copies of the packets kept numbered seq or later, oldest
// first, the number of the first one, and the number the next will get.
func (q *recentRing) since(seq uint64) (out [][]byte, first, next uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := uint64(len(q.pkts))
	first = max(seq, q.total-min(q.total, n))
	first = min(first, q.total)
	for i := first; i < q.total; i++ {
		out = append(out, slices.Clone(q.pkts[i%n]))
	}
	return out, first, q.total
}

// Recent returns copies of the last packets handed to Send, oldest first,
// as many as WithRecent asked to keep (none without it). Packets Send
// refused for their size are not kept.
func (r *Reporter) Recent() [][]byte {
	pkts, _, _ := r.RecentSince(0)
	return pkts
}

// RecentSince returns copies of the packets kept (see Recent) numbered seq
// or later, the number of the first one returned, and the number the next
// packet will get. Packets are numbered from 0 in the order Send kept them,
// so a reader that passes the next number it got last time sees every
// packet once; first > seq says the packets numbered seq to first-1 left the
// ring unread. Without WithRecent it returns nothing and zeros.
func (r *Reporter) RecentSince(seq uint64) (pkts [][]byte, first, next uint64) {
	if r.recent == nil {
		return nil, 0, 0
	}
	return r.recent.since(seq)
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
