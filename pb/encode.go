// Package pb holds the Pinba wire format: the schema (pinba.proto), the
// generated message type Request, and Record, a flat request that encodes
// itself with no allocation.
//
// Record mirrors Pinba.Request field by field. Its Append method writes the
// same bytes as proto.Marshal of the equivalent Request (see Record.Proto),
// but into a caller's buffer, and it never writes a packet that pinba_engine
// or pinba2 would drop: times that are negative, NaN, infinite or subnormal
// are written as 0, a hit count of 0 as 1, a status of 4294967295 as
// 4294967294, and a record whose arrays disagree in length
// or whose dictionary indexes are out of range is refused with an error.
package pb

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Field numbers of Pinba.Request.
const (
	FieldHostname        protowire.Number = 1
	FieldServerName      protowire.Number = 2
	FieldScriptName      protowire.Number = 3
	FieldRequestCount    protowire.Number = 4
	FieldDocumentSize    protowire.Number = 5
	FieldMemoryPeak      protowire.Number = 6
	FieldRequestTime     protowire.Number = 7
	FieldRUUtime         protowire.Number = 8
	FieldRUStime         protowire.Number = 9
	FieldTimerHitCount   protowire.Number = 10
	FieldTimerValue      protowire.Number = 11
	FieldTimerTagCount   protowire.Number = 12
	FieldTimerTagName    protowire.Number = 13
	FieldTimerTagValue   protowire.Number = 14
	FieldDictionary      protowire.Number = 15
	FieldStatus          protowire.Number = 16
	FieldMemoryFootprint protowire.Number = 17
	FieldRequests        protowire.Number = 18
	FieldSchema          protowire.Number = 19
	FieldTagName         protowire.Number = 20
	FieldTagValue        protowire.Number = 21
	FieldTimerRUUtime    protowire.Number = 22
	FieldTimerRUStime    protowire.Number = 23
)

// MaxDatagram is the largest UDP payload the kernel sends over IPv4
// (65,535 minus the IP and UDP headers).
const MaxDatagram = 65507

// Record is one Pinba request in flat form, field for field as on the wire.
// Times are seconds. The zero Record is a valid empty request; Reset empties
// one while keeping its slices' memory for reuse.
//
// Timer i is TimerHitCount[i], TimerValue[i] and TimerTagCount[i]; it owns the
// next TimerTagCount[i] entries of TimerTagName and TimerTagValue, which are
// indexes into Dictionary, as TagName and TagValue (request tags) are.
// TimerRUUtime and TimerRUStime are either empty or one entry per timer.
type Record struct {
	Hostname     string
	ServerName   string
	ScriptName   string
	RequestCount uint32
	DocumentSize uint32
	MemoryPeak   uint32
	RequestTime  float32
	RUUtime      float32
	RUStime      float32

	TimerHitCount []uint32
	TimerValue    []float32
	TimerTagCount []uint32
	TimerTagName  []uint32
	TimerTagValue []uint32
	Dictionary    []string

	Status             uint32
	HasStatus          bool // write Status (field 16)
	MemoryFootprint    uint32
	HasMemoryFootprint bool // write MemoryFootprint (field 17)
	Requests           []Record
	Schema             string
	HasSchema          bool // write Schema (field 19)

	TagName  []uint32
	TagValue []uint32

	TimerRUUtime []float32
	TimerRUStime []float32
}

// Reset empties r, keeping the capacity of its slices.
func (r *Record) Reset() {
	*r = Record{
		TimerHitCount: r.TimerHitCount[:0],
		TimerValue:    r.TimerValue[:0],
		TimerTagCount: r.TimerTagCount[:0],
		TimerTagName:  r.TimerTagName[:0],
		TimerTagValue: r.TimerTagValue[:0],
		Dictionary:    r.Dictionary[:0],
		Requests:      r.Requests[:0],
		TagName:       r.TagName[:0],
		TagValue:      r.TagValue[:0],
		TimerRUUtime:  r.TimerRUUtime[:0],
		TimerRUStime:  r.TimerRUStime[:0],
	}
}

// smallestNormal is the smallest positive normal float32.
var smallestNormal = math.Float32frombits(0x00800000)

// Seconds is the time value Pinba servers read right for f: f itself when
// it is a finite normal number that is not negative, 0 otherwise (NaN,
// infinities, negatives, -0, and subnormals below 1.18e-38). pinba2 drops a
// packet whose timer value is any of those, or whose times are NaN,
// infinite or subnormal; pinba_engine reads them as garbage or 0.
func Seconds(f float32) float32 {
	if f >= smallestNormal && f <= math.MaxFloat32 {
		return f
	}
	return 0
}

// Status is the status Pinba servers accept for s: s, or 4294967294 when s
// is 4294967295, which pinba2 drops.
func Status(s uint32) uint32 {
	if s == math.MaxUint32 {
		return math.MaxUint32 - 1
	}
	return s
}

// HitCount is the hit count Pinba servers accept for n: n, or 1 when n is 0
// (pinba2 drops a packet holding a zero hit count; pinba_engine skips the
// timer and misreads the tags of the timers after it).
func HitCount(n uint32) uint32 {
	if n == 0 {
		return 1
	}
	return n
}

// Check reports the first structural fault that would make a server drop or
// misread r: arrays whose lengths disagree, or a dictionary index out of
// range. It checks nested Requests too. Append calls it.
func (r *Record) Check() error {
	n := len(r.TimerHitCount)
	if len(r.TimerValue) != n || len(r.TimerTagCount) != n {
		return fmt.Errorf("pb: timer arrays differ in length: %d hit counts, %d values, %d tag counts",
			n, len(r.TimerValue), len(r.TimerTagCount))
	}
	if (len(r.TimerRUUtime) != 0 && len(r.TimerRUUtime) != n) || (len(r.TimerRUStime) != 0 && len(r.TimerRUStime) != n) {
		return fmt.Errorf("pb: timer CPU arrays must be empty or have one entry per timer (%d timers): %d utime, %d stime",
			n, len(r.TimerRUUtime), len(r.TimerRUStime))
	}
	var sum uint64
	for _, c := range r.TimerTagCount {
		sum += uint64(c)
	}
	if sum != uint64(len(r.TimerTagName)) || sum != uint64(len(r.TimerTagValue)) {
		return fmt.Errorf("pb: timer tag counts add up to %d, but there are %d tag names and %d tag values",
			sum, len(r.TimerTagName), len(r.TimerTagValue))
	}
	if len(r.TagName) != len(r.TagValue) {
		return fmt.Errorf("pb: %d request tag names but %d request tag values", len(r.TagName), len(r.TagValue))
	}
	d := uint32(len(r.Dictionary))
	for _, s := range [...]struct {
		name string
		idx  []uint32
	}{{"timer_tag_name", r.TimerTagName}, {"timer_tag_value", r.TimerTagValue}, {"tag_name", r.TagName}, {"tag_value", r.TagValue}} {
		for i, x := range s.idx {
			if x >= d {
				return fmt.Errorf("pb: %s[%d] = %d is out of range of a dictionary of %d words", s.name, i, x, d)
			}
		}
	}
	for i := range r.Requests {
		if err := r.Requests[i].Check(); err != nil {
			return fmt.Errorf("pb: nested request %d: %w", i, err)
		}
	}
	return nil
}

// Append appends r's encoding to b and returns the extended buffer. It
// allocates nothing when b has room. On a structural fault (see Check) it
// returns b unchanged and the error.
func (r *Record) Append(b []byte) ([]byte, error) {
	if err := r.Check(); err != nil {
		return b, err
	}
	return r.appendChecked(b), nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendUint(b []byte, num protowire.Number, v uint32) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendSeconds(b []byte, num protowire.Number, v float32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(Seconds(v)))
}

func appendUints(b []byte, num protowire.Number, vs []uint32) []byte {
	for _, v := range vs {
		b = appendUint(b, num, v)
	}
	return b
}

func appendSecondsList(b []byte, num protowire.Number, vs []float32) []byte {
	for _, v := range vs {
		b = appendSeconds(b, num, v)
	}
	return b
}

func (r *Record) appendChecked(b []byte) []byte {
	b = appendString(b, FieldHostname, r.Hostname)
	b = appendString(b, FieldServerName, r.ServerName)
	b = appendString(b, FieldScriptName, r.ScriptName)
	b = appendUint(b, FieldRequestCount, r.RequestCount)
	b = appendUint(b, FieldDocumentSize, r.DocumentSize)
	b = appendUint(b, FieldMemoryPeak, r.MemoryPeak)
	b = appendSeconds(b, FieldRequestTime, r.RequestTime)
	b = appendSeconds(b, FieldRUUtime, r.RUUtime)
	b = appendSeconds(b, FieldRUStime, r.RUStime)
	for _, v := range r.TimerHitCount {
		b = appendUint(b, FieldTimerHitCount, HitCount(v))
	}
	b = appendSecondsList(b, FieldTimerValue, r.TimerValue)
	b = appendUints(b, FieldTimerTagCount, r.TimerTagCount)
	b = appendUints(b, FieldTimerTagName, r.TimerTagName)
	b = appendUints(b, FieldTimerTagValue, r.TimerTagValue)
	for _, s := range r.Dictionary {
		b = appendString(b, FieldDictionary, s)
	}
	if r.HasStatus {
		b = appendUint(b, FieldStatus, Status(r.Status))
	}
	if r.HasMemoryFootprint {
		b = appendUint(b, FieldMemoryFootprint, r.MemoryFootprint)
	}
	for i := range r.Requests {
		b = protowire.AppendTag(b, FieldRequests, protowire.BytesType)
		b = r.Requests[i].appendNested(b)
	}
	if r.HasSchema {
		b = appendString(b, FieldSchema, r.Schema)
	}
	b = appendUints(b, FieldTagName, r.TagName)
	b = appendUints(b, FieldTagValue, r.TagValue)
	b = appendSecondsList(b, FieldTimerRUUtime, r.TimerRUUtime)
	b = appendSecondsList(b, FieldTimerRUStime, r.TimerRUStime)
	return b
}

// appendNested appends r length-prefixed: it encodes r in place, then moves
// it right to make room for its length.
func (r *Record) appendNested(b []byte) []byte {
	start := len(b)
	b = r.appendChecked(b)
	n := len(b) - start
	k := protowire.SizeVarint(uint64(n))
	for range k {
		b = append(b, 0)
	}
	copy(b[start+k:], b[start:start+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}

// Proto returns the generated message holding what Append writes for r:
// the same fields, with times and hit counts cleaned as Append cleans them.
// proto.Marshal of it gives the bytes of Append.
func (r *Record) Proto() *Request {
	m := &Request{
		Hostname:      proto.String(r.Hostname),
		ServerName:    proto.String(r.ServerName),
		ScriptName:    proto.String(r.ScriptName),
		RequestCount:  proto.Uint32(r.RequestCount),
		DocumentSize:  proto.Uint32(r.DocumentSize),
		MemoryPeak:    proto.Uint32(r.MemoryPeak),
		RequestTime:   proto.Float32(Seconds(r.RequestTime)),
		RuUtime:       proto.Float32(Seconds(r.RUUtime)),
		RuStime:       proto.Float32(Seconds(r.RUStime)),
		TimerTagCount: clone(r.TimerTagCount),
		TimerTagName:  clone(r.TimerTagName),
		TimerTagValue: clone(r.TimerTagValue),
		Dictionary:    clone(r.Dictionary),
		TagName:       clone(r.TagName),
		TagValue:      clone(r.TagValue),
		TimerValue:    cleanSeconds(r.TimerValue),
		TimerRuUtime:  cleanSeconds(r.TimerRUUtime),
		TimerRuStime:  cleanSeconds(r.TimerRUStime),
	}
	for _, v := range r.TimerHitCount {
		m.TimerHitCount = append(m.TimerHitCount, HitCount(v))
	}
	if r.HasStatus {
		m.Status = proto.Uint32(Status(r.Status))
	}
	if r.HasMemoryFootprint {
		m.MemoryFootprint = proto.Uint32(r.MemoryFootprint)
	}
	if r.HasSchema {
		m.Schema = proto.String(r.Schema)
	}
	for i := range r.Requests {
		m.Requests = append(m.Requests, r.Requests[i].Proto())
	}
	return m
}

// FromProto fills r from the generated message m (r is reset first).
// Missing optional fields leave their Has flag false.
func (r *Record) FromProto(m *Request) {
	r.Reset()
	r.Hostname = m.GetHostname()
	r.ServerName = m.GetServerName()
	r.ScriptName = m.GetScriptName()
	r.RequestCount = m.GetRequestCount()
	r.DocumentSize = m.GetDocumentSize()
	r.MemoryPeak = m.GetMemoryPeak()
	r.RequestTime = m.GetRequestTime()
	r.RUUtime = m.GetRuUtime()
	r.RUStime = m.GetRuStime()
	r.TimerHitCount = append(r.TimerHitCount, m.TimerHitCount...)
	r.TimerValue = append(r.TimerValue, m.TimerValue...)
	r.TimerTagCount = append(r.TimerTagCount, m.TimerTagCount...)
	r.TimerTagName = append(r.TimerTagName, m.TimerTagName...)
	r.TimerTagValue = append(r.TimerTagValue, m.TimerTagValue...)
	r.Dictionary = append(r.Dictionary, m.Dictionary...)
	r.Status, r.HasStatus = m.GetStatus(), m.Status != nil
	r.MemoryFootprint, r.HasMemoryFootprint = m.GetMemoryFootprint(), m.MemoryFootprint != nil
	r.Schema, r.HasSchema = m.GetSchema(), m.Schema != nil
	for _, c := range m.Requests {
		var child Record
		child.FromProto(c)
		r.Requests = append(r.Requests, child)
	}
	r.TagName = append(r.TagName, m.TagName...)
	r.TagValue = append(r.TagValue, m.TagValue...)
	r.TimerRUUtime = append(r.TimerRUUtime, m.TimerRuUtime...)
	r.TimerRUStime = append(r.TimerRUStime, m.TimerRuStime...)
}

func clone[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return append([]T(nil), s...)
}

func cleanSeconds(vs []float32) []float32 {
	if len(vs) == 0 {
		return nil
	}
	out := make([]float32, len(vs))
	for i, v := range vs {
		out[i] = Seconds(v)
	}
	return out
}
