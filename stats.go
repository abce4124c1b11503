package pynba

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

	TagErrors  uint64 // tags dropped: values that cannot be tags, panicking callables
	LateTimers uint64 // timer uses after their request had ended (ignored)
}
