package pynbadebug

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/pynba-go/pynba/internal/report"
)

// ring is the reporter's ring of recent packets, as a list: the last n of
// everything sent.
type ring struct {
	n   int
	all [][]byte
}

func (r *ring) send(p []byte) { r.all = append(r.all, p) }

func (r *ring) list() [][]byte {
	return append([][]byte(nil), r.all[max(len(r.all)-r.n, 0):]...)
}

// TestFeedProperty sends random bursts through rings of random sizes and
// views between them: with distinct packets, every packet the ring held at
// a view is counted exactly once; with packets drawn from a few values
// (identical bytes repeating), none is counted twice.
func TestFeedProperty(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		distinct := trial%2 == 0
		r := &ring{n: 1 + rnd.IntN(12)}
		f := newFeed(report.Options{})
		var wantSeen uint64 // packets that were in the ring at some view
		lastView := 0       // len(r.all) at the last view
		for range 20 {
			burst := rnd.IntN(2 * r.n)
			for range burst {
				v := len(r.all)
				if !distinct {
					v = rnd.IntN(2)
				}
				r.send([]byte("pkt" + strconv.Itoa(v)))
			}
			res := f.update(r.list)
			wantSeen += uint64(min(len(r.all)-lastView, r.n))
			gapWant := lastView > 0 && len(r.all)-lastView >= r.n && burst > 0
			lastView = len(r.all)
			if distinct && (res.seen != wantSeen || res.gap != gapWant) {
				t.Fatalf("trial %d, ring %d: seen %d gap %v, want %d %v", trial, r.n, res.seen, res.gap, wantSeen, gapWant)
			}
			if res.seen > wantSeen {
				t.Fatalf("trial %d, ring %d: seen %d, more than the %d sent through views", trial, r.n, res.seen, wantSeen)
			}
			if got := f.model.Snapshot(report.Query{}).Totals.Datagrams; got != int64(res.seen) {
				t.Fatalf("trial %d: model holds %d datagrams, feed counted %d", trial, got, res.seen)
			}
		}
	}
}

// TestOverlapIdentical shows the documented limit: identical packets make
// the longest shared run the one taken.
func TestOverlapIdentical(t *testing.T) {
	a, b := []byte("a"), []byte("b")
	f := newFeed(report.Options{})
	for _, tc := range []struct {
		prev, cur [][]byte
		want      int
	}{
		{nil, [][]byte{a}, 0},
		{[][]byte{a, b}, [][]byte{a, b, a}, 2},
		{[][]byte{a, b}, [][]byte{b, a, b}, 1},
		{[][]byte{a, b}, [][]byte{a, b}, 2},
		{[][]byte{a, a}, [][]byte{a, a}, 2}, // also two new a's: taken as none
		{[][]byte{a, b}, [][]byte{a, a}, 0},
	} {
		if got := overlap(tc.prev, tc.cur, f.seed); got != tc.want {
			t.Errorf("overlap(%q, %q) = %d, want %d", tc.prev, tc.cur, got, tc.want)
		}
	}
}
