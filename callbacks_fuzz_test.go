package pynba

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for what user code can hand the library: values of any
// shape to describe in messages, and callbacks that call back into the
// library while it works for them.

// fuzzValue builds a value from fuzz bytes: scalars, nested maps and
// slices, pointers, cycles, panicking methods and callables.
func fuzzValue(r *fuzzBytes, depth int) any {
	if depth > 40 {
		return "deep"
	}
	switch r.byte() % 12 {
	case 0:
		return strings.Repeat("s", int(r.byte())*int(r.byte()))
	case 1:
		return int(r.byte()) - 128
	case 2:
		m := map[string]any{}
		for range r.byte() % 4 {
			m[string(rune('a'+r.byte()%26))] = fuzzValue(r, depth+1)
		}
		if r.byte()%2 == 0 {
			m["self"] = m // a map holding itself
		}
		return m
	case 3:
		s := []any{}
		for range r.byte() % 4 {
			s = append(s, fuzzValue(r, depth+1))
		}
		s = append(s, nil)
		s[len(s)-1] = s // a slice holding itself
		return s
	case 4:
		v := fuzzValue(r, depth+1)
		return &v
	case 5:
		return fuzzPanicker{fuzzValue(r, depth+1)}
	case 6:
		v := fuzzValue(r, depth+1)
		return func() any { panic(v) }
	case 7:
		v := fuzzValue(r, depth+1)
		return func() any { return v }
	case 8:
		return errors.New(strings.Repeat("e", int(r.byte())))
	case 9:
		return Tags{"t": fuzzValue(r, depth+1)}
	case 10:
		return fuzzChan
	}
	return nil
}

// fuzzPanicker's String and Error methods panic with the value it holds.
type fuzzPanicker struct{ v any }

func (p fuzzPanicker) String() string { panic(p.v) }
func (p fuzzPanicker) Error() string  { panic(p.v) }

// FuzzDescribe: whatever the value (cyclic, deep, huge, panicking), the
// messages about it are short and valid, and flattening it or reporting a
// misuse of a timer holding it neither panics nor hangs.
func FuzzDescribe(f *testing.F) {
	for _, seed := range []string{"\x02\x01\x00\x00", "\x03\x02\x05\x00\x06\x02", "\x09\x05\x02\x00", "\x00\xff\xff", "\x06\x03\x01\x06\x05\x08"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := fuzzValue(&fuzzBytes{data}, 0)
		if d := describe(v); len(d) > 200 || !utf8.ValidString(d) {
			t.Fatalf("describe gave %d bytes: %q", len(d), d)
		}
		if p := (&PanicError{What: "callable", Value: v}).Error(); len(p) > 300 {
			t.Fatalf("PanicError message of %d bytes", len(p))
		}
		within(t, "Flatten", func() { Flatten(Tags{"v": v}) })
		var errs errLog
		k, err := newCore("127.0.0.1:9", []Option{WithErrorHandler(errs.handle)})
		if err != nil {
			t.Fatal(err)
		}
		defer k.close()
		c := k.get()
		h := c.begin(reqInit{scriptName: "/fuzz"})
		tm := h.Timer(Tags{"v": v})
		within(t, "misuse reports", func() { tm.Stop(); tm.Start(); tm.Start() })
		c.finishWith("", false, 0)
		k.put(c)
		for _, e := range errs.all() {
			if len(e.Error()) > 400 {
				t.Fatalf("error message of %d bytes: %.80q...", len(e.Error()), e.Error())
			}
		}
	})
}

// FuzzReentrantCallbacks: tag callables and the error handler call back
// into the library (Flush, Send, Collector, Timer, SetTag, Close) in an
// order the fuzzer picks, while the library builds the packet that called
// them. Nothing may deadlock, panic out of the library, or leave the
// monitor unusable.
func FuzzReentrantCallbacks(f *testing.F) {
	for _, seed := range []string{"\x00\x01\x02", "\x01\x01\x01\x05", "\x03\x04\x00\x02\x06", "\x05\x05\x05"} {
		f.Add([]byte(seed))
	}
	srv := newServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzBytes{data}
		var sm *ScriptMonitor
		calls := 0
		act := func() {
			calls++
			if calls > 50 {
				return
			}
			switch r.byte() % 8 {
			case 0:
				Flush()
			case 1:
				sm.Send()
			case 2:
				sm.Collector().Timer(Tags{"from": "callback"}).Start().Stop()
			case 3:
				SetTag("cb", "x")
			case 4:
				Timer(nil).Start().Stop() // reported when built: the error handler runs
			case 5:
				sm.Close()
			case 6:
				Current().Flush()
			case 7:
				panic("callback")
			}
		}
		within(t, "a job whose callbacks call back", func() {
			var err error
			sm, err = NewScriptMonitor(srv.Addr(), WithErrorHandler(func(error) { act() }))
			if err != nil {
				t.Error(err)
				return
			}
			for range 3 {
				Timer(Tags{"cb": func() string { act(); return "v" }}).Start().Stop()
				SetTag("req", func() string { act(); return "w" })
				sm.Send()
			}
			sm.Close()
		})
		if registrySize() != 0 {
			t.Fatalf("registry holds %d goroutines after Close", registrySize())
		}
		srv.Take()
	})
}
