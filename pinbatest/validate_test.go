package pinbatest

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
)

// wire builds packets by hand, so that they can be wrong in every way.
type wire []byte

func (w wire) tag(num int, typ protowire.Type) wire {
	return protowire.AppendTag(w, protowire.Number(num), typ)
}

func (w wire) str(num int, s string) wire {
	return protowire.AppendString(w.tag(num, protowire.BytesType), s)
}

func (w wire) u(num int, v uint64) wire {
	return protowire.AppendVarint(w.tag(num, protowire.VarintType), v)
}

func (w wire) f(num int, v float32) wire {
	return protowire.AppendFixed32(w.tag(num, protowire.Fixed32Type), math.Float32bits(v))
}

func (w wire) fbits(num int, bits uint32) wire {
	return protowire.AppendFixed32(w.tag(num, protowire.Fixed32Type), bits)
}

func (w wire) d(num int, v float64) wire {
	return protowire.AppendFixed64(w.tag(num, protowire.Fixed64Type), math.Float64bits(v))
}

func (w wire) raw(b ...byte) wire { return append(w, b...) }

func (w wire) msg(num int, inner wire) wire {
	return protowire.AppendBytes(w.tag(num, protowire.BytesType), inner)
}

func (w wire) packedU(num int, vs ...uint64) wire {
	var body []byte
	for _, v := range vs {
		body = protowire.AppendVarint(body, v)
	}
	return protowire.AppendBytes(w.tag(num, protowire.BytesType), body)
}

func (w wire) packedF(num int, vs ...float32) wire {
	var body []byte
	for _, v := range vs {
		body = protowire.AppendFixed32(body, math.Float32bits(v))
	}
	return protowire.AppendBytes(w.tag(num, protowire.BytesType), body)
}

// headExcept writes valid fields 1 to 9, leaving out the ones in skip.
func headExcept(skip ...int) wire {
	var w wire
	for num := 1; num <= 9; num++ {
		if slices.Contains(skip, num) {
			continue
		}
		switch {
		case num == 1:
			w = w.str(1, "web1")
		case num == 2:
			w = w.str(2, "example.com")
		case num == 3:
			w = w.str(3, "/index")
		case num <= 6:
			w = w.u(num, uint64(num))
		default:
			w = w.f(num, 0.25)
		}
	}
	return w
}

func head() wire { return headExcept() }

// oneTimer is a valid timer with one tag, group=db, after head().
func oneTimer() wire {
	return head().u(10, 1).f(11, 0.5).u(12, 1).u(13, 0).u(14, 1).str(15, "group").str(15, "db")
}

func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Validate returned %T %v, want Problems", err, err)
	}
	return ps
}

func rulesOf(ps Problems) []string {
	var rules []string
	for _, p := range ps {
		if !slices.Contains(rules, p.Rule) {
			rules = append(rules, p.Rule)
		}
	}
	slices.Sort(rules)
	return rules
}

func TestValidateRules(t *testing.T) {
	nested := head().msg(18, head())
	cases := []struct {
		name   string
		packet []byte
		rules  []string // exactly the rules expected
		server string   // Server of the first problem of rules[0], "" to skip
		want   []string // substrings of the error text
	}{
		{"truncated float", head()[:len(head())-2], []string{RuleUndecodable}, ServerBoth,
			[]string{"field 9 (ru_stime) at byte", "both servers drop the packet"}},
		{"truncated varint", head().raw(0x20, 0xff), []string{RuleUndecodable}, ServerBoth, nil},
		{"truncated string", head().raw(0x0a, 0x05, 'a'), []string{RuleUndecodable}, ServerBoth, nil},
		{"field number 0", head().raw(0x00, 0x01), []string{RuleUndecodable}, ServerBoth, []string{"bad field key"}},
		// protobuf-c reads a key of at most 5 bytes: a sixth is a bad key
		// even where protowire would read it.
		{"key of 6 bytes", head().raw(0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01), []string{RuleUndecodable}, ServerBoth, []string{"at most 5 bytes"}},
		{"varint too long", head().raw(0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), []string{RuleUndecodable}, "", nil},
		{"group wire type 3", head().tag(20, protowire.StartGroupType).tag(20, protowire.EndGroupType), []string{RuleUndecodable}, "",
			[]string{"group wire type 3"}},
		{"end group wire type 4", head().tag(30, protowire.EndGroupType), []string{RuleUndecodable}, "", []string{"wire type 4"}},
		{"wire type 6", head().raw(0x26), []string{RuleUndecodable}, "", []string{"invalid wire type 6"}},
		{"wire type 7", head().raw(0x27), []string{RuleUndecodable}, "", []string{"invalid wire type 7"}},
		{"packed floats of 3 bytes", oneTimer().tag(22, protowire.BytesType).raw(3, 1, 2, 3), []string{RuleUndecodable}, "",
			[]string{"packed field 22 (timer_ru_utime) holds 3 bytes"}},
		{"packed bad varint", head().tag(10, protowire.BytesType).raw(1, 0xff), []string{RuleUndecodable}, "",
			[]string{"packed field 10 (timer_hit_count)"}},

		{"missing document_size", headExcept(5), []string{RuleMissingField}, ServerBoth,
			[]string{"required field 5 (document_size) is missing", "both servers drop the packet"}},
		{"empty packet", nil, []string{RuleMissingField}, ServerBoth,
			[]string{"1 (hostname), 2 (server_name), 3 (script_name), 4 (request_count), 5 (document_size), 6 (memory_peak), 7 (request_time), 8 (ru_utime), 9 (ru_stime) are missing"}},

		{"request_time as double", headExcept(7, 8, 9).d(7, 0.25).f(8, 0).f(9, 0), []string{RuleWireType}, ServerBoth,
			[]string{"field 7 (request_time) sent as double (wire type 1), not float (wire type 5): both servers drop the packet"}},
		{"ru_utime as varint", headExcept(8, 9).u(8, 1).f(9, 0), []string{RuleWireType}, ServerBoth,
			[]string{"field 8 (ru_utime) sent as varint (wire type 0)"}},
		{"timer_value as double", head().u(10, 1).d(11, 0.5).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleTimerLengths, RuleWireType}, "",
			[]string{"field 11 (timer_value) sent as double (wire type 1), not float (wire type 5) or packed"}},
		{"timer_ru_stime as double", oneTimer().d(23, 0.1), []string{RuleWireType}, "",
			[]string{"field 23 (timer_ru_stime) sent as double"}},
		{"server_name as varint", headExcept(2, 3, 4, 5, 6, 7, 8, 9).u(2, 7).str(3, "/").u(4, 1).u(5, 1).u(6, 1).f(7, 0).f(8, 0).f(9, 0),
			[]string{RuleWireType}, "", []string{"field 2 (server_name) sent as varint (wire type 0), not length-delimited"}},
		{"request_count as fixed32", headExcept(4, 5, 6, 7, 8, 9).fbits(4, 1).u(5, 1).u(6, 1).f(7, 0).f(8, 0).f(9, 0),
			[]string{RuleWireType}, "", []string{"field 4 (request_count) sent as fixed32 (wire type 5)"}},
		{"status packed", head().packedU(16, 200), []string{RuleWireType}, "",
			[]string{"field 16 (status) sent as length-delimited (wire type 2), not varint (wire type 0)"}},
		{"dictionary as varint", head().u(15, 1), []string{RuleWireType}, "", []string{"field 15 (dictionary) sent as varint"}},
		{"requests as fixed32", head().fbits(18, 1), []string{RuleWireType}, "", []string{"field 18 (requests) sent as fixed32"}},

		{"timer arrays differ", head().u(10, 1).u(10, 1).f(11, 0.5).u(12, 1).u(12, 1).u(13, 0).u(13, 0).u(14, 1).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleTimerLengths}, ServerBoth,
			[]string{"2 timer_hit_count (10), 1 timer_value (11), 2 timer_tag_count (12): both servers drop the packet"}},
		{"tag counts add up to more", head().u(10, 1).f(11, 0.5).u(12, 2).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleTimerTagSum}, ServerBoth,
			[]string{"adds up to 2, but there are 1 timer_tag_name (13) and 1 timer_tag_value (14)",
				"pinba_engine reads past the end of the tag arrays, pinba2 drops the packet"}},
		{"tag counts add up to less", oneTimer().u(13, 0).u(14, 1),
			[]string{RuleTimerTagSum}, ServerBoth, []string{"pinba_engine ignores the extra tag entries, pinba2 drops the packet"}},
		{"request tags 2 names 1 value", head().u(20, 0).u(20, 0).u(21, 1).str(15, "a").str(15, "b"),
			[]string{RuleRequestTagLengths}, ServerBoth,
			[]string{"2 tag_name (20) but 1 tag_value (21)", "pinba_engine drops the packet, pinba2 reads past the end of tag_value (out-of-bounds read)"}},
		{"timer_ru_utime short", oneTimer().u(10, 1).f(11, 0.5).u(12, 1).u(13, 0).u(14, 1).f(22, 0.1),
			[]string{RuleTimerCPULengths}, ServerBoth,
			[]string{"timer_ru_utime (22) has 1 entry for 2 timers", "both servers give no CPU time to the last 1 timer"}},
		{"timer_ru_stime long", oneTimer().f(23, 0.1).f(23, 0.1),
			[]string{RuleTimerCPULengths}, ServerBoth, []string{"both servers ignore the extra entries"}},

		{"request tag index out of range", head().u(20, 0).u(21, 5).str(15, "a"),
			[]string{RuleDictionaryIndex}, ServerBoth,
			[]string{"tag_value (21) has 1 index out of range of a dictionary of 1 word: [0]=5",
				"pinba_engine drops the packet, pinba2 reads out of bounds"}},
		{"timer tag index out of range", head().u(10, 1).f(11, 0.5).u(12, 1).u(13, 9).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleDictionaryIndex}, ServerBoth,
			[]string{"timer_tag_name (13) has 1 index out of range", "pinba_engine skips the tag, pinba2 reads out of bounds"}},
		{"empty dictionary", head().u(10, 1).f(11, 0.5).u(12, 0),
			[]string{RuleEmptyDictionary, RuleZeroTagCount}, ServerEngine,
			[]string{"1 timer and 0 request tags but an empty dictionary (15): pinba_engine drops the packet"}},
		{"zero hit count", head().u(10, 0).f(11, 0.5).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleZeroHitCount}, ServerBoth,
			[]string{"timer_hit_count (10) is 0 for timer 0", "pinba_engine skips the timer and shifts the tags of the timers after it, pinba2 drops the packet"}},
		{"zero tag count", oneTimer().u(10, 3).f(11, 0.5).u(12, 0),
			[]string{RuleZeroTagCount}, ServerEngine,
			[]string{"timer_tag_count (12) is 0 (a timer with no tags) for timer 1: pinba_engine skips the timer"}},

		{"negative timer_value", head().u(10, 1).f(11, -0.5).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleNegativeTime}, ServerBoth,
			[]string{"timer_value (11) holds [0]=-0.5, a negative time", "pinba_engine reads it as 0, pinba2 drops the packet"}},
		{"negative zero timer_value", head().u(10, 1).fbits(11, 0x80000000).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleNegativeTime}, ServerPinba2, []string{"a negative zero: pinba2 drops the packet"}},
		{"negative request_time", headExcept(7, 8, 9).f(7, -1).f(8, 0).f(9, 0),
			[]string{RuleNegativeTime}, ServerBoth, []string{"request_time (7) is -1, a negative time: both servers read it as 0"}},
		{"negative ru_stime", headExcept(9).f(9, -0.001),
			[]string{RuleNegativeTime}, ServerBoth, []string{"pinba_engine reads both ru_utime and ru_stime as 0, pinba2 reads it as 0"}},
		{"negative timer_ru_utime", oneTimer().f(22, -1),
			[]string{RuleNegativeTime}, ServerBoth, []string{"timer_ru_utime (22) holds [0]=-1"}},

		{"NaN request_time", headExcept(7, 8, 9).f(7, float32(math.NaN())).f(8, 0).f(9, 0),
			[]string{RuleNonFinite}, ServerBoth, []string{"request_time (7) is NaN: pinba_engine reads a meaningless time, pinba2 drops the packet"}},
		{"infinite timer_value", head().u(10, 1).f(11, float32(math.Inf(1))).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b"),
			[]string{RuleNonFinite}, ServerBoth, []string{"timer_value (11) holds [0]=+Inf"}},
		{"-Inf ru_utime", headExcept(8, 9).f(8, float32(math.Inf(-1))).f(9, 0),
			[]string{RuleNonFinite}, ServerBoth, []string{"ru_utime (8) is -Inf"}},
		{"NaN timer_ru_stime", oneTimer().f(23, float32(math.NaN())),
			[]string{RuleNonFinite}, ServerBoth, []string{"timer_ru_stime (23) holds [0]=NaN"}},
		{"subnormal request_time", headExcept(7, 8, 9).f(7, 1e-40).f(8, 0).f(9, 0),
			[]string{RuleSubnormal}, ServerPinba2, []string{"request_time (7) is 1e-40, a subnormal float: pinba2 drops the packet"}},

		{"status 4294967295", head().u(16, math.MaxUint32), []string{RuleStatusTooLarge}, ServerPinba2,
			[]string{"status (16) is 4294967295: pinba2 drops the packet"}},
		{"document_size over 32 bits", headExcept(5, 6, 7, 8, 9).u(5, 1<<32+5).u(6, 1).f(7, 0).f(8, 0).f(9, 0),
			[]string{RuleUint32Overflow}, ServerBoth,
			[]string{"field 5 (document_size) holds 4294967301, more than 32 bits: both servers keep only the low 32 bits"}},

		{"nested request", nested, []string{RuleNested}, ServerBoth,
			[]string{"the packet holds 1 nested request (field 18): pinba_engine counts each of them as one more request, pinba2 ignores them"}},
		{"nested request with a zero hit count", head().msg(18, head().u(10, 0).f(11, 0.5).u(12, 1).u(13, 0).u(14, 1).str(15, "a").str(15, "b")),
			[]string{RuleNested, RuleZeroHitCount}, "",
			[]string{"nested request 0: timer_hit_count (10) is 0 for timer 0: pinba_engine skips the timer"}},
		{"nested request with an empty dictionary", head().msg(18, head()).msg(18, head().u(20, 0).u(21, 0)),
			[]string{RuleDictionaryIndex, RuleEmptyDictionary, RuleNested}, "",
			[]string{"nested request 1: 0 timers and 1 request tag but an empty dictionary (15): pinba_engine drops this nested request"}},
		{"nested request missing a field", head().msg(18, headExcept(3)),
			[]string{RuleMissingField, RuleNested}, "",
			[]string{"nested request 0: required field 3 (script_name) is missing: both servers drop the packet"}},
		{"nested request undecodable", head().msg(18, head().raw(0x27)),
			[]string{RuleNested, RuleUndecodable}, "", []string{"nested request 0: field 4 at byte"}},
		{"nested request nesting more", head().msg(18, head().msg(18, head().u(10, 0))),
			[]string{RuleNested}, "", []string{"nested request 0: holds 1 nested request (field 18): both servers ignore them"}},

		{"server_name first", headExcept(1).str(1, "web1"), []string{RuleFramingByte}, ServerPinba2,
			[]string{"the first byte is 0x12 because field 2 (server_name), not hostname (field 1), comes first", "pinba2 (2.6 and later) reads the first 4 bytes as a framing header"}},
		{"script_name first", wire(nil).str(3, "/").str(1, "h").str(2, "s").u(4, 1).u(5, 1).u(6, 1).f(7, 0).f(8, 0).f(9, 0),
			[]string{RuleFramingByte}, ServerPinba2, []string{"0x1a because field 3 (script_name)"}},
		{"too large", headExcept(3).str(3, "/"+strings.Repeat("x", pb.MaxDatagram)), []string{RuleTooLarge}, ServerBoth,
			[]string{"bytes: both servers receive nothing: the kernel refuses to send a UDP datagram over 65,507 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.packet)
			if err == nil {
				t.Fatalf("Validate(% x) = nil, want %v", c.packet, c.rules)
			}
			ps := problemsOf(t, err)
			want := slices.Clone(c.rules)
			slices.Sort(want)
			if got := rulesOf(ps); !slices.Equal(got, want) {
				t.Errorf("rules %v, want %v; error:\n%v", got, want, err)
			}
			msg := err.Error()
			for _, r := range c.rules {
				if !strings.Contains(msg, r+": ") {
					t.Errorf("error does not name rule %q:\n%s", r, msg)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if c.server != "" {
				for _, p := range ps {
					if p.Rule == c.rules[0] && p.Server != c.server {
						t.Errorf("%s: Server %q, want %q", p.Rule, p.Server, c.server)
					}
				}
			}
			for _, p := range ps {
				if p.Server != ServerEngine && p.Server != ServerPinba2 && p.Server != ServerBoth {
					t.Errorf("bad Server %q in %v", p.Server, p)
				}
			}
			// Every problem is also reachable as a Problem through errors.As.
			var one Problem
			if !errors.As(err, &one) || one != ps[0] {
				t.Errorf("errors.As(Problem) = %v, want %v", one, ps[0])
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	pkt := wire(nil).str(2, "example.com") // server_name first, hostname missing
	pkt = pkt.str(3, "/").u(4, 1).u(5, 1).u(6, 1)
	pkt = pkt.d(7, 0.5) // a double
	pkt = pkt.f(8, float32(math.NaN())).f(9, -1)
	pkt = pkt.u(10, 0).u(10, 1).f(11, -2).f(11, 1).u(12, 1).u(12, 0) // zero hit count, negative value, zero tag count
	pkt = pkt.u(13, 0).u(14, 7)                                      // 7 is out of range
	pkt = pkt.str(15, "a")
	pkt = pkt.u(16, math.MaxUint32)
	pkt = pkt.u(20, 0) // no tag_value
	pkt = pkt.msg(18, head())
	err := Validate(pkt)
	ps := problemsOf(t, err)
	want := []string{RuleDictionaryIndex, RuleFramingByte, RuleMissingField, RuleNegativeTime, RuleNested,
		RuleNonFinite, RuleRequestTagLengths, RuleStatusTooLarge, RuleWireType, RuleZeroHitCount, RuleZeroTagCount}
	slices.Sort(want)
	if got := rulesOf(ps); !slices.Equal(got, want) {
		t.Errorf("rules %v\nwant  %v\nerror:\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(ps) {
		t.Errorf("error has %d lines for %d problems", n, len(ps))
	}
	for _, w := range []string{
		"missing-field: required field 1 (hostname) is missing",
		"wire-type: field 7 (request_time) sent as double (wire type 1)",
		"negative-time: ru_stime (9) is -1",
		"negative-time: timer_value (11) holds [0]=-2",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestValidateGoodPackets(t *testing.T) {
	records := map[string]pb.Record{
		"zero": {},
		"no timers": {
			Hostname: "web1", ServerName: "example.com", ScriptName: "/index.php",
			RequestCount: 1, DocumentSize: 1234, MemoryPeak: 8 << 20, RequestTime: 0.2, RUUtime: 0.1, RUStime: 0.01,
			Status: 200, HasStatus: true, MemoryFootprint: 4 << 20, HasMemoryFootprint: true, Schema: "https", HasSchema: true,
		},
		"timers with tags": {
			Hostname: "web1", ServerName: "example.com", ScriptName: "/",
			RequestTime:   0.5,
			TimerHitCount: []uint32{1, 3, 2},
			TimerValue:    []float32{0.1, 0.2, 0},
			TimerTagCount: []uint32{1, 2, 1},
			TimerTagName:  []uint32{0, 0, 2, 0},
			TimerTagValue: []uint32{1, 3, 4, 1},
			Dictionary:    []string{"group", "db", "server", "cache", "replica"},
			TimerRUUtime:  []float32{0.01, 0.02, 0},
			TimerRUStime:  []float32{0, 0.001, 0},
		},
		"request tags": {
			Hostname: "web1", ScriptName: "/api",
			TagName: []uint32{0, 2}, TagValue: []uint32{1, 3},
			Dictionary: []string{"country", "fr", "plan", "pro"},
		},
		"unicode": {
			Hostname: "хост", ServerName: "例え.jp", ScriptName: "/путь/😀",
			TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{1},
			TimerTagName: []uint32{0}, TimerTagValue: []uint32{1},
			Dictionary: []string{"имя", "значение ✓"},
		},
		"max uint32": {
			Hostname: "h", RequestCount: math.MaxUint32, DocumentSize: math.MaxUint32, MemoryPeak: math.MaxUint32,
			MemoryFootprint: math.MaxUint32, HasMemoryFootprint: true, Status: math.MaxUint32 - 1, HasStatus: true,
			RequestTime: math.MaxFloat32, RUUtime: math.SmallestNonzeroFloat32 * (1 << 23), // smallest normal float32
			TimerHitCount: []uint32{math.MaxUint32}, TimerValue: []float32{0}, TimerTagCount: []uint32{1},
			TimerTagName: []uint32{0}, TimerTagValue: []uint32{0}, Dictionary: []string{"x"},
		},
		"cleaned by the encoder": { // Append writes these as 0 and 1
			Hostname: "h", RequestTime: float32(math.NaN()), RUUtime: -1, RUStime: float32(math.Inf(1)),
			TimerHitCount: []uint32{0}, TimerValue: []float32{-1}, TimerTagCount: []uint32{1},
			TimerTagName: []uint32{0}, TimerTagValue: []uint32{0}, Dictionary: []string{"x"},
		},
	}
	for name, r := range records {
		t.Run(name, func(t *testing.T) {
			pkt, err := r.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(pkt); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if w := Warnings(pkt); w != nil {
				t.Errorf("Warnings: %v", w)
			}
			p := Decode(pkt)
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Packet.Validate: %v", err)
			}
		})
	}
}

func TestValidatePacked(t *testing.T) {
	pkt := head().
		packedU(10, 1, 2).packedF(11, 0.5, 0.25).packedU(12, 1, 2).
		packedU(13, 0, 0, 2).packedU(14, 1, 3, 4).
		str(15, "group").str(15, "db").str(15, "server").str(15, "cache").str(15, "replica").
		packedU(20, 0).packedU(21, 1).
		packedF(22, 0.1, 0.2).packedF(23, 0, 0.01)
	if err := Validate(pkt); err != nil {
		t.Fatalf("packed packet: %v", err)
	}
	// Packed and unpacked entries of one field add up, as in protobuf.
	mixed := head().u(10, 1).packedU(10, 1).f(11, 0.5).packedF(11, 0.5).packedU(12, 1).u(12, 1).
		u(13, 0).u(13, 0).u(14, 1).u(14, 1).str(15, "a").str(15, "b")
	if err := Validate(mixed); err != nil {
		t.Fatalf("mixed packed/unpacked: %v", err)
	}
	// An empty packed field has no entries.
	if err := Validate(head().packedU(10).packedF(11).packedU(12)); err != nil {
		t.Fatalf("empty packed fields: %v", err)
	}

	p := Decode(pkt)
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	if len(p.Timers) != 2 || p.Timers[1].Tags.Get("server") != "replica" || p.Timers[1].RUStime != 0.01 || p.Tags.Get("group") != "db" {
		t.Errorf("decoded packed packet: %+v", p)
	}
}

func TestWarnings(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	pkt := wire(nil).
		str(1, long(MaxHostname+1)).str(2, long(MaxServerName+8)).str(3, "/"+long(300)).
		u(4, 1).u(5, 0).u(6, 0).f(7, 0).f(8, 0).f(9, 0).
		u(10, 1).f(11, 1).u(12, 1).u(13, 0).u(14, 1).
		str(15, long(MaxWord+1)).str(15, long(MaxWord)).
		str(19, long(MaxSchema+1))
	if err := Validate(pkt); err != nil {
		t.Fatalf("long strings must not fail Validate: %v", err)
	}
	ws := Warnings(pkt)
	if len(ws) != 5 {
		t.Errorf("%d warnings, want 5:\n%v", len(ws), ws)
	}
	for _, w := range []string{
		`long-string: hostname (1) "` + long(MaxHostname+1) + `" is 33 bytes long: pinba_engine cuts it to 32 bytes`,
		`long-string: server_name (2) "` + long(MaxServerName+8) + `" is 40 bytes long: pinba_engine cuts it to 32 bytes`,
		`long-string: script_name (3) "/` + long(63) + `"... is 301 bytes long: pinba_engine cuts it to 128 bytes`,
		`long-string: schema (19) "` + long(MaxSchema+1) + `" is 17 bytes long: pinba_engine cuts it to 16 bytes`,
		`long-string: dictionary (15) word [0] "` + long(MaxWord+1) + `" is 65 bytes long: pinba_engine cuts it to 64 bytes`,
	} {
		if !strings.Contains(ws.Error(), w) {
			t.Errorf("warnings lack %q:\n%v", w, ws)
		}
	}
	for _, w := range ws {
		if w.Rule != RuleLongString || w.Server != ServerEngine {
			t.Errorf("warning %v: want rule %s for %s", w, RuleLongString, ServerEngine)
		}
	}

	others := head().str(15, "a\x00b").u(30, 1).str(1, "web2").raw()
	if err := Validate(others); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ws = Warnings(others)
	if got, want := rulesOf(ws), []string{RuleDuplicateField, RuleNULByte, RuleUnknownField}; !slices.Equal(got, want) {
		t.Errorf("warning rules %v, want %v:\n%v", got, want, ws)
	}
	for _, w := range []string{
		"nul-byte: dictionary (15) has 1 word with a NUL byte: [0]: pinba_engine cuts them at the NUL byte",
		"unknown-field: field 30 is not a field of Pinba.Request: both servers ignore it",
		"duplicate-field: field 1 (hostname) appears 2 times: both servers keep the last one",
	} {
		if !strings.Contains(ws.Error(), w) {
			t.Errorf("warnings lack %q:\n%v", w, ws)
		}
	}

	// Warnings of a nested request concern pinba_engine only.
	ws = Warnings(head().msg(18, headExcept(19).str(19, long(20))))
	if len(ws) != 1 || ws[0].Server != ServerEngine || !strings.HasPrefix(ws[0].Detail, "nested request 0: schema (19)") {
		t.Errorf("nested warnings: %v", ws)
	}

	// A clean packet has none, and Validate's problems are not repeated.
	if ws := Warnings(oneTimer()); ws != nil {
		t.Errorf("clean packet: %v", ws)
	}
	if ws := Warnings(headExcept(5)); ws != nil {
		t.Errorf("warnings repeat problems: %v", ws)
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{Rule: "r1", Server: ServerBoth, Detail: "d1", Effect: "e1"},
		{Rule: "r2", Server: ServerEngine, Detail: "d2", Effect: "e2"},
	}
	if got, want := ps.Error(), "r1: d1: e1\nr2: d2: e2"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !ps.Has("r2") || ps.Has("r3") {
		t.Error("Has")
	}
	var p Problem
	if !errors.As(error(ps), &p) || p.Rule != "r1" {
		t.Errorf("errors.As: %v", p)
	}
	if !errors.Is(error(ps), ps[1]) {
		t.Error("errors.Is does not find the second problem")
	}
}

func TestPacketValidateNested(t *testing.T) {
	child := pb.Record{Hostname: "child", TimerHitCount: []uint32{1}, TimerValue: []float32{1}, TimerTagCount: []uint32{1},
		TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}, Dictionary: []string{"a", "b"}}
	parent := pb.Record{Hostname: "parent", Requests: []pb.Record{child, {Hostname: "second"}}}
	pkt, err := parent.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := Decode(pkt)
	if p.Err != nil {
		t.Fatal(p.Err)
	}
	if err := p.Validate(); err == nil || !problemsOf(t, err).Has(RuleNested) {
		t.Errorf("parent: %v, want %s", err, RuleNested)
	}
	if len(p.Requests) != 2 {
		t.Fatalf("%d nested requests", len(p.Requests))
	}
	for i, c := range p.Requests {
		if err := c.Validate(); err != nil {
			t.Errorf("nested request %d: %v", i, err)
		}
		if d := Decode(c.Raw); d.Err != nil || d.Hostname != c.Hostname {
			t.Errorf("nested request %d: Raw decodes to %q, %v; want %q", i, d.Hostname, d.Err, c.Hostname)
		}
	}
}
