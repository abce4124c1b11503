package main

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pynba-go/pynba/internal/relay"
	"github.com/pynba-go/pynba/internal/report"
)

// drainTime is how long the receiver keeps reading after it is told to
// stop, so that datagrams already on the socket are still counted.
const drainTime = 50 * time.Millisecond

// receiver reads datagrams from a UDP socket into a report.Model, relaying
// each to the forwarders first.
type receiver struct {
	conn  *net.UDPConn
	model *report.Model
	fws   []*relay.Forwarder

	received atomic.Int64 // datagrams read since start
	stopping atomic.Bool
	stopOnce sync.Once
	done     chan struct{}
	err      error // after done: nil, or why reading failed for good
}

func newReceiver(conn *net.UDPConn, model *report.Model, fws []*relay.Forwarder) *receiver {
	r := &receiver{conn: conn, model: model, fws: fws, done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *receiver) loop() {
	defer close(r.done)
	buf := make([]byte, 64<<10)
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if r.stopping.Load() {
					return
				}
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				r.err = err
				return
			}
			// Transient (ICMP feedback, memory pressure): keep going.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.received.Add(1)
		b := buf[:n]
		if len(r.fws) > 0 {
			b = append([]byte(nil), b...) // the forwarders keep it
			for _, f := range r.fws {
				f.Send(b)
			}
		}
		_ = r.model.AddDatagram(b) // undecodable ones are counted there
	}
}

// stop reads what the socket already holds, then ends the reading.
func (r *receiver) stop() error {
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		_ = r.conn.SetReadDeadline(time.Now().Add(drainTime))
	})
	<-r.done
	return r.err
}
