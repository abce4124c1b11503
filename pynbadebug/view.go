package pynbadebug

import (
	"math"
	"net/netip"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/internal/report"
	"github.com/pynba-go/pynba/pinbatest"
)

// View is what the page shows, and the document its JSON form encodes.
type View struct {
	// Time is when the view was taken.
	Time time.Time `json:"time"`
	// Stats are the source's counters, as Source.Stats returned them.
	Stats pynba.Stats `json:"stats"`
	// Servers are the servers the reporter sends to, in the order of
	// Reporter.Servers, with the address each resolved to.
	Servers []Server `json:"servers"`
	// Feed says how the page follows the reporter's recent packets.
	Feed Feed `json:"feed"`
	// Packets are the last packets the reporter kept (Reporter.Recent),
	// oldest first, decoded and checked: at most the number asked for.
	// A reporter shared by several monitors keeps the packets of all of
	// them, and the tables count them all; Stats are the source's own.
	Packets []Packet `json:"packets"`
	// Report holds the per-script, per-timer-tag-set and per-request-tag
	// tables over the packets the page has seen in its window.
	Report report.Snapshot `json:"report"`
}

// Server is one server the reporter sends to.
type Server struct {
	// Name is the server as Reporter.Servers lists it ("host:port").
	Name string `json:"server"`
	// Addr is the address it was last resolved to, "" when it has none yet.
	Addr string `json:"addr"`
	// Resolved tells whether it has an address.
	Resolved bool `json:"resolved"`
}

// Feed says how the page follows the reporter's ring of recent packets.
type Feed struct {
	// Kept is how many packets the ring holds now.
	Kept int `json:"kept"`
	// New is how many of them this view found that the page had not seen.
	New int `json:"new"`
	// Seen counts the packets the page has added to its report since
	// Handler made it.
	Seen uint64 `json:"seen"`
	// Views counts the views since Handler made the page.
	Views uint64 `json:"views"`
	// Gap tells that packets left the ring since the view before this one
	// without being seen: more packets than the ring holds were sent in
	// between, and those are in no table.
	Gap bool `json:"gap"`
	// Gaps counts the views with a Gap.
	Gaps uint64 `json:"gaps"`
	// Missed counts the packets no view saw.
	Missed uint64 `json:"missed"`
}

// Packet is one packet the reporter sent, decoded.
type Packet struct {
	// Seq is the packet's number, from 1 for the first the reporter kept.
	Seq  uint64 `json:"seq"`
	Size int    `json:"size"` // bytes

	Hostname        string `json:"hostname"`
	ServerName      string `json:"server_name"`
	ScriptName      string `json:"script_name"`
	Schema          string `json:"schema"`
	Status          uint32 `json:"status"`
	RequestCount    uint32 `json:"request_count"`
	DocumentSize    uint32 `json:"document_size"`
	MemoryPeak      uint32 `json:"memory_peak"`
	MemoryFootprint uint32 `json:"memory_footprint"`
	// Times are seconds; a NaN or infinite time is shown as 0.
	RequestTime float32 `json:"request_time"`
	RUUtime     float32 `json:"ru_utime"`
	RUStime     float32 `json:"ru_stime"`

	Timers []Timer `json:"timers"`
	Tags   []Tag   `json:"tags"` // request tags, in wire order

	// Nested are the requests nested in this one (field 18).
	Nested []Packet `json:"nested,omitempty"`

	// DecodeError is set when the bytes are not a Pinba request.
	DecodeError string `json:"decode_error,omitempty"`
	// Problems are the reasons a Pinba server would drop or misread the
	// packet (pinbatest.Validate), Warnings what a server would store
	// differently than sent (pinbatest.Warnings). Nested requests are
	// checked with the packet that holds them.
	Problems []Problem `json:"problems,omitempty"`
	Warnings []Problem `json:"warnings,omitempty"`
}

// Timer is one timer of a packet.
type Timer struct {
	Hits    uint32  `json:"hits"`
	Value   float32 `json:"value"`    // seconds
	RUUtime float32 `json:"ru_utime"` // seconds, 0 when not sent
	RUStime float32 `json:"ru_stime"` // seconds, 0 when not sent
	Tags    []Tag   `json:"tags"`     // in wire order; a name may repeat
}

// Tag is one tag name and value.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Problem is one finding of pinbatest about a packet.
type Problem struct {
	Rule   string `json:"rule"`   // a pinbatest Rule constant
	Server string `json:"server"` // "pinba_engine", "pinba2" or "both"
	Detail string `json:"detail"`
	Effect string `json:"effect"`
}

// decodePacket decodes and checks one datagram.
func decodePacket(seq uint64, raw []byte) Packet {
	p := fromPinbatest(pinbatest.Decode(raw))
	p.Seq = seq
	problems, warnings := pinbatest.Inspect(raw)
	p.Problems = problemsOf(problems)
	p.Warnings = problemsOf(warnings)
	return p
}

func fromPinbatest(d *pinbatest.Packet) Packet {
	p := Packet{
		Size:            len(d.Raw),
		Hostname:        d.Hostname,
		ServerName:      d.ServerName,
		ScriptName:      d.ScriptName,
		Schema:          d.Schema,
		Status:          d.Status,
		RequestCount:    d.RequestCount,
		DocumentSize:    d.DocumentSize,
		MemoryPeak:      d.MemoryPeak,
		MemoryFootprint: d.MemoryFootprint,
		RequestTime:     finite(d.RequestTime),
		RUUtime:         finite(d.RUUtime),
		RUStime:         finite(d.RUStime),
		Timers:          make([]Timer, 0, len(d.Timers)),
		Tags:            tagsOf(d.Tags),
	}
	if d.Err != nil {
		p.DecodeError = d.Err.Error()
	}
	for _, t := range d.Timers {
		p.Timers = append(p.Timers, Timer{Hits: t.HitCount, Value: finite(t.Value), RUUtime: finite(t.RUUtime), RUStime: finite(t.RUStime), Tags: tagsOf(t.Tags)})
	}
	for _, n := range d.Requests {
		p.Nested = append(p.Nested, fromPinbatest(n))
	}
	return p
}

// finite returns f, or 0 for a NaN or an infinity, which JSON cannot
// hold (Problems names the rule the packet breaks).
func finite(f float32) float32 {
	if f != f || f > math.MaxFloat32 || f < -math.MaxFloat32 {
		return 0
	}
	return f
}

func tagsOf(ts pinbatest.Tags) []Tag {
	out := make([]Tag, 0, len(ts))
	for _, t := range ts {
		out = append(out, Tag{Name: t.Name, Value: t.Value})
	}
	return out
}

func problemsOf(ps pinbatest.Problems) []Problem {
	var out []Problem
	for _, p := range ps {
		out = append(out, Problem{Rule: p.Rule, Server: p.Server, Detail: p.Detail, Effect: p.Effect})
	}
	return out
}

// serversOf pairs the reporter's servers with their addresses.
func serversOf(r *pynba.Reporter) []Server {
	if r == nil {
		return []Server{}
	}
	names, addrs := r.Servers(), r.Addrs()
	out := make([]Server, 0, len(names))
	for i, n := range names {
		s := Server{Name: n}
		if i < len(addrs) && addrs[i] != (netip.AddrPort{}) {
			s.Addr, s.Resolved = addrs[i].String(), true
		}
		out = append(out, s)
	}
	return out
}
