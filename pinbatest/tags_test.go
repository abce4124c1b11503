package pinbatest

import (
	"slices"
	"strings"
	"testing"
)

// repeatedTags is a packet whose timer 0 has baz=seq1, baz=seq2, foo=bar (what
// pynba sends for timer(foo='bar', baz=['seq1','seq2'])), timer 1 has
// baz=seq3, and whose request tags repeat env.
func repeatedTags() wire {
	return head().
		u(10, 1).u(10, 1).f(11, 0.5).f(11, 0.25).u(12, 3).u(12, 1).
		u(13, 0).u(14, 1).u(13, 0).u(14, 2).u(13, 3).u(14, 4).u(13, 0).u(14, 7).
		str(15, "baz").str(15, "seq1").str(15, "seq2").str(15, "foo").str(15, "bar").
		str(15, "env").str(15, "prod").str(15, "seq3").
		u(20, 5).u(21, 6).u(20, 5).u(21, 3)
}

func TestDecodeKeepsRepeatedTagNames(t *testing.T) {
	p := Decode(repeatedTags())
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{"seq1", "seq2"} {
		tm, ok := p.FindTimer(map[string]string{"baz": want, "foo": "bar"})
		if !ok || tm.Value != 0.5 {
			t.Errorf("FindTimer(baz=%s foo=bar) = %v, %v; want timer 0", want, tm, ok)
		}
	}
	if tm, ok := p.FindTimer(map[string]string{"baz": "seq3"}); !ok || tm.Value != 0.25 {
		t.Errorf("FindTimer(baz=seq3) = %v, %v; want timer 1", tm, ok)
	}
	if tm, ok := p.FindTimer(map[string]string{"baz": "seq1", "foo": "nope"}); ok {
		t.Errorf("FindTimer(baz=seq1 foo=nope) found %v", tm)
	}

	tags := p.Timers[0].Tags
	if want := (Tags{{"baz", "seq1"}, {"baz", "seq2"}, {"foo", "bar"}}); !slices.Equal(tags, want) {
		t.Fatalf("timer 0 tags %v, want %v", tags, want)
	}
	if got := tags.All("baz"); !slices.Equal(got, []string{"seq1", "seq2"}) {
		t.Errorf("All(baz) = %q", got)
	}
	if tags.All("nope") != nil || tags.Get("nope") != "" {
		t.Error("a missing name has values")
	}
	if tags.Get("baz") != "seq1" || tags.Get("foo") != "bar" {
		t.Errorf("Get: baz=%q foo=%q", tags.Get("baz"), tags.Get("foo"))
	}
	if !tags.Has("baz", "seq2") || tags.Has("baz", "bar") || tags.Has("foo", "seq1") {
		t.Error("Has")
	}
	if v, ok := tags.Lookup("foo"); !ok || v != "bar" {
		t.Errorf("Lookup(foo) = %q, %v", v, ok)
	}
	if v, ok := (Tags{{"empty", ""}}).Lookup("empty"); !ok || v != "" {
		t.Errorf("Lookup(empty) = %q, %v; want an empty value that is there", v, ok)
	}
	if _, ok := tags.Lookup("nope"); ok {
		t.Error("Lookup(nope) found it")
	}
	if got := p.Tags.All("env"); len(p.Tags) != 2 || !slices.Equal(got, []string{"prod", "foo"}) {
		t.Errorf("request tags %v", p.Tags)
	}
	if got := p.Timers[0].String(); got != "hits=1 value=0.5s [{baz seq1} {baz seq2} {foo bar}]" {
		t.Errorf("String() = %q", got)
	}
}

func TestWarningsRepeatedTagName(t *testing.T) {
	ws := Warnings(repeatedTags())
	var got []Problem
	for _, w := range ws {
		if w.Rule == RuleRepeatedTagName {
			got = append(got, w)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d repeated-tag-name warnings, want 1 (timer 0 only):\n%v", len(got), ws)
	}
	w := got[0]
	if w.Server != ServerBoth || !strings.Contains(w.Detail, "timer 0") ||
		!strings.Contains(w.Detail, "baz=seq1") || !strings.Contains(w.Detail, "baz=seq2") {
		t.Errorf("warning %#v", w)
	}
	for _, s := range []string{"timertag", "tag_info:baz", "@baz", "only one"} {
		if !strings.Contains(w.Effect, s) {
			t.Errorf("effect %q lacks %q", w.Effect, s)
		}
	}
	// The same name in two timers, or once per timer, is not a repeat.
	if ws := Warnings(oneTimer()); ws != nil {
		t.Errorf("one timer, one tag: %v", ws)
	}
}

func TestWarningsNameEachCutString(t *testing.T) {
	host := strings.Repeat("h", MaxHostname-1) + "é"              // é is bytes 31 and 32: the cut splits it
	server := strings.Repeat("s", MaxServerName-2) + "é" + "tail" // é is bytes 30 and 31: kept whole
	word1 := strings.Repeat("a", MaxWord-2) + "日本"                // 日 is bytes 62 to 64: split
	word2 := strings.Repeat("b", MaxWord) + "zz"                  // ASCII: a clean cut
	script := "/" + strings.Repeat("p", MaxScriptName)            // 129 bytes
	schema := strings.Repeat("x", MaxSchema-1) + "ü"              // ü is bytes 15 and 16: split
	pkt := wire(nil).
		str(1, host).str(2, server).str(3, script).
		u(4, 1).u(5, 0).u(6, 0).f(7, 0).f(8, 0).f(9, 0).
		u(10, 1).f(11, 1).u(12, 2).u(13, 0).u(14, 1).u(13, 2).u(14, 3).
		str(15, word1).str(15, "v").str(15, "k").str(15, word2).
		str(19, schema)
	if err := Validate(pkt); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ws := Warnings(pkt)
	if len(ws) != 6 {
		t.Fatalf("%d warnings, want 6 (hostname, server_name, script_name, schema, 2 words):\n%v", len(ws), ws)
	}
	byStart := map[string]Problem{}
	for _, w := range ws {
		if w.Rule != RuleLongString || w.Server != ServerEngine {
			t.Errorf("warning %v: want %s for %s", w, RuleLongString, ServerEngine)
		}
		byStart[strings.Fields(w.Detail)[0]] = w
	}
	broken := "broken character"
	for _, c := range []struct {
		field, value string
		split        bool
	}{
		{"hostname", host, true},
		{"server_name", server, false},
		{"script_name", script[:40], false},
		{"schema", schema, true},
	} {
		w, ok := byStart[c.field]
		if !ok {
			t.Errorf("no warning for %s:\n%v", c.field, ws)
			continue
		}
		if !strings.Contains(w.Detail, c.value) {
			t.Errorf("%s: detail %q does not name the string %q", c.field, w.Detail, c.value)
		}
		if strings.Contains(w.Effect, broken) != c.split {
			t.Errorf("%s: effect %q; want a broken character: %v", c.field, w.Effect, c.split)
		}
	}
	var words []Problem
	for _, w := range ws {
		if strings.HasPrefix(w.Detail, "dictionary") {
			words = append(words, w)
		}
	}
	if len(words) != 2 {
		t.Fatalf("%d dictionary warnings, want 2:\n%v", len(words), ws)
	}
	if !strings.Contains(words[0].Detail, "aaaa") || !strings.Contains(words[0].Effect, broken) ||
		!strings.Contains(words[0].Effect, `"日"`) {
		t.Errorf("word 0: %v", words[0])
	}
	if !strings.Contains(words[1].Detail, "bbbb") || strings.Contains(words[1].Effect, broken) {
		t.Errorf("word 3: %v", words[1])
	}
}

func TestWarningsListAFewThenCount(t *testing.T) {
	// 10 timers, each tagged k=a k=b, and 10 dictionary words too long.
	w := head()
	for range 10 {
		w = w.u(10, 1).f(11, 0.5).u(12, 2).u(13, 0).u(14, 1).u(13, 0).u(14, 2)
	}
	w = w.str(15, "k").str(15, "a").str(15, "b")
	for i := range 10 {
		w = w.str(15, strings.Repeat(string(rune('c'+i)), MaxWord+1))
	}
	if err := Validate(w); err != nil {
		t.Fatal(err)
	}
	count := map[string][]Problem{}
	for _, p := range Warnings(w) {
		count[p.Rule] = append(count[p.Rule], p)
	}
	for _, rule := range []string{RuleRepeatedTagName, RuleLongString} {
		ps := count[rule]
		if len(ps) != maxListed+1 {
			t.Errorf("%d %s warnings, want %d listed and one count:\n%v", len(ps), rule, maxListed, Problems(ps))
			continue
		}
		if last := ps[maxListed].Detail; !strings.Contains(last, "2 more") {
			t.Errorf("last %s warning %q does not count the 2 others", rule, last)
		}
	}
}
