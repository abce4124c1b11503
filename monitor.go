package pynba

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// core is what a Middleware or ScriptMonitor shares across its requests:
// configuration, reporter, pool of request data and counters.
type core struct {
	cfg         *config
	reporter    *Reporter
	ownReporter bool
	hostname    string
	pool        sync.Pool
	stats       *counters // cfg.stats: one set for the core and its reporter
	closeOnce   sync.Once
	closeErr    error
}

func newCore(servers string, opts []Option) (*core, error) {
	return newCoreShared(servers, opts, false)
}

// newCoreShared is newCore; with share, the core sends through the
// process's Reporter for the same servers and sending options (see
// sharedReporter), as every Monitor call does.
func newCoreShared(servers string, opts []Option, share bool) (*core, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	k := &core{cfg: cfg, reporter: cfg.reporter, stats: &cfg.stats}
	if k.reporter == nil && share && cfg.resolver == nil {
		r, err := sharedReporter(servers, cfg)
		if err != nil {
			return nil, err
		}
		k.reporter = r
	}
	if k.reporter == nil {
		r, err := newReporter(servers, cfg)
		if err != nil {
			return nil, err
		}
		k.reporter, k.ownReporter = r, true
	} else if cfg.reporter != nil {
		if len(cfg.reporterOnly) > 0 {
			return nil, fmt.Errorf("pynba: %s does not apply alongside WithReporter: give it to NewReporter", strings.Join(cfg.reporterOnly, ", "))
		}
		cfg.maxPacketSize = min(cfg.maxPacketSize, k.reporter.cfg.maxPacketSize)
	}
	if cfg.hostnameSet {
		k.hostname = cfg.hostname
	} else if h, err := os.Hostname(); err == nil {
		k.hostname = h
	}
	k.pool.New = func() any { return newReqData(k) }
	reportGoid := cfg.reportError
	if cfg.errorHandler == nil {
		reportGoid = func(err error) { log.Print(err) }
	}
	reportGoidCheck(reportGoid)
	return k, nil
}

func (k *core) get() *reqData { return k.pool.Get().(*reqData) }

func (k *core) put(c *reqData) {
	c.shrink()
	k.pool.Put(c)
}

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
	if !k.ownReporter {
		k.reporter.addStats(&s)
	}
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
// Monitor has no Close: what it opens lives as long as the process. So that
// calling it many times (one Monitor per handler, in a loop, in tests) does
// not cost sockets and goroutines that nothing can close, every Monitor call
// of the process with the same servers and the same sending options
// (WithAsync, WithMaxPacketSize, WithResolveInterval, WithRecent; not
// WithResolver) shares one Reporter: its sockets and, for server names, its
// DNS refresh goroutine. Each call keeps its own options otherwise, and its
// error handler hears of the shared Reporter's sending problems too (the
// handlers of the first 64 calls); its
// Stats include the shared Reporter's sending counts. Use NewMiddleware where
// a Close is needed (tests, a handler replaced at run time).
//
// A configuration mistake is loud, as http.ServeMux's Handle is on a bad
// pattern: Monitor panics, naming the bad entry or option, when the server
// string is malformed or an option is out of range or does not apply, and
// the function it returns panics on a nil handler. Names that do not
// resolve and servers that do not answer are not mistakes: they are counted
// and reported at run time.
func Monitor(servers string, opts ...Option) func(http.Handler) http.Handler {
	k, err := newCoreShared(servers, opts, true)
	if err != nil {
		panic(fmt.Sprintf("pynba: Monitor(%q): %v", servers, err))
	}
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("pynba: Monitor: nil handler")
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

// reqState is what a monitored request allocates, in one piece: the
// request given to the handler (a copy with the request's context), that
// context, and the response writer's state.
type reqState struct {
	req  http.Request
	ctx  reqCtx
	rw   respWriter
	path string // r.URL.Path when the request began
}

// ServeHTTP runs the handler with the request monitored.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := m.core
	if k.cfg.filter != nil && !k.filter(r) {
		m.next.ServeHTTP(w, r)
		return
	}
	k.stats.requests.Add(1)
	c := k.get()
	st := &reqState{}
	st.rw.w = w
	serverName := k.cfg.serverName
	if !k.cfg.serverNameSet {
		serverName = hostOnly(r.Host)
	}
	schema := "http"
	if r.TLS != nil {
		schema = "https"
	}
	// The script name until the handler returns (what a Flush sends);
	// the route is known only after the handler.
	st.path = r.URL.Path
	st.ctx.Context = r.Context()
	// WithContext is inlined: its copy of r does not escape, and is copied
	// into st, so the request costs no allocation of its own.
	st.req = *r.WithContext(&st.ctx)
	h := c.begin(reqInit{serverName: serverName, schema: schema, scriptName: st.path, resp: &st.rw, req: &st.req})
	st.ctx.h = h
	c, epoch := h.c, h.epoch
	gid := curGoid()
	prev := bind(gid, binding{c, epoch})

	panicking := true
	defer func() {
		unbind(gid, prev)
		m.finish(c, st, panicking)
	}()
	m.next.ServeHTTP(st.rw.wrap(), &st.req)
	panicking = false
}

// finish fills what the response tells and sends the packet. A panic goes
// on after it (finish does not recover), so http.Server still sees it.
func (m *Middleware) finish(c *reqData, st *reqState, panicking bool) {
	k := m.core
	code := int(st.rw.code.Load())
	if code == 0 {
		if panicking {
			code = http.StatusInternalServerError
		} else {
			code = http.StatusOK
		}
	}
	// The script name: the code's (SetScriptName), else routeName's,
	// which finishWith applies only when the code set none. Without a
	// WithScriptName function routeName runs no user code, so it is
	// asked whatever the code did; with one, only when needed.
	haveScript := true
	if k.cfg.scriptName != nil {
		c.mu.Lock()
		haveScript = !c.scriptOK
		c.mu.Unlock()
	}
	script := ""
	if haveScript {
		script = k.cfg.prefix + k.routeName(&st.req, code)
	}
	c.finishWith(script, haveScript, uint32(code))
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

// filter asks the WithFilter function whether to monitor r. A panic in it
// is reported and the request monitored, rather than breaking the request.
func (k *core) filter(r *http.Request) (monitor bool) {
	defer func() {
		if p := recover(); p != nil {
			k.cfg.reportError(&PanicError{What: "pynba: WithFilter function (the request is monitored)", Value: p})
			monitor = true
		}
	}()
	return k.cfg.filter(r)
}

// NoRouteScriptName is the script name of a web request that no route
// matched (a 404 or 405 from the router), so that the URLs a scanner tries
// make one report row, not one each. The prefix is put before it.
const NoRouteScriptName = "(no route)"

// routeName is the one rule naming a web request, without the prefix,
// asked when the request ends and by Flush:
//
//  1. WithScriptName's function, when it returns a name;
//  2. with WithRawPath, the URL path as the handler left it;
//  3. the route the request matched: r.Pattern, which http.ServeMux sets
//     on the request it is given ("GET /items/{id}"), else the pattern of
//     the mux given with WithServeMux for this request;
//  4. NoRouteScriptName when a mux matched no route, or when the response
//     is a 404 or 405 with no route known;
//  5. else the URL path (a handler that is no router).
//
// It calls user code (the WithScriptName function), so never with a lock.
func (k *core) routeName(r *http.Request, code int) string {
	if k.cfg.scriptName != nil {
		if n := k.scriptName(r); n != "" {
			return n
		}
	}
	if k.cfg.rawPath {
		return r.URL.Path
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	if mux := k.cfg.mux; mux != nil {
		if _, p := mux.Handler(r); p != "" {
			return p
		}
		return NoRouteScriptName
	}
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return NoRouteScriptName
	}
	return r.URL.Path
}

// scriptName asks the WithScriptName function for r's script name. A panic
// in it is reported and "" returned (the default name is sent), rather than
// breaking a request whose handler succeeded.
func (k *core) scriptName(r *http.Request) (name string) {
	defer func() {
		if p := recover(); p != nil {
			k.cfg.reportError(&PanicError{What: "pynba: WithScriptName function (the default name is sent)", Value: p})
			name = ""
		}
	}()
	return k.cfg.scriptName(r)
}

// monitorReporters are the Reporters Monitor calls share, by servers and
// sending options. They are never closed: Monitor has no Close.
var monitorReporters struct {
	mu sync.Mutex
	m  map[reporterKey]*fanOut
}

// maxSharers bounds the error handlers a shared Reporter reports to: the
// handlers of Monitor calls past it hear only of their own requests.
const maxSharers = 64

// reporterKey is what makes two Monitor calls' Reporters interchangeable.
type reporterKey struct {
	servers         string // normalized, as Reporter.Servers lists them
	resolveInterval time.Duration
	maxPacketSize   int
	asyncQueue      int
	recent          int
}

// fanOut is a shared Reporter and the error handlers of the Monitor calls
// that share it.
type fanOut struct {
	r        *Reporter
	handlers atomic.Pointer[[]func(error)]
}

// report passes err to every sharer's error handler, each recovered on its
// own (config.reportError recovers the whole; this keeps one panicking
// handler from hiding the error from the others).
func (f *fanOut) report(err error) {
	for _, h := range *f.handlers.Load() {
		func() {
			defer func() {
				if recover() != nil {
					f.r.cfg.stats.callbackPanics.Add(1)
				}
			}()
			h(err)
		}()
	}
}

// sharedReporter returns the process's Reporter for servers and cfg's
// sending options, creating it on first use, and adds cfg's error handler
// to those it reports to.
func sharedReporter(servers string, cfg *config) (*Reporter, error) {
	list, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, sv := range list {
		names[i] = sv.name
	}
	key := reporterKey{strings.Join(names, ","), cfg.resolveInterval, cfg.maxPacketSize, cfg.asyncQueue, cfg.recent}
	monitorReporters.mu.Lock()
	defer monitorReporters.mu.Unlock()
	f := monitorReporters.m[key]
	if f == nil {
		rcfg := &config{
			resolveInterval: cfg.resolveInterval,
			maxPacketSize:   cfg.maxPacketSize,
			asyncQueue:      cfg.asyncQueue,
			recent:          cfg.recent,
			cpu:             cfg.cpu,
		}
		f = &fanOut{}
		f.handlers.Store(&[]func(error){})
		rcfg.errorHandler = f.report
		r, err := newReporter(servers, rcfg)
		if err != nil {
			return nil, err
		}
		f.r = r
		if monitorReporters.m == nil {
			monitorReporters.m = make(map[reporterKey]*fanOut)
		}
		monitorReporters.m[key] = f
	}
	if h := cfg.errorHandler; h != nil && len(*f.handlers.Load()) < maxSharers {
		next := append(slices.Clone(*f.handlers.Load()), h)
		f.handlers.Store(&next)
	}
	return f.r, nil
}
