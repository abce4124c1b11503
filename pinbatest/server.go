// Package pinbatest is to Pinba what net/http/httptest is to net/http: a
// Pinba receiver on the loopback interface for tests, which decodes what it
// receives into plain values, and Validate, which tells whether pinba_engine
// or pinba2 would accept a packet.
//
//	srv := pinbatest.NewServer()
//	defer srv.Close()
//	// ... send to srv.Addr() ...
//	pkt, err := srv.Next(time.Second)
//	if err != nil { t.Fatal(err) }
//	if pkt.ScriptName != "/index" { t.Errorf("script %q", pkt.ScriptName) }
//
// It imports only the wire package pb, never the root pynba package, so a
// test sees exactly what went over the socket.
package pinbatest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Server is a Pinba receiver listening on a loopback UDP port. Every
// datagram it receives is kept, decoded, in arrival order until taken with
// Next, Wait or Take.
type Server struct {
	conn *net.UDPConn
	done chan struct{}

	mu      sync.Mutex
	queue   []*Packet
	total   int
	arrived chan struct{} // closed and replaced whenever a packet arrives
	closed  bool
}

// NewServer starts a Server on 127.0.0.1 with a port chosen by the system.
// Like httptest.NewServer, it panics if it cannot listen.
func NewServer() *Server { return mustListen("udp4", "127.0.0.1:0") }

// NewServer6 starts a Server on [::1] with a port chosen by the system. It
// panics if it cannot listen (for example when IPv6 is disabled).
func NewServer6() *Server { return mustListen("udp6", "[::1]:0") }

// Listen starts a Server on addr, which must be a loopback address
// ("127.0.0.1:30002", "[::1]:0"). It returns an error for any other address.
func Listen(addr string) (*Server, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("pinbatest: bad address %q: %w", addr, err)
	}
	if !ua.IP.IsLoopback() {
		return nil, fmt.Errorf("pinbatest: %q is not a loopback address", addr)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("pinbatest: listen on %q: %w", addr, err)
	}
	return start(conn), nil
}

func mustListen(network, addr string) *Server {
	ua, _ := net.ResolveUDPAddr(network, addr)
	conn, err := net.ListenUDP(network, ua)
	if err != nil {
		panic(fmt.Sprintf("pinbatest: failed to listen on %s: %v", addr, err))
	}
	return start(conn)
}

func start(conn *net.UDPConn) *Server {
	_ = conn.SetReadBuffer(4 << 20)
	s := &Server{conn: conn, done: make(chan struct{}), arrived: make(chan struct{})}
	go s.read()
	return s
}

func (s *Server) read() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP errors reported on the socket
		}
		p := Decode(buf[:n])
		p.From = from
		s.mu.Lock()
		s.queue = append(s.queue, p)
		s.total++
		close(s.arrived)
		s.arrived = make(chan struct{})
		s.mu.Unlock()
	}
}

// Addr returns the address to send to, as "127.0.0.1:port" or "[::1]:port".
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Port returns the UDP port the server listens on.
func (s *Server) Port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// Close stops the server and waits for its goroutine to end. Packets not yet
// taken are dropped. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	first := !s.closed
	if first {
		s.closed = true
		close(s.arrived) // wake waiters: Wait sees closed and returns
		s.arrived = make(chan struct{})
	}
	s.mu.Unlock()
	if first {
		s.conn.Close()
	}
	<-s.done // a concurrent second Close also returns only once the reader ended
}

// Received returns how many datagrams the server has received in all,
// taken or not.
func (s *Server) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Next returns the oldest packet not yet taken, waiting up to timeout for
// one to arrive.
func (s *Server) Next(timeout time.Duration) (*Packet, error) {
	ps, err := s.Wait(1, timeout)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// Wait returns the n oldest packets not yet taken, waiting up to timeout for
// them to arrive. On a timeout, or once the server is closed, it takes
// nothing and says how many it had. For n <= 0 it returns an empty slice.
func (s *Server) Wait(n int, timeout time.Duration) ([]*Packet, error) {
	if n <= 0 {
		return []*Packet{}, nil
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.queue) >= n {
			out := append([]*Packet(nil), s.queue[:n]...)
			s.queue = append(s.queue[:0], s.queue[n:]...)
			s.mu.Unlock()
			return out, nil
		}
		have, arrived, closed := len(s.queue), s.arrived, s.closed
		s.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("pinbatest: server closed while waiting for %d packets, %d arrived", n, have)
		}
		select {
		case <-arrived:
		case <-deadline.C:
			return nil, fmt.Errorf("pinbatest: waited %v for %d packets, %d arrived", timeout, n, have)
		}
	}
}

// Take returns every packet received and not yet taken, without waiting.
func (s *Server) Take() []*Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.queue
	s.queue = nil
	return out
}
