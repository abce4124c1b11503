package pynba

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Types for the flattening tests.
type (
	tagLevel  int
	tagName   string
	tagFlag   bool
	tagRatio  float32
	tagCount  uint16
	tagKey    string
	tagLazy   func() int
	tagStruct struct{ A int }
)

// tagPtrStringer is a fmt.Stringer through its pointer.
type tagPtrStringer struct{ s string }

func (p *tagPtrStringer) String() string { return "ptr:" + p.s }

// tagPanicStringer's String panics.
type tagPanicStringer struct{}

func (tagPanicStringer) String() string { panic("stringer boom") }

// tagPanicError's Error panics.
type tagPanicError struct{}

func (tagPanicError) Error() string { panic(errors.New("error boom")) }

// tagPtrError is an error through its pointer.
type tagPtrError struct{}

func (*tagPtrError) Error() string { return "ptr error" }

// tagEnum is a named int with a String method: String wins, as in fmt.
type tagEnum int

func (e tagEnum) String() string { return fmt.Sprintf("enum-%d", int(e)) }

func tagPairs(pairs ...string) []Tag {
	var out []Tag
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Tag{pairs[i], pairs[i+1]})
	}
	return out
}

// flattenWithErrors flattens through a flatBuf and returns the pairs and
// the sorted names of the TagErrors reported, checking that every error
// is a *TagError.
func flattenWithErrors(t *testing.T, in Tags) ([]Tag, []string) {
	t.Helper()
	var f flatBuf
	var names []string
	start, end := f.add(in, func(err error) {
		var te *TagError
		if !errors.As(err, &te) {
			t.Errorf("error %v (%T) is not a *TagError", err, err)
			return
		}
		if !strings.HasPrefix(err.Error(), "pynba: tag ") {
			t.Errorf("error %q does not start with `pynba: tag `", err)
		}
		names = append(names, te.Name)
	})
	var out []Tag
	for i := start; i < end; i++ {
		out = append(out, Tag{string(f.name(i)), string(f.value(i))})
	}
	slices.Sort(names)
	return out, names
}

func TestFlatten(t *testing.T) {
	ch := make(chan int)
	type tc struct {
		name    string
		in      Tags
		want    []Tag
		errs    []string // names of the dropped tags, sorted
		errText []string // substrings of Flatten's error
	}
	cases := []tc{
		{
			name: "pynba README example",
			in:   Tags{"foo": "bar", "baz": []string{"seq1", "seq2"}, "qux": map[string]string{"map1": "val1"}},
			want: tagPairs("baz", "seq1", "baz", "seq2", "foo", "bar", "qux.map1", "val1"),
		},
		{name: "nil tags", in: nil},
		{name: "empty tags", in: Tags{}},
		{
			name: "strings and bytes",
			in:   Tags{"s": "v", "empty": "", "b": []byte("raw"), "nb": []byte(nil), "raw": json.RawMessage(`{"x":1}`), "name": tagName("named")},
			want: tagPairs("b", "raw", "empty", "", "name", "named", "nb", "", "raw", `{"x":1}`, "s", "v"),
		},
		{
			name: "bools",
			in:   Tags{"t": true, "f": false, "named": tagFlag(true)},
			want: tagPairs("f", "false", "named", "true", "t", "true"),
		},
		{
			name: "integers",
			in: Tags{
				"int": -42, "i8": int8(-128), "i16": int16(300), "i32": int32(-70000), "i64": int64(math.MinInt64),
				"uint": uint(7), "u8": uint8(255), "u16": uint16(65535), "u32": uint32(4007823623), "u64": uint64(math.MaxUint64),
				"uptr": uintptr(12), "level": tagLevel(3), "count": tagCount(9),
			},
			want: tagPairs("count", "9", "i16", "300", "i32", "-70000", "i64", "-9223372036854775808", "i8", "-128",
				"int", "-42", "level", "3", "u16", "65535", "u32", "4007823623", "u64", "18446744073709551615",
				"u8", "255", "uint", "7", "uptr", "12"),
		},
		{
			name: "floats",
			in: Tags{
				"half": 1.5, "f32": float32(0.1), "f64": 0.1, "big": 1e21, "small": 1e-7, "zero": 0.0,
				"nan": math.NaN(), "inf": math.Inf(-1), "ratio": tagRatio(0.25),
			},
			want: tagPairs("big", "1e+21", "f32", "0.1", "f64", "0.1", "half", "1.5", "inf", "-Inf", "nan", "NaN",
				"ratio", "0.25", "small", "1e-07", "zero", "0"),
		},
		{
			name: "complex numbers as strconv.FormatComplex",
			in:   Tags{"c": complex(1, 2), "n": complex64(complex(1.5, -0.5)), "nan": complex(0, math.NaN()), "inf": complex(math.Inf(1), math.Inf(1))},
			want: tagPairs("c", "(1+2i)", "inf", "(+Inf+Infi)", "n", "(1.5-0.5i)", "nan", "(0+NaNi)"),
		},
		{
			name: "Stringers and errors",
			in: Tags{
				"dur": 1500 * time.Millisecond, "err": errors.New("boom"), "ip": net.IPv4(127, 0, 0, 1),
				"enum": tagEnum(2), "ptr": &tagPtrStringer{"x"}, "perr": &tagPtrError{},
			},
			want: tagPairs("dur", "1.5s", "enum", "enum-2", "err", "boom", "ip", "127.0.0.1", "perr", "ptr error", "ptr", "ptr:x"),
		},
		{
			name: "slices and arrays",
			in: Tags{
				"dup":   []string{"b", "a", "b", "a"},
				"mixed": []any{"x", 1, true, map[string]any{"k": "v"}, func() any { return "lazy" }, []string{"y", "x"}},
				"ints":  []int{3, 1, 3},
				"arr":   [3]string{"p", "q", "p"},
				"bytes": [2]byte{7, 8},
				"named": []tagLevel{1, 2},
				"empty": []string{},
				"nil":   []any(nil),
			},
			want: tagPairs("arr", "p", "arr", "q", "bytes", "7", "bytes", "8", "dup", "a", "dup", "b",
				"ints", "1", "ints", "3", "mixed", "1", "mixed", "lazy", "mixed", "true", "mixed", "x", "mixed", "y",
				"mixed.k", "v", "named", "1", "named", "2"),
		},
		{
			name: "maps keep the full dotted path",
			in: Tags{
				"a":     map[string]any{"b": map[string]any{"c": 1}},
				"d":     Tags{"e": Tags{"f": map[string]string{"g": "h"}}},
				"typed": map[string]int{"one": 1},
				"key":   map[tagKey]tagLevel{"k": 5},
				"empty": map[string]any{},
				"deep":  map[string]any{"x": map[string][]string{"y": {"1", "2"}}},
			},
			want: tagPairs("a.b.c", "1", "d.e.f.g", "h", "deep.x.y", "1", "deep.x.y", "2", "key.k", "5", "typed.one", "1"),
		},
		{
			name: "callables are called and flattened",
			in: Tags{
				"any":     func() any { return map[string]any{"n": 2, "s": []any{"a", func() string { return "b" }}} },
				"str":     func() string { return "s" },
				"strs":    func() []string { return []string{"y", "x", "y"} },
				"named":   tagLazy(func() int { return 7 }),
				"int":     func() int { return 8 },
				"nested":  func() any { return func() any { return "inner" } },
				"payload": func() Tags { return Tags{"k": "v"} },
			},
			want: tagPairs("any.n", "2", "any.s", "a", "any.s", "b", "int", "8", "named", "7", "nested", "inner",
				"payload.k", "v", "str", "s", "strs", "x", "strs", "y"),
		},
		{
			name: "pointers are dereferenced",
			in: Tags{
				"s":   new("pointed"),
				"pp":  new(new(5)),
				"arr": &[]string{"a"},
				"m":   &map[string]any{"k": "v"},
			},
			want: tagPairs("arr", "a", "m.k", "v", "pp", "5", "s", "pointed"),
		},
		{
			name: "dedup across tags",
			in:   Tags{"a.b": "c", "a": map[string]any{"b": "c"}, "x": []any{"1", 1, uint8(1), "1"}},
			want: tagPairs("a.b", "c", "x", "1"),
		},
		{
			name: "byte-wise order, unicode and invalid UTF-8 kept",
			in: Tags{
				"a": []string{"z", "Z", "\xff", "é", "", "a\x00"}, "B": "1", "é": "2", "a b": "3", "a.b": "4",
				"\xfe\xff": "\xc3", "a\x00": "5",
			},
			want: tagPairs("B", "1", "a", "", "a", "Z", "a", "a\x00", "a", "z", "a", "é", "a", "\xff",
				"a\x00", "5", "a b", "3", "a.b", "4", "é", "2", "\xfe\xff", "\xc3"),
		},
		{
			name: "keys with dots are kept as they are",
			in:   Tags{"x.y": map[string]any{"z.w": "v"}},
			want: tagPairs("x.y.z.w", "v"),
		},
		{
			name:    "bad kinds are dropped, the rest kept",
			in:      Tags{"ok": "1", "chan": ch, "fn": func(int) string { return "" }, "two": func() (int, error) { return 0, nil }, "none": func() {}, "struct": tagStruct{1}, "nil": nil, "unsafe": unsafe.Pointer(&ch), "intmap": map[int]string{1: "a"}, "inner": map[string]any{"ok": 2, "bad": ch}, "list": []any{"kept", ch, nil}},
			want:    tagPairs("inner.ok", "2", "list", "kept", "ok", "1"),
			errs:    []string{"chan", "fn", "inner.bad", "intmap", "list", "list", "nil", "none", "struct", "two", "unsafe"},
			errText: []string{`pynba: tag "chan": chan int cannot be a tag value`, `tag "inner.bad": chan int`, `tag "fn": func(int) string cannot be a tag value`, `tag "struct": pynba.tagStruct cannot be a tag value`, `tag "nil": nil cannot be a tag value`, `tag "unsafe": unsafe.Pointer cannot`, `map[int]string cannot be a tag value (map keys must be strings)`},
		},
		{
			name:    "nil maps, funcs and pointers are dropped",
			in:      Tags{"ok": "1", "m": map[string]any(nil), "t": Tags(nil), "ms": map[string]string(nil), "mi": map[string]int(nil), "f": (func() any)(nil), "fs": (func() string)(nil), "fss": (func() []string)(nil), "fl": tagLazy(nil), "p": (*string)(nil), "ps": (*tagPtrStringer)(nil), "pe": (*tagPtrError)(nil), "es": []error{nil}},
			want:    tagPairs("ok", "1"),
			errs:    []string{"es", "f", "fl", "fs", "fss", "m", "mi", "ms", "p", "pe", "ps", "t"},
			errText: []string{`tag "ps": nil *pynba.tagPtrStringer cannot be a tag value`, `tag "pe": nil *pynba.tagPtrError`, `tag "m": nil map[string]interface {}`, `tag "p": nil *string`},
		},
		{
			name:    "empty names and keys are dropped",
			in:      Tags{"": "x", "ok": "1", "m": map[string]any{"": "y", "k": "z"}, "s": map[string]string{"": "y"}, "r": map[tagKey]int{"": 1}},
			want:    tagPairs("m.k", "z", "ok", "1"),
			errs:    []string{"", "m.", "r.", "s."},
			errText: []string{`tag "": empty tag name`, `tag "m.": empty map key in a tag path`},
		},
		{
			name: "panics are recovered and drop only their tag",
			in: Tags{
				"ok":     "1",
				"call":   func() any { panic("call boom") },
				"str":    func() string { panic("str boom") },
				"strs":   func() []string { panic("strs boom") },
				"refl":   tagLazy(func() int { panic("refl boom") }),
				"string": tagPanicStringer{},
				"error":  tagPanicError{},
				"nilp":   func() any { panic(nil) },
				"list":   []any{"kept", func() any { panic("in list") }},
				"inner":  map[string]any{"ok": "2", "bad": func() any { panic("inner") }},
			},
			want:    tagPairs("inner.ok", "2", "list", "kept", "ok", "1"),
			errs:    []string{"call", "error", "inner.bad", "list", "nilp", "refl", "str", "string", "strs"},
			errText: []string{`tag "call": callable panicked with "call boom"`, `tag "string": String method panicked with "stringer boom"`, `tag "error": Error method panicked with *errors.errorString`, `tag "refl": callable panicked with "refl boom"`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Flatten(c.in)
			if !slices.Equal(got, c.want) {
				t.Errorf("Flatten pairs:\n got %q\nwant %q", got, c.want)
			}
			if (err != nil) != (len(c.errs) > 0) {
				t.Errorf("Flatten error = %v, want errors for %q", err, c.errs)
			}
			for _, s := range c.errText {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("Flatten error %v does not contain %q", err, s)
				}
			}
			got2, names := flattenWithErrors(t, c.in)
			if !slices.Equal(got2, c.want) {
				t.Errorf("flatBuf pairs:\n got %q\nwant %q", got2, c.want)
			}
			if !slices.Equal(names, c.errs) {
				t.Errorf("dropped tags %q, want %q", names, c.errs)
			}
		})
	}
}

func TestFlattenErrorSortedAndJoined(t *testing.T) {
	ch := make(chan int)
	_, err := Flatten(Tags{"c": ch, "a": ch, "b": ch, "ok": 1})
	want := `pynba: tag "a": chan int cannot be a tag value
pynba: tag "b": chan int cannot be a tag value
pynba: tag "c": chan int cannot be a tag value`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	var te *TagError
	if !errors.As(err, &te) || te.Name != "a" || te.Err == nil {
		t.Fatalf("errors.As: %#v", te)
	}
	if errors.Unwrap(te) != te.Err {
		t.Fatal("Unwrap does not return Err")
	}
}

func TestFlattenPanicErrorUnwraps(t *testing.T) {
	sentinel := errors.New("sentinel")
	_, err := Flatten(Tags{"x": func() any { panic(sentinel) }})
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap the panic's error", err)
	}
}

func TestFlattenTypedNilStringerNeverCalled(t *testing.T) {
	var s fmt.Stringer = (*tagPtrStringer)(nil)
	var e error = (*tagPtrError)(nil)
	got, names := flattenWithErrors(t, Tags{"s": s, "e": e, "in": []fmt.Stringer{s, &tagPtrStringer{"y"}}})
	if want := tagPairs("in", "ptr:y"); !slices.Equal(got, want) {
		t.Errorf("pairs %q, want %q", got, want)
	}
	if want := []string{"e", "in", "s"}; !slices.Equal(names, want) {
		t.Errorf("dropped %q, want %q", names, want)
	}
}

func TestFlattenCycles(t *testing.T) {
	s := []any{"x", nil}
	s[1] = s
	m := map[string]any{"k": "v"}
	m["self"] = m
	wide := []any{nil, nil, nil, nil, nil, nil, nil, nil}
	for i := range wide {
		wide[i] = wide
	}
	var p any
	p = &p
	var fn func() any
	fn = func() any { return fn }
	done := make(chan struct{})
	var got []Tag
	var names []string
	go func() {
		defer close(done)
		got, names = flattenWithErrors(t, Tags{"ok": "1", "slice": s, "map": m, "wide": wide, "ptr": p, "fn": fn, "both": []any{"y", m}})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("flattening cyclic values did not finish")
	}
	if want := tagPairs("ok", "1"); !slices.Equal(got, want) {
		t.Errorf("pairs %q, want %q", got, want)
	}
	if want := []string{"both", "fn", "map", "ptr", "slice", "wide"}; !slices.Equal(names, want) {
		t.Errorf("dropped %q, want %q", names, want)
	}
	_, err := Flatten(Tags{"slice": s})
	if err == nil || !strings.Contains(err.Error(), `pynba: tag "slice": value nested more than 16 levels deep`) {
		t.Errorf("error %v", err)
	}
}

func TestFlattenDepthLimit(t *testing.T) {
	nest := func(levels int) any {
		var v any = "leaf"
		for range levels {
			v = map[string]any{"k": v}
		}
		return v
	}
	got, err := Flatten(Tags{"ok": nest(16), "deep": nest(17)})
	if want := tagPairs("ok"+strings.Repeat(".k", 16), "leaf"); !slices.Equal(got, want) || err == nil {
		t.Fatalf("pairs %q, error %v; want %q and an error", got, err, want)
	}
	if !strings.Contains(err.Error(), `tag "deep"`) {
		t.Errorf("error %v does not name the deep tag", err)
	}
}

func TestFlattenTooLarge(t *testing.T) {
	big := make([]string, maxTagValues)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	got, err := Flatten(Tags{"big": big, "ok": 1})
	if len(got) != 1 || err == nil || !strings.Contains(err.Error(), `tag "big": value holds more than 16384 elements`) {
		t.Fatalf("got %d pairs, error %v", len(got), err)
	}
	got, err = Flatten(Tags{"fits": big[:maxTagValues-1]})
	if len(got) != maxTagValues-1 || err != nil {
		t.Fatalf("got %d pairs, error %v", len(got), err)
	}
}

func TestFlattenLongStringsKept(t *testing.T) {
	name := strings.Repeat("n", 100_000)
	value := strings.Repeat("v", 1<<20)
	got, err := Flatten(Tags{name: value, "m": map[string]any{name: value}})
	if err != nil || len(got) != 2 || got[0].Name != "m."+name || got[0].Value != value ||
		got[1].Name != name || got[1].Value != value {
		t.Fatalf("long name or value not kept: %d pairs, error %v", len(got), err)
	}
}

func TestFlatBufRanges(t *testing.T) {
	var f flatBuf
	a0, a1 := f.add(Tags{"b": "2", "a": []string{"1", "1"}}, nil)
	b0, b1 := f.add(Tags{"c": "3", "a": "1"}, nil)
	c0, c1 := f.add(nil, nil)
	if a0 != 0 || a1 != 2 || b0 != 2 || b1 != 4 || c0 != 4 || c1 != 4 || f.len() != 4 {
		t.Fatalf("ranges [%d,%d) [%d,%d) [%d,%d), len %d", a0, a1, b0, b1, c0, c1, f.len())
	}
	var got []string
	for i := range f.len() {
		got = append(got, string(f.name(i))+"="+string(f.value(i)))
	}
	if want := []string{"a=1", "b=2", "a=1", "c=3"}; !slices.Equal(got, want) {
		t.Fatalf("pairs %q, want %q", got, want)
	}
	// name and value cannot be appended to past their end.
	if n := f.name(0); cap(n) != len(n) {
		t.Errorf("name has spare capacity %d", cap(n)-len(n))
	}
	f.reset()
	if f.len() != 0 {
		t.Fatal("reset kept pairs")
	}
	if s, e := f.add(Tags{"x": "y"}, nil); s != 0 || e != 1 || string(f.name(0)) != "x" || string(f.value(0)) != "y" {
		t.Fatalf("after reset: [%d,%d) %q=%q", s, e, f.name(0), f.value(0))
	}
}

func TestFlatBufSameSetWhateverTheMapOrder(t *testing.T) {
	// Maps built in different orders (and iterated in random orders).
	mk := func(keys []string) Tags {
		t := Tags{}
		for _, k := range keys {
			t[k] = map[string]any{"x": k, "y": []string{"2", "1"}}
		}
		return t
	}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	var f flatBuf
	a0, a1 := f.add(mk(keys), nil)
	for range 20 {
		b0, b1 := f.add(mk(rev), nil)
		if !f.sameSet(a0, a1, b0, b1) || !f.sameSet(b0, b1, a0, a1) {
			t.Fatal("sameSet false for equal sets")
		}
	}
	diff := []Tags{
		{"a": "x"},
		{"a": "xy"},
		{"ab": "c"},
		{"a": "bc"},
		{"a": []string{"b", "c"}},
		{"a": "b", "c": ""},
		{},
	}
	var ranges [][2]int
	for _, d := range diff {
		s, e := f.add(d, nil)
		ranges = append(ranges, [2]int{s, e})
	}
	for i, r := range ranges {
		for j, q := range ranges {
			same := f.sameSet(r[0], r[1], q[0], q[1])
			if same != (i == j) {
				t.Errorf("sameSet(%v, %v) = %v", diff[i], diff[j], same)
			}
		}
	}
}

func TestFlatBufAddZeroAllocs(t *testing.T) {
	in := Tags{"group": "db", "op": "select", "n": 42, "ok": true, "list": []string{"a", "b"}}
	var f flatBuf
	errs := 0
	onErr := func(error) { errs++ }
	run := func() {
		f.reset()
		s, e := f.add(in, onErr)
		t0, t1 := f.add(in, nil)
		if !f.sameSet(s, e, t0, t1) {
			panic("sets differ")
		}
	}
	run() // warm up: grow the arena and the pairs, make the sort function
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("flatBuf.add allocates %v times per run, want 0", n)
	}
	if errs != 0 {
		t.Fatalf("%d errors", errs)
	}
	var got []string
	for i := range f.len() / 2 {
		got = append(got, string(f.name(i))+"="+string(f.value(i)))
	}
	if want := []string{"group=db", "list=a", "list=b", "n=42", "ok=true", "op=select"}; !slices.Equal(got, want) {
		t.Fatalf("pairs %q, want %q", got, want)
	}
}

func TestFlatBufAddZeroAllocsNested(t *testing.T) {
	// Other common shapes that stay allocation-free: nested string maps,
	// []any of strings, floats, uints.
	in := Tags{"m": map[string]string{"a": "1", "b": "2"}, "t": Tags{"x": []any{"y", 2}}, "f": 1.5, "u": uint32(3)}
	var f flatBuf
	f.add(in, nil)
	if n := testing.AllocsPerRun(200, func() { f.reset(); f.add(in, nil) }); n != 0 {
		t.Fatalf("flatBuf.add allocates %v times per run, want 0", n)
	}
}

// sameSet (a test helper) reports whether the ranges [a0, a1) and [b0, b1), each returned
// by add, hold the same pairs.
func (f *flatBuf) sameSet(a0, a1, b0, b1 int) bool {
	if a1-a0 != b1-b0 {
		return false
	}
	for i := range a1 - a0 {
		if f.comparePairs(f.pairs[a0+i], f.pairs[b0+i]) != 0 {
			return false
		}
	}
	return true
}

// cycleStringer is a fmt.Stringer that is part of a cycle: its String method is
// called, the cycle is never walked.
type cycleStringer struct {
	next *cycleStringer
	name string
}

func (c *cycleStringer) String() string { return c.name + "->" + c.next.name }

// reenteringStringer is a fmt.Stringer that uses the request it is a tag of (a
// handle it keeps, and the proxy) while the packet is being built.
type reenteringStringer struct{ h Collector }

func (r reenteringStringer) String() string {
	r.h.SetTag("from-stringer", "x")
	r.h.Timer(Tags{"from": "stringer"}).Start().Stop()
	Timer(Tags{"from": "stringer-proxy"}).Start().Stop()
	_ = r.h.Timers()
	return "reentered"
}

// unusableTags returns one tag of every kind of value that cannot be a tag.
func unusableTags() Tags {
	cycSlice := []any{"x", nil}
	cycSlice[1] = cycSlice
	cycMap := map[string]any{"k": "v"}
	cycMap["self"] = cycMap
	var cycPtr any
	cycPtr = &cycPtr
	var cycFn func() any
	cycFn = func() any { return cycFn }
	var x int
	return Tags{
		"chan":       make(chan int),
		"func-args":  func(int) string { return "" },
		"func-2out":  func() (string, error) { return "", nil },
		"func-nil":   (func() string)(nil),
		"map-nil":    map[string]any(nil),
		"tags-nil":   Tags(nil),
		"map-int":    map[int]string{1: "a"},
		"ptr-nil":    (*int)(nil),
		"nil":        nil,
		"struct":     struct{ X int }{1},
		"unsafe":     unsafe.Pointer(&x),
		"cycle-sl":   cycSlice,
		"cycle-map":  cycMap,
		"cycle-ptr":  cycPtr,
		"cycle-fn":   cycFn,
		"str-panics": tagPanicStringer{},
		"fn-panics":  func() string { panic("callable boom") },
	}
}

// Every kind of value that cannot be a tag, in timer and request tags,
// next to good ones (a Stringer in a cycle, one that uses the request while
// the packet is built, NaN and infinities): the request is unharmed, each
// bad tag is dropped, counted and reported by name, the rest is sent.
func TestUnusableTagValuesAreDroppedAndReported(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	cyc := &cycleStringer{name: "a"}
	cyc.next = &cycleStringer{name: "b", next: cyc}
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		good := Tags{"ok": "1", "cycle-str": cyc, "reenter": reenteringStringer{Current()}, "nan": math.NaN(), "inf": math.Inf(-1)}
		tags := unusableTags()
		for k, v := range good {
			tags[k] = v
			SetTag(k, v)
		}
		for k, v := range unusableTags() {
			SetTag(k, v)
		}
		Timer(tags).Start().Stop()
		if r.URL.Path == "/flush" {
			if err := Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}
		io.WriteString(w, "ok")
	}, srv.Addr(), WithErrorHandler(errs.handle))

	nBad := len(unusableTags())
	for _, path := range []string{"/end", "/flush"} {
		errs.reset()
		before := m.Stats()
		done := make(chan *httptest.ResponseRecorder)
		go func() { done <- serve(m, path) }()
		var w *httptest.ResponseRecorder
		select {
		case w = <-done:
		case <-time.After(wait):
			t.Fatalf("%s: the request hangs", path)
		}
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("%s: response %d %q", path, w.Code, w.Body)
		}
		packets := 1
		if path == "/flush" {
			packets = 2
		}
		ps, err := srv.Wait(packets, wait)
		if err != nil {
			t.Fatal(err)
		}
		p := ps[0]
		checkPacket(t, p)
		want := "[{cycle-str a->b} {inf -Inf} {nan NaN} {ok 1} {reenter reentered}]"
		if len(p.Timers) < 1 || fmt.Sprint(p.Timers[0].Tags) != want {
			t.Errorf("%s: timers %v, want the first with tags %s", path, p.Timers, want)
		}
		gotReq := fmt.Sprint(p.Tags)
		if gotReq != want && gotReq != strings.Replace(want, "[", "[{from-stringer x} ", 1) {
			t.Errorf("%s: request tags %s, want %s", path, gotReq, want)
		}
		for _, p := range ps[1:] {
			checkPacket(t, p)
		}
		// Each bad tag is dropped once as a timer tag and once as a request
		// tag, in each packet built.
		names := map[string]int{}
		for _, err := range errs.all() {
			var te *TagError
			if errors.As(err, &te) {
				names[te.Name]++
			}
		}
		for k := range unusableTags() {
			if names[k] < 2 {
				t.Errorf("%s: tag %q reported %d times, want at least 2", path, k, names[k])
			}
		}
		s := m.Stats()
		if got := s.TagErrors - before.TagErrors; got < uint64(2*nBad) || s.EncodeErrors != 0 {
			t.Errorf("%s: %d tag errors counted, want at least %d; stats %+v", path, got, 2*nBad, s)
		}
		if n := registrySize(); n != 0 {
			t.Errorf("registry holds %d goroutines", n)
		}
	}
}

// Empty names: a tag with an empty name, or an empty key in a map, is
// dropped and reported; a timer left with no tag is not sent.
func TestEmptyTagNamesAreDropped(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"": "only"}).Start().Stop()
		Timer(Tags{"": "x", "ok": "1", "m": map[string]any{"": 1, "k": 2}}).Start().Stop()
		SetTag("", "empty")
		SetTag("req", "ok")
	}, srv.Addr(), WithTags(Tags{"": "configured"}), WithErrorHandler(errs.handle))
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 1 || fmt.Sprint(p.Timers[0].Tags) != "[{m.k 2} {ok 1}]" {
		t.Errorf("timers %v", p.Timers)
	}
	if fmt.Sprint(p.Tags) != "[{req ok}]" {
		t.Errorf("request tags %v", p.Tags)
	}
	names := map[string]int{}
	for _, err := range errs.all() {
		var te *TagError
		if errors.As(err, &te) {
			names[te.Name]++
		}
	}
	if names[""] != 3 || names["m."] != 1 {
		t.Errorf("tag errors by name %v; all %v", names, errs.all())
	}
	if s := m.Stats(); s.TagErrors != 5 {
		t.Errorf("TagErrors %d, want 5 (3 empty names, 1 empty key, 1 timer with no tag)", s.TagErrors)
	}
}

var flattenBenchCases = []struct {
	name string
	tags Tags
}{
	{"strings3", Tags{"group": "db", "op": "select", "table": "users"}},
	{"mixed", Tags{
		"group": "db", "n": 42, "ok": true, "ratio": 0.5,
		"list": []string{"a", "b", "c"},
		"meta": map[string]any{"host": "db1", "port": 5432, "shard": map[string]string{"id": "7"}},
	}},
}

// BenchmarkFlatten compares the reusable flatBuf (the hot path) with the
// exported Flatten.
func BenchmarkFlatten(b *testing.B) {
	for _, c := range flattenBenchCases {
		b.Run(c.name+"/flatBuf.add", func(b *testing.B) {
			var f flatBuf
			f.add(c.tags, nil)
			b.ReportAllocs()
			for b.Loop() {
				f.reset()
				f.add(c.tags, nil)
			}
		})
		b.Run(c.name+"/Flatten", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Flatten(c.tags); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
