// Package pynbahttp times outgoing HTTP requests as Pinba timers of the
// request that makes them.
//
// Wrap a client's transport, and every request sent through it while a
// Pinba request is running (under pynba.Monitor, a ScriptMonitor, a Runner,
// or in a goroutine started with pynba.Go) adds one timer to that request:
//
//	client := &http.Client{Transport: pynbahttp.Transport(nil)}
//	resp, err := client.Get("http://127.0.0.1:8080/cart")
//
// The timer's tags are
//
//	group=http
//	server=<the URL's host, host:port as written in the URL>
//	method=<the request's method, GET when empty>
//	status=1xx|2xx|3xx|4xx|5xx  the class of the response's code
//	status=other                 a code outside 100-599
//	status=error                 no response came back (RoundTrip failed)
//
// Each round trip is one timer: a redirect the client follows is two, one
// 3xx and one for the answer of the new location.
//
// The request is the one req.Context() carries (pynba.FromContext), else
// the one bound to the calling goroutine (pynba.Current). Outside a request
// the transport only forwards: no timer is made and no tag is built.
package pynbahttp

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pynba-go/pynba"
)

// Option configures Transport.
type Option interface {
	apply(*config)
}

type config struct {
	body bool
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithBody says whether a timer covers reading the response body.
//
// With true (the default), the timer ends when the body is read to its end
// (io.EOF), a read fails, or the body is closed, whichever comes first: it
// measures the whole exchange, as a caller sees it. A body that is never
// read to its end nor closed records no timer (net/http cannot reuse its
// connection either).
//
// With false, the timer ends when RoundTrip returns, that is when the
// response's headers came back: it measures the server's time to answer,
// not the transfer of the body.
//
// A response without a body (http.NoBody, as for HEAD requests and empty
// responses) and a 101 Switching Protocols response end the timer when the
// headers came back in both modes.
func WithBody(include bool) Option {
	return optionFunc(func(c *config) { c.body = include })
}

// Transport returns an http.RoundTripper that sends through base (when nil,
// http.DefaultTransport) and times each request in the current Pinba
// request (see the package documentation for the tags). Options: WithBody.
//
// The returned transport forwards CloseIdleConnections to base when base
// has that method, so http.Client.CloseIdleConnections keeps working.
func Transport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	cfg := config{body: true}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	return &transport{base: base, body: cfg.body}
}

type transport struct {
	base http.RoundTripper
	body bool
}

// request returns the running Pinba request that req belongs to: the one
// its context carries, else the one bound to the calling goroutine.
func request(req *http.Request) (pynba.Collector, bool) {
	if h := pynba.FromContext(req.Context()); h.Valid() {
		return h, true
	}
	if h := pynba.Current(); h.Valid() {
		return h, true
	}
	return pynba.Collector{}, false
}

// RoundTrip sends req through the base transport and records the timer.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := request(req)
	if !ok {
		return t.base.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp == nil {
		h.AddTimer(tags(req, "error"), time.Since(start))
		return resp, err
	}
	class := statusClass(resp.StatusCode)
	if !t.body || resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		h.AddTimer(tags(req, class), time.Since(start))
		return resp, err
	}
	resp.Body = &body{ReadCloser: resp.Body, h: h, tags: tags(req, class), start: start}
	return resp, err
}

// CloseIdleConnections closes the base transport's idle connections, when
// it has such a method.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// tagKey identifies one set of timer tags.
type tagKey struct{ host, method, status string }

// maxCachedTags bounds the tag cache: past it (a client calling very many
// hosts), each timer gets a map of its own.
const maxCachedTags = 1024

// tagCache holds one Tags map per (host, method, status), so that timing a
// call builds no map in steady state. The maps are never modified (the core
// copies a timer's tags when it is made).
var tagCache struct {
	sync.RWMutex
	m map[tagKey]pynba.Tags
}

// tags returns the timer tags of req with the given status.
func tags(req *http.Request, status string) pynba.Tags {
	k := tagKey{req.URL.Host, req.Method, status}
	if k.host == "" {
		k.host = req.Host
	}
	if k.method == "" {
		k.method = http.MethodGet
	}
	tagCache.RLock()
	t, ok := tagCache.m[k]
	tagCache.RUnlock()
	if ok {
		return t
	}
	t = pynba.Tags{"group": "http", "server": k.host, "method": k.method, "status": k.status}
	tagCache.Lock()
	if tagCache.m == nil {
		tagCache.m = make(map[tagKey]pynba.Tags)
	}
	if len(tagCache.m) < maxCachedTags {
		tagCache.m[k] = t
	}
	tagCache.Unlock()
	return t
}

// statusClass returns the tag value of a response code's class, a constant
// string: building it allocates nothing.
func statusClass(code int) string {
	switch {
	case code >= 100 && code < 200:
		return "1xx"
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}

// body is a response body whose end (EOF, a read error or Close, the first
// of them) records the timer once.
type body struct {
	io.ReadCloser
	h     pynba.Collector
	tags  pynba.Tags
	start time.Time
	done  atomic.Bool
}

func (b *body) finish() {
	if b.done.CompareAndSwap(false, true) {
		b.h.AddTimer(b.tags, time.Since(b.start))
	}
}

// Read reads from the body; reaching its end or failing records the timer.
func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.finish()
	}
	return n, err
}

// Close closes the body and records the timer if it was not yet recorded.
func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.finish()
	return err
}
