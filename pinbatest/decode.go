package pinbatest

import (
	"fmt"
	"net"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

// Packet is one received datagram, decoded. Times are seconds, as sent.
// Dictionary indexes are resolved: a tag whose index is out of range has the
// name or value "<bad index N>", and one whose name or value is missing
// (arrays of different lengths) has "<missing>" (Validate reports both).
type Packet struct {
	Raw  []byte   // the datagram as received (a nested request's own bytes, within its parent's Raw)
	From net.Addr // the sender (nil for Decode)
	Err  error    // the decoding error, if the bytes are not a Pinba.Request

	Request *pb.Request // the decoded message (nil when Err is set)

	Hostname        string
	ServerName      string
	ScriptName      string
	Schema          string
	RequestCount    uint32
	DocumentSize    uint32
	MemoryPeak      uint32
	MemoryFootprint uint32
	Status          uint32
	RequestTime     float32
	RUUtime         float32
	RUStime         float32

	Timers []Timer // in wire order
	Tags   Tags    // request tags, every pair in wire order

	Requests []*Packet // nested requests (field 18)
}

// Timer is one timer of a packet.
type Timer struct {
	HitCount uint32
	Value    float32 // seconds
	RUUtime  float32 // seconds, 0 when not sent
	RUStime  float32 // seconds, 0 when not sent
	Tags     Tags    // every pair in wire order
}

// Tag is one name and value pair.
type Tag struct{ Name, Value string }

// Tags is a list of tag pairs in wire order. A name may appear more than
// once: pynba sends a list value, as in timer(baz=['seq1','seq2']), as one
// pair per element, baz=seq1 and baz=seq2. Index it, range over it or use
// len as a slice; Get, Lookup, All and Has look a name up.
type Tags []Tag

// Get returns the first value of name, "" when there is none.
func (ts Tags) Get(name string) string {
	v, _ := ts.Lookup(name)
	return v
}

// Lookup returns the first value of name and whether name is there.
func (ts Tags) Lookup(name string) (string, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// All returns every value of name in wire order, nil when there is none.
func (ts Tags) All(name string) []string {
	var out []string
	for _, t := range ts {
		if t.Name == name {
			out = append(out, t.Value)
		}
	}
	return out
}

// Has reports whether the pair name=value is one of the tags.
func (ts Tags) Has(name, value string) bool {
	for _, t := range ts {
		if t.Name == name && t.Value == value {
			return true
		}
	}
	return false
}

// String formats the timer as "hits=N value=0.0123s [{a b} {c d}]".
func (t Timer) String() string {
	return fmt.Sprintf("hits=%d value=%gs %v", t.HitCount, t.Value, t.Tags)
}

// FindTimer returns the first timer that has every name=value pair of want
// among its tags, and whether there is one. A wanted pair matches any pair of
// a repeated name: {"baz": "seq2"} finds a timer tagged baz=seq1 baz=seq2.
// To require several values of one name, check Tags.All of the result.
func (p *Packet) FindTimer(want map[string]string) (Timer, bool) {
	for _, t := range p.Timers {
		ok := true
		for k, v := range want {
			if !t.Tags.Has(k, v) {
				ok = false
				break
			}
		}
		if ok {
			return t, true
		}
	}
	return Timer{}, false
}

// Decode decodes a datagram. It never fails outright: a datagram that is not
// a Pinba.Request comes back with Err set and Raw filled. Missing required
// fields do not make it fail (Validate reports them).
func Decode(b []byte) *Packet {
	p := &Packet{Raw: append([]byte(nil), b...)}
	m := new(pb.Request)
	opts := proto.UnmarshalOptions{AllowPartial: true}
	if err := opts.Unmarshal(b, m); err != nil {
		// The servers skip fields numbered past what Go's proto package
		// reads: decode without them.
		clean, ok := withoutFarFields(b)
		if !ok || opts.Unmarshal(clean, m) != nil {
			p.Err = fmt.Errorf("pinbatest: not a Pinba.Request: %w", err)
			return p
		}
	}
	fill(p, m, p.Raw)
	return p
}

// nestedRaw returns the bytes of each nested request (field 18) of the
// encoded request b, in wire order.
func nestedRaw(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		num, typ, n := consumeKey(b)
		if n < 0 {
			return out
		}
		b = b[n:]
		if num == pb.FieldRequests && typ == protowire.BytesType {
			if v, vn := protowire.ConsumeBytes(b); vn >= 0 {
				out = append(out, v)
			}
		}
		vn := protowire.ConsumeFieldValue(num, typ, b)
		if vn < 0 {
			return out
		}
		b = b[vn:]
	}
	return out
}

// fill sets p's fields from m, decoded from raw.
func fill(p *Packet, m *pb.Request, raw []byte) {
	p.Request = m
	p.Hostname = m.GetHostname()
	p.ServerName = m.GetServerName()
	p.ScriptName = m.GetScriptName()
	p.Schema = m.GetSchema()
	p.RequestCount = m.GetRequestCount()
	p.DocumentSize = m.GetDocumentSize()
	p.MemoryPeak = m.GetMemoryPeak()
	p.MemoryFootprint = m.GetMemoryFootprint()
	p.Status = m.GetStatus()
	p.RequestTime = m.GetRequestTime()
	p.RUUtime = m.GetRuUtime()
	p.RUStime = m.GetRuStime()

	word := func(i uint32) string {
		if int(i) < len(m.Dictionary) {
			return m.Dictionary[i]
		}
		return fmt.Sprintf("<bad index %d>", i)
	}
	at := func(s []uint32, i int) string {
		if i < len(s) {
			return word(s[i])
		}
		return "<missing>"
	}
	for i := range max(len(m.TagName), len(m.TagValue)) {
		p.Tags = append(p.Tags, Tag{at(m.TagName, i), at(m.TagValue, i)})
	}
	next := 0
	for i := range m.TimerHitCount {
		t := Timer{HitCount: m.TimerHitCount[i]}
		if i < len(m.TimerValue) {
			t.Value = m.TimerValue[i]
		}
		if i < len(m.TimerRuUtime) {
			t.RUUtime = m.TimerRuUtime[i]
		}
		if i < len(m.TimerRuStime) {
			t.RUStime = m.TimerRuStime[i]
		}
		if i < len(m.TimerTagCount) {
			for range m.TimerTagCount[i] {
				if next >= len(m.TimerTagName) && next >= len(m.TimerTagValue) {
					break
				}
				t.Tags = append(t.Tags, Tag{at(m.TimerTagName, next), at(m.TimerTagValue, next)})
				next++
			}
		}
		p.Timers = append(p.Timers, t)
	}
	raws := nestedRaw(raw)
	for i, c := range m.Requests {
		cp := &Packet{}
		if i < len(raws) {
			cp.Raw = raws[i]
		}
		fill(cp, c, cp.Raw)
		p.Requests = append(p.Requests, cp)
	}
}
