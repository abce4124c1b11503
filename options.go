package pynba

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/pynba-go/pynba/pb"
)

// Option configures a Middleware, a ScriptMonitor or a Reporter. Options
// that do not apply to what they are given are ignored.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// Resolver looks up the addresses of a host name. net.DefaultResolver's
// LookupNetIP method (with network "ip") is the default.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

type config struct {
	prefix          string
	tags            Tags
	scriptName      func(*http.Request) string
	rawPath         bool
	mux             *http.ServeMux
	hostname        string
	hostnameSet     bool
	serverName      string
	serverNameSet   bool
	filter          func(*http.Request) bool
	reporter        *Reporter
	errorHandler    func(error)
	resolveInterval time.Duration
	resolver        Resolver
	maxPacketSize   int
	asyncQueue      int
	maxScriptNames  int
	maxTagValues    int
	engineLimits    bool
	recent          int
	cpu             CPUModel

	// stats are the counts of what the configuration's owner does (a
	// Middleware, ScriptMonitor or Runner, and the Reporter it creates).
	stats counters
	// reporterOnly names the options given that configure a Reporter's
	// sending, to refuse them alongside WithReporter.
	reporterOnly []string
}

const (
	// DefaultPort is the Pinba port used when a server has none (the PHP
	// extension's and pinba_engine's default).
	DefaultPort = 30002
	// DefaultResolveInterval is how often server names are looked up again.
	DefaultResolveInterval = 60 * time.Second
	// DefaultMaxPacketSize is the largest datagram sent: the most a UDP
	// datagram over IPv4 can carry.
	DefaultMaxPacketSize = pb.MaxDatagram
)

func newConfig(opts []Option) (*config, error) {
	c := &config{
		resolveInterval: DefaultResolveInterval,
		maxPacketSize:   DefaultMaxPacketSize,
		maxScriptNames:  DefaultMaxScriptNames,
		maxTagValues:    DefaultMaxTagValues,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// reportError passes err to the error handler, if there is one. The handler
// is user code: a panic in it is recovered and counted (Stats.CallbackPanics),
// never reported to it again, and an error the handler itself causes (by
// calling back into the library) while it runs in the same goroutine is
// dropped and counted the same way, so the reporting path cannot loop.
func (c *config) reportError(err error) {
	if c.errorHandler == nil || err == nil {
		return
	}
	gid := curGoid()
	if _, busy := inErrorHandler.LoadOrStore(gid, struct{}{}); busy {
		c.stats.callbackPanics.Add(1)
		return
	}
	defer func() {
		inErrorHandler.Delete(gid)
		if p := recover(); p != nil {
			c.stats.callbackPanics.Add(1)
		}
	}()
	c.errorHandler(err)
}

// inErrorHandler holds the goroutines running an error handler now. It is
// used only on the error path.
var inErrorHandler sync.Map

// WithPrefix puts prefix before every script name (pynba's prefix).
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) error { c.prefix = prefix; return nil })
}

// WithTags sets request tags sent with every request (pynba's tags). Values
// are flattened as timer tags are; callables are called once per request.
func WithTags(tags Tags) Option {
	return optionFunc(func(c *config) error { c.tags = tags; return nil })
}

// WithScriptName sets the function that names a request's script, called
// after the handler has run and by Flush. An empty result falls back to the
// default naming (see WithServeMux). The prefix still applies.
func WithScriptName(fn func(r *http.Request) string) Option {
	return optionFunc(func(c *config) error { c.scriptName = fn; return nil })
}

// WithRawPath names requests by their URL path, as Python's pynba does,
// instead of by their route. Paths that hold ids make one report row per
// id; the script name cap (WithMaxScriptNames) bounds them.
func WithRawPath() Option {
	return optionFunc(func(c *config) error { c.rawPath = true; return nil })
}

// WithServeMux gives the http.ServeMux that routes the monitored requests,
// for handlers where it cannot be seen.
//
// By default a request is named by the route http.ServeMux matched
// ("GET /items/{id}"), which the mux writes in the request it is given
// (r.Pattern). That is the request Monitor made when the mux is the
// handler Monitor wraps, or is reached through middlewares that pass the
// request on as they got it. A middleware between Monitor and the mux that
// derives a new request (r.WithContext, http.StripPrefix) hides the route:
// either put Monitor inside it, just around the mux, or give the mux here,
// and Monitor asks it (mux.Handler) for the request's route after the
// handler ran. Requests the mux has no route for are named
// NoRouteScriptName.
func WithServeMux(mux *http.ServeMux) Option {
	return optionFunc(func(c *config) error { c.mux = mux; return nil })
}

// WithMaxScriptNames caps the distinct script names the process sends at
// n (default DefaultMaxScriptNames): past it, a new name is sent as
// OverflowName and counted in Stats.ScriptOverflows, so a flood of URLs
// cannot flood Pinba's reports nor grow memory. The names are counted per
// process, across monitors, as the servers' reports see them; n is the
// limit this monitor applies. n < 0 means no cap.
func WithMaxScriptNames(n int) Option {
	return optionFunc(func(c *config) error { c.maxScriptNames = n; return nil })
}

// WithMaxTagValues caps the distinct values of each tag name (request and
// timer tags) the process sends at n (default DefaultMaxTagValues): past
// it, a new value is sent as OverflowName and counted in
// Stats.TagOverflows. At most 4096 tag names are tracked; values of names
// past that are all sent as OverflowName. n < 0 means no cap.
func WithMaxTagValues(n int) Option {
	return optionFunc(func(c *config) error { c.maxTagValues = n; return nil })
}

// WithEngineLimits(true) cuts strings to pinba_engine's limits before
// sending: hostname and server name 32 bytes, script name 128, schema 16,
// each tag name and value 64. pinba_engine keeps only that much and cuts in
// the middle of a UTF-8 character, which leaves broken characters in its
// tables; the client cuts at a character boundary instead, and counts the
// cuts in Stats.StringsCut. It is off by default: pinba2 keeps strings
// whole, and a client cannot tell which server it sends to, so the default
// loses nothing; services sending to pinba_engine turn it on.
func WithEngineLimits(on bool) Option {
	return optionFunc(func(c *config) error { c.engineLimits = on; return nil })
}

// WithHostname sets the hostname sent (default: os.Hostname()).
func WithHostname(name string) Option {
	return optionFunc(func(c *config) error { c.hostname, c.hostnameSet = name, true; return nil })
}

// WithServerName sets the server name sent (default: the request's host
// without its port).
func WithServerName(name string) Option {
	return optionFunc(func(c *config) error { c.serverName, c.serverNameSet = name, true; return nil })
}

// WithFilter sets a function that says which requests are monitored: a
// request for which it returns false runs unmonitored and sends nothing.
func WithFilter(fn func(r *http.Request) bool) Option {
	return optionFunc(func(c *config) error { c.filter = fn; return nil })
}

// WithReporter makes a Middleware, ScriptMonitor or Runner send through r,
// which it then does not close; the servers string given with it is
// ignored. The options that configure sending (WithAsync,
// WithResolveInterval, WithResolver, WithRecent) belong to NewReporter:
// given alongside WithReporter they are an error. WithMaxPacketSize takes
// effect: packets are trimmed to the smaller of it and r's limit.
func WithReporter(r *Reporter) Option {
	return optionFunc(func(c *config) error {
		if r == nil {
			return fmt.Errorf("pynba: WithReporter(nil)")
		}
		c.reporter = r
		return nil
	})
}

// WithErrorHandler sets the function that hears of every problem the
// library meets: send failures, failed lookups, dropped tags, late timer
// uses. It is called from the request's goroutine or the library's own, and
// must be quick and safe for concurrent use. By default problems are only
// counted in Stats.
func WithErrorHandler(fn func(error)) Option {
	return optionFunc(func(c *config) error { c.errorHandler = fn; return nil })
}

// WithResolveInterval sets how often server names are looked up again
// (default 60 s, as PHP's pinba.resolve_interval). It must be at least 1 ms.
func WithResolveInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("pynba: resolve interval %v is below 1ms", d)
		}
		c.resolveInterval = d
		c.reporterOnly = append(c.reporterOnly, "WithResolveInterval")
		return nil
	})
}

// WithResolver sets the function used to look up server names.
func WithResolver(fn Resolver) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return fmt.Errorf("pynba: WithResolver(nil)")
		}
		c.resolver = fn
		c.reporterOnly = append(c.reporterOnly, "WithResolver")
		return nil
	})
}

// WithMaxPacketSize sets the largest datagram sent, from 512 to 65,507
// bytes (the default). A request whose packet is larger is trimmed (see the
// README's "What happens when").
func WithMaxPacketSize(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 512 || n > DefaultMaxPacketSize {
			return fmt.Errorf("pynba: max packet size %d is outside 512 to %d", n, DefaultMaxPacketSize)
		}
		c.maxPacketSize = n
		return nil
	})
}

// WithAsync sends from background goroutines (see Reporter): a request
// only encodes its packet and queues it. queueLen packets can wait; a full
// queue drops the packet and counts it (Stats.QueueDropped); Close sends
// what is queued. queueLen is from 1 to 1,048,576. The queue is a ring of
// queueLen places and the senders' (up to 256), rounded up to a power of
// two: about 40 bytes each when it is made, and each keeps the buffer of
// the packets it held (packets of up to 2 KiB; a larger one's buffer is
// dropped once it is sent), so a busy queue keeps about that many packets'
// memory.
func WithAsync(queueLen int) Option {
	return optionFunc(func(c *config) error {
		if queueLen < 1 || queueLen > 1<<20 {
			return fmt.Errorf("pynba: async queue length %d is outside 1 to %d", queueLen, 1<<20)
		}
		c.asyncQueue = queueLen
		c.reporterOnly = append(c.reporterOnly, "WithAsync")
		return nil
	})
}

// WithCPU sets how the CPU times sent are measured: CPUFairShare (the
// default), CPUProcessDelta (what pynba sends) or CPUOff. See CPUModel.
func WithCPU(m CPUModel) Option {
	return optionFunc(func(c *config) error {
		if !m.valid() {
			return fmt.Errorf("pynba: WithCPU(%v): not a CPU model", m)
		}
		c.cpu = m
		return nil
	})
}
