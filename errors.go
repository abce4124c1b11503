package pynba

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors a Reporter wraps in a SendError, to test with errors.Is.
var (
	// ErrUnresolved means a server's name had no address when the packet
	// was sent: no lookup of it has succeeded yet.
	ErrUnresolved = errors.New("server name has no address yet")
	// ErrTooLarge means the packet was over the size limit
	// (WithMaxPacketSize) and was sent to no server.
	ErrTooLarge = errors.New("packet over the size limit")
	// ErrQueueFull means the async queue (WithAsync) was full and the
	// packet was dropped.
	ErrQueueFull = errors.New("async queue full")
)

// errNoAddress is the error of a lookup that succeeded with no address.
var errNoAddress = errors.New("no IP address in the answer")

// SendError is what a Reporter hands to the error handler when a packet, or
// one server's copy of it, was not sent. Err is the socket's error, or
// ErrUnresolved, ErrTooLarge or ErrQueueFull.
type SendError struct {
	// Server is the server as Reporter.Servers lists it ("host:port"),
	// or "" when the packet was sent to no server (ErrTooLarge,
	// ErrQueueFull).
	Server string
	// Addr is the address written to; the zero AddrPort when nothing was
	// written.
	Addr netip.AddrPort
	// Size is the packet's size in bytes.
	Size int
	// Limit is the size limit in bytes when Err is ErrTooLarge, else 0.
	Limit int
	// Err is what went wrong.
	Err error
}

// Error says which packet was not sent where, and why.
func (e *SendError) Error() string {
	switch {
	case errors.Is(e.Err, ErrTooLarge):
		return fmt.Sprintf("pynba: packet of %d bytes not sent: over the %d-byte limit", e.Size, e.Limit)
	case e.Server == "":
		return fmt.Sprintf("pynba: packet of %d bytes not sent: %v", e.Size, e.Err)
	case !e.Addr.IsValid():
		return fmt.Sprintf("pynba: packet of %d bytes not sent to Pinba server %s: %v", e.Size, e.Server, e.Err)
	default:
		return fmt.Sprintf("pynba: packet of %d bytes not sent to Pinba server %s (%v): %v", e.Size, e.Server, e.Addr, e.Err)
	}
}

// Unwrap returns Err.
func (e *SendError) Unwrap() error { return e.Err }

// ResolveError is what a Reporter hands to the error handler when looking
// up a server's name failed. A server that was never resolved is skipped
// (its datagrams count as Stats.Unresolved); one that was keeps its last
// address until a lookup succeeds again.
type ResolveError struct {
	Host string // the name looked up
	Err  error  // the resolver's error
}

// Error names the host and the resolver's error.
func (e *ResolveError) Error() string {
	return fmt.Sprintf("pynba: resolve Pinba server %q: %v", e.Host, e.Err)
}

// Unwrap returns Err.
func (e *ResolveError) Unwrap() error { return e.Err }
