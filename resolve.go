package pynba

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// resolveTimeout bounds one name lookup.
const resolveTimeout = 5 * time.Second

// refreshLoop looks names up again every resolve interval until Close. A
// panicking resolver is a failed lookup (see lookup) and a panicking error
// handler is recovered by reportError, so the loop outlives both.
func (r *Reporter) refreshLoop() {
	defer r.resolveWG.Done()
	t := time.NewTicker(r.cfg.resolveInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.resolve()
		}
	}
}

// resolve looks up every name, each once and all at once, then publishes
// a new address slice. A failed lookup keeps the server's previous address.
// Only one resolve runs at a time (NewReporter's, then refreshLoop's).
func (r *Reporter) resolve() {
	type result struct {
		host string
		addr netip.Addr
		err  error
	}
	var results []result
	for _, s := range r.servers {
		if s.host != "" && !slices.ContainsFunc(results, func(x result) bool { return x.host == s.host }) {
			results = append(results, result{host: s.host})
		}
	}
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i].addr, results[i].err = r.lookup(results[i].host)
		})
	}
	wg.Wait()
	if r.ctx.Err() != nil {
		return // closing: lookups were canceled, not failed
	}

	old := *r.addrs.Load()
	next := slices.Clone(old)
	for i, s := range r.servers {
		for _, res := range results {
			if res.host == s.host && res.err == nil {
				next[i] = netip.AddrPortFrom(res.addr, s.port)
			}
		}
	}
	if !slices.Equal(next, old) {
		r.addrs.Store(&next)
	}
	for _, res := range results {
		if res.err != nil {
			r.cfg.stats.resolveErrors.Add(1)
			r.cfg.reportError(&ResolveError{Host: res.host, Err: res.err})
		}
	}
}

// lookup resolves host with the configured resolver and picks the first
// IPv4 address, else the first IPv6 address.
func (r *Reporter) lookup(host string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(r.ctx, resolveTimeout)
	defer cancel()
	ips, err := r.callResolver(ctx, host)
	if err != nil {
		return netip.Addr{}, err
	}
	var v6 netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() {
			return ip, nil
		}
		if ip.Is6() && !v6.IsValid() {
			v6 = ip
		}
	}
	if v6.IsValid() {
		return v6, nil
	}
	return netip.Addr{}, errNoAddress
}

// callResolver runs the resolver, turning a panic into an error.
func (r *Reporter) callResolver(ctx context.Context, host string) (ips []netip.Addr, err error) {
	if r.cfg.resolver == nil {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	defer func() {
		if p := recover(); p != nil {
			ips, err = nil, fmt.Errorf("%w: %T", ErrResolverPanic, p)
		}
	}()
	return r.cfg.resolver(ctx, host)
}
