package pinbatest

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

// FuzzDecodeValidate checks that no input makes Decode, Validate or Warnings
// panic, that every problem is well formed, and that a packet Validate
// accepts decodes, and survives a round trip through pb.Record unchanged and
// still valid.
func FuzzDecodeValidate(f *testing.F) {
	records := []pb.Record{
		{},
		{Hostname: "web1", ServerName: "example.com", ScriptName: "/index", RequestCount: 1, DocumentSize: 100,
			MemoryPeak: 1 << 20, RequestTime: 0.25, RUUtime: 0.1, RUStime: 0.01, Status: 200, HasStatus: true,
			MemoryFootprint: 1 << 19, HasMemoryFootprint: true, Schema: "https", HasSchema: true},
		{Hostname: "h", TimerHitCount: []uint32{1, 2}, TimerValue: []float32{0.5, 1}, TimerTagCount: []uint32{1, 2},
			TimerTagName: []uint32{0, 0, 2}, TimerTagValue: []uint32{1, 3, 1}, Dictionary: []string{"group", "db", "server", "cache"},
			TimerRUUtime: []float32{0.1, 0.2}, TimerRUStime: []float32{0, 0.01}, TagName: []uint32{2}, TagValue: []uint32{3}},
		{Hostname: "parent", Requests: []pb.Record{{Hostname: "child", Dictionary: []string{"a"}, TagName: []uint32{0}, TagValue: []uint32{0}}}},
	}
	for _, r := range records {
		b, err := r.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte(head().d(7, 1)))
	f.Add([]byte(head().packedU(10, 1, 0).packedF(11, -1, float32(math.NaN())).packedU(12, 3)))
	f.Add([]byte(head().msg(18, head().msg(18, headExcept(2)))))
	f.Add([]byte(headExcept(1).str(1, "late").u(16, math.MaxUint32).u(20, 9)))
	f.Add([]byte(repeatedTags()))
	f.Add([]byte(headExcept(1, 2).str(1, strings.Repeat("h", MaxHostname-1)+"é").str(2, strings.Repeat("日", 11)).
		u(10, 1).f(11, 1).u(12, 1).u(13, 0).u(14, 0).str(15, strings.Repeat("ü", MaxWord/2+1))))

	f.Fuzz(func(t *testing.T, b []byte) {
		p := Decode(b)
		_ = p.Timers
		for _, tm := range p.Timers {
			_ = tm.String()
		}
		problems, warnings := Inspect(b)
		for _, list := range []Problems{problems, warnings} {
			for _, pr := range list {
				if pr.Rule == "" || pr.Detail == "" || pr.Effect == "" ||
					(pr.Server != ServerEngine && pr.Server != ServerPinba2 && pr.Server != ServerBoth) {
					t.Fatalf("malformed problem %#v", pr)
				}
			}
		}
		err := Validate(b)
		if (err == nil) != (len(problems) == 0) {
			t.Fatalf("Validate %v but Inspect found %d problems", err, len(problems))
		}
		_ = Warnings(b)
		for _, c := range p.Requests {
			_ = c.Validate()
		}
		if err != nil {
			return
		}

		if p.Err != nil {
			t.Fatalf("Validate accepts a packet Decode refuses: %v", p.Err)
		}
		var r pb.Record
		r.FromProto(p.Request)
		re, aerr := r.Append(nil)
		if aerr != nil {
			t.Fatalf("Validate accepts a packet pb refuses to encode: %v", aerr)
		}
		if err := Validate(re); err != nil {
			t.Fatalf("re-encoded packet is not valid: %v", err)
		}
		orig := proto.Clone(p.Request).(*pb.Request)
		orig.ProtoReflect().SetUnknown(nil)
		if again := Decode(re); !proto.Equal(orig, again.Request) {
			t.Fatalf("round trip changed the request:\n%v\n%v", orig, again.Request)
		}
		checkWarnings(t, p, warnings)
	})
}

// checkWarnings checks the warnings of a valid packet against its decoded
// form: a timer repeating a tag name, and each string pinba_engine cuts.
func checkWarnings(t *testing.T, p *Packet, warnings Problems) {
	t.Helper()
	repeats := false
	for _, tm := range p.Timers {
		seen := map[string]bool{}
		for _, tag := range tm.Tags {
			repeats = repeats || seen[tag.Name]
			seen[tag.Name] = true
		}
	}
	if repeats != warnings.Has(RuleRepeatedTagName) {
		t.Fatalf("timers %v: a tag name repeated: %v, but warnings %v", p.Timers, repeats, warnings)
	}

	long := map[string]Problem{}
	for _, w := range warnings {
		if w.Rule == RuleLongString {
			long[strings.Fields(w.Detail)[0]] = w
		}
	}
	for _, f := range []struct {
		name, value string
		limit       int
	}{
		{"hostname", p.Hostname, MaxHostname}, {"server_name", p.ServerName, MaxServerName},
		{"script_name", p.ScriptName, MaxScriptName}, {"schema", p.Schema, MaxSchema},
	} {
		w, warned := long[f.name]
		if warned != (len(f.value) > f.limit) {
			t.Fatalf("%s of %d bytes: warned %v: %v", f.name, len(f.value), warned, warnings)
		}
		if warned && utf8.ValidString(f.value) {
			broken := !utf8.ValidString(f.value[:f.limit])
			if strings.Contains(w.Effect, "broken character") != broken {
				t.Fatalf("%s %q cut to %d bytes: broken %v, but the warning says %q", f.name, f.value, f.limit, broken, w.Effect)
			}
		}
	}
	words := 0
	for _, w := range p.Request.Dictionary {
		if len(w) > MaxWord {
			words++
		}
	}
	n := 0
	for _, w := range warnings {
		if w.Rule == RuleLongString && strings.HasPrefix(w.Detail, "dictionary") {
			n++
		}
	}
	if want := min(words, maxListed) + min(max(words-maxListed, 0), 1); n != want {
		t.Fatalf("%d dictionary words too long, %d warnings about them, want %d: %v", words, n, want, warnings)
	}
}
