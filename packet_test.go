package pynba

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
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
	c := newReqData(nil)
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
	c := newReqData(nil)
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

// A packet over the size limit: identical timers are merged first; what
// still does not fit is trimmed (timers kept from the first) or dropped,
// counted in Stats.TooLarge and reported with the sizes. Nothing is cut on
// the wire.
func TestPacketTooLarge(t *testing.T) {
	const limit = 1024
	t.Run("merging makes it fit", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			for i := range 2000 { // 2000 timers, as many maps, one tag set
				Timer(Tags{"group": "db", "op": "select", "shard": i % 1}).Start().Stop()
			}
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		serve(m, "/merged")
		p := next(t, srv)
		if len(p.Timers) != 1 || p.Timers[0].HitCount != 2000 {
			t.Errorf("timers %v, want one of 2000 hits", p.Timers)
		}
		if s := m.Stats(); s.TooLarge != 0 || s.Packets != 1 || len(errs.all()) != 0 {
			t.Errorf("stats %+v, errors %v", s, errs.all())
		}
	})

	t.Run("trimmed", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			SetTag("kept", "request tags are always kept")
			for range 50 {
				Timer(Tags{"group": "same"}).Start().Stop()
			}
			for i := range 200 {
				AddTimer(Tags{"group": "distinct", "i": i}, time.Millisecond)
			}
			io.WriteString(w, "ok")
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		if w := serve(m, "/trimmed"); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("response %d %q", w.Code, w.Body)
		}
		p := next(t, srv)
		if len(p.Raw) > limit {
			t.Fatalf("packet of %d bytes over the %d-byte limit", len(p.Raw), limit)
		}
		if p.Tags.Get("kept") == "" || len(p.Timers) < 2 || len(p.Timers) >= 201 {
			t.Fatalf("request tags %v, %d timers", p.Tags, len(p.Timers))
		}
		// The first timers are kept, in order, the merged one first.
		if tm := p.Timers[0]; tm.Tags.Get("group") != "same" || tm.HitCount != 50 {
			t.Errorf("first timer %v", tm)
		}
		for i, tm := range p.Timers[1:] {
			if tm.Tags.Get("group") != "distinct" || tm.Tags.Get("i") != fmt.Sprint(i) || tm.HitCount != 1 || tm.Value != 0.001 {
				t.Errorf("timer %d: %v", i+1, tm)
			}
		}
		var tl *PacketTooLargeError
		all := errs.all()
		if len(all) != 1 || !errors.As(all[0], &tl) {
			t.Fatalf("errors %v, want one *PacketTooLargeError", all)
		}
		if !errors.Is(all[0], ErrTooLarge) {
			t.Errorf("errors.Is(%v, ErrTooLarge) is false", all[0])
		}
		if tl.Dropped || tl.Limit != limit || tl.Size <= limit || tl.Timers != 201 || tl.Kept != len(p.Timers) || tl.SentBytes != len(p.Raw) {
			t.Errorf("error %+v; packet of %d bytes with %d timers", tl, len(p.Raw), len(p.Timers))
		}
		for _, want := range []string{fmt.Sprint(tl.Size), fmt.Sprint(limit), fmt.Sprint(tl.Kept)} {
			if !strings.Contains(tl.Error(), want) {
				t.Errorf("message %q does not say %s", tl.Error(), want)
			}
		}
		if s := m.Stats(); s.TooLarge != 1 || s.Packets != 1 || s.Sent != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("dropped", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetTag("huge", strings.Repeat("x", 2*limit))
				Timer(Tags{"a": "b"}).Start().Stop()
			}
			io.WriteString(w, "ok")
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		if w := serve(m, "/big"); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("response %d %q", w.Code, w.Body)
		}
		noMorePackets(t, srv, m)
		var tl *PacketTooLargeError
		all := errs.all()
		if len(all) != 1 || !errors.As(all[0], &tl) {
			t.Fatalf("errors %v, want one *PacketTooLargeError", all)
		}
		if !tl.Dropped || tl.Size <= 2*limit || tl.Limit != limit || tl.Kept != 0 || tl.SentBytes != 0 ||
			!strings.Contains(tl.Error(), "dropped") || !strings.Contains(tl.Error(), fmt.Sprint(tl.Size)) {
			t.Errorf("error %+v: %v", tl, tl)
		}
		if s := m.Stats(); s.Requests != 2 || s.Packets != 1 || s.TooLarge != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("default limit", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetScriptName(strings.Repeat("/x", DefaultMaxPacketSize))
			}
		}, srv.Addr(), WithErrorHandler(errs.handle))
		serve(m, "/big")
		noMorePackets(t, srv, m)
		var tl *PacketTooLargeError
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || !tl.Dropped || tl.Limit != DefaultMaxPacketSize {
			t.Errorf("errors %v", all)
		}
	})

	t.Run("reporter limit", func(t *testing.T) {
		// A shared Reporter's lower limit applies to the Middleware too: the
		// packet is dropped before it reaches the Reporter, counted and
		// reported.
		srv := newServer(t)
		var errs errLog
		r, err := NewReporter(srv.Addr(), WithMaxPacketSize(600), WithErrorHandler(errs.handle))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetTag("big", strings.Repeat("y", 800))
			}
		}, "", WithReporter(r), WithErrorHandler(errs.handle))
		serve(m, "/big")
		noMorePackets(t, srv, m)
		var tl *PacketTooLargeError
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || !errors.Is(tl, ErrTooLarge) || tl.Limit != 600 || tl.Size <= 800 {
			t.Errorf("errors %v", all)
		}
		if s := m.Stats(); s.TooLarge != 1 || s.Packets != 1 || s.Sent != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Very long names and values: never cut on the wire; what fits is sent
// whole, what does not is trimmed or dropped, counted and reported.
func TestLongStringsAreNeverCut(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	long := strings.Repeat("n", 100_000)
	huge := strings.Repeat("v", 1<<20)
	fits := strings.Repeat("/long", 12_000) // 60,000 bytes
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fits":
			SetScriptName(fits)
			Timer(Tags{"name": strings.Repeat("t", 1000)}).Start().Stop()
		case "/timer":
			Timer(Tags{"short": "kept"}).Start().Stop()
			Timer(Tags{long: huge}).Start().Stop()
		case "/request-tag":
			SetTag(long, "v")
		case "/hostname":
			SetHostname(huge)
		}
		io.WriteString(w, "ok")
	}, srv.Addr(), WithErrorHandler(errs.handle))

	serve(m, "/fits")
	p := next(t, srv)
	if p.ScriptName != fits || len(p.Timers) != 1 || p.Timers[0].Tags.Get("name") != strings.Repeat("t", 1000) {
		t.Errorf("long strings that fit were changed: script of %d bytes, timers %d", len(p.ScriptName), len(p.Timers))
	}

	serve(m, "/timer")
	p = next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("short") != "kept" {
		t.Errorf("timers %v, want only the short one", p.Timers)
	}
	var tl *PacketTooLargeError
	if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || tl.Dropped || tl.Kept != 1 || tl.Timers != 2 {
		t.Errorf("errors %v", all)
	}

	for _, path := range []string{"/request-tag", "/hostname"} {
		errs.reset()
		if w := serve(m, path); w.Code != 200 || w.Body.String() != "ok" {
			t.Errorf("%s: response %d %q", path, w.Code, w.Body)
		}
		noMorePackets(t, srv, m)
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || !tl.Dropped {
			t.Errorf("%s: errors %v", path, all)
		}
	}
	if s := m.Stats(); s.TooLarge != 3 || s.Requests != 6 || s.Packets != 4 {
		t.Errorf("stats %+v", s)
	}
}

// Invalid UTF-8 and NUL bytes in every string: sent byte for byte.
func TestInvalidUTF8IsSentByteForByte(t *testing.T) {
	srv := newServer(t)
	bad := "\xff\xfe\xc3(\x00end"
	if utf8.ValidString(bad) {
		t.Fatal("the test string is valid UTF-8")
	}
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		SetHostname("h" + bad)
		SetServerName("s" + bad)
		SetScriptName("/" + bad)
		SetSchema(bad)
		SetTag("n"+bad, "v"+bad)
		Timer(Tags{"t" + bad: []byte("b" + bad)}).Start().Stop()
	}, srv.Addr())
	serve(m, "/")
	p := next(t, srv)
	if p.Hostname != "h"+bad || p.ServerName != "s"+bad || p.ScriptName != "/"+bad || p.Schema != bad {
		t.Errorf("header strings changed: %q %q %q %q", p.Hostname, p.ServerName, p.ScriptName, p.Schema)
	}
	if p.Tags.Get("n"+bad) != "v"+bad || len(p.Timers) != 1 || p.Timers[0].Tags.Get("t"+bad) != "b"+bad {
		t.Errorf("tags changed: %q, %v", p.Tags, p.Timers)
	}
	if !pinbatest.Warnings(p.Raw).Has(pinbatest.RuleNULByte) {
		t.Error("no warning for the NUL bytes")
	}
}

func TestTimersMergedAndOrdered(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		db := Tags{"group": "db"}
		for range 10000 {
			Timer(db).Start().Stop()
		}
		AddTimer(Tags{"group": "cache"}, 250*time.Millisecond)
		Timer(Tags{"group": "db"}).Start().Stop() // same set, another map: merged
		Timer(Tags{"group": "never started"})
		d := Timer(Tags{"group": "deleted"}).Start()
		d.Delete()
		Timer(Tags{"group": "running"}).Start() // stopped at the end and sent
		Timer(Tags{}).Start().Stop()            // no tags: not sent
	}))
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 3 {
		t.Fatalf("timers: %v", p.Timers)
	}
	if g := p.Timers[0]; g.Tags.Get("group") != "db" || g.HitCount != 10001 {
		t.Errorf("first timer %v, want db with 10001 hits", g)
	}
	if g := p.Timers[1]; g.Tags.Get("group") != "cache" || g.HitCount != 1 || g.Value != 0.25 {
		t.Errorf("second timer %v", g)
	}
	if g := p.Timers[2]; g.Tags.Get("group") != "running" || g.HitCount != 1 {
		t.Errorf("third timer %v", g)
	}
	if s := m.Stats(); s.TagErrors != 1 {
		t.Errorf("TagErrors %d, want 1 for the timer with no tags", s.TagErrors)
	}
}
