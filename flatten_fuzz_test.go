package pynba

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fuzzTags builds Tags from fuzz bytes: strings (empty and invalid UTF-8
// included), numbers, bools, bytes, nil, channels, slices, maps and
// callables nested up to four levels.
type fuzzTags struct{ b []byte }

func (r *fuzzTags) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzTags) str() string {
	n := min(int(r.byte()%6), len(r.b))
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

var fuzzChan = make(chan int)

func (r *fuzzTags) value(depth int) any {
	op := r.byte() % 16
	if depth >= 4 {
		op %= 8 // no more containers
	}
	n := int(r.byte() % 5)
	switch op {
	case 0, 1:
		return r.str()
	case 2:
		return int64(int8(r.byte())) * 1000
	case 3:
		return r.byte()&1 == 1
	case 4:
		return float64(int8(r.byte())) / 8
	case 5:
		return []byte(r.str())
	case 6:
		return nil
	case 7:
		return fuzzChan
	case 8:
		s := make([]string, n)
		for i := range s {
			s[i] = r.str()
		}
		return s
	case 9, 10:
		s := make([]any, n)
		for i := range s {
			s[i] = r.value(depth + 1)
		}
		return s
	case 11, 12:
		m := map[string]any{}
		for range n {
			m[r.str()] = r.value(depth + 1)
		}
		return m
	case 13:
		m := map[string]string{}
		for range n {
			m[r.str()] = r.str()
		}
		return m
	case 14:
		v := r.value(depth + 1)
		return func() any { return v }
	default:
		return func() any { panic("fuzz") }
	}
}

func (r *fuzzTags) tags() Tags {
	t := Tags{}
	for n := r.byte() % 6; n > 0; n-- {
		t[r.str()] = r.value(0)
	}
	return t
}

// flattenModel is a plain restatement of the rules for the values fuzzTags
// makes: pairs into out, the names of dropped tags into errs.
func flattenModel(name string, v any, out map[Tag]bool, errs *[]string) {
	switch x := v.(type) {
	case string:
		out[Tag{name, x}] = true
	case []byte:
		out[Tag{name, string(x)}] = true
	case int64:
		out[Tag{name, strconv.FormatInt(x, 10)}] = true
	case bool:
		out[Tag{name, strconv.FormatBool(x)}] = true
	case float64:
		out[Tag{name, strconv.FormatFloat(x, 'g', -1, 64)}] = true
	case []string:
		for _, s := range x {
			out[Tag{name, s}] = true
		}
	case []any:
		for _, e := range x {
			flattenModel(name, e, out, errs)
		}
	case map[string]any:
		for k, e := range x {
			if k == "" {
				*errs = append(*errs, name+".")
				continue
			}
			flattenModel(name+"."+k, e, out, errs)
		}
	case map[string]string:
		for k, e := range x {
			if k == "" {
				*errs = append(*errs, name+".")
				continue
			}
			out[Tag{name + "." + k, e}] = true
		}
	case func() any:
		ok := false
		var r any
		func() {
			defer func() { _ = recover() }()
			r = x()
			ok = true
		}()
		if ok {
			flattenModel(name, r, out, errs)
		} else {
			*errs = append(*errs, name)
		}
	default: // nil, chan
		*errs = append(*errs, name)
	}
}

func FuzzFlatten(f *testing.F) {
	// Layout: a count of tags; per tag, a key (length byte, bytes) and a
	// value (op byte, n byte, payload); see fuzzTags.value.
	f.Add([]byte{})
	// pynba's README example.
	f.Add([]byte("\x03" + "\x03foo\x00\x00\x03bar" + "\x03baz\x08\x02\x04seq1\x04seq2" + "\x03qux\x0d\x01\x04map1\x04val1"))
	// Empty name, nil, invalid UTF-8 name, []any with a channel, map with an
	// empty key and a callable, panicking callable.
	f.Add([]byte("\x05" + "\x00\x00\x00\x01a" + "\x01b\x06\x00" +
		"\x02\xff\xfe\x09\x03\x01\x00\x01c\x02\x00\x85\x07\x00" +
		"\x01d\x0b\x02\x00\x03\x00\x01\x01e\x0e\x00\x04\x00\x0c" + "\x01p\x0f\x00"))
	// Nested maps and slices.
	f.Add([]byte("\x01" + "\x01k\x0b\x01\x01a\x0c\x01\x01b\x09\x02" + "\x0d\x01\x01c\x01\xc3" + "\x05\x00\x02\xff\x00"))
	// Duplicates.
	f.Add([]byte("\x02" + "\x01a\x08\x03\x01x\x01x\x01y" + "\x01z\x09\x02\x00\x00\x01x\x00\x00\x01x"))
	var reused flatBuf
	f.Fuzz(func(t *testing.T, data []byte) {
		in := (&fuzzTags{b: data}).tags()

		got, err := Flatten(in)
		for i, p := range got {
			if p.Name == "" {
				t.Fatalf("pair %d has an empty name: %q", i, got)
			}
			if i > 0 {
				q := got[i-1]
				if c := strings.Compare(q.Name, p.Name); c > 0 || c == 0 && q.Value >= p.Value {
					t.Fatalf("pairs %d and %d are not strictly ascending: %q, %q", i-1, i, q, p)
				}
			}
		}

		want := map[Tag]bool{}
		var wantErrs []string
		for k, v := range in {
			if k == "" {
				wantErrs = append(wantErrs, "")
				continue
			}
			flattenModel(k, v, want, &wantErrs)
		}
		wantPairs := make([]Tag, 0, len(want))
		for p := range want {
			wantPairs = append(wantPairs, p)
		}
		slices.SortFunc(wantPairs, func(a, b Tag) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Value, b.Value)
		})
		if len(wantPairs) == 0 {
			wantPairs = nil
		}
		if !slices.Equal(got, wantPairs) {
			t.Fatalf("Flatten(%#v):\n got %q\nwant %q", in, got, wantPairs)
		}
		if (err != nil) != (len(wantErrs) > 0) {
			t.Fatalf("Flatten(%#v) error %v, want errors for %q", in, err, wantErrs)
		}

		// A reused flatBuf with older pairs in it agrees, and reports the
		// same dropped tags.
		reused.reset()
		reused.add(Tags{"old": []string{"x", "y"}}, nil)
		var names []string
		s, e := reused.add(in, func(err error) { names = append(names, err.(*TagError).Name) })
		if e-s != len(got) {
			t.Fatalf("flatBuf.add gave %d pairs, Flatten %d", e-s, len(got))
		}
		for i, p := range got {
			if !bytes.Equal(reused.name(s+i), []byte(p.Name)) || !bytes.Equal(reused.value(s+i), []byte(p.Value)) {
				t.Fatalf("flatBuf pair %d is %q=%q, Flatten's %q", i, reused.name(s+i), reused.value(s+i), p)
			}
		}
		slices.Sort(names)
		slices.Sort(wantErrs)
		if !slices.Equal(names, wantErrs) {
			t.Fatalf("dropped %q, want %q", names, wantErrs)
		}

		// The same tags again give the same set.
		s2, e2 := reused.add(in, nil)
		if !reused.sameSet(s, e, s2, e2) {
			t.Fatal("the same tags flattened twice differ")
		}
	})
}
