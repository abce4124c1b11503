package pynba

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Server strings, each entry form. A good one is accepted by NewReporter,
// which lists its servers in canonical form without looking any name up. A
// bad one is refused by every constructor (NewReporter, NewMiddleware and
// NewScriptMonitor return an error, Monitor panics) with a message that
// says what is wrong, and names the bad entry; parsing looks no name up.
func TestServerStrings(t *testing.T) {
	good := []struct {
		in   string
		want []string // nil: only accepted
	}{
		{"127.0.0.1", []string{"127.0.0.1:30002"}},
		{"127.0.0.1:3002", []string{"127.0.0.1:3002"}},
		{"pinba.test", []string{"pinba.test:30002"}},
		{"Pinba.Test:1", []string{"pinba.test:1"}},
		{"pinba.test.:65535", []string{"pinba.test.:65535"}},
		{"localhost", []string{"localhost:30002"}},
		{"[::1]", []string{"[::1]:30002"}},
		{"[::1]:3002", []string{"[::1]:3002"}},
		{"[0:0::1]:3002", []string{"[::1]:3002"}},
		{"[127.0.0.1]:5", []string{"127.0.0.1:5"}},
		{"[::ffff:127.0.0.1]:5", []string{"127.0.0.1:5"}},
		{"::1", []string{"[::1]:30002"}},                 // cannot be ::  port 1
		{"2001:db8::1", []string{"[2001:db8::1]:30002"}}, // nor 2001:db8: port 1
		{"::1:ab", []string{"[::1:ab]:30002"}},           // "ab" is no port
		{"127.0.0.1 127.0.0.2", []string{"127.0.0.1:30002", "127.0.0.2:30002"}},
		{"127.0.0.1,127.0.0.2", []string{"127.0.0.1:30002", "127.0.0.2:30002"}},
		{"127.0.0.1, 127.0.0.2", []string{"127.0.0.1:30002", "127.0.0.2:30002"}},
		{" \t127.0.0.1 ,\n,127.0.0.2, ", []string{"127.0.0.1:30002", "127.0.0.2:30002"}},
		{"127.0.0.1 127.0.0.1:30002 [::ffff:127.0.0.1]", []string{"127.0.0.1:30002"}}, // duplicates sent once
		{"a.test b.test c.test d.test e.test f.test g.test h.test", []string{
			"a.test:30002", "b.test:30002", "c.test:30002", "d.test:30002",
			"e.test:30002", "f.test:30002", "g.test:30002", "h.test:30002",
		}},
		{"127.0.0.1:1", nil},
		{"[::1]:65535", nil},
		{"pinba.test:30002", nil},
		{"[127.0.0.1]:30002", nil},
		{"a.test,b.test c.test\td.test", nil},
		{"127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8", nil},
	}
	dns := newFakeDNS() // no names: nothing is looked up outside
	for _, tc := range good {
		r, err := NewReporter(tc.in, WithResolver(dns.resolve))
		if err != nil {
			t.Errorf("NewReporter(%q): %v", tc.in, err)
			continue
		}
		if got := r.Servers(); tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("NewReporter(%q).Servers() = %q, want %q", tc.in, got, tc.want)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	bad := []struct {
		in    string
		entry string // the entry the message names (quoted, after "pynba: "); "": not checked
		why   string // what the message must contain
	}{
		{"", "", "no Pinba server"},
		{" , ", " , ", "no Pinba server"},
		{"host:99999", "host:99999", "port out of range"},
		{"host:0", "host:0", "port out of range"},
		{"host:65536", "host:65536", "port out of range"},
		{"host:", "host:", "missing port"},
		{"host:http", "host:http", `bad port "http"`},
		{"host:+80", "host:+80", "bad port"},
		{":30002", ":30002", "missing host"},
		{"[::1", "[::1", "missing ']'"},
		{"::1]", "::1]", "unbalanced"},
		{"a[b]", "a[b]", "unbalanced"},
		{"[::1]30002", "[::1]30002", `unexpected "30002" after ']'`},
		{"[::1]:", "[::1]:", "missing port"},
		{"[::1]:70000", "[::1]:70000", "port out of range"},
		{"[]:1", "[]:1", "missing host"},
		{"[pinba.test]:1", "[pinba.test]:1", "not an IP address"},
		{"::1:30002", "::1:30002", "IPv6 addresses go in brackets: write [::1]:30002"},
		{"::1:80", "::1:80", "ambiguous: write [::1:80]:30002 for the address, or [::1]:80 for a port"},
		{"fe80::zz", "fe80::zz", "not an IP address"},
		{"2001:db8::1:80", "2001:db8::1:80", "ambiguous"},
		{"host:80:90", "host:80:90", "brackets"},
		{"udp://pinba.test:30002", "udp://pinba.test:30002", "without a scheme"},
		{"pinba.test:30002/x", "pinba.test:30002/x", "bad port"},
		{"pin ba!.test", "ba!.test", "not an IP address or host name"},
		{"127.0.0.256", "127.0.0.256", "not an IP address or host name"},
		{"a..test", "a..test", "not an IP address or host name"},
		{strings.Repeat("a", 64) + ".test", strings.Repeat("a", 64) + ".test", "not an IP address or host name"},
		{"a b c d e f g h i", "i", "more than 8 servers"},
		{"127.0.0.1 host:99999", "host:99999", "port out of range"},
		{"", "", "no Pinba server"},
		{" ,\t, ", "", "no Pinba server"},
		{"bad!host", "", "bad!host"},
		{"127.0.0.256", "", "127.0.0.256"},
		{"a..b", "", "a..b"},
		{strings.Repeat("a", 64) + ".test", "", strings.Repeat("a", 64)},
		{"host:", "", "host:"},
		{"host:0", "", "host:0"},
		{"host:65536", "", "host:65536"},
		{"host:-1", "", "host:-1"},
		{"host:+5", "", "host:+5"},
		{"host:port", "", "host:port"},
		{":30002", "", ":30002"},
		{"127.0.0.1:99999", "", "127.0.0.1:99999"},
		{"host:1:2", "", "host:1:2"},
		{"[::1", "", "[::1"},
		{"::1]", "", "::1]"},
		{"[]", "", "[]"},
		{"[]:30002", "", "[]:30002"},
		{"[pinba.test]", "", "[pinba.test]"},
		{"[::1]x", "", "[::1]x"},
		{"[::1]:", "", "[::1]:"},
		{"[::1]:0", "", "[::1]:0"},
		{"[::1]:65536", "", "[::1]:65536"},
		{"[::1]:abc", "", "[::1]:abc"},
		{"[::1]:1]", "", "[::1]:1]"},
		{"fe80::1:80", "", "fe80::1:80"},
		{"a1,a2,a3,a4,a5,a6,a7,a8,a9", "", "a9"},
		{"127.0.0.1, bad!", "", "bad!"},
		{"127.0.0.1:99999", "127.0.0.1:99999", "port out of range"},
		{"127.0.0.1:0:0", "127.0.0.1:0:0", "bad Pinba server"},
	}
	dns = newFakeDNS()
	h := &nopHandler{}
	for _, tc := range bad {
		opts := []Option{WithResolver(dns.resolve)}
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s(%q): no error", what, tc.in)
				return
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.why) {
				t.Errorf("%s(%q): error %q, want one saying %q", what, tc.in, msg, tc.why)
			}
			if tc.entry != "" && (!strings.HasPrefix(msg, "pynba: ") || !strings.Contains(msg, fmt.Sprintf("%q", tc.entry))) {
				t.Errorf("%s(%q): error %q, want one naming %q", what, tc.in, msg, tc.entry)
			}
		}
		if r, err := NewReporter(tc.in, opts...); err == nil {
			r.Close()
			check("NewReporter", err)
		} else {
			check("NewReporter", err)
		}
		if m, err := NewMiddleware(h, tc.in, opts...); err == nil {
			m.Close()
			check("NewMiddleware", err)
		} else {
			check("NewMiddleware", err)
		}
		if sm, err := NewScriptMonitor(tc.in, opts...); err == nil {
			sm.Close()
			check("NewScriptMonitor", err)
		} else {
			check("NewScriptMonitor", err)
		}
		if msg := panicMessage(func() { Monitor(tc.in, opts...)(h) }); msg == "" {
			t.Errorf("Monitor(%q) did not panic", tc.in)
		} else {
			check("Monitor", errors.New(msg))
		}
	}
	if dns.calls.Load() != 0 {
		t.Errorf("parsing looked up %d names", dns.calls.Load())
	}
	if _, err := NewReporter("host:99999"); err == nil || err.Error() != `pynba: bad Pinba server "host:99999": port out of range (1 to 65535)` {
		t.Errorf("error %v", err)
	}
}
