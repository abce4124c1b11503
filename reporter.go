package pynba

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reporter sends packets to Pinba servers over one unconnected UDP socket.
// (Interim version: synchronous only.)
type Reporter struct {
	cfg     *config
	conn    *net.UDPConn
	servers []server
	addrs   atomic.Pointer[[]netip.AddrPort]

	sent, sendErrors, unresolved, resolveErrors, tooLarge, queueDropped atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type server struct {
	host string
	port uint16
	ip   netip.Addr // valid for IP literals
}

// NewReporter parses servers and opens the socket.
func NewReporter(servers string, opts ...Option) (*Reporter, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	list, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("pynba: open UDP socket: %w", err)
	}
	r := &Reporter{cfg: cfg, conn: conn, servers: list, stop: make(chan struct{})}
	r.resolve()
	needDNS := false
	for _, s := range list {
		if !s.ip.IsValid() {
			needDNS = true
		}
	}
	if needDNS {
		r.wg.Add(1)
		go r.refresh()
	}
	return r, nil
}

func parseServers(s string) ([]server, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("pynba: no Pinba server in %q", s)
	}
	if len(fields) > 8 {
		return nil, fmt.Errorf("pynba: %d Pinba servers in %q, at most 8", len(fields), s)
	}
	var out []server
	for _, f := range fields {
		host, port := f, strconv.Itoa(DefaultPort)
		if strings.HasPrefix(f, "[") {
			i := strings.IndexByte(f, ']')
			if i < 0 {
				return nil, fmt.Errorf("pynba: bad Pinba server %q: missing ']'", f)
			}
			host = f[1:i]
			rest := f[i+1:]
			if rest != "" {
				if !strings.HasPrefix(rest, ":") {
					return nil, fmt.Errorf("pynba: bad Pinba server %q", f)
				}
				port = rest[1:]
			}
		} else if i := strings.LastIndexByte(f, ':'); i >= 0 {
			if strings.Count(f, ":") > 1 {
				return nil, fmt.Errorf("pynba: bad Pinba server %q: IPv6 addresses go in brackets", f)
			}
			host, port = f[:i], f[i+1:]
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("pynba: bad Pinba server %q: port out of range", f)
		}
		if host == "" {
			return nil, fmt.Errorf("pynba: bad Pinba server %q: no host", f)
		}
		sv := server{host: host, port: uint16(p)}
		if ip, err := netip.ParseAddr(host); err == nil {
			sv.ip = ip
		}
		out = append(out, sv)
	}
	return out, nil
}

func (r *Reporter) resolve() {
	addrs := make([]netip.AddrPort, len(r.servers))
	for i, s := range r.servers {
		if s.ip.IsValid() {
			addrs[i] = netip.AddrPortFrom(s.ip, s.port)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var ips []netip.Addr
		var err error
		if r.cfg.resolver != nil {
			ips, err = r.cfg.resolver(ctx, s.host)
		} else {
			ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", s.host)
		}
		cancel()
		if err != nil || len(ips) == 0 {
			r.resolveErrors.Add(1)
			r.cfg.reportError(fmt.Errorf("pynba: resolve %q: %v", s.host, err))
			continue
		}
		addrs[i] = netip.AddrPortFrom(ips[0].Unmap(), s.port)
	}
	r.addrs.Store(&addrs)
}

func (r *Reporter) refresh() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.resolveInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.resolve()
		}
	}
}

// Send writes pkt to every server. It never blocks on DNS and never fails.
func (r *Reporter) Send(pkt []byte) {
	if len(pkt) > r.cfg.maxPacketSize {
		r.tooLarge.Add(1)
		r.cfg.reportError(fmt.Errorf("pynba: packet of %d bytes over the %d-byte limit: not sent", len(pkt), r.cfg.maxPacketSize))
		return
	}
	for _, a := range *r.addrs.Load() {
		if !a.IsValid() {
			r.unresolved.Add(1)
			continue
		}
		if _, err := r.conn.WriteToUDPAddrPort(pkt, a); err != nil {
			r.sendErrors.Add(1)
			r.cfg.reportError(fmt.Errorf("pynba: send to %v: %w", a, err))
			continue
		}
		r.sent.Add(1)
	}
}

// Stats returns the reporter's counts.
func (r *Reporter) Stats() Stats {
	var s Stats
	r.addStats(&s)
	return s
}

func (r *Reporter) addStats(s *Stats) {
	s.Sent += r.sent.Load()
	s.SendErrors += r.sendErrors.Load()
	s.Unresolved += r.unresolved.Load()
	s.ResolveErrors += r.resolveErrors.Load()
	s.TooLarge += r.tooLarge.Load()
	s.QueueDropped += r.queueDropped.Load()
}

// Close stops the reporter.
func (r *Reporter) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		r.wg.Wait()
		err = r.conn.Close()
	})
	return err
}
