package pynba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Reporter sends Pinba packets, as UDP datagrams, to one or more Pinba
// servers. Every server gets the same datagram, written from one
// unconnected UDP socket (two, IPv4 and IPv6, on a system without
// dual-stack sockets). A Reporter never fails its caller nor makes it wait
// for a name lookup: what it cannot send it counts (see Stats) and hands
// to the error handler (WithErrorHandler) as a *SendError or *ResolveError.
//
// Server names are looked up when the Reporter is created and again every
// resolve interval (WithResolveInterval, default 60 s) by a background
// goroutine (all names at once, each lookup in a goroutine of its own that
// ends with it), never while sending. Of the addresses a lookup returns, the
// first IPv4 address is used, else the first IPv6 one: Pinba servers
// commonly listen on IPv4 only, and a UDP sender is never told that nobody
// listens. A name never resolved is skipped; a name that stops resolving
// keeps its last address.
//
// With WithAsync, Send only copies the packet into a pooled buffer on a
// queue, and one background goroutine writes it.
//
// A Reporter is safe for concurrent use. Close it when done: Close sends
// what the async queue holds, and stops every goroutine the Reporter
// started. The options that apply are WithErrorHandler,
// WithResolveInterval, WithResolver, WithMaxPacketSize and WithAsync.
type Reporter struct {
	cfg     *config
	servers []server // as parsed; never changed
	conn    *net.UDPConn
	conn6   *net.UDPConn // IPv6 socket when conn cannot send to IPv6, else nil

	// addrs holds one address per server, in the order of servers; the
	// zero AddrPort for a name not resolved yet. The slice is never
	// modified once stored: the resolver stores a new one.
	addrs atomic.Pointer[[]netip.AddrPort]

	sent, sendErrors, unresolved, resolveErrors, tooLarge, queueDropped atomic.Uint64

	closed atomic.Bool

	// Async mode. mu is read-locked by Send around its enqueue and locked
	// by Close around closing queue, so no Send ever sends on a closed
	// channel.
	mu       sync.RWMutex
	queue    chan *[]byte
	bufs     sync.Pool // of *[]byte
	senderWG sync.WaitGroup

	ctx       context.Context // canceled by Close: stops lookups
	cancel    context.CancelFunc
	resolveWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// listenUDP opens the Reporter's socket; tests replace it to act out a
// system without dual-stack sockets.
var listenUDP = func(network string) (*net.UDPConn, error) {
	return net.ListenUDP(network, nil)
}

// NewReporter returns a Reporter sending to servers, written as PHP's
// pinba.server is: up to 8 entries separated by commas and/or white space
// (unlike PHP, "a, b" is both a and b), each "host", "host:port", "[ipv6]"
// or "[ipv6]:port", where host is a name or an IP address. The port
// defaults to DefaultPort (30002). A bare IPv6 address is accepted only
// when it cannot be read as an address and a port ("::1" is, "::1:30002"
// is not); brackets are always safe. An entry given twice (after
// normalization, as Servers lists them) is sent to once.
//
// NewReporter returns an error for a malformed servers string, naming the
// bad entry, for a bad option, and for a socket it cannot open. A name
// that cannot be resolved is not an error: it is counted in
// Stats.ResolveErrors, reported to the error handler and skipped until a
// lookup succeeds (the next is one resolve interval later). NewReporter
// looks names up before returning, all at once, and waits at most 5 s for
// them.
func NewReporter(servers string, opts ...Option) (*Reporter, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	list, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	conn, conn6, err := openSockets(list)
	if err != nil {
		return nil, err
	}
	r := &Reporter{cfg: cfg, servers: list, conn: conn, conn6: conn6}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.bufs.New = func() any {
		b := make([]byte, 0, 1024)
		return &b
	}

	addrs := make([]netip.AddrPort, len(list))
	hasNames := false
	for i, s := range list {
		if s.host == "" {
			addrs[i] = netip.AddrPortFrom(s.ip, s.port)
		} else {
			hasNames = true
		}
	}
	r.addrs.Store(&addrs)
	if hasNames {
		r.resolve()
		r.resolveWG.Add(1)
		go r.refreshLoop()
	}
	if cfg.asyncQueue > 0 {
		r.queue = make(chan *[]byte, cfg.asyncQueue)
		r.senderWG.Add(1)
		go r.sendLoop()
	}
	return r, nil
}

// openSockets opens the unconnected UDP socket. Go makes it dual-stack
// where the system can; where it cannot and the socket is IPv4-only, a
// second, IPv6 socket serves the servers that may have IPv6 addresses (if
// even that fails, sends to them fail and are counted).
func openSockets(list []server) (conn, conn6 *net.UDPConn, err error) {
	conn, err = listenUDP("udp")
	if err != nil {
		return nil, nil, fmt.Errorf("pynba: open UDP socket: %w", err)
	}
	la, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || la.IP.To4() == nil {
		return conn, nil, nil // an IPv6 socket: dual-stack
	}
	for _, s := range list {
		if s.host != "" || s.ip.Is6() {
			if c6, err := listenUDP("udp6"); err == nil {
				conn6 = c6
			}
			break
		}
	}
	return conn, conn6, nil
}

// Servers returns the servers sent to, normalized as "host:port" or
// "[ipv6]:port", in the order given, without duplicates.
func (r *Reporter) Servers() []string {
	out := make([]string, len(r.servers))
	for i, s := range r.servers {
		out[i] = s.name
	}
	return out
}

// Send sends pkt, a Pinba datagram, to every server. It never blocks on a
// name lookup and never fails: a packet over the size limit
// (WithMaxPacketSize) is sent to no server and counts as Stats.TooLarge; a
// server without an address counts as Stats.Unresolved; a write the system
// refuses counts as Stats.SendErrors; each is reported to the error handler
// as a *SendError. Every datagram written counts as Stats.Sent.
//
// In async mode (WithAsync), Send copies pkt into the queue and returns; a
// full queue drops the packet (Stats.QueueDropped, reported as ErrQueueFull).
// Send does not keep pkt. Sync Send allocates nothing unless it reports an
// error, nor does async Send once its buffer pool is warm.
//
// After Close, Send sends nothing, counts one Stats.SendErrors per server
// (the datagrams the closed socket did not send) and reports nothing.
func (r *Reporter) Send(pkt []byte) {
	if r.closed.Load() {
		r.sendErrors.Add(uint64(len(r.servers)))
		return
	}
	if len(pkt) > r.cfg.maxPacketSize {
		r.tooLarge.Add(1)
		if r.cfg.errorHandler != nil {
			r.cfg.errorHandler(&SendError{Size: len(pkt), Limit: r.cfg.maxPacketSize, Err: ErrTooLarge})
		}
		return
	}
	if r.queue == nil {
		r.write(pkt)
		return
	}

	bp := r.bufs.Get().(*[]byte)
	*bp = append((*bp)[:0], pkt...)
	r.mu.RLock()
	if r.closed.Load() { // Close ran since the check above
		r.mu.RUnlock()
		r.bufs.Put(bp)
		r.sendErrors.Add(uint64(len(r.servers)))
		return
	}
	select {
	case r.queue <- bp:
		r.mu.RUnlock()
	default:
		r.mu.RUnlock()
		r.bufs.Put(bp)
		r.queueDropped.Add(1)
		if r.cfg.errorHandler != nil {
			r.cfg.errorHandler(&SendError{Size: len(pkt), Err: ErrQueueFull})
		}
	}
}

// write writes pkt to every server's current address.
func (r *Reporter) write(pkt []byte) {
	addrs := *r.addrs.Load()
	for i, a := range addrs {
		if !a.IsValid() {
			r.unresolved.Add(1)
			if r.cfg.errorHandler != nil {
				r.cfg.errorHandler(&SendError{Server: r.servers[i].name, Size: len(pkt), Err: ErrUnresolved})
			}
			continue
		}
		conn := r.conn
		if r.conn6 != nil && a.Addr().Is6() {
			conn = r.conn6
		}
		if _, err := conn.WriteToUDPAddrPort(pkt, a); err != nil {
			r.sendErrors.Add(1)
			// A sync Send racing with Close meets the closed socket:
			// counted as after Close, not reported.
			if r.cfg.errorHandler != nil && !(r.closed.Load() && errors.Is(err, net.ErrClosed)) {
				r.cfg.errorHandler(&SendError{Server: r.servers[i].name, Addr: a, Size: len(pkt), Err: err})
			}
			continue
		}
		r.sent.Add(1)
	}
}

// sendLoop writes the queued packets until Close closes the queue, and
// then what is left in it.
func (r *Reporter) sendLoop() {
	defer r.senderWG.Done()
	for bp := range r.queue {
		r.write(*bp)
		r.bufs.Put(bp)
	}
}

// Stats returns the reporter's counts: Sent, SendErrors, Unresolved,
// ResolveErrors, TooLarge and QueueDropped (the other fields are zero).
func (r *Reporter) Stats() Stats {
	var s Stats
	r.addStats(&s)
	return s
}

// addStats adds the reporter's counts into s.
func (r *Reporter) addStats(s *Stats) {
	s.Sent += r.sent.Load()
	s.SendErrors += r.sendErrors.Load()
	s.Unresolved += r.unresolved.Load()
	s.ResolveErrors += r.resolveErrors.Load()
	s.TooLarge += r.tooLarge.Load()
	s.QueueDropped += r.queueDropped.Load()
}

// Close sends what the async queue holds, stops the Reporter's goroutines
// (cancelling a lookup in progress) and closes its socket. When it returns,
// no goroutine of the Reporter remains. Later calls do nothing and return
// the first call's result; Send after Close only counts (see Send).
//
// A Resolver given with WithResolver must return once its context is
// canceled, or Close waits for it.
func (r *Reporter) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed.Store(true)
		if r.queue != nil {
			close(r.queue)
		}
		r.mu.Unlock()
		r.senderWG.Wait() // the queue is drained

		r.cancel()
		r.resolveWG.Wait()

		err := r.conn.Close()
		if r.conn6 != nil {
			err = errors.Join(err, r.conn6.Close())
		}
		if err != nil {
			r.closeErr = fmt.Errorf("pynba: close UDP socket: %w", err)
		}
	})
	return r.closeErr
}
