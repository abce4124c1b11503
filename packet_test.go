package pynba

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

// refRecord is what the packet of a snapshot must hold, computed the plain
// way from the rules: Flatten every Tags, merge timers whose pairs are
// equal, number the words in first-seen order (request tags first, value
// before name; then the timers', name before value), keep the first n
// timers.
func refRecord(reqTags Tags, snap []timerSnap, n int) pb.Record {
	var r pb.Record
	idx := map[string]uint32{}
	word := func(s string) uint32 {
		if i, ok := idx[s]; ok {
			return i
		}
		i := uint32(len(r.Dictionary))
		idx[s] = i
		r.Dictionary = append(r.Dictionary, s)
		return i
	}
	pairs, _ := Flatten(reqTags)
	for _, p := range pairs {
		r.TagValue = append(r.TagValue, word(p.Value))
		r.TagName = append(r.TagName, word(p.Name))
	}
	type out struct {
		pairs []Tag
		value time.Duration
		hits  uint64
	}
	var outs []*out
	byKey := map[string]*out{}
	for _, t := range snap {
		pairs, _ := Flatten(t.tags)
		if len(pairs) == 0 {
			continue
		}
		key := fmt.Sprintf("%q", pairs)
		if o, ok := byKey[key]; ok {
			o.value += t.value
			o.hits += uint64(t.hits)
			continue
		}
		o := &out{pairs: pairs, value: t.value, hits: uint64(t.hits)}
		byKey[key] = o
		outs = append(outs, o)
	}
	for _, o := range outs[:min(n, len(outs))] {
		r.TimerHitCount = append(r.TimerHitCount, uint32(o.hits))
		r.TimerValue = append(r.TimerValue, float32(o.value.Seconds()))
		r.TimerTagCount = append(r.TimerTagCount, uint32(len(o.pairs)))
		for _, p := range o.pairs {
			r.TimerTagName = append(r.TimerTagName, word(p.Name))
			r.TimerTagValue = append(r.TimerTagValue, word(p.Value))
		}
	}
	return r
}

// randomTags returns tag sets that exercise the encoder's paths: plain
// string maps, shared and copied, maps that go through the flatBuf (other
// kinds, lists, nested maps, callables), duplicates in another order, maps
// with no pair, tags that are dropped.
func randomTags(rng *rand.Rand) []Tags {
	words := []string{"db", "cache", "select", "insert", "users", "", "a.b", "x"}
	pick := func() string { return words[rng.IntN(len(words))] }
	shared := Tags{"group": "db", "op": "select"}
	var out []Tags
	for range 40 {
		switch rng.IntN(9) {
		case 0:
			out = append(out, shared) // the same map again
		case 1:
			out = append(out, Tags{"op": "select", "group": "db"}) // an equal map
		case 2:
			out = append(out, Tags{"group": pick(), "op": pick(), "table": pick()})
		case 3:
			out = append(out, Tags{"group": pick(), "n": rng.IntN(3), "ok": rng.IntN(2) == 0})
		case 4:
			out = append(out, Tags{"list": []string{pick(), pick()}, "group": pick()})
		case 5:
			out = append(out, Tags{"meta": map[string]any{"k": pick(), "deep": Tags{"z": 1}}})
		case 6:
			v := pick()
			out = append(out, Tags{"fn": func() string { return v }, "group": "db"})
		case 7:
			out = append(out, Tags{}) // no pair: not sent
		case 8:
			out = append(out, Tags{"": "empty name", "bad": make(chan int), "group": pick()})
		}
	}
	return out
}

func TestEncoderMatchesTheRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCollector(nil)
	kept := randomTags(rng) // maps met again in later builds
	for round := range 300 {
		sets := append(randomTags(rng), kept...)
		c.snap = c.snap[:0]
		for i := range 1 + rng.IntN(60) {
			c.snap = append(c.snap, timerSnap{tags: sets[rng.IntN(len(sets))], value: time.Duration(i+1) * time.Millisecond, hits: uint32(1 + rng.IntN(3))})
		}
		reqTags := Tags{"env": "prod", "user": []string{"b", "a"}}
		if round%3 == 0 {
			reqTags = nil
		}
		c.snapTags = reqTags
		if _, err := c.build(); err != nil {
			t.Fatal(err)
		}
		total := len(c.enc.out)
		for _, n := range []int{total, total / 2, 1, 0} {
			pkt, err := c.encode(n)
			if err != nil {
				t.Fatalf("round %d, %d timers: %v", round, n, err)
			}
			var got pb.Request
			if err := proto.Unmarshal(pkt, &got); err != nil {
				t.Fatal(err)
			}
			var g pb.Record
			g.FromProto(&got)
			want := refRecord(reqTags, c.snap, n)
			if !sameTimersAndWords(g, want) {
				t.Fatalf("round %d, %d of %d timers:\ngot  %+v\nwant %+v", round, n, total, summary(g), summary(want))
			}
		}
	}
}

func sameTimersAndWords(a, b pb.Record) bool {
	return slices.Equal(a.Dictionary, b.Dictionary) && slices.Equal(a.TagName, b.TagName) && slices.Equal(a.TagValue, b.TagValue) &&
		slices.Equal(a.TimerHitCount, b.TimerHitCount) && slices.Equal(a.TimerValue, b.TimerValue) &&
		slices.Equal(a.TimerTagCount, b.TimerTagCount) && slices.Equal(a.TimerTagName, b.TimerTagName) &&
		slices.Equal(a.TimerTagValue, b.TimerTagValue)
}

func summary(r pb.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dict %q tags %v=%v", r.Dictionary, r.TagName, r.TagValue)
	j := 0
	for i, n := range r.TimerTagCount {
		fmt.Fprintf(&b, " | %d hits %v:", r.TimerHitCount[i], r.TimerValue[i])
		for range n {
			fmt.Fprintf(&b, " %d=%d", r.TimerTagName[j], r.TimerTagValue[j])
			j++
		}
	}
	return b.String()
}

// A loop of 10,000 timers with one Tags map sends one timer of 10,000 hits,
// and the build allocates nothing once the collector has grown.
func TestEncoderIdenticalTimers(t *testing.T) {
	c := newCollector(nil)
	tags := Tags{"group": "db", "op": "select"}
	for range 10000 {
		c.snap = append(c.snap, timerSnap{tags: tags, value: time.Microsecond, hits: 1})
	}
	if _, err := c.build(); err != nil {
		t.Fatal(err)
	}
	r := &c.enc.rec
	if len(r.TimerHitCount) != 1 || r.TimerHitCount[0] != 10000 || r.TimerValue[0] != 0.01 {
		t.Fatalf("timers: hits %v values %v", r.TimerHitCount, r.TimerValue)
	}
	if allocs := testing.AllocsPerRun(10, func() { c.build() }); allocs != 0 {
		t.Errorf("%v allocations per build", allocs)
	}
}
