package pynbadebug

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/pynba-go/pynba/internal/report"
)

// ring is the reporter's ring of recent packets: the last n of everything
// sent, numbered from 0.
type ring struct {
	n   int
	all [][]byte
}

func (r *ring) send(p []byte) { r.all = append(r.all, p) }

func (r *ring) since(seq uint64) ([][]byte, uint64, uint64) {
	first := max(int(seq), len(r.all)-r.n, 0)
	first = min(first, len(r.all))
	return append([][]byte(nil), r.all[first:]...), uint64(first), uint64(len(r.all))
}

// TestFeedProperty sends random bursts through rings of random sizes and
// views between them: every packet the ring held at a view is counted
// exactly once, identical bytes or not, and every packet sent is either
// counted or missed.
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
			res := f.update(r.since)
			wantSeen += uint64(min(len(r.all)-lastView, r.n))
			gapWant := len(r.all)-lastView > r.n
			lastView = len(r.all)
			if res.seen != wantSeen || res.gap != gapWant || res.seen+res.missed != uint64(len(r.all)) {
				t.Fatalf("trial %d, ring %d: seen %d missed %d gap %v, want %d, %d, %v", trial, r.n, res.seen, res.missed, res.gap, wantSeen, len(r.all)-int(wantSeen), gapWant)
			}
			if got := f.model.Snapshot(report.Query{}).Totals.Datagrams; got != int64(res.seen) {
				t.Fatalf("trial %d: model holds %d datagrams, feed counted %d", trial, got, res.seen)
			}
		}
	}
}
