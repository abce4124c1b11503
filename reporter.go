package pynba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Reporter sends Pinba packets, as UDP datagrams, to one or more Pinba
// servers. Every server gets the same datagram, written from unconnected
// UDP sockets: one per P (GOMAXPROCS, up to 16), so that requests sending
// at once do not queue for one socket, each socket dual-stack where the
// system allows (else with an IPv6 socket beside it). A Reporter never
// fails its caller nor makes it wait for a name lookup: what it cannot send
// it counts (see Stats) and hands to the error handler (WithErrorHandler)
// as a *SendError or *ResolveError.
//
// Server names are looked up when the Reporter is created and again every
// resolve interval (WithResolveInterval, default 60 s) by a background
// goroutine (all names at once, each lookup in a goroutine of its own that
// ends with it), never while sending. Of the addresses a lookup returns, the
// first IPv4 address is used, else the first IPv6 one: Pinba servers
// commonly listen on IPv4 only, and a UDP sender is never told that nobody
// listens. A name never resolved is skipped; a name that stops resolving
// keeps its last address. A resolver that panics counts as a failed lookup.
//
// With WithAsync, Send only copies the packet into a slot of a lock-free
// queue, and background sender goroutines (one per P, up to 4, each with
// its own socket) write what is queued, many datagrams a system call
// (sendmmsg) on Linux. A sender that finds the queue empty sleeps until a
// Send wakes it; one that wrote fewer than a full batch waits a
// millisecond before it looks again (less when the queue is half full),
// so that a busy server's Sends wake nobody and their packets go out many
// at once. A packet waits in the queue a millisecond or so.
//
// A Reporter is safe for concurrent use. Close it when done: Close sends
// what the async queue holds, and stops every goroutine the Reporter
// started. The options that apply are WithErrorHandler,
// WithResolveInterval, WithResolver, WithMaxPacketSize and WithAsync.
type Reporter struct {
	cfg     *config
	recent  *recentRing // WithRecent's copies, nil without it
	servers []server    // as parsed; never changed

	// socks are the sockets, one per P; pick hands each P one of them
	// (sync.Pool keeps a P's item on that P), so sync Sends from
	// different Ps write through different sockets.
	socks    []*sock
	pick     sync.Pool // of *sock
	nextSock atomic.Uint32

	// addrs holds one address per server, in the order of servers; the
	// zero AddrPort for a name not resolved yet. The slice is never
	// modified once stored: the resolver stores a new one.
	addrs atomic.Pointer[[]netip.AddrPort]

	closed atomic.Bool

	// Async mode: the queue, and the senders writing from it.
	queue    *packetQueue
	senderWG sync.WaitGroup

	// The senders park on wake when the queue is empty, and a Send wakes
	// one only when none is awake: a busy queue costs its Sends no
	// wake-up (see sendLoop). awake counts the senders running, or owed
	// a token on wake (whoever raises awake from a count below the
	// senders' sends the token).
	wake    chan struct{}
	hurry   chan struct{} // ends a sender's linger: the queue is half full
	awake   atomic.Int32
	batches atomic.Uint64 // batches written, for tests
	// closeTail is the queue's tail when Close ran (notClosing before):
	// the senders write every packet queued before it, then stop.
	closeTail atomic.Uint64

	ctx       context.Context // canceled by Close: stops lookups
	cancel    context.CancelFunc
	resolveWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// sock is one of a Reporter's sockets.
type sock struct {
	conn  *net.UDPConn
	conn6 *net.UDPConn // IPv6 socket when conn cannot send to IPv6, else nil
	dual  bool         // conn is an IPv6 socket that sends to IPv4 too
	batch *batcher     // the async sender's state (send_*.go), nil in sync mode
}

const (
	// maxSockets bounds the sockets a Reporter opens for sync sending.
	maxSockets = 16
	// maxBatch is the most packets an async sender writes at once.
	maxBatch = 64
)

// asyncSenders is the most sender goroutines an async Reporter starts (one
// per P up to it); tests that need one lower it.
var asyncSenders = 4

// listenUDP opens the Reporter's sockets; tests replace it to act out a
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
	return newReporter(servers, cfg)
}

// newReporter is NewReporter with the options applied: a Middleware,
// ScriptMonitor or Runner shares its configuration, and so its counters,
// with the Reporter it creates.
func newReporter(servers string, cfg *config) (*Reporter, error) {
	list, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	n := min(runtime.GOMAXPROCS(0), maxSockets)
	if cfg.asyncQueue > 0 {
		n = max(min(n, asyncSenders), 1)
	}
	r := &Reporter{cfg: cfg, servers: list, recent: newRecentRing(cfg.recent)}
	for range n {
		s, err := openSock(list)
		if err != nil {
			r.closeSocks()
			return nil, err
		}
		if cfg.asyncQueue > 0 {
			s.batch = newBatcher(r, s)
		}
		r.socks = append(r.socks, s)
	}
	r.pick.New = func() any {
		return r.socks[(r.nextSock.Add(1)-1)%uint32(len(r.socks))]
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())

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
		r.queue = newPacketQueue(cfg.asyncQueue, len(r.socks)*maxBatch)
		r.closeTail.Store(notClosing)
		r.wake = make(chan struct{}, len(r.socks))
		r.hurry = make(chan struct{}, len(r.socks))
		r.awake.Store(int32(len(r.socks)))
		for _, s := range r.socks {
			r.senderWG.Add(1)
			go r.sendLoop(s)
		}
	}
	return r, nil
}

// openSock opens one unconnected UDP socket. Go makes it dual-stack where
// the system can; where it cannot and the socket is IPv4-only, a second,
// IPv6 socket serves the servers that may have IPv6 addresses (if even
// that fails, sends to them fail and are counted).
func openSock(list []server) (*sock, error) {
	conn, err := listenUDP("udp")
	if err != nil {
		return nil, fmt.Errorf("pynba: open UDP socket: %w", err)
	}
	s := &sock{conn: conn}
	la, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || la.IP.To4() == nil {
		s.dual = true // an IPv6 socket: dual-stack
		return s, nil
	}
	for _, sv := range list {
		if sv.host != "" || sv.ip.Is6() {
			if c6, err := listenUDP("udp6"); err == nil {
				s.conn6 = c6
			}
			break
		}
	}
	return s, nil
}

// closeSocks closes every socket.
func (r *Reporter) closeSocks() error {
	var errs []error
	for _, s := range r.socks {
		errs = append(errs, s.conn.Close())
		if s.conn6 != nil {
			errs = append(errs, s.conn6.Close())
		}
	}
	return errors.Join(errs...)
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
// error, nor does async Send once the queue's slots have held a packet (a
// slot keeps a buffer of up to 2 KiB). When the queue is more than half
// full, an async Send yields the CPU once (runtime.Gosched), so that the
// senders run before the queue overflows.
//
// After Close, Send sends nothing, counts one Stats.SendErrors per server
// (the datagrams the closed socket did not send) and reports nothing.
func (r *Reporter) Send(pkt []byte) {
	if r.closed.Load() {
		r.cfg.stats.sendErrors.Add(uint64(len(r.servers)))
		return
	}
	if len(pkt) > r.cfg.maxPacketSize {
		r.cfg.stats.tooLarge.Add(1)
		if r.cfg.errorHandler != nil {
			r.cfg.reportError(&SendError{Size: len(pkt), Limit: r.cfg.maxPacketSize, Err: ErrTooLarge})
		}
		return
	}
	if r.recent != nil {
		r.recent.add(pkt)
	}
	if r.queue == nil {
		sk := r.pick.Get().(*sock)
		r.write(sk, pkt)
		r.pick.Put(sk)
		return
	}

	sl, pos := r.queue.claim()
	if sl == nil {
		r.cfg.stats.queueDropped.Add(1)
		if r.cfg.errorHandler != nil {
			r.cfg.reportError(&SendError{Size: len(pkt), Err: ErrQueueFull})
		}
		return
	}
	sl.buf = append(sl.buf[:0], pkt...)
	// Close may have run since the check above. A Send that sees closed
	// here leaves its slot empty and counts its packet. One that does not
	// claimed its slot before Close read the queue's tail (Close sets
	// closed first), so the senders write it before they stop.
	if r.closed.Load() {
		sl.void = true
		r.queue.publish(sl, pos)
		r.cfg.stats.sendErrors.Add(uint64(len(r.servers)))
		return
	}
	r.queue.publish(sl, pos)
	if r.awake.Load() == 0 && r.awake.CompareAndSwap(0, 1) {
		r.signal() // the token of the sender counted awake
	}
	if r.queue.len() > int(r.queue.limit)/2 {
		// The senders are behind: cut their lingering short, and yield
		// the CPU once, which goroutines that never block (as a Send
		// loop) would keep for a whole time slice, so that packets are
		// written rather than dropped.
		select {
		case r.hurry <- struct{}{}:
		default:
		}
		runtime.Gosched()
	}
}

// signal puts a token on wake. It never blocks: wake has room for a token
// per sender, and tokens are put only for senders counted asleep (Close
// puts its own, and after it nobody waits).
func (r *Reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// write writes pkt to every server's current address from socket sk.
func (r *Reporter) write(sk *sock, pkt []byte) {
	addrs := *r.addrs.Load()
	for i, a := range addrs {
		if !a.IsValid() {
			r.unresolvedOne(i, len(pkt))
			continue
		}
		r.writeOne(sk, i, a, pkt)
	}
}

// writeOne writes pkt to server i at a.
func (r *Reporter) writeOne(sk *sock, i int, a netip.AddrPort, pkt []byte) {
	conn := sk.conn
	if sk.conn6 != nil && a.Addr().Is6() {
		conn = sk.conn6
	}
	if _, err := conn.WriteToUDPAddrPort(pkt, a); err != nil {
		r.sendError(i, a, len(pkt), err)
		return
	}
	r.cfg.stats.sent.Add(1)
}

// unresolvedOne counts and reports a datagram for server i, which has no
// address.
func (r *Reporter) unresolvedOne(i, size int) {
	r.cfg.stats.unresolved.Add(1)
	if r.cfg.errorHandler != nil {
		r.cfg.reportError(&SendError{Server: r.servers[i].name, Size: size, Err: ErrUnresolved})
	}
}

// sendError counts and reports a datagram for server i that the socket
// refused.
func (r *Reporter) sendError(i int, a netip.AddrPort, size int, err error) {
	r.cfg.stats.sendErrors.Add(1)
	// A sync Send racing with Close meets the closed socket: counted as
	// after Close, not reported.
	if r.cfg.errorHandler != nil && !(r.closed.Load() && errors.Is(err, net.ErrClosed)) {
		r.cfg.reportError(&SendError{Server: r.servers[i].name, Addr: a, Size: size, Err: err})
	}
}

// asyncLinger is how long a sender waits after writing a batch smaller
// than maxBatch before it looks at the queue again, so that the packets
// of a busy server are written many at once and their Sends wake nobody:
// it bounds how long a queued packet waits while senders are awake.
const asyncLinger = time.Millisecond

// sendLoop writes the queued packets from socket sk, in batches of what
// the queue holds (up to maxBatch), until Close closes the queue, and then
// what is left in it. The error handler runs here; a panic in it is
// recovered by reportError, so the loop goes on.
//
// A sender that finds the queue empty parks until a Send (or a sender
// with a backlog, or Close) wakes it. A sender that wrote a full batch
// goes on at once, waking another sender while more than a batch is
// left; one that wrote less sleeps asyncLinger first. So one wake-up
// serves every packet queued within a millisecond, rather than one each.
func (r *Reporter) sendLoop(sk *sock) {
	defer r.senderWG.Done()
	var (
		slots = make([]*queueSlot, 0, maxBatch)
		pos   = make([]uint64, 0, maxBatch)
		pkts  = make([][]byte, 0, maxBatch)
		timer = time.NewTimer(asyncLinger)
	)
	defer timer.Stop()
	for {
		slots, pos, pkts = slots[:0], pos[:0], pkts[:0]
		for len(slots) < maxBatch {
			sl, p := r.queue.take()
			if sl == nil {
				break
			}
			slots, pos = append(slots, sl), append(pos, p)
			if !sl.void {
				pkts = append(pkts, sl.buf)
			}
		}
		closing := r.closeTail.Load() != notClosing
		if n := len(slots); n > 0 {
			if n == maxBatch && r.queue.len() >= maxBatch {
				r.wakeHelper()
			}
			if len(pkts) > 0 {
				sk.batch.send(pkts)
				r.batches.Add(1)
			}
			clear(pkts)
			for i, sl := range slots {
				r.queue.free(sl, pos[i])
			}
			clear(slots)
			if n < maxBatch && !closing {
				r.linger(timer)
			}
			continue
		}
		if closing {
			if r.queue.head.Load() >= r.closeTail.Load() {
				return // everything queued before Close is written
			}
			runtime.Gosched() // a Send is publishing its packet
			continue
		}
		r.park()
	}
}

// linger waits asyncLinger, or less when a Send finds the queue half full
// or Close runs.
func (r *Reporter) linger(t *time.Timer) {
	t.Reset(asyncLinger)
	select {
	case <-t.C:
	case <-r.hurry:
		t.Stop()
	}
}

// notClosing is closeTail until Close.
const notClosing = ^uint64(0)

// park waits for a token on wake, unless it is the last sender awake and
// packets are queued (by a Send that saw it awake), or a token is owed to
// it already.
func (r *Reporter) park() {
	if r.awake.Add(-1) == 0 && r.queue.len() > 0 && r.awake.CompareAndSwap(0, 1) {
		return // the packets are this sender's to write
	}
	<-r.wake
}

// wakeHelper wakes a parked sender, if any, to share a backlog.
func (r *Reporter) wakeHelper() {
	n := int32(len(r.socks))
	for a := r.awake.Load(); a < n; a = r.awake.Load() {
		if r.awake.CompareAndSwap(a, a+1) {
			r.signal()
			return
		}
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
	r.cfg.stats.addSendingTo(s)
	s.TooLarge += r.cfg.stats.tooLarge.Load()
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
		r.closed.Store(true)
		if r.queue != nil {
			// A Send that claims a slot after this reading of the tail
			// sees closed (see Send).
			r.closeTail.Store(r.queue.tail.Load())
			// Every parked or lingering sender wakes and writes what
			// is left.
			for range r.socks {
				r.signal()
				select {
				case r.hurry <- struct{}{}:
				default:
				}
			}
		}
		r.senderWG.Wait() // the queue is drained

		r.cancel()
		r.resolveWG.Wait()

		if err := r.closeSocks(); err != nil {
			r.closeErr = fmt.Errorf("pynba: close UDP socket: %w", err)
		}
	})
	return r.closeErr
}
