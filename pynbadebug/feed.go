package pynbadebug

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/pynba-go/pynba/internal/report"
)

// feed keeps the page's report model fed from Reporter.Recent, which holds
// the last packets but numbers none of them. Each view compares the list it
// gets with the list the view before it got: the ring only moves forward,
// so the packets seen before are a run at the end of the old list and at
// the start of the new one, and what follows that run is new.
//
// The run taken is the longest one the two lists share. It is never shorter
// than the true one, so no packet is added twice; it is longer only when
// byte-identical packets repeat in a pattern that makes two alignments
// possible, and then the packets in the difference are not added. When no
// run is shared, every packet of the new list is added, and the packets that
// passed through the ring between the two views without being seen are
// lost: the view counts a gap.
type feed struct {
	mu    sync.Mutex
	model *report.Model
	seed  maphash.Seed

	prev    [][]byte // the list the last view got
	prevSeq []uint64 // the page's number for each packet of prev
	seen    uint64   // packets added to the model
	views   uint64
	gaps    uint64
}

func newFeed(opts report.Options) *feed {
	return &feed{model: report.New(opts), seed: maphash.MakeSeed()}
}

// feedResult is what one view of the ring found.
type feedResult struct {
	pkts  [][]byte // the ring's packets, oldest first
	seqs  []uint64 // the page's number of each
	added int      // packets of pkts the model had not seen
	gap   bool     // none of the previous view's packets was found again
	seen  uint64
	views uint64
	gaps  uint64
}

// update reads the ring with recent (called under the feed's lock, so that
// views taken at once are compared in the order they were read) and adds
// the packets not seen yet to the model.
func (f *feed) update(recent func() [][]byte) feedResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cur [][]byte
	if recent != nil {
		cur = recent()
	}
	o := overlap(f.prev, cur, f.seed)
	seqs := make([]uint64, len(cur))
	copy(seqs, f.prevSeq[len(f.prev)-o:])
	for i := o; i < len(cur); i++ {
		f.seen++
		seqs[i] = f.seen
		_ = f.model.AddDatagram(cur[i]) // an undecodable one is counted in the model's totals
	}
	gap := len(f.prev) > 0 && o == 0 && len(cur) > 0
	if gap {
		f.gaps++
	}
	f.views++
	f.prev, f.prevSeq = cur, seqs
	return feedResult{pkts: cur, seqs: seqs, added: len(cur) - o, gap: gap, seen: f.seen, views: f.views, gaps: f.gaps}
}

// overlap returns the largest o such that the last o packets of prev are,
// byte for byte, the first o packets of cur.
//
// It runs Knuth-Morris-Pratt over the packets' hashes, with cur as the
// pattern and prev as the text: the state at the end of prev is the longest
// prefix of cur that ends prev, and the failure links give the shorter ones,
// longest first. Each candidate is checked byte for byte, so a hash
// collision only costs a step down the chain. Time is linear in the number
// of packets.
func overlap(prev, cur [][]byte, seed maphash.Seed) int {
	if len(prev) == 0 || len(cur) == 0 {
		return 0
	}
	hc := make([]uint64, len(cur))
	for i, p := range cur {
		hc[i] = maphash.Bytes(seed, p)
	}
	// fail[i] is the length of the longest proper border of hc[:i+1].
	fail := make([]int, len(cur))
	for i, k := 1, 0; i < len(cur); i++ {
		for k > 0 && hc[i] != hc[k] {
			k = fail[k-1]
		}
		if hc[i] == hc[k] {
			k++
		}
		fail[i] = k
	}
	j := 0
	for _, p := range prev {
		h := maphash.Bytes(seed, p)
		if j == len(cur) {
			j = fail[j-1]
		}
		for j > 0 && h != hc[j] {
			j = fail[j-1]
		}
		if h == hc[j] {
			j++
		}
	}
	for ; j > 0; j = fail[j-1] {
		if sameRun(prev[len(prev)-j:], cur[:j]) {
			return j
		}
	}
	return 0
}

func sameRun(a, b [][]byte) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// snapshot reports the model's window.
func (f *feed) snapshot(q report.Query) report.Snapshot {
	return f.model.Snapshot(q)
}
