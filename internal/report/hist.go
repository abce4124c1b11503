package report

import (
	"math"
	"slices"
)

// RelativeError bounds the error of every percentile in a Snapshot: a
// reported percentile p of values v_1..v_n differs from the nearest-rank
// value (the ceil(p*n)-th smallest) by at most RelativeError times that
// value, or by less than MinResolvable when the value is below
// MinResolvable (such values are counted as 0).
//
// Values are counted in logarithmic bins: bin i holds the values in
// (MinResolvable*g^(i-1), MinResolvable*g^i] with g = (1+e)/(1-e), and
// stands for 2*MinResolvable*g^i/(g+1), which is within e of every value
// in the bin. About 1,150 bins cover 1µs to 10,000 s; a histogram stores
// only the bins it has counts in, so it never holds more entries than it
// has values, nor more than the number of bins those values span.
const RelativeError = 0.01

// MinResolvable is the smallest time (in seconds) the histograms tell apart
// from 0; see RelativeError.
const MinResolvable = 1e-6

var (
	histGamma    = (1 + RelativeError) / (1 - RelativeError)
	histLogGamma = math.Log(histGamma)
)

// binOf is the histogram bin of v seconds; 0 holds values below
// MinResolvable.
func binOf(v float64) int32 {
	if !(v >= MinResolvable) { // also NaN
		return 0
	}
	i := math.Ceil(math.Log(v/MinResolvable) / histLogGamma)
	if i > math.MaxInt32-1 {
		i = math.MaxInt32 - 1
	}
	return int32(i) + 1
}

// binValue is the value that stands for bin b.
func binValue(b int32) float64 {
	if b <= 0 {
		return 0
	}
	return 2 * MinResolvable * math.Pow(histGamma, float64(b-1)) / (histGamma + 1)
}

// hist is a sparse log-scaled histogram of times, with their exact
// extremes.
type hist struct {
	bins     map[int32]uint32
	n        int64
	min, max float64
}

func (h *hist) add(v float64) {
	if h.bins == nil {
		h.bins = make(map[int32]uint32, 4)
	}
	h.bins[binOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if h.n == 0 || v > h.max {
		h.max = v
	}
	h.n++
}

func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	if h.bins == nil {
		h.bins = make(map[int32]uint32, len(o.bins))
	}
	for b, c := range o.bins {
		h.bins[b] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
}

func (h *hist) reset() {
	clear(h.bins)
	h.n, h.min, h.max = 0, 0, 0
}

// quantiles returns the nearest-rank quantiles qs (each in (0, 1]) of h, in
// the order of qs, each within RelativeError (see there) and clamped to the
// exact minimum and maximum.
func (h *hist) quantiles(qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if h.n == 0 {
		return out
	}
	keys := make([]int32, 0, len(h.bins))
	for b := range h.bins {
		keys = append(keys, b)
	}
	slices.Sort(keys)
	for j, q := range qs {
		rank := int64(math.Ceil(q * float64(h.n)))
		rank = max(1, min(rank, h.n))
		var seen int64
		for _, b := range keys {
			seen += int64(h.bins[b])
			if seen >= rank {
				out[j] = min(max(binValue(b), h.min), h.max)
				break
			}
		}
	}
	return out
}
