package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pynba-go/pynba/internal/relay"
	"github.com/pynba-go/pynba/pinbatest"
)

// drainTime is how long pinba-dump keeps reading after it is told to stop,
// so that datagrams already queued on the socket are still shown and counted.
const drainTime = 50 * time.Millisecond

// showQueue is how many received datagrams may wait to be printed before
// new ones are skipped (and counted).
const showQueue = 4096

// datagram is one received datagram, or a receive error.
type datagram struct {
	data []byte
	from net.Addr
	at   time.Time
	err  error
}

// run is the whole command: it parses args, listens, and prints what it
// receives to stdout (status lines to stderr) until ctx is done. ready, when
// not nil, is called with the listening address once datagrams can be sent.
// It returns nil after a clean stop, flag.ErrHelp for -h, an error wrapping
// errUsage for a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	conn := pc.(*net.UDPConn)
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20) // absorb bursts while a slow terminal prints

	var fw *relay.Forwarder
	if cfg.forward != "" {
		fw, err = relay.New(cfg.forward, conn.LocalAddr().(*net.UDPAddr), "pinba-dump")
		if err != nil {
			return err
		}
	}

	began := time.Now()
	d := &dumper{
		cfg:    cfg,
		out:    bufio.NewWriterSize(stdout, 64<<10),
		errOut: stderr,
		start:  began,
		stats:  newSummary(began),
		fw:     fw,
	}
	addr := conn.LocalAddr().String()
	if fw != nil {
		fmt.Fprintf(stderr, "pinba-dump: listening on udp %s, forwarding to %s\n", addr, fw.Addr)
	} else {
		fmt.Fprintf(stderr, "pinba-dump: listening on udp %s\n", addr)
	}
	if ready != nil {
		ready(addr)
	}

	packets := make(chan datagram, showQueue)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	wg.Go(func() {
		// On stop, let the reader finish what the socket holds, then time out.
		select {
		case <-ctx.Done():
			_ = conn.SetReadDeadline(time.Now().Add(drainTime))
		case <-quit:
		}
	})
	var readErr error
	wg.Go(func() {
		defer close(packets)
		readErr = receive(ctx, conn, packets, fw, &d.skipped)
	})

	var tick <-chan time.Time
	if cfg.summary > 0 {
		t := time.NewTicker(cfg.summary)
		defer t.Stop()
		tick = t.C
	}
loop:
	for {
		select {
		case dg, ok := <-packets:
			if !ok {
				break loop
			}
			d.handle(dg)
			if len(packets) == 0 {
				d.flush()
			}
		case now := <-tick:
			d.printSummary(now)
			d.flush()
		}
	}
	close(quit)
	wg.Wait()
	if fw != nil {
		fw.Close()
	}
	d.reportForwardErrors(true)
	if cfg.summary > 0 {
		d.printSummary(time.Now())
	}
	d.flush()
	d.printFinal(time.Now())
	return readErr
}

// receive reads datagrams from conn into packets, relaying each to fw (when
// not nil) first. It returns nil when ctx is done and the drain deadline
// has passed, or an error when the socket fails for good.
//
// When packets is full (the output cannot keep up), a datagram is still
// relayed but not shown, and skipped counts it.
func receive(ctx context.Context, conn *net.UDPConn, packets chan<- datagram, fw *relay.Forwarder, skipped *atomic.Int64) error {
	buf := make([]byte, 64<<10)
	failures := 0
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// A transient error (ICMP feedback, memory pressure): report
			// it and keep going, slowly if it repeats.
			failures++
			if failures > 1000 {
				return fmt.Errorf("receive: %w", err)
			}
			select {
			case packets <- datagram{err: err, at: time.Now()}:
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		failures = 0
		data := append([]byte(nil), buf[:n]...)
		if fw != nil {
			fw.Send(data)
		}
		// Never wait for the printing: a paused terminal must not hold up
		// the forwarding, nor hide that datagrams are being lost.
		select {
		case packets <- datagram{data: data, from: from, at: time.Now()}:
		default:
			skipped.Add(1)
		}
	}
}

// dumper prints datagrams and keeps the counts. Only run's goroutine uses it.
type dumper struct {
	cfg    *config
	out    *bufio.Writer
	errOut io.Writer
	start  time.Time
	stats  *summary
	fw     *relay.Forwarder

	datagrams    int // datagrams received
	undecodable  int // of which not a Pinba.Request
	withProblems int // of which decodable but dropped or misread by a server
	recvErrors   int
	skipped      atomic.Int64 // datagrams not shown: the output was too slow

	fwReported   int64     // forward errors already reported
	fwReportedAt time.Time // when they were last reported
}

func (d *dumper) handle(dg datagram) {
	if dg.err != nil {
		d.recvErrors++
		fmt.Fprintf(d.errOut, "pinba-dump: receive: %v\n", dg.err)
		return
	}
	d.datagrams++
	p := pinbatest.Decode(dg.data)
	probs, warns := inspect(dg.data)
	switch {
	case p.Err != nil:
		d.undecodable++
	case len(probs) > 0:
		d.withProblems++
	}
	if p.Err == nil {
		d.stats.add(p, len(probs) > 0)
	}
	if !d.cfg.quiet {
		if d.cfg.json {
			writeJSONPacket(d.out, d.datagrams, dg, p, probs, warns)
		} else {
			writeTextPacket(d.out, d.datagrams, dg, p, probs, warns)
		}
	}
	d.reportForwardErrors(false)
}

// reportForwardErrors prints new forwarding errors to stderr, at most once a
// second unless final.
func (d *dumper) reportForwardErrors(final bool) {
	if d.fw == nil {
		return
	}
	n := d.fw.Errors.Load()
	if n == d.fwReported || (!final && d.fwReported > 0 && time.Since(d.fwReportedAt) < time.Second) {
		return
	}
	d.flush()
	fmt.Fprintf(d.errOut, "pinba-dump: forward to %s: %d errors so far, last: %v\n", d.fw.Addr, n, d.fw.LastError())
	d.fwReported, d.fwReportedAt = n, time.Now()
}

func (d *dumper) flush() {
	if err := d.out.Flush(); err != nil {
		// A closed pipe (| head): nothing more can be shown; keep the
		// counts and say it once.
		fmt.Fprintf(d.errOut, "pinba-dump: write: %v\n", err)
		d.out.Reset(io.Discard)
	}
}

func (d *dumper) printSummary(now time.Time) {
	r := d.stats.report(now, d.datagrams, d.undecodable, d.withProblems, d.skipped.Load(), d.fw)
	if d.cfg.json {
		writeJSONSummary(d.out, r)
	} else {
		writeTextSummary(d.out, r)
	}
}

func (d *dumper) printFinal(now time.Time) {
	msg := fmt.Sprintf("pinba-dump: stopped after %s: %d datagrams, %d undecodable, %d with problems",
		timeText(milli(now.Sub(d.start).Seconds())), d.datagrams, d.undecodable, d.withProblems)
	if n := d.skipped.Load(); n > 0 {
		msg += fmt.Sprintf(", %d skipped (output too slow)", n)
	}
	if d.recvErrors > 0 {
		msg += fmt.Sprintf(", %d receive errors", d.recvErrors)
	}
	if d.fw != nil {
		msg += fmt.Sprintf("; forwarded to %s: %d sent, %d errors, %d dropped",
			d.fw.Addr, d.fw.Sent.Load(), d.fw.Errors.Load(), d.fw.Dropped.Load())
	}
	fmt.Fprintln(d.errOut, msg)
}
