package pynba

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/felixge/httpsnoop"
)

// core is what a Middleware or ScriptMonitor shares across its requests:
// configuration, reporter, collector pool and counters.
type core struct {
	cfg         *config
	reporter    *Reporter
	ownReporter bool
	hostname    string
	pool        sync.Pool
	stats       counters
	closeOnce   sync.Once
	closeErr    error
}

func newCore(servers string, opts []Option) (*core, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	k := &core{cfg: cfg, reporter: cfg.reporter}
	if k.reporter == nil {
		r, err := NewReporter(servers, opts...)
		if err != nil {
			return nil, err
		}
		k.reporter, k.ownReporter = r, true
	}
	if cfg.hostnameSet {
		k.hostname = cfg.hostname
	} else if h, err := os.Hostname(); err == nil {
		k.hostname = h
	}
	k.pool.New = func() any { return newCollector(k) }
	reportGoid := cfg.reportError
	if cfg.errorHandler == nil {
		reportGoid = func(err error) { log.Print(err) }
	}
	reportGoidCheck(reportGoid)
	return k, nil
}

func (k *core) get() *collector { return k.pool.Get().(*collector) }

func (k *core) put(c *collector) { k.pool.Put(c) }

func (k *core) close() error {
	k.closeOnce.Do(func() {
		if k.ownReporter {
			k.closeErr = k.reporter.Close()
		}
	})
	return k.closeErr
}

func (k *core) statsSnapshot() Stats {
	var s Stats
	k.stats.addTo(&s)
	k.reporter.addStats(&s)
	return s
}

// Middleware monitors the requests of an http.Handler (pynba's
// PynbaMiddleware): each request sends one Pinba packet when the handler
// returns. Create it with NewMiddleware, or use Monitor.
type Middleware struct {
	core *core
	next http.Handler
}

// NewMiddleware returns a Middleware monitoring next and sending to servers
// (see NewReporter for the format: "127.0.0.1:30002", several separated by
// commas). It fails on a nil handler, a bad server string or a bad option.
// Close it when done to stop its reporter.
func NewMiddleware(next http.Handler, servers string, opts ...Option) (*Middleware, error) {
	if next == nil {
		return nil, errors.New("pynba: NewMiddleware: nil handler")
	}
	k, err := newCore(servers, opts)
	if err != nil {
		return nil, err
	}
	return &Middleware{core: k, next: next}, nil
}

// Monitor returns a function that wraps a handler with a Middleware
// (pynba's monitor decorator):
//
//	handler = pynba.Monitor("127.0.0.1:30002", pynba.WithPrefix("shop"))(handler)
//
// Every handler it wraps shares one reporter, which lives as long as the
// process (use NewMiddleware for a Close). Monitor cannot return an error:
// when the server string or an option is bad, it says so through the error
// handler (or the standard logger when there is none) and returns handlers
// unchanged, so the service runs unmonitored rather than not at all.
func Monitor(servers string, opts ...Option) func(http.Handler) http.Handler {
	k, err := newCore(servers, opts)
	if err != nil {
		report := func(err error) { log.Print(err) }
		if cfg, cerr := newConfig(opts); cerr == nil && cfg.errorHandler != nil {
			report = cfg.errorHandler
		}
		report(fmt.Errorf("pynba: Monitor: requests are not monitored: %w", err))
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		if next == nil {
			k.cfg.reportError(errors.New("pynba: Monitor: nil handler"))
			return next
		}
		return &Middleware{core: k, next: next}
	}
}

// Close stops the Middleware's reporter (unless it was given with
// WithReporter), sending what an async queue holds. Requests still running
// finish normally; their packets are counted as not sent.
func (m *Middleware) Close() error { return m.core.close() }

// Stats returns the Middleware's counts, its reporter's included.
func (m *Middleware) Stats() Stats { return m.core.statsSnapshot() }

// ServeHTTP runs the handler with the request monitored.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := m.core
	if k.cfg.filter != nil && !k.cfg.filter(r) {
		m.next.ServeHTTP(w, r)
		return
	}
	k.stats.requests.Add(1)
	c := k.get()
	c.begin()
	epoch := c.epoch
	c.mu.Lock()
	c.defaultStatus = http.StatusOK
	c.hostname = k.hostname
	if k.cfg.serverNameSet {
		c.serverName = k.cfg.serverName
	} else {
		c.serverName = hostOnly(r.Host)
	}
	if r.TLS != nil {
		c.schema = "https"
	} else {
		c.schema = "http"
	}
	// The script name until the handler returns (what a Flush sends);
	// WithScriptName is asked after the handler, when r.Pattern is known.
	c.scriptName = k.cfg.prefix + r.URL.Path
	c.mu.Unlock()

	h := Collector{c, epoch}
	gid := curGoid()
	prev := bind(gid, binding{c, epoch})
	r2 := r.WithContext(&reqCtx{r.Context(), h})
	ww := httpsnoop.Wrap(w, c.responseHooks())

	panicking := true
	defer func() {
		unbind(gid, prev)
		m.finish(c, r2, panicking)
	}()
	m.next.ServeHTTP(ww, r2)
	panicking = false
}

// finish fills what the response tells and sends the packet. A panic goes
// on after it (finish does not recover), so http.Server still sees it.
func (m *Middleware) finish(c *collector, r *http.Request, panicking bool) {
	k := m.core
	code := int(c.code.Load())
	if code == 0 {
		if panicking {
			code = http.StatusInternalServerError
		} else {
			code = http.StatusOK
		}
	}
	script := ""
	c.mu.Lock()
	scriptOK := c.scriptOK
	c.mu.Unlock()
	if !scriptOK {
		if k.cfg.scriptName != nil {
			script = k.cfg.scriptName(r)
		}
		if script == "" {
			script = r.URL.Path
		}
		script = k.cfg.prefix + script
	}
	c.mu.Lock()
	if !scriptOK && !c.scriptOK {
		c.scriptName = script
	}
	if !c.statusOK {
		c.status, c.statusOK = uint32(code), true
	}
	c.mu.Unlock()
	c.finish()
	k.put(c)
}

func clampUint32(n uint64) uint32 {
	if n > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(n)
}

// hostOnly returns host without its port: "example.com:8080" gives
// "example.com", "[::1]:80" gives "::1". It allocates nothing.
func hostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		return host[:i]
	}
	return host
}

// responseHooks returns the httpsnoop hooks recording the status code and
// the bytes written into c. They are made once per pooled collector.
func (c *collector) responseHooks() httpsnoop.Hooks {
	if c.hooks != nil {
		return *c.hooks
	}
	c.hooks = &httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) {
				c.noteCode(code)
				next(code)
			}
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) {
				c.noteCode(http.StatusOK)
				n, err := next(b)
				c.written.Add(uint64(max(n, 0)))
				return n, err
			}
		},
		ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
			return func(src io.Reader) (int64, error) {
				c.noteCode(http.StatusOK)
				n, err := next(src)
				c.written.Add(uint64(max(n, 0)))
				return n, err
			}
		},
	}
	return *c.hooks
}

// noteCode records the response's final status code: the first one of 200
// or more (1xx codes are informational and followed by the real one).
func (c *collector) noteCode(code int) {
	if code >= 200 && c.code.Load() == 0 {
		c.code.CompareAndSwap(0, int64(code))
	}
}
