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
	LateTimers  uint64 // uses of a request or timer after the request had ended (ignored)
	TimerMisuse uint64 // Start on a running timer, Stop on a stopped one (ignored)
}

// counters are the live counts of a Middleware or ScriptMonitor.
type counters struct {
	requests     atomic.Uint64
	packets      atomic.Uint64
	tooLarge     atomic.Uint64
	encodeErrors atomic.Uint64
	tagErrors    atomic.Uint64
	lateTimers   atomic.Uint64
	timerMisuse  atomic.Uint64
}

func (c *counters) addTo(s *Stats) {
	s.Requests += c.requests.Load()
	s.Packets += c.packets.Load()
	s.TooLarge += c.tooLarge.Load()
	s.EncodeErrors += c.encodeErrors.Load()
	s.TagErrors += c.tagErrors.Load()
	s.LateTimers += c.lateTimers.Load()
	s.TimerMisuse += c.timerMisuse.Load()
}
