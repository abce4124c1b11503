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
	// The largest index decides; the loop that names the culprit runs only
	// when there is one.
	if d == 0 || maxIndex(r.TimerTagName) >= d || maxIndex(r.TimerTagValue) >= d || maxIndex(r.TagName) >= d || maxIndex(r.TagValue) >= d {
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
	}
	for i := range r.Requests {
		if err := r.Requests[i].Check(); err != nil {
			return fmt.Errorf("pb: nested request %d: %w", i, err)
		}
	}
	return nil
}

// maxIndex returns the largest of xs, 0 when it is empty. Four lanes keep
// the loop free of a dependency on one running maximum.
func maxIndex(xs []uint32) uint32 {
	var m0, m1, m2, m3 uint32
	for len(xs) >= 4 {
		m0, m1, m2, m3 = max(m0, xs[0]), max(m1, xs[1]), max(m2, xs[2]), max(m3, xs[3])
		xs = xs[4:]
	}
	for _, x := range xs {
		m0 = max(m0, x)
	}
	return max(m0, m1, m2, m3)
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

// Keys of the fields: the field number and wire type as one varint, of one
// byte for fields 1 to 15 and two for 16 to 23.
const (
	keyHostname      = byte(FieldHostname)<<3 | byte(protowire.BytesType)
	keyServerName    = byte(FieldServerName)<<3 | byte(protowire.BytesType)
	keyScriptName    = byte(FieldScriptName)<<3 | byte(protowire.BytesType)
	keyRequestCount  = byte(FieldRequestCount)<<3 | byte(protowire.VarintType)
	keyDocumentSize  = byte(FieldDocumentSize)<<3 | byte(protowire.VarintType)
	keyMemoryPeak    = byte(FieldMemoryPeak)<<3 | byte(protowire.VarintType)
	keyRequestTime   = byte(FieldRequestTime)<<3 | byte(protowire.Fixed32Type)
	keyRUUtime       = byte(FieldRUUtime)<<3 | byte(protowire.Fixed32Type)
	keyRUStime       = byte(FieldRUStime)<<3 | byte(protowire.Fixed32Type)
	keyTimerHitCount = byte(FieldTimerHitCount)<<3 | byte(protowire.VarintType)
	keyTimerValue    = byte(FieldTimerValue)<<3 | byte(protowire.Fixed32Type)
	keyTimerTagCount = byte(FieldTimerTagCount)<<3 | byte(protowire.VarintType)
	keyTimerTagName  = byte(FieldTimerTagName)<<3 | byte(protowire.VarintType)
	keyTimerTagValue = byte(FieldTimerTagValue)<<3 | byte(protowire.VarintType)
	keyDictionary    = byte(FieldDictionary)<<3 | byte(protowire.BytesType)
)

// key2 is the two-byte key of a field from 16 to 23 (number<<3 | type is
// 128 to 191: its low 7 bits with the continuation bit, then 1).
func key2(num protowire.Number, typ protowire.Type) uint16 {
	k := uint16(num)<<3 | uint16(typ)
	return uint16(k&0x7f|0x80) | (k>>7)<<8
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendString(b []byte, key byte, s string) []byte {
	if len(s) < 0x80 {
		b = append(b, key, byte(len(s)))
	} else {
		b = appendVarint(append(b, key), uint64(len(s)))
	}
	return append(b, s...)
}

func appendUint(b []byte, key byte, v uint32) []byte {
	if v < 0x80 {
		return append(b, key, byte(v))
	}
	return appendVarint(append(b, key), uint64(v))
}

func appendFixed(b []byte, key byte, v float32) []byte {
	x := math.Float32bits(Seconds(v))
	return append(b, key, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
}

// appendUints writes vs as a repeated unpacked field of one-byte key.
func appendUints(b []byte, key byte, vs []uint32) []byte {
	for _, v := range vs {
		if v < 0x80 {
			b = append(b, key, byte(v))
		} else {
			b = appendVarint(append(b, key), uint64(v))
		}
	}
	return b
}

// appendUints2 writes vs as a repeated unpacked field of two-byte key.
func appendUints2(b []byte, key uint16, vs []uint32) []byte {
	k0, k1 := byte(key), byte(key>>8)
	for _, v := range vs {
		if v < 0x80 {
			b = append(b, k0, k1, byte(v))
		} else {
			b = appendVarint(append(b, k0, k1), uint64(v))
		}
	}
	return b
}

func appendUint2(b []byte, key uint16, v uint32) []byte {
	return appendVarint(append(b, byte(key), byte(key>>8)), uint64(v))
}

func appendFixeds(b []byte, key byte, vs []float32) []byte {
	for _, v := range vs {
		b = appendFixed(b, key, v)
	}
	return b
}

func appendFixeds2(b []byte, key uint16, vs []float32) []byte {
	for _, v := range vs {
		x := math.Float32bits(Seconds(v))
		b = append(b, byte(key), byte(key>>8), byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

func (r *Record) appendChecked(b []byte) []byte {
	b = appendString(b, keyHostname, r.Hostname)
	b = appendString(b, keyServerName, r.ServerName)
	b = appendString(b, keyScriptName, r.ScriptName)
	b = appendUint(b, keyRequestCount, r.RequestCount)
	b = appendUint(b, keyDocumentSize, r.DocumentSize)
	b = appendUint(b, keyMemoryPeak, r.MemoryPeak)
	b = appendFixed(b, keyRequestTime, r.RequestTime)
	b = appendFixed(b, keyRUUtime, r.RUUtime)
	b = appendFixed(b, keyRUStime, r.RUStime)
	for _, v := range r.TimerHitCount {
		b = appendUint(b, keyTimerHitCount, HitCount(v))
	}
	b = appendFixeds(b, keyTimerValue, r.TimerValue)
	b = appendUints(b, keyTimerTagCount, r.TimerTagCount)
	b = appendUints(b, keyTimerTagName, r.TimerTagName)
	b = appendUints(b, keyTimerTagValue, r.TimerTagValue)
	for _, s := range r.Dictionary {
		b = appendString(b, keyDictionary, s)
	}
	if r.HasStatus {
		b = appendUint2(b, key2(FieldStatus, protowire.VarintType), Status(r.Status))
	}
	if r.HasMemoryFootprint {
		b = appendUint2(b, key2(FieldMemoryFootprint, protowire.VarintType), r.MemoryFootprint)
	}
	for i := range r.Requests {
		k := key2(FieldRequests, protowire.BytesType)
		b = append(b, byte(k), byte(k>>8))
		b = r.Requests[i].appendNested(b)
	}
	if r.HasSchema {
		k := key2(FieldSchema, protowire.BytesType)
		b = appendVarint(append(b, byte(k), byte(k>>8)), uint64(len(r.Schema)))
		b = append(b, r.Schema...)
	}
	b = appendUints2(b, key2(FieldTagName, protowire.VarintType), r.TagName)
	b = appendUints2(b, key2(FieldTagValue, protowire.VarintType), r.TagValue)
	b = appendFixeds2(b, key2(FieldTimerRUUtime, protowire.Fixed32Type), r.TimerRUUtime)
	b = appendFixeds2(b, key2(FieldTimerRUStime, protowire.Fixed32Type), r.TimerRUStime)
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
