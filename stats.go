package pynba

import "sync/atomic"

// Stats counts what a Reporter, Middleware or ScriptMonitor did and what it
// lost. Every count only grows.
type Stats struct {
	Requests uint64 // requests monitored
	Packets  uint64 // packets handed to the reporter (one per request or flush)

	Sent          uint64 // datagrams written to a socket (one per server per packet)
	SendErrors    uint64 // datagrams the socket refused (for example, port unreachable)
	Unresolved    uint64 // datagrams not sent because the server name had no address
	ResolveErrors uint64 // failed name lookups
	TooLarge      uint64 // packets over the size limit (trimmed or dropped)
	QueueDropped  uint64 // packets dropped because the async queue was full
	EncodeErrors  uint64 // packets that could not be encoded

	TagErrors   uint64 // tags dropped: values that cannot be tags, panicking callables
	LateUses    uint64 // uses of a request or timer after the request had ended (ignored)
	TimerMisuse uint64 // Start on a running timer, Stop on a stopped one (ignored)
	Clamped     uint64 // values a setter had to clamp into the wire's range

	ScriptOverflows uint64 // script names sent as OverflowName (WithMaxScriptNames)
	TagOverflows    uint64 // tag values sent as OverflowName (WithMaxTagValues)
	StringsCut      uint64 // strings cut to pinba_engine's limits (WithEngineLimits)

	// CallbackPanics counts the error handler's panics (recovered) and the
	// errors it caused itself while running (dropped, not reported to it).
	CallbackPanics uint64
}

// counters are the live counts behind Stats: one set per configuration,
// shared by a Middleware, ScriptMonitor or Runner and the Reporter it
// creates.
type counters struct {
	sent           atomic.Uint64
	sendErrors     atomic.Uint64
	unresolved     atomic.Uint64
	resolveErrors  atomic.Uint64
	queueDropped   atomic.Uint64
	callbackPanics atomic.Uint64

	requests        atomic.Uint64
	packets         atomic.Uint64
	tooLarge        atomic.Uint64
	encodeErrors    atomic.Uint64
	tagErrors       atomic.Uint64
	lateUses        atomic.Uint64
	timerMisuse     atomic.Uint64
	clamped         atomic.Uint64
	scriptOverflows atomic.Uint64
	tagOverflows    atomic.Uint64
	stringsCut      atomic.Uint64
}

// addTo adds every count into s.
func (c *counters) addTo(s *Stats) {
	c.addSendingTo(s)
	s.Requests += c.requests.Load()
	s.Packets += c.packets.Load()
	s.TooLarge += c.tooLarge.Load()
	s.EncodeErrors += c.encodeErrors.Load()
	s.TagErrors += c.tagErrors.Load()
	s.LateUses += c.lateUses.Load()
	s.TimerMisuse += c.timerMisuse.Load()
	s.Clamped += c.clamped.Load()
	s.ScriptOverflows += c.scriptOverflows.Load()
	s.TagOverflows += c.tagOverflows.Load()
	s.StringsCut += c.stringsCut.Load()
}

// addSendingTo adds the counts a Reporter keeps into s.
func (c *counters) addSendingTo(s *Stats) {
	s.Sent += c.sent.Load()
	s.SendErrors += c.sendErrors.Load()
	s.Unresolved += c.unresolved.Load()
	s.ResolveErrors += c.resolveErrors.Load()
	s.QueueDropped += c.queueDropped.Load()
	s.CallbackPanics += c.callbackPanics.Load()
}
