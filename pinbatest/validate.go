package pinbatest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
)

// Rules Validate and Warnings check. Each Problem names one of them.
const (
	// RuleUndecodable: the bytes are not a protobuf message protobuf-c can
	// decode (truncated, bad varint, bad key, group or reserved wire type, or
	// a broken packed field). Both servers drop the packet.
	RuleUndecodable = "undecodable"
	// RuleMissingField: one of the required fields 1 to 9 is absent. Both
	// servers drop the packet.
	RuleMissingField = "missing-field"
	// RuleWireType: a known field has a wire type its type does not allow
	// (for example a time sent as double). Both servers drop the packet.
	RuleWireType = "wire-type"
	// RuleTimerLengths: fields 10, 11 and 12 have different lengths. Both
	// servers drop the packet.
	RuleTimerLengths = "timer-lengths"
	// RuleTimerTagSum: the tag counts (12) do not add up to the lengths of 13
	// and 14. pinba_engine reads past the arrays, pinba2 drops the packet.
	RuleTimerTagSum = "timer-tag-sum"
	// RuleRequestTagLengths: fields 20 and 21 have different lengths.
	// pinba_engine drops the packet, pinba2 reads out of bounds.
	RuleRequestTagLengths = "request-tag-lengths"
	// RuleTimerCPULengths: field 22 or 23 is present with an entry count
	// other than the number of timers. Both servers pair entries with timers
	// by position, read missing ones as 0 and ignore extra ones.
	RuleTimerCPULengths = "timer-cpu-lengths"
	// RuleDictionaryIndex: a tag index is out of the dictionary's range.
	// For a request tag pinba_engine drops the packet, for a timer tag it
	// skips the tag; pinba2 reads out of bounds either way.
	RuleDictionaryIndex = "dictionary-index"
	// RuleEmptyDictionary: timers or request tags with no dictionary.
	// pinba_engine drops the packet.
	RuleEmptyDictionary = "empty-dictionary"
	// RuleZeroHitCount: a timer_hit_count of 0. pinba_engine skips the timer
	// and shifts the tags of later timers, pinba2 drops the packet.
	RuleZeroHitCount = "zero-hit-count"
	// RuleZeroTagCount: a timer_tag_count of 0. pinba_engine skips the timer.
	RuleZeroTagCount = "zero-tag-count"
	// RuleNegativeTime: a negative time, or a timer_value of -0. pinba2
	// drops a negative or -0 timer_value, pinba_engine reads it as 0. Both
	// read a negative request_time, ru_utime or ru_stime as 0 (pinba_engine
	// then zeroes both CPU times). A negative timer CPU time pinba2 reads as
	// 0 and pinba_engine stores as it is.
	RuleNegativeTime = "negative-time"
	// RuleNonFinite: a NaN or infinite time. pinba_engine reads garbage,
	// pinba2 drops the packet.
	RuleNonFinite = "non-finite-float"
	// RuleSubnormal: a subnormal float time (non-zero, below 1.18e-38).
	// pinba2 accepts only zero and normal floats and drops the packet.
	RuleSubnormal = "subnormal-float"
	// RuleStatusTooLarge: status (16) is 4294967295. pinba2 drops the packet.
	RuleStatusTooLarge = "status-too-large"
	// RuleUint32Overflow: a varint of a uint32 field does not fit in 32 bits.
	// Both servers keep the low 32 bits.
	RuleUint32Overflow = "uint32-overflow"
	// RuleNested: nested requests (field 18). pinba_engine counts each as a
	// request of its own, pinba2 ignores them.
	RuleNested = "nested-requests"
	// RuleFramingByte: the first byte is 0x10 to 0x1f (field 2 or 3 first).
	// pinba2 2.6 and later read it as a 4-byte framing header.
	RuleFramingByte = "framing-byte"
	// RuleTooLarge: more than 65,507 bytes. The kernel refuses to send it.
	RuleTooLarge = "too-large"

	// RuleLongString (warning): a string longer than pinba_engine keeps
	// (hostname and server_name 32 bytes, script_name 128, schema 16,
	// dictionary words 64). pinba_engine cuts it; pinba2 keeps it. Each
	// warning names one string and says when the cut falls inside a UTF-8
	// character, which leaves a broken character in pinba_engine's tables.
	RuleLongString = "long-string"
	// RuleRepeatedTagName (warning): a timer has a tag name more than once,
	// as pynba sends a list value (baz=['seq1','seq2'] gives baz=seq1 and
	// baz=seq2). Both servers accept it and pinba_engine keeps every pair in
	// its raw timertag table, but the tag reports of both (pinba_engine's
	// tag_info:baz, pinba2's @baz timer report) count the timer under only
	// one of the values. Seen with pinba2 2.6.0 and pinba_engine 1.2.0.
	// Request tags are not checked for it.
	RuleRepeatedTagName = "repeated-tag-name"
	// RuleNULByte (warning): a string with a NUL byte. pinba_engine copies C
	// strings and cuts it there.
	RuleNULByte = "nul-byte"
	// RuleUnknownField (warning): a field number Pinba.Request does not
	// have. Both servers ignore it.
	RuleUnknownField = "unknown-field"
	// RuleDuplicateField (warning): a field that is not repeated appears
	// more than once. Both servers keep the last one.
	RuleDuplicateField = "duplicate-field"
)

// Values of Problem.Server.
const (
	ServerEngine = "pinba_engine" // the original MySQL engine
	ServerPinba2 = "pinba2"       // the MariaDB engine
	ServerBoth   = "both"         // both servers, in the same or in different ways
)

// Limits of pinba_engine's string buffers, in bytes; longer strings are cut.
const (
	MaxHostname   = 32  // hostname (1)
	MaxServerName = 32  // server_name (2)
	MaxScriptName = 128 // script_name (3)
	MaxSchema     = 16  // schema (19)
	MaxWord       = 64  // dictionary words (15), hence tag names and values
)

// Problem is one reason a Pinba server would drop or misread a packet (from
// Validate), or would store it differently than sent (from Warnings).
type Problem struct {
	Rule   string // one of the Rule constants
	Server string // the server affected: ServerEngine, ServerPinba2 or ServerBoth
	Detail string // what is wrong, e.g. "field 7 (request_time) sent as double (wire type 1)"
	Effect string // what the servers do, e.g. "both servers drop the packet"
}

// Error formats the problem as "rule: detail: effect".
func (p Problem) Error() string { return p.Rule + ": " + p.Detail + ": " + p.Effect }

// Problems is a list of problems. As an error (Validate's), it prints one
// problem a line; errors.As finds each Problem through Unwrap.
type Problems []Problem

// Error prints the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem as an error.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// Has reports whether one of the problems breaks rule.
func (ps Problems) Has(rule string) bool {
	for _, p := range ps {
		if p.Rule == rule {
			return true
		}
	}
	return false
}

// Validate reports whether both pinba_engine and pinba2 accept packet and
// read it as sent. It returns nil if they do, else a Problems listing every
// reason found, each naming its rule and the server that drops or misreads.
// It walks the raw protobuf bytes itself, so it sees wire types and field
// order, not only decoded values.
//
// Strings that pinba_engine cuts to its buffer sizes are not problems (a
// long URL is normal); Warnings reports them. Nested requests are checked
// recursively, to 100 levels.
func Validate(packet []byte) error {
	problems, _ := Inspect(packet)
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// Warnings returns what a server would store differently than sent without
// dropping or misreading the packet: strings pinba_engine cuts (RuleLongString,
// RuleNULByte), timers that repeat a tag name (RuleRepeatedTagName), unknown
// fields, repeated singular fields. It does not repeat Validate's problems.
func Warnings(packet []byte) Problems {
	_, warnings := Inspect(packet)
	return warnings
}

// Inspect walks packet once and returns both Validate's problems and the
// warnings. Both are nil for a clean packet.
func Inspect(packet []byte) (problems, warnings Problems) {
	c := &checker{}
	top := scope{c: c}
	if len(packet) > pb.MaxDatagram {
		top.wire(RuleTooLarge, "receives nothing: the kernel refuses to send a UDP datagram over 65,507 bytes",
			"the packet is %d bytes", len(packet))
	}
	if len(packet) > 0 && packet[0] >= 0x10 && packet[0] <= 0x1f {
		num := packet[0] >> 3
		top.sem(RuleFramingByte, "", "(2.6 and later) reads the first 4 bytes as a framing header and misreads the packet",
			"the first byte is 0x%02x because field %d (%s), not hostname (field 1), comes first",
			packet[0], num, fieldInfo[num].name)
	}
	top.inspect(packet)
	return c.problems, c.warnings
}

// Validate validates p.Raw (see the package function Validate).
func (p *Packet) Validate() error { return Validate(p.Raw) }

// Warnings returns the warnings for p.Raw (see the package function Warnings).
func (p *Packet) Warnings() Problems { return Warnings(p.Raw) }

type fieldKind uint8

const (
	kindUnknown fieldKind = iota
	kindString            // singular string
	kindStrings           // repeated string (dictionary)
	kindMessage           // repeated Request
	kindUint              // singular uint32
	kindUints             // repeated uint32
	kindFloat             // singular float
	kindFloats            // repeated float
)

const lastField = 23

var fieldInfo = [lastField + 1]struct {
	name string
	kind fieldKind
}{
	{"", kindUnknown},
	{"hostname", kindString},
	{"server_name", kindString},
	{"script_name", kindString},
	{"request_count", kindUint},
	{"document_size", kindUint},
	{"memory_peak", kindUint},
	{"request_time", kindFloat},
	{"ru_utime", kindFloat},
	{"ru_stime", kindFloat},
	{"timer_hit_count", kindUints},
	{"timer_value", kindFloats},
	{"timer_tag_count", kindUints},
	{"timer_tag_name", kindUints},
	{"timer_tag_value", kindUints},
	{"dictionary", kindStrings},
	{"status", kindUint},
	{"memory_footprint", kindUint},
	{"requests", kindMessage},
	{"schema", kindString},
	{"tag_name", kindUints},
	{"tag_value", kindUints},
	{"timer_ru_utime", kindFloats},
	{"timer_ru_stime", kindFloats},
}

func (k fieldKind) wireType() protowire.Type {
	switch k {
	case kindUint, kindUints:
		return protowire.VarintType
	case kindFloat, kindFloats:
		return protowire.Fixed32Type
	default:
		return protowire.BytesType
	}
}

func (k fieldKind) repeatedScalar() bool { return k == kindUints || k == kindFloats }

// fieldName is "field 7 (request_time)".
func fieldName(num protowire.Number) string {
	if num >= 1 && num <= lastField {
		return fmt.Sprintf("field %d (%s)", num, fieldInfo[num].name)
	}
	return fmt.Sprintf("field %d", num)
}

// short is "request_time (7)".
func short(num protowire.Number) string {
	return fmt.Sprintf("%s (%d)", fieldInfo[num].name, num)
}

func wireName(k fieldKind, t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint (wire type 0)"
	case protowire.Fixed64Type:
		if k == kindFloat || k == kindFloats {
			return "double (wire type 1)"
		}
		return "fixed64 (wire type 1)"
	case protowire.BytesType:
		return "length-delimited (wire type 2)"
	case protowire.Fixed32Type:
		if k == kindFloat || k == kindFloats {
			return "float (wire type 5)"
		}
		return "fixed32 (wire type 5)"
	}
	return fmt.Sprintf("wire type %d", t)
}

// msg is what the walk collected from one Pinba.Request.
type msg struct {
	present [lastField + 1]bool // seen with an accepted wire type
	count   [lastField + 1]int  // occurrences with an accepted wire type
	str     [lastField + 1][]byte
	uint    [lastField + 1]uint32
	float   [lastField + 1]float32
	uints   [lastField + 1][]uint32
	floats  [lastField + 1][]float32
	dict    [][]byte
	nested  [][]byte

	wrong    []wrongType // known fields with a refused wire type, in wire order
	overflow []overflow  // uint32 fields whose varint has more than 32 bits
	unknown  []protowire.Number
}

type wrongType struct {
	num   protowire.Number
	typ   protowire.Type
	count int
}

type overflow struct {
	num   protowire.Number
	first uint64
	count int
}

type checker struct {
	problems, warnings Problems
}

// scope checks one request: the packet (depth 0) or a nested request.
type scope struct {
	c      *checker
	depth  int    // 0 for the packet, 1 for its nested requests, ...
	prefix string // "" or "nested request 0.1: "
}

// maxDepth bounds the recursion into nested requests.
const maxDepth = 100

// compose turns the per-server effects into Problem's Server and Effect.
// Each effect is a verb phrase in the singular ("drops the packet"); "" means
// the server is not affected.
func compose(engine, pinba2 string) (server, effect string) {
	switch {
	case engine == pinba2:
		verb, rest, _ := strings.Cut(engine, " ")
		return ServerBoth, "both servers " + strings.TrimSuffix(verb, "s") + " " + rest
	case pinba2 == "":
		return ServerEngine, "pinba_engine " + engine
	case engine == "":
		return ServerPinba2, "pinba2 " + pinba2
	default:
		return ServerBoth, "pinba_engine " + engine + ", pinba2 " + pinba2
	}
}

func (s scope) add(list *Problems, rule, engine, pinba2, format string, args []any) {
	server, effect := compose(engine, pinba2)
	*list = append(*list, Problem{
		Rule:   rule,
		Server: server,
		Detail: s.prefix + fmt.Sprintf(format, args...),
		Effect: effect,
	})
}

// wire records a fault in the encoding itself. protobuf-c refuses the whole
// datagram for it, at any depth, so both servers drop the packet.
func (s scope) wire(rule, effect, format string, args ...any) {
	if effect == "" {
		effect = "drops the packet"
	}
	s.add(&s.c.problems, rule, effect, effect, format, args)
}

// adjust scales the per-server effects of a decoded request's content to the
// request's depth: pinba2 ignores nested requests, pinba_engine reads only
// one level of them.
func (s scope) adjust(engine, pinba2 string) (string, string, bool) {
	switch s.depth {
	case 0:
	case 1:
		pinba2 = ""
		engine = strings.ReplaceAll(engine, "the packet", "this nested request")
	default:
		return "", "", false
	}
	return engine, pinba2, engine != "" || pinba2 != ""
}

// sem records a problem in the decoded content.
func (s scope) sem(rule, engine, pinba2, format string, args ...any) {
	if engine, pinba2, ok := s.adjust(engine, pinba2); ok {
		s.add(&s.c.problems, rule, engine, pinba2, format, args)
	}
}

// warn records a warning in the decoded content.
func (s scope) warn(rule, engine, pinba2, format string, args ...any) {
	if engine, pinba2, ok := s.adjust(engine, pinba2); ok {
		s.add(&s.c.warnings, rule, engine, pinba2, format, args)
	}
}

func (s scope) inspect(b []byte) {
	m, ok := s.walk(b)
	s.reportWire(m)
	if !ok {
		return
	}
	s.checkRequired(m)
	s.checkTimers(m)
	s.checkRequestTags(m)
	s.checkFloats(m)
	if m.present[16] && m.uint[16] == math.MaxUint32 {
		s.sem(RuleStatusTooLarge, "", "drops the packet", "status (16) is 4294967295")
	}
	s.checkStrings(m)
	s.checkRepeatedNames(m)
	s.checkNested(m)
}

// walk decodes b field by field. It returns false when b cannot be decoded
// to the end (the problem is recorded).
func (s scope) walk(b []byte) (*msg, bool) {
	m := new(msg)
	for off := 0; off < len(b); {
		num, typ, n := consumeKey(b[off:])
		if n < 0 {
			s.wire(RuleUndecodable, "", "bad field key at byte %d: protobuf-c reads keys of at most 5 bytes, and no field 0", off)
			return m, false
		}
		switch typ {
		case protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType:
		case protowire.StartGroupType, protowire.EndGroupType:
			s.wire(RuleUndecodable, "", "field %d at byte %d has the group wire type %d, which protobuf-c does not decode", num, off, typ)
			return m, false
		default:
			s.wire(RuleUndecodable, "", "field %d at byte %d has the invalid wire type %d", num, off, typ)
			return m, false
		}
		vn := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if vn < 0 {
			s.wire(RuleUndecodable, "", "%s at byte %d: bad value: %v", fieldName(num), off, protowire.ParseError(vn))
			return m, false
		}
		if !s.field(m, num, typ, b[off+n:off+n+vn]) {
			return m, false
		}
		off += n + vn
	}
	return m, true
}

// field stores one field; val is its whole value (length prefix included).
func (s scope) field(m *msg, num protowire.Number, typ protowire.Type, val []byte) bool {
	if num > lastField {
		m.unknown = append(m.unknown, num)
		return true
	}
	kind := fieldInfo[num].kind
	switch {
	case typ == kind.wireType():
		m.present[num] = true
		m.count[num]++
		switch typ {
		case protowire.VarintType:
			v, _ := protowire.ConsumeVarint(val)
			m.addUint(num, kind, v)
		case protowire.Fixed32Type:
			v, _ := protowire.ConsumeFixed32(val)
			f := math.Float32frombits(v)
			if kind == kindFloats {
				m.floats[num] = append(m.floats[num], f)
			} else {
				m.float[num] = f
			}
		case protowire.BytesType:
			v, _ := protowire.ConsumeBytes(val)
			switch kind {
			case kindStrings:
				m.dict = append(m.dict, v)
			case kindMessage:
				m.nested = append(m.nested, v)
			default:
				m.str[num] = v
			}
		}
	case typ == protowire.BytesType && kind.repeatedScalar():
		// Packed: both servers accept it.
		m.present[num] = true
		m.count[num]++
		v, _ := protowire.ConsumeBytes(val)
		if kind == kindFloats {
			if len(v)%4 != 0 {
				s.wire(RuleUndecodable, "", "packed %s holds %d bytes, not a whole number of 4-byte floats", fieldName(num), len(v))
				return false
			}
			for ; len(v) > 0; v = v[4:] {
				x, _ := protowire.ConsumeFixed32(v)
				m.floats[num] = append(m.floats[num], math.Float32frombits(x))
			}
			return true
		}
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				s.wire(RuleUndecodable, "", "packed %s: bad varint: %v", fieldName(num), protowire.ParseError(n))
				return false
			}
			m.addUint(num, kind, x)
			v = v[n:]
		}
	default:
		for i := range m.wrong {
			if m.wrong[i].num == num && m.wrong[i].typ == typ {
				m.wrong[i].count++
				return true
			}
		}
		m.wrong = append(m.wrong, wrongType{num, typ, 1})
	}
	return true
}

func (m *msg) addUint(num protowire.Number, kind fieldKind, v uint64) {
	if v > math.MaxUint32 {
		found := false
		for i := range m.overflow {
			if m.overflow[i].num == num {
				m.overflow[i].count++
				found = true
			}
		}
		if !found {
			m.overflow = append(m.overflow, overflow{num, v, 1})
		}
	}
	if kind == kindUints {
		m.uints[num] = append(m.uints[num], uint32(v))
	} else {
		m.uint[num] = uint32(v)
	}
}

func times(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf(" (%d times)", n)
}

func (s scope) reportWire(m *msg) {
	for _, w := range m.wrong {
		kind := fieldInfo[w.num].kind
		want := wireName(kind, kind.wireType())
		if kind.repeatedScalar() {
			want += " or packed"
		}
		s.wire(RuleWireType, "", "%s sent as %s%s, not %s", fieldName(w.num), wireName(kind, w.typ), times(w.count), want)
	}
	for _, o := range m.overflow {
		s.sem(RuleUint32Overflow, "keeps only the low 32 bits", "keeps only the low 32 bits",
			"%s holds %d, more than 32 bits%s", fieldName(o.num), o.first, times(o.count))
	}
	for _, num := range m.unknown {
		s.warn(RuleUnknownField, "ignores it", "ignores it", "field %d is not a field of Pinba.Request", num)
	}
	for num := protowire.Number(1); num <= lastField; num++ {
		kind := fieldInfo[num].kind
		if (kind == kindString || kind == kindUint || kind == kindFloat) && m.count[num] > 1 {
			s.warn(RuleDuplicateField, "keeps the last one", "keeps the last one",
				"%s appears %d times", fieldName(num), m.count[num])
		}
	}
}

func (s scope) checkRequired(m *msg) {
	var missing []string
	for num := protowire.Number(1); num <= 9; num++ {
		if m.present[num] {
			continue
		}
		sentWrong := false
		for _, w := range m.wrong {
			sentWrong = sentWrong || w.num == num
		}
		if !sentWrong { // the wire-type problem already says it
			missing = append(missing, fmt.Sprintf("%d (%s)", num, fieldInfo[num].name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		s.wire(RuleMissingField, "", "required field %s is missing", missing[0])
	default:
		s.wire(RuleMissingField, "", "required fields %s are missing", strings.Join(missing, ", "))
	}
}

// some formats up to 5 items, then how many more.
func some(items []string) string {
	const show = 5
	if len(items) <= show {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:show], ", ") + fmt.Sprintf(" and %d more", len(items)-show)
}

func cond(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (s scope) checkTimers(m *msg) {
	nHit, nVal, nCnt := len(m.uints[10]), len(m.floats[11]), len(m.uints[12])
	if nHit != nVal || nHit != nCnt {
		s.sem(RuleTimerLengths, "drops the packet", "drops the packet",
			"timer arrays differ in length: %d timer_hit_count (10), %d timer_value (11), %d timer_tag_count (12)",
			nHit, nVal, nCnt)
	}

	var sum uint64
	for _, c := range m.uints[12] {
		sum += uint64(c)
	}
	nName, nValue := uint64(len(m.uints[13])), uint64(len(m.uints[14]))
	if sum != nName || sum != nValue {
		engine := "ignores the extra tag entries"
		if sum > min(nName, nValue) {
			engine = "reads past the end of the tag arrays"
		}
		s.sem(RuleTimerTagSum, engine, "drops the packet",
			"timer_tag_count (12) adds up to %d, but there are %d timer_tag_name (13) and %d timer_tag_value (14)",
			sum, nName, nValue)
	}

	for _, num := range []protowire.Number{22, 23} {
		n := len(m.floats[num])
		if n == 0 || n == nHit {
			continue
		}
		effect := "ignores the extra entries"
		if n < nHit {
			effect = "gives no CPU time to the last " + plural(nHit-n, "timer", "timers")
		}
		s.sem(RuleTimerCPULengths, effect, effect,
			"%s has %s for %s", short(num), plural(n, "entry", "entries"), plural(nHit, "timer", "timers"))
	}

	if len(m.dict) == 0 && (nHit > 0 || len(m.uints[20]) > 0) {
		s.sem(RuleEmptyDictionary, "drops the packet", "",
			"%s and %s but an empty dictionary (15)",
			plural(nHit, "timer", "timers"), plural(len(m.uints[20]), "request tag", "request tags"))
	}

	var zeroHit, zeroTags []string
	for i, h := range m.uints[10] {
		if h == 0 {
			zeroHit = append(zeroHit, fmt.Sprint(i))
		}
	}
	for i, c := range m.uints[12] {
		if c == 0 {
			zeroTags = append(zeroTags, fmt.Sprint(i))
		}
	}
	if len(zeroHit) > 0 {
		s.sem(RuleZeroHitCount, "skips the timer and shifts the tags of the timers after it", "drops the packet",
			"timer_hit_count (10) is 0 for timer %s", some(zeroHit))
	}
	if len(zeroTags) > 0 {
		s.sem(RuleZeroTagCount, "skips the timer", "",
			"timer_tag_count (12) is 0 (a timer with no tags) for timer %s", some(zeroTags))
	}

	for _, num := range []protowire.Number{13, 14} {
		s.checkIndexes(m, num, "skips the tag", "reads out of bounds (past the dictionary)")
	}
}

func (s scope) checkIndexes(m *msg, num protowire.Number, engine, pinba2 string) {
	var bad []string
	for i, x := range m.uints[num] {
		if uint64(x) >= uint64(len(m.dict)) {
			bad = append(bad, fmt.Sprintf("[%d]=%d", i, x))
		}
	}
	if len(bad) > 0 {
		s.sem(RuleDictionaryIndex, engine, pinba2,
			"%s has %s out of range of a dictionary of %s: %s",
			short(num), plural(len(bad), "index", "indexes"), plural(len(m.dict), "word", "words"), some(bad))
	}
}

func (s scope) checkRequestTags(m *msg) {
	nName, nValue := len(m.uints[20]), len(m.uints[21])
	if nName != nValue {
		pinba2 := "ignores the extra tag values"
		if nValue < nName {
			pinba2 = "reads past the end of tag_value (out-of-bounds read)"
		}
		s.sem(RuleRequestTagLengths, "drops the packet", pinba2,
			"%d tag_name (20) but %d tag_value (21)", nName, nValue)
	}
	for _, num := range []protowire.Number{20, 21} {
		s.checkIndexes(m, num, "drops the packet", "reads out of bounds (past the dictionary)")
	}
}

// negative effects per time field: pinba_engine's, pinba2's.
var negativeEffect = map[protowire.Number][2]string{
	7:  {"reads it as 0", "reads it as 0"},
	8:  {"reads both ru_utime and ru_stime as 0", "reads it as 0"},
	9:  {"reads both ru_utime and ru_stime as 0", "reads it as 0"},
	11: {"reads it as 0", "drops the packet"},
	22: {"stores a negative time", "reads it as 0"},
	23: {"stores a negative time", "reads it as 0"},
}

func (s scope) checkFloats(m *msg) {
	for _, num := range []protowire.Number{7, 8, 9, 11, 22, 23} {
		vals := m.floats[num]
		single := fieldInfo[num].kind == kindFloat
		if single {
			if !m.present[num] {
				continue
			}
			vals = []float32{m.float[num]}
		}
		var nonFinite, subnormal, negative, negZero []string
		for i, f := range vals {
			item := fmt.Sprint(f)
			if !single {
				item = fmt.Sprintf("[%d]=%v", i, f)
			}
			x := float64(f)
			switch {
			case math.IsNaN(x) || math.IsInf(x, 0):
				nonFinite = append(nonFinite, item)
				continue
			case f == 0 && math.Signbit(x):
				negZero = append(negZero, item)
				continue
			case f != 0 && math.Abs(x) < 0x1p-126: // below the smallest normal float32
				subnormal = append(subnormal, item)
			}
			if f < 0 {
				negative = append(negative, item)
			}
		}
		what := func(items []string) string {
			if single {
				return short(num) + " is " + items[0]
			}
			return short(num) + " holds " + some(items)
		}
		if len(nonFinite) > 0 {
			s.sem(RuleNonFinite, "reads a meaningless time", "drops the packet", "%s", what(nonFinite))
		}
		if len(subnormal) > 0 {
			s.sem(RuleSubnormal, "", "drops the packet (it accepts only zero and normal floats)",
				"%s, a subnormal float", what(subnormal))
		}
		if len(negative) > 0 {
			e := negativeEffect[num]
			s.sem(RuleNegativeTime, e[0], e[1], "%s, a negative time", what(negative))
		}
		if len(negZero) > 0 && num == 11 {
			s.sem(RuleNegativeTime, "", "drops the packet (its sign bit is set)", "%s, a negative zero", what(negZero))
		}
	}
}

// maxListed bounds the warnings of one kind a packet gets one by one; the
// rest are counted in one more warning.
const maxListed = 8

func (s scope) checkStrings(m *msg) {
	limits := []struct {
		num protowire.Number
		max int
	}{{1, MaxHostname}, {2, MaxServerName}, {3, MaxScriptName}, {19, MaxSchema}}
	for _, l := range limits {
		v := m.str[l.num]
		if len(v) > l.max {
			s.warn(RuleLongString, cutEffect(v, l.max), "",
				"%s %s is %d bytes long", short(l.num), quoteShort(v), len(v))
		}
		if i := bytes.IndexByte(v, 0); i >= 0 {
			s.warn(RuleNULByte, fmt.Sprintf("cuts it there, to %d bytes", i), "",
				"%s has a NUL byte at offset %d", short(l.num), i)
		}
	}
	var nul []string
	long := 0
	for i, w := range m.dict {
		if len(w) > MaxWord {
			if long < maxListed {
				s.warn(RuleLongString, cutEffect(w, MaxWord), "",
					"dictionary (15) word [%d] %s is %d bytes long", i, quoteShort(w), len(w))
			}
			long++
		}
		if bytes.IndexByte(w, 0) >= 0 {
			nul = append(nul, fmt.Sprintf("[%d]", i))
		}
	}
	if long > maxListed {
		s.warn(RuleLongString, fmt.Sprintf("cuts them to %d bytes", MaxWord), "",
			"dictionary (15) has %s longer than %d bytes", plural(long-maxListed, "more word", "more words"), MaxWord)
	}
	if len(nul) > 0 {
		s.warn(RuleNULByte, "cuts them at the NUL byte", "",
			"dictionary (15) has %s with a NUL byte: %s", plural(len(nul), "word", "words"), some(nul))
	}
}

// cutEffect says what pinba_engine does to b, longer than limit bytes.
func cutEffect(b []byte, limit int) string {
	effect := fmt.Sprintf("cuts it to %d bytes", limit)
	if r, start, size, ok := splitRune(b, limit); ok {
		effect += fmt.Sprintf(", inside the %d-byte UTF-8 character %q at offset %d, and stores a broken character",
			size, string(r), start)
	}
	return effect
}

// splitRune reports whether cutting b to n bytes falls inside a valid UTF-8
// character, and returns that character, its offset and its size.
func splitRune(b []byte, n int) (r rune, start, size int, ok bool) {
	if n <= 0 || n >= len(b) || utf8.RuneStart(b[n]) {
		return 0, 0, 0, false
	}
	for start = n - 1; start > 0 && start > n-utf8.UTFMax && !utf8.RuneStart(b[start]); start-- {
	}
	if !utf8.RuneStart(b[start]) {
		return 0, 0, 0, false
	}
	r, size = utf8.DecodeRune(b[start:])
	if r == utf8.RuneError && size <= 1 {
		return 0, 0, 0, false // not a character: there is nothing to break
	}
	return r, start, size, start+size > n
}

// quoteShort quotes b for a message, shortened to about 64 bytes.
func quoteShort(b []byte) string {
	const show = 64
	if len(b) <= show+16 {
		return strconv.Quote(string(b))
	}
	n := show
	for n > show-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return strconv.Quote(string(b[:n])) + "..."
}

// checkRepeatedNames warns about timers that have a tag name more than once.
// It reads the pairs as the servers do: timer i owns the next
// timer_tag_count[i] entries of fields 13 and 14; out-of-range indexes
// (a problem of their own) are left out.
func (s scope) checkRepeatedNames(m *msg) {
	names, values := m.uints[13], m.uints[14]
	pairs := uint64(min(len(names), len(values)))
	var next uint64
	found := 0
	for i, c := range m.uints[12] {
		first, end := next, min(next+uint64(c), pairs)
		next += uint64(c)
		if first >= end {
			continue
		}
		var order []string // names in first-seen order
		byName := map[string][]string{}
		for j := first; j < end; j++ {
			ni, vi := names[j], values[j]
			if uint64(ni) >= uint64(len(m.dict)) || uint64(vi) >= uint64(len(m.dict)) {
				continue
			}
			name := string(m.dict[ni])
			if _, seen := byName[name]; !seen {
				order = append(order, name)
			}
			byName[name] = append(byName[name], name+"="+string(m.dict[vi]))
		}
		var repeated, shown []string
		for _, name := range order {
			if len(byName[name]) > 1 {
				repeated = append(repeated, name)
				shown = append(shown, byName[name]...)
			}
		}
		if len(repeated) == 0 {
			continue
		}
		found++
		if found > maxListed {
			continue
		}
		engineReports := make([]string, len(repeated))
		pinba2Reports := make([]string, len(repeated))
		quoted := make([]string, len(repeated))
		for k, name := range repeated {
			engineReports[k], pinba2Reports[k], quoted[k] = "tag_info:"+name, "@"+name, strconv.Quote(name)
		}
		s.warn(RuleRepeatedTagName,
			"keeps every pair in its timertag table, but its "+strings.Join(engineReports, ", ")+
				" report counts the timer under only one of the values",
			"counts the timer under only one of the values in its "+strings.Join(pinba2Reports, ", ")+" timer report",
			"timer %d has the tag %s %s more than once: %s",
			i, cond(len(repeated) == 1, "name", "names"), strings.Join(quoted, ", "), strings.Join(shown, ", "))
	}
	if found > maxListed {
		s.warn(RuleRepeatedTagName,
			"keeps every pair in its timertag table, but its tag reports count each of them under only one value",
			"counts each of them under only one value in its timer reports by tag",
			"%s repeat a tag name", plural(found-maxListed, "more timer", "more timers"))
	}
}

func (s scope) checkNested(m *msg) {
	if len(m.nested) == 0 {
		return
	}
	switch s.depth {
	case 0:
		s.sem(RuleNested, "counts each of them as one more request", "ignores them",
			"the packet holds %s (field 18)", plural(len(m.nested), "nested request", "nested requests"))
	case 1:
		// pinba_engine reads only the packet's own nested requests.
		s.add(&s.c.problems, RuleNested, "ignores them", "ignores them",
			"holds %s (field 18)", []any{plural(len(m.nested), "nested request", "nested requests")})
	}
	if s.depth >= maxDepth {
		return // deeper levels are neither read by a server nor checked here
	}
	path := strings.TrimSuffix(strings.TrimPrefix(s.prefix, "nested request "), ": ")
	for i, child := range m.nested {
		name := fmt.Sprint(i)
		if path != "" {
			name = path + "." + name
		}
		cs := scope{c: s.c, depth: s.depth + 1, prefix: "nested request " + name + ": "}
		cs.inspect(child)
	}
}
