package main

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// forwardQueue is how many datagrams may wait for one target before newer
// ones are dropped from the relay (and counted) rather than hold up the
// receiving.
const forwardQueue = 4096

// forwarder relays datagrams unchanged to one UDP target from its own
// goroutine.
type forwarder struct {
	addr  string
	conn  *net.UDPConn
	queue chan []byte
	done  chan struct{}

	sent    atomic.Int64
	errors  atomic.Int64
	dropped atomic.Int64

	mu      sync.Mutex
	lastErr error
}

// newForwarder resolves target and starts relaying to it. It refuses the
// listening address itself, which would loop.
func newForwarder(target string, listen *net.UDPAddr) (*forwarder, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("-forward %s: %w", target, err)
	}
	if raddr.Port == listen.Port && (raddr.IP.Equal(listen.IP) ||
		(listen.IP.IsUnspecified() && (raddr.IP.IsLoopback() || raddr.IP.IsUnspecified()))) {
		return nil, fmt.Errorf("-forward %s: that is the address pinba-top listens on", target)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("-forward %s: %w", target, err)
	}
	f := &forwarder{addr: raddr.String(), conn: conn, queue: make(chan []byte, forwardQueue), done: make(chan struct{})}
	go f.loop()
	return f, nil
}

// send queues b without waiting; b must not change afterwards.
func (f *forwarder) send(b []byte) {
	select {
	case f.queue <- b:
	default:
		f.dropped.Add(1)
	}
}

func (f *forwarder) loop() {
	defer close(f.done)
	for b := range f.queue {
		_ = f.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := f.conn.Write(b); err != nil {
			f.errors.Add(1)
			f.mu.Lock()
			f.lastErr = err
			f.mu.Unlock()
			continue
		}
		f.sent.Add(1)
	}
}

// lastError is the latest write error, or nil.
func (f *forwarder) lastError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// close relays what is queued, then stops. No send may follow.
func (f *forwarder) close() {
	close(f.queue)
	<-f.done
	f.conn.Close()
}
