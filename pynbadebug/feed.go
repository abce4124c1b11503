package pynbadebug

import (
	"sync"

	"github.com/pynba-go/pynba/internal/report"
)

// feed keeps the page's report model fed from the reporter's ring of recent
// packets (Reporter.RecentSince), which numbers them: each view asks for the
// packets numbered from the one after the last it added, so every packet the
// ring still held at a view is added once, and the packets that passed
// through the ring between two views without being seen are counted as
// missed.
type feed struct {
	mu    sync.Mutex
	model *report.Model

	next   uint64 // the number of the first packet not added yet
	seen   uint64 // packets added to the model
	missed uint64 // packets that left the ring before a view saw them
	views  uint64
	gaps   uint64 // views that found packets missed
}

func newFeed(opts report.Options) *feed {
	return &feed{model: report.New(opts)}
}

// recentFunc is Reporter.RecentSince.
type recentFunc func(seq uint64) (pkts [][]byte, first, next uint64)

// feedResult is what one view of the ring found.
type feedResult struct {
	pkts   [][]byte // the ring's packets, oldest first
	seqs   []uint64 // the number of each, from 1
	added  int      // packets of pkts the model had not seen
	gap    bool     // packets were missed since the previous view
	seen   uint64
	missed uint64
	views  uint64
	gaps   uint64
}

// update reads the ring with recent (under the feed's lock, so that views
// taken at once are read in order) and adds the packets not seen yet to the
// model.
func (f *feed) update(recent recentFunc) feedResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cur [][]byte
	var first, next uint64
	if recent != nil {
		cur, first, next = recent(0)
	}
	seqs := make([]uint64, len(cur))
	added := 0
	for i := range cur {
		n := first + uint64(i)
		seqs[i] = n + 1
		if n >= f.next {
			f.seen++
			added++
			_ = f.model.AddDatagram(cur[i]) // an undecodable one is counted in the model's totals
		}
	}
	gap := first > f.next
	if gap {
		f.missed += first - f.next
		f.gaps++
	}
	f.next = max(f.next, next)
	f.views++
	return feedResult{pkts: cur, seqs: seqs, added: added, gap: gap, seen: f.seen, missed: f.missed, views: f.views, gaps: f.gaps}
}

// snapshot reports the model's window.
func (f *feed) snapshot(q report.Query) report.Snapshot {
	return f.model.Snapshot(q)
}
