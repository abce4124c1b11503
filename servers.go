package pynba

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// maxServers is how many servers a servers string may name, as in PHP's
// pinba.server.
const maxServers = 8

// server is one entry of the servers string.
type server struct {
	name string     // normalized "host:port" or "[v6]:port"
	host string     // the name to look up; "" for an IP literal
	ip   netip.Addr // the IP literal, unmapped (invalid for names)
	port uint16
}

// parseServers splits and parses a servers string.
func parseServers(s string) ([]server, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil, fmt.Errorf("pynba: no Pinba server in %q", s)
	}
	var list []server
	for i, f := range fields {
		if i == maxServers {
			return nil, fmt.Errorf("pynba: bad Pinba server %q: more than %d servers in %q", f, maxServers, s)
		}
		sv, err := parseServer(f)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(list, func(o server) bool { return o.name == sv.name }) {
			list = append(list, sv)
		}
	}
	return list, nil
}

// parseServer parses one entry: "host", "host:port", "[ip]", "[ip]:port",
// or a bare IPv6 address that cannot be read as address:port.
func parseServer(f string) (server, error) {
	bad := func(format string, args ...any) (server, error) {
		return server{}, fmt.Errorf("pynba: bad Pinba server %q: %s", f, fmt.Sprintf(format, args...))
	}
	var host, port string
	hasPort, bracketed := false, false
	switch {
	case strings.HasPrefix(f, "["):
		end := strings.IndexByte(f, ']')
		if end < 0 {
			return bad("missing ']'")
		}
		host, bracketed = f[1:end], true
		if rest := f[end+1:]; rest != "" {
			if rest[0] != ':' {
				return bad("unexpected %q after ']'", rest)
			}
			port, hasPort = rest[1:], true
		}
	case strings.ContainsAny(f, "[]"):
		return bad("unbalanced brackets")
	case strings.Contains(f, "://"):
		return bad("a server is host:port, without a scheme")
	case strings.Count(f, ":") > 1: // a bare IPv6 address, perhaps with a port
		ip, err := netip.ParseAddr(f)
		i := strings.LastIndexByte(f, ':')
		h, p := f[:i], f[i+1:]
		if hip, herr := netip.ParseAddr(h); herr == nil && hip.Is6() && isDigits(p) {
			if err == nil {
				return bad("ambiguous: write [%s]:%d for the address, or [%s]:%s for a port", ip, DefaultPort, h, p)
			}
			return bad("IPv6 addresses go in brackets: write [%s]:%s", h, p)
		}
		if err != nil {
			return bad("not an IP address (IPv6 addresses go in brackets, as [::1]:%d)", DefaultPort)
		}
		host = f
	default:
		host = f
		if i := strings.IndexByte(f, ':'); i >= 0 {
			host, port, hasPort = f[:i], f[i+1:], true
		}
	}

	p := uint64(DefaultPort)
	if hasPort {
		if port == "" {
			return bad("missing port after ':'")
		}
		if !isDigits(port) {
			return bad("bad port %q", port)
		}
		var err error
		p, err = strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return bad("port out of range (1 to 65535)")
		}
	}
	if host == "" {
		return bad("missing host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		return server{
			name: netip.AddrPortFrom(ip, uint16(p)).String(),
			ip:   ip,
			port: uint16(p),
		}, nil
	}
	if bracketed {
		return bad("%q in brackets is not an IP address", host)
	}
	if !validHostname(host) {
		return bad("%q is not an IP address or host name", host)
	}
	host = strings.ToLower(host)
	return server{
		name: host + ":" + strconv.FormatUint(p, 10),
		host: host,
		port: uint16(p),
	}, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validHostname says whether h is a DNS name: labels of 1 to 63 letters,
// digits, '-' or '_', at most 253 bytes, an optional final dot, and a last
// label that is not all digits (so "127.0.0.256" is refused, not looked
// up).
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	last := ""
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		last = label
	}
	return !isDigits(last)
}
