// Package relay forwards Pinba datagrams unchanged to a UDP address, for
// the tools that listen in front of a real Pinba server (pinba-dump,
// pinba-top).
package relay

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is how many datagrams may wait for a Forwarder before new ones are
// dropped (and counted) rather than hold up the receiving.
const Queue = 4096

// Forwarder relays datagrams unchanged to one UDP address from its own
// goroutine, so that a slow or failing target never holds up the receiving.
type Forwarder struct {
	Addr string // the target, resolved

	Sent    atomic.Int64 // datagrams written
	Errors  atomic.Int64 // writes that failed (e.g. nobody listening at Addr)
	Dropped atomic.Int64 // datagrams not relayed because the queue was full

	conn  *net.UDPConn
	queue chan []byte
	done  chan struct{}

	mu      sync.Mutex
	lastErr error
}

// New resolves target and starts relaying to it. It refuses a target that
// is the listening address itself, which would loop forever; tool names the
// program in that error.
func New(target string, listen *net.UDPAddr, tool string) (*Forwarder, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("-forward %s: %w", target, err)
	}
	if raddr.Port == listen.Port && (raddr.IP.Equal(listen.IP) ||
		(listen.IP.IsUnspecified() && (raddr.IP.IsLoopback() || raddr.IP.IsUnspecified()))) {
		return nil, fmt.Errorf("-forward %s: that is the address %s listens on", target, tool)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("-forward %s: %w", target, err)
	}
	f := &Forwarder{Addr: raddr.String(), conn: conn, queue: make(chan []byte, Queue), done: make(chan struct{})}
	go f.loop()
	return f, nil
}

// Send queues b for relaying without waiting; b must not change afterwards.
func (f *Forwarder) Send(b []byte) {
	select {
	case f.queue <- b:
	default:
		f.Dropped.Add(1)
	}
}

func (f *Forwarder) loop() {
	defer close(f.done)
	for b := range f.queue {
		_ = f.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := f.conn.Write(b); err != nil {
			f.Errors.Add(1)
			f.mu.Lock()
			f.lastErr = err
			f.mu.Unlock()
			continue
		}
		f.Sent.Add(1)
	}
}

// LastError is the latest write error, or nil.
func (f *Forwarder) LastError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// Close relays what is queued, then stops its goroutine. No Send may
// follow.
func (f *Forwarder) Close() {
	close(f.queue)
	<-f.done
	f.conn.Close()
}
