package pynba

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
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

// RangeError says a setter was given a value the wire cannot hold, and what
// was sent instead.
type RangeError struct {
	Field string // the setter, "SetDocumentSize"
	Value int64  // the value given
	Sent  uint32 // the value sent
}

// Error names the setter, the value and what was sent.
func (e *RangeError) Error() string {
	return fmt.Sprintf("pynba: %s(%d): out of the wire's range 0 to 4294967295, %d sent", e.Field, e.Value, e.Sent)
}

// PanicError is what the error handler hears when user code the library
// called (a tag callable, String or Error method, the WithFilter or
// WithScriptName function, a Resolver) panicked. The panic was recovered.
type PanicError struct {
	What  string // what panicked: "WithFilter function", "tag callable", ...
	Value any    // the value given to panic
}

// Error names what panicked and describes the value by its type (and a
// string's first bytes), without calling any of its methods.
func (e *PanicError) Error() string {
	return e.What + " panicked with " + describe(e.Value)
}

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// describe renders a user value for an error message without calling any
// of its methods or walking into it, so that a cyclic, huge or panicking
// value cannot break the message: a string as its first 64 bytes, quoted,
// anything else as its type, with its length when it has one.
func describe(v any) string {
	if v == nil {
		return "nil"
	}
	if s, ok := v.(string); ok {
		if len(s) > 64 {
			return strconv.Quote(s[:64]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
		}
		return strconv.Quote(s)
	}
	rv := reflect.ValueOf(v)
	t := rv.Type().String()
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Chan, reflect.String:
		return t + " of length " + strconv.Itoa(rv.Len())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		if _, ok := v.(fmt.Stringer); !ok {
			if _, ok := v.(error); !ok {
				return t + "(" + fmt.Sprint(rv.Interface()) + ")"
			}
		}
	}
	return t
}

// TagError tells which tag was dropped while flattening Tags, and why.
// Name is the tag's full dotted path ("a.b" for Tags{"a": map[string]any{"b":
// ...}}); when a whole tag is dropped because its value is nested too deep or
// is too large, Name is the top-level name.
type TagError struct {
	Name string // the tag's dotted path
	Err  error  // what was wrong with it
}

// Error returns a message such as `pynba: tag "a.b": chan int cannot be a
// tag value`.
func (e *TagError) Error() string {
	return "pynba: tag " + strconv.Quote(e.Name) + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *TagError) Unwrap() error { return e.Err }

// PacketTooLargeError says a request's packet was over the size limit, and
// what was done: timers trimmed from the end to fit, or the packet dropped.
type PacketTooLargeError struct {
	Size      int  // bytes of the whole packet, after merging identical timers
	Limit     int  // the limit (WithMaxPacketSize)
	Timers    int  // timers in the whole packet
	Kept      int  // timers kept in the packet sent
	Dropped   bool // nothing was sent: even with no timers it was too large
	SentBytes int  // bytes of the packet sent (0 when Dropped)
}

// Unwrap returns ErrTooLarge, so errors.Is(err, ErrTooLarge) holds for a
// packet trimmed or dropped here as for one the Reporter refuses.
func (e *PacketTooLargeError) Unwrap() error { return ErrTooLarge }

// Error says how large the packet was, the limit, and what was sent.
func (e *PacketTooLargeError) Error() string {
	if e.Dropped {
		return fmt.Sprintf("pynba: packet of %d bytes is over the %d-byte limit even with no timers: dropped", e.Size, e.Limit)
	}
	return fmt.Sprintf("pynba: packet of %d bytes (%d timers) is over the %d-byte limit: sent the first %d timers in %d bytes",
		e.Size, e.Timers, e.Limit, e.Kept, e.SentBytes)
}

// ErrLate is reported (wrapped) when a Collector or TimerRef is used after
// its request ended. Such uses are ignored and counted in Stats.LateUses.
var ErrLate = errors.New("pynba: request already ended")

// Errors reported (wrapped) for timer misuse. The call does nothing.
var (
	ErrTimerRunning = errors.New("pynba: timer already running")
	ErrTimerStopped = errors.New("pynba: timer not running")
)

// ErrResolverPanic is wrapped in the ResolveError of a lookup whose
// Resolver (WithResolver) panicked: the lookup counts as failed.
var ErrResolverPanic = errors.New("pynba: the resolver panicked")

// ErrClosed is returned by a ScriptMonitor's Send after Close.
var ErrClosed = errors.New("pynba: monitor closed")

// ErrSending is returned by a ScriptMonitor's Send or Close called while the
// monitor is sending (from a tag callable, String or Error method run by
// the packet's build): the call does nothing.
var ErrSending = errors.New("pynba: ScriptMonitor.Send called while the monitor is sending: ignored")
