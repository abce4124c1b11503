package pb

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fieldBytes returns the bytes of every occurrence of field num in a packet,
// in order, tags included.
func fieldBytes(t *testing.T, pkt []byte, num protowire.Number) []byte {
	t.Helper()
	var out []byte
	for len(pkt) > 0 {
		n, typ, tl := protowire.ConsumeTag(pkt)
		if tl < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(tl))
		}
		vl := protowire.ConsumeFieldValue(n, typ, pkt[tl:])
		if vl < 0 {
			t.Fatalf("bad value: %v", protowire.ParseError(vl))
		}
		if n == num {
			out = append(out, pkt[:tl+vl]...)
		}
		pkt = pkt[tl+vl:]
	}
	return out
}

// The byte vectors of pynba's own encoder tests.
func TestGoldenPynbaVectors(t *testing.T) {
	cases := []struct {
		name string
		rec  Record
		num  protowire.Number
		want string
	}{
		{"hostname", Record{Hostname: "example.com"}, FieldHostname, "0a 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d"},
		{"server_name", Record{ServerName: "server.lan"}, FieldServerName, "12 0a 73 65 72 76 65 72 2e 6c 61 6e"},
		{"script_name", Record{ScriptName: "/path"}, FieldScriptName, "1a 05 2f 70 61 74 68"},
		{"request_count 1", Record{RequestCount: 1}, FieldRequestCount, "20 01"},
		{"request_count 150", Record{RequestCount: 150}, FieldRequestCount, "20 96 01"},
		{"request_count 4007", Record{RequestCount: 4007}, FieldRequestCount, "20 a7 1f"},
		{"request_count 4007823623", Record{RequestCount: 4007823623}, FieldRequestCount, "20 87 92 8a f7 0e"},
		{"request_time", Record{RequestTime: 0.200405}, FieldRequestTime, "3d f8 36 4d 3e"},
		{"dictionary", Record{Dictionary: []string{"foo", "bar", "baz"}}, FieldDictionary, "7a 03 66 6f 6f 7a 03 62 61 72 7a 03 62 61 7a"},
		{"timer_hit_count", Record{TimerHitCount: []uint32{42, 1000, 2}, TimerValue: make([]float32, 3), TimerTagCount: make([]uint32, 3)}, FieldTimerHitCount, "50 2a 50 e8 07 50 02"},
		{"timer_value", Record{TimerHitCount: []uint32{1, 1, 1}, TimerValue: []float32{42.1, 0.1, 2.1}, TimerTagCount: make([]uint32, 3)}, FieldTimerValue, "5d 66 66 28 42 5d cd cc cc 3d 5d 66 66 06 40"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pkt, err := c.rec.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fieldBytes(t, pkt, c.num), unhex(t, c.want); !bytes.Equal(got, want) {
				t.Errorf("field %d: got % x, want % x", c.num, got, want)
			}
		})
	}
}

func TestEmptyRecordWritesRequiredFields(t *testing.T) {
	var r Record
	pkt, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fields 1-3 empty strings (2 bytes each), 4-6 zero varints (2 bytes
	// each), 7-9 zero floats (5 bytes each).
	want := unhex(t, "0a00 1200 1a00 2000 2800 3000 3d00000000 4500000000 4d00000000")
	if !bytes.Equal(pkt, want) {
		t.Fatalf("got % x\nwant % x", pkt, want)
	}
	if pkt[0] != 0x0a {
		t.Fatalf("first byte %#x: hostname must come first", pkt[0])
	}
}

// shapes returns request shapes the encoder must write as proto.Marshal does.
func shapes() map[string]Record {
	many := Record{Hostname: "h", ServerName: "s", ScriptName: "/many", RequestCount: 1, HasStatus: true, Status: 200}
	for i := range 300 {
		many.Dictionary = append(many.Dictionary, strings.Repeat("w", i%70))
	}
	for i := range 1000 {
		many.TimerHitCount = append(many.TimerHitCount, uint32(i+1))
		many.TimerValue = append(many.TimerValue, float32(i)/1000)
		many.TimerTagCount = append(many.TimerTagCount, 3)
		for j := range 3 {
			many.TimerTagName = append(many.TimerTagName, uint32((i+j)%300))
			many.TimerTagValue = append(many.TimerTagValue, uint32((i*7+j)%300))
		}
	}
	nested := Record{Hostname: "parent", RequestCount: 2, Requests: []Record{
		{Hostname: "child1", ScriptName: "/a", RequestTime: 0.5},
		{Hostname: "child2", ScriptName: strings.Repeat("/long", 40), Dictionary: []string{"k", "v"},
			TimerHitCount: []uint32{1}, TimerValue: []float32{0.25}, TimerTagCount: []uint32{1}, TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}},
	}}
	return map[string]Record{
		"empty": {},
		"no timers": {Hostname: "web1", ServerName: "example.com", ScriptName: "/index", RequestCount: 1,
			DocumentSize: 1234, MemoryPeak: 5 << 20, RequestTime: 0.0123, RUUtime: 0.004, RUStime: 0.001,
			Status: 200, HasStatus: true, MemoryFootprint: 1 << 20, HasMemoryFootprint: true, Schema: "https", HasSchema: true},
		"one timer": {Hostname: "h", ScriptName: "/x", Dictionary: []string{"group", "db"},
			TimerHitCount: []uint32{1}, TimerValue: []float32{0.01}, TimerTagCount: []uint32{1}, TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}},
		"many timers": many,
		"unicode": {Hostname: "хост", ServerName: "例え.jp", ScriptName: "/päth/✓", Dictionary: []string{"ключ", "値"},
			TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{1}, TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}},
		"empty strings": {Dictionary: []string{"", ""}, TagName: []uint32{0}, TagValue: []uint32{1}, Schema: "", HasSchema: true},
		"request tags":  {Hostname: "h", Dictionary: []string{"dc", "eu", "app", "shop"}, TagName: []uint32{2, 0}, TagValue: []uint32{3, 1}},
		"max uint32": {RequestCount: math.MaxUint32, DocumentSize: math.MaxUint32, MemoryPeak: math.MaxUint32,
			Status: math.MaxUint32, HasStatus: true, MemoryFootprint: math.MaxUint32, HasMemoryFootprint: true,
			Dictionary: []string{"a"}, TimerHitCount: []uint32{math.MaxUint32}, TimerValue: []float32{math.MaxFloat32},
			TimerTagCount: []uint32{1}, TimerTagName: []uint32{0}, TimerTagValue: []uint32{0}},
		"clamped": {RequestTime: float32(math.NaN()), RUUtime: float32(math.Inf(1)), RUStime: math.Float32frombits(1), HasStatus: true, Status: math.MaxUint32,
			Dictionary: []string{"a", "b"}, TimerHitCount: []uint32{0, 3}, TimerValue: []float32{float32(math.Inf(-1)), float32(math.Copysign(0, -1))},
			TimerTagCount: []uint32{1, 1}, TimerTagName: []uint32{0, 0}, TimerTagValue: []uint32{1, 0},
			TimerRUUtime: []float32{-2, 0.5}, TimerRUStime: []float32{float32(math.NaN()), 0.25}},
		"timer cpu": {Dictionary: []string{"a", "b"}, TimerHitCount: []uint32{1, 2}, TimerValue: []float32{0.1, 0.2},
			TimerTagCount: []uint32{2, 1}, TimerTagName: []uint32{0, 1, 0}, TimerTagValue: []uint32{1, 0, 0},
			TimerRUUtime: []float32{0.01, 0.02}, TimerRUStime: []float32{0.001, 0.002}},
		"status only": {Status: 404, HasStatus: true},
		"zero status": {Status: 0, HasStatus: true, MemoryFootprint: 0, HasMemoryFootprint: true},
		"nested":      nested,
		"long strings": {Hostname: strings.Repeat("h", 300), ServerName: strings.Repeat("s", 200),
			ScriptName: strings.Repeat("/p", 500), Dictionary: []string{strings.Repeat("x", 1000)}, TagName: []uint32{0}, TagValue: []uint32{0}},
		"invalid utf8": {Hostname: "\xff\xfe", Dictionary: []string{"\xc3\x28", "ok"}, TagName: []uint32{0}, TagValue: []uint32{1}},
	}
}

func TestAppendMatchesProtoMarshal(t *testing.T) {
	for name, r := range shapes() {
		t.Run(name, func(t *testing.T) {
			got, err := r.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := proto.Marshal(r.Proto())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Append and proto.Marshal differ\nappend: % x\nproto:  % x", got, want)
			}
			// Decodes back to the same values.
			var m Request
			if err := proto.Unmarshal(got, &m); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(&m, r.Proto()) {
				t.Fatalf("decoded message differs from the record")
			}
			var back Record
			back.FromProto(&m)
			again, _ := back.Append(nil)
			if !bytes.Equal(again, got) {
				t.Fatalf("FromProto then Append changed the bytes")
			}
			// Appending to a non-empty buffer keeps its prefix.
			pre := []byte("prefix")
			out, _ := r.Append(append([]byte(nil), pre...))
			if !bytes.HasPrefix(out, pre) || !bytes.Equal(out[len(pre):], got) {
				t.Fatalf("Append to a non-empty buffer")
			}
		})
	}
}

func TestAppendCleansWhatServersDrop(t *testing.T) {
	r := shapes()["clamped"]
	pkt, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	var m Request
	if err := proto.Unmarshal(pkt, &m); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float32{"request_time": m.GetRequestTime(), "ru_utime": m.GetRuUtime(), "ru_stime": m.GetRuStime(),
		"timer_value[0]": m.TimerValue[0], "timer_value[1]": m.TimerValue[1], "timer_ru_utime[0]": m.TimerRuUtime[0], "timer_ru_stime[0]": m.TimerRuStime[0]} {
		if v != 0 || math.Signbit(float64(v)) {
			t.Errorf("%s = %v, want +0", name, v)
		}
	}
	if m.GetStatus() != math.MaxUint32-1 {
		t.Errorf("status %d, want 4294967294", m.GetStatus())
	}
	if m.TimerHitCount[0] != 1 || m.TimerHitCount[1] != 3 {
		t.Errorf("hit counts %v, want [1 3]", m.TimerHitCount)
	}
	if m.TimerRuUtime[1] != 0.5 || m.TimerRuStime[1] != 0.25 {
		t.Errorf("valid CPU times changed: %v %v", m.TimerRuUtime, m.TimerRuStime)
	}
}

func TestAppendRefusesStructuralFaults(t *testing.T) {
	cases := map[string]struct {
		r    Record
		want string
	}{
		"timer lengths": {Record{TimerHitCount: []uint32{1}, TimerValue: []float32{1, 2}, TimerTagCount: []uint32{0}}, "timer arrays differ"},
		"tag count sum": {Record{Dictionary: []string{"a"}, TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{2},
			TimerTagName: []uint32{0}, TimerTagValue: []uint32{0}}, "add up to 2"},
		"request tag lengths": {Record{Dictionary: []string{"a"}, TagName: []uint32{0, 0}, TagValue: []uint32{0}}, "2 request tag names but 1"},
		"timer index":         {Record{Dictionary: []string{"a"}, TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{1}, TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}}, "timer_tag_value[0] = 1 is out of range"},
		"request tag index":   {Record{TagName: []uint32{0}, TagValue: []uint32{0}}, "tag_name[0] = 0 is out of range of a dictionary of 0"},
		"cpu lengths":         {Record{TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{0}, TimerRUUtime: []float32{1, 2}}, "timer CPU arrays"},
		"nested":              {Record{Requests: []Record{{}, {TagName: []uint32{3}, TagValue: []uint32{3}}}}, "nested request 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			buf := []byte("keep")
			out, err := c.r.Append(buf)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if string(out) != "keep" {
				t.Fatalf("buffer changed on error: %q", out)
			}
		})
	}
}

func TestResetKeepsCapacity(t *testing.T) {
	r := shapes()["many timers"]
	c := cap(r.TimerTagName)
	r.Reset()
	if len(r.TimerTagName) != 0 || cap(r.TimerTagName) != c || r.Hostname != "" || r.HasStatus {
		t.Fatalf("Reset: len %d cap %d (want 0, %d), hostname %q", len(r.TimerTagName), cap(r.TimerTagName), c, r.Hostname)
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	for _, name := range []string{"no timers", "many timers", "nested", "request tags"} {
		r := shapes()[name]
		buf := make([]byte, 0, 64<<10)
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = r.Append(buf[:0])
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Append, want 0", name, allocs)
		}
	}
}
