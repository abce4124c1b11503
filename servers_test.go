package pynba

import (
	"errors"
	"strings"
	"testing"
)

// Bad server strings, each entry form: every constructor refuses them with
// an error that names the bad entry; Monitor reports it and leaves the
// handler unmonitored. Good ones of each form are accepted.
func TestServerStrings(t *testing.T) {
	bad := map[string]string{ // servers string: what the error must contain
		"":                                "no Pinba server",
		" ,\t, ":                          "no Pinba server",
		"bad!host":                        "bad!host",
		"127.0.0.256":                     "127.0.0.256",
		"a..b":                            "a..b",
		strings.Repeat("a", 64) + ".test": strings.Repeat("a", 64),
		"host:":                           "host:",
		"host:0":                          "host:0",
		"host:65536":                      "host:65536",
		"host:-1":                         "host:-1",
		"host:+5":                         "host:+5",
		"host:port":                       "host:port",
		":30002":                          ":30002",
		"127.0.0.1:99999":                 "127.0.0.1:99999",
		"host:1:2":                        "host:1:2",
		"[::1":                            "[::1",
		"::1]":                            "::1]",
		"[]":                              "[]",
		"[]:30002":                        "[]:30002",
		"[pinba.test]":                    "[pinba.test]",
		"[::1]x":                          "[::1]x",
		"[::1]:":                          "[::1]:",
		"[::1]:0":                         "[::1]:0",
		"[::1]:65536":                     "[::1]:65536",
		"[::1]:abc":                       "[::1]:abc",
		"[::1]:1]":                        "[::1]:1]",
		"fe80::1:80":                      "fe80::1:80",
		"a1,a2,a3,a4,a5,a6,a7,a8,a9":      "a9",
		"127.0.0.1, bad!":                 "bad!",
	}
	h := &nopHandler{}
	for servers, want := range bad {
		opts := []Option{WithResolver(loopbackResolver)}
		check := func(what string, err error) {
			t.Helper()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%q): error %v, want one containing %q", what, servers, err, want)
			}
		}
		if r, err := NewReporter(servers, opts...); err == nil {
			r.Close()
			check("NewReporter", err)
		} else {
			check("NewReporter", err)
		}
		if m, err := NewMiddleware(h, servers, opts...); err == nil {
			m.Close()
			check("NewMiddleware", err)
		} else {
			check("NewMiddleware", err)
		}
		if sm, err := NewScriptMonitor(servers, opts...); err == nil {
			sm.Close()
			check("NewScriptMonitor", err)
		} else {
			check("NewScriptMonitor", err)
		}
		if msg := panicMessage(func() { Monitor(servers, opts...)(h) }); msg == "" {
			t.Errorf("Monitor(%q) did not panic", servers)
		} else {
			check("Monitor", errors.New(msg))
		}
	}

	good := []string{"127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:65535", "::1", "pinba.test", "pinba.test:30002",
		"[127.0.0.1]:30002", "a.test,b.test c.test\td.test", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8"}
	for _, servers := range good {
		r, err := NewReporter(servers, WithResolver(loopbackResolver))
		if err != nil {
			t.Errorf("NewReporter(%q): %v", servers, err)
			continue
		}
		r.Close()
	}
}
