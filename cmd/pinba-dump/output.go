package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// hexLimit is how many bytes of an undecodable datagram are shown.
const hexLimit = 64

// word returns s as is when it reads unambiguously in key=value text, quoted
// otherwise (empty, spaces, quotes, braces, '=', control or invalid bytes).
func word(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) ||
			strings.ContainsRune(`"=\{}`, r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// timeText formats a time given in seconds for people, the one way
// pinba-dump prints times: in s, ms, µs or ns, whichever puts the number
// between 1 and 1000 (s from 1 up, however large), to 7 significant digits
// (a float32's precision), never in exponent form for real timings:
// "1.5s", "250ms", "12.34µs", "850ns", "0s". NaN and infinities are "NaN",
// "+Inf" and "-Inf".
func timeText(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	case x == 0:
		return "0s"
	}
	x = round7(x)
	unit, scale := "s", 1.0
	switch a := math.Abs(x); {
	case a >= 1:
	case a >= 1e-3:
		unit, scale = "ms", 1e3
	case a >= 1e-6:
		unit, scale = "µs", 1e6
	default:
		unit, scale = "ns", 1e9
	}
	v := round7(x * scale)
	if math.Abs(v) < 1e-3 { // below a picosecond: a subnormal float, not a timing
		return strconv.FormatFloat(v, 'g', -1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + unit
}

// round7 rounds x to 7 significant digits.
func round7(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'e', 6, 64), 64)
	return v
}

// seconds formats a time of the packet (a float32).
func seconds(f float32) string { return timeText(float64(f)) }

func tagText(tags pinbatest.Tags) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = word(t.Name) + "=" + word(t.Value)
	}
	return strings.Join(parts, " ")
}

func hexText(b []byte) string {
	s := hex.EncodeToString(b[:min(len(b), hexLimit)])
	var sb strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(s[i : i+2])
	}
	if len(b) > hexLimit {
		sb.WriteString(" ...")
	}
	return sb.String()
}

func fromText(dg datagram) string {
	if dg.from == nil {
		return "?"
	}
	return dg.from.String()
}

// writeTextPacket writes one datagram as a block of lines:
//
//	#1 12:00:00.000 from 127.0.0.1:41234, 130 bytes
//	  host=web1 server=example.com script=/index.php status=200
//	  ...
//	  problem: ...
func writeTextPacket(w *bufio.Writer, n int, dg datagram, p *pinbatest.Packet, probs, warns []string) {
	fmt.Fprintf(w, "#%d %s from %s, %d bytes", n, dg.at.Format("15:04:05.000"), fromText(dg), len(dg.data))
	if p.Err != nil {
		fmt.Fprintf(w, ": UNDECODABLE\n  error: %v\n  hex: %s\n", p.Err, hexText(dg.data))
	} else {
		w.WriteString("\n")
		writeTextRequest(w, p, "  ")
	}
	for _, s := range probs {
		fmt.Fprintf(w, "  problem: %s\n", s)
	}
	for _, s := range warns {
		fmt.Fprintf(w, "  warning: %s\n", s)
	}
}

func writeTextRequest(w *bufio.Writer, p *pinbatest.Packet, indent string) {
	m := p.Request
	fmt.Fprintf(w, "%shost=%s server=%s script=%s", indent, word(p.Hostname), word(p.ServerName), word(p.ScriptName))
	if m.Schema != nil {
		fmt.Fprintf(w, " schema=%s", word(p.Schema))
	}
	if m.Status != nil {
		fmt.Fprintf(w, " status=%d", p.Status)
	}
	fmt.Fprintf(w, "\n%srequest_count=%d document_size=%d memory_peak=%d", indent, p.RequestCount, p.DocumentSize, p.MemoryPeak)
	if m.MemoryFootprint != nil {
		fmt.Fprintf(w, " memory_footprint=%d", p.MemoryFootprint)
	}
	fmt.Fprintf(w, "\n%srequest_time=%s ru_utime=%s ru_stime=%s\n", indent, seconds(p.RequestTime), seconds(p.RUUtime), seconds(p.RUStime))
	if len(p.Tags) > 0 {
		fmt.Fprintf(w, "%stags: %s\n", indent, tagText(p.Tags))
	}
	hasU, hasS := len(m.TimerRuUtime) > 0, len(m.TimerRuStime) > 0
	for i, t := range p.Timers {
		fmt.Fprintf(w, "%stimer %d: hits=%d value=%s", indent, i, t.HitCount, seconds(t.Value))
		if hasU {
			fmt.Fprintf(w, " ru_utime=%s", seconds(t.RUUtime))
		}
		if hasS {
			fmt.Fprintf(w, " ru_stime=%s", seconds(t.RUStime))
		}
		fmt.Fprintf(w, " {%s}\n", tagText(t.Tags))
	}
	for _, u := range unparsed(m) {
		fmt.Fprintf(w, "%sunparsed: %s\n", indent, u)
	}
	for i, c := range p.Requests {
		fmt.Fprintf(w, "%srequest %d:\n", indent, i)
		writeTextRequest(w, c, indent+"  ")
	}
}

// f32 is a time in JSON: the float32 in its shortest form, or the string
// "NaN", "+Inf" or "-Inf", which JSON numbers cannot hold.
type f32 float32

func (f f32) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 32), nil
}

// jsonTag is one tag pair in JSON. Tags are an array of them in wire order,
// so that a repeated name keeps every value: [{"name":"baz","value":"seq1"},
// {"name":"baz","value":"seq2"}].
type jsonTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func jsonTags(tags pinbatest.Tags) []jsonTag {
	out := make([]jsonTag, len(tags))
	for i, t := range tags {
		out[i] = jsonTag(t)
	}
	return out
}

type jsonTimer struct {
	HitCount uint32    `json:"hit_count"`
	Value    f32       `json:"value"`
	RUUtime  *f32      `json:"ru_utime,omitempty"`
	RUStime  *f32      `json:"ru_stime,omitempty"`
	Tags     []jsonTag `json:"tags"`
}

type jsonRequest struct {
	Hostname        string         `json:"hostname"`
	ServerName      string         `json:"server_name"`
	ScriptName      string         `json:"script_name"`
	Schema          *string        `json:"schema,omitempty"`
	Status          *uint32        `json:"status,omitempty"`
	RequestCount    uint32         `json:"request_count"`
	DocumentSize    uint32         `json:"document_size"`
	MemoryPeak      uint32         `json:"memory_peak"`
	MemoryFootprint *uint32        `json:"memory_footprint,omitempty"`
	RequestTime     f32            `json:"request_time"`
	RUUtime         f32            `json:"ru_utime"`
	RUStime         f32            `json:"ru_stime"`
	Tags            []jsonTag      `json:"tags"`
	Timers          []jsonTimer    `json:"timers"`
	Requests        []*jsonRequest `json:"requests,omitempty"`
	Unparsed        []string       `json:"unparsed,omitempty"` // fields with a wrong wire type, unknown fields
}

type jsonPacket struct {
	N    int    `json:"n"`
	Time string `json:"time"`
	From string `json:"from"`
	Size int    `json:"size"`

	Error string `json:"error,omitempty"`
	Hex   string `json:"hex,omitempty"` // the first bytes of an undecodable datagram

	*jsonRequest

	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

func toJSONRequest(p *pinbatest.Packet) *jsonRequest {
	m := p.Request
	r := &jsonRequest{
		Hostname:        p.Hostname,
		ServerName:      p.ServerName,
		ScriptName:      p.ScriptName,
		Schema:          m.Schema,
		Status:          m.Status,
		RequestCount:    p.RequestCount,
		DocumentSize:    p.DocumentSize,
		MemoryPeak:      p.MemoryPeak,
		MemoryFootprint: m.MemoryFootprint,
		RequestTime:     f32(p.RequestTime),
		RUUtime:         f32(p.RUUtime),
		RUStime:         f32(p.RUStime),
		Tags:            jsonTags(p.Tags),
		Timers:          make([]jsonTimer, len(p.Timers)),
		Unparsed:        unparsed(m),
	}
	hasU, hasS := len(m.TimerRuUtime) > 0, len(m.TimerRuStime) > 0
	for i, t := range p.Timers {
		jt := jsonTimer{HitCount: t.HitCount, Value: f32(t.Value), Tags: jsonTags(t.Tags)}
		if hasU {
			u := f32(t.RUUtime)
			jt.RUUtime = &u
		}
		if hasS {
			s := f32(t.RUStime)
			jt.RUStime = &s
		}
		r.Timers[i] = jt
	}
	for _, c := range p.Requests {
		r.Requests = append(r.Requests, toJSONRequest(c))
	}
	return r
}

// writeJSONPacket writes one datagram as one line of JSON.
func writeJSONPacket(w *bufio.Writer, n int, dg datagram, p *pinbatest.Packet, probs, warns []string) {
	jp := jsonPacket{
		N:        n,
		Time:     dg.at.Format(time.RFC3339Nano),
		From:     fromText(dg),
		Size:     len(dg.data),
		Problems: nonNil(probs),
		Warnings: nonNil(warns),
	}
	if p.Err != nil {
		jp.Error = p.Err.Error()
		jp.Hex = hex.EncodeToString(dg.data[:min(len(dg.data), hexLimit)])
	} else {
		jp.jsonRequest = toJSONRequest(p)
	}
	writeJSONLine(w, jp)
}

func writeJSONLine(w *bufio.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen with these types; say so rather than print nothing
		b, _ = json.Marshal(map[string]string{"error": "pinba-dump: " + err.Error()})
	}
	w.Write(b)
	w.WriteByte('\n')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// fieldNames names the fields of Pinba.Request by number.
var fieldNames = map[protowire.Number]string{}

func init() {
	fields := (&pb.Request{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		fieldNames[f.Number()] = string(f.Name())
	}
}

// unparsed describes the fields of m that the decoder could not place: a
// known field sent with the wrong wire type (a time written as a double) or
// an unknown field. Servers drop or ignore these; showing them tells what
// the client meant.
func unparsed(m *pb.Request) []string {
	var out []string
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		val := b[:n]
		b = b[n:]
		name := fieldNames[num]
		if name == "" {
			name = "unknown field"
		}
		desc := fmt.Sprintf("field %d (%s) sent as %s", num, name, wireTypeName(typ))
		switch typ {
		case protowire.VarintType:
			v, _ := protowire.ConsumeVarint(val)
			desc += fmt.Sprintf(": %d", v)
		case protowire.Fixed32Type:
			v, _ := protowire.ConsumeFixed32(val)
			desc += fmt.Sprintf(": %#08x (float %g)", v, math.Float32frombits(v))
		case protowire.Fixed64Type:
			v, _ := protowire.ConsumeFixed64(val)
			desc += fmt.Sprintf(": %#016x (double %g)", v, math.Float64frombits(v))
		case protowire.BytesType:
			v, _ := protowire.ConsumeBytes(val)
			desc += fmt.Sprintf(": %d bytes %s", len(v), hexText(v))
		}
		out = append(out, desc)
	}
	return out
}

func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "bytes"
	case protowire.StartGroupType, protowire.EndGroupType:
		return "group"
	}
	return fmt.Sprintf("wire type %d", t)
}
