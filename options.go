package pynba

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"
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
}

const (
	// DefaultPort is the Pinba port used when a server has none (the PHP
	// extension's and pinba_engine's default).
	DefaultPort = 30002
	// DefaultResolveInterval is how often server names are looked up again.
	DefaultResolveInterval = 60 * time.Second
	// DefaultMaxPacketSize is the largest datagram sent: the most a UDP
	// datagram over IPv4 can carry.
	DefaultMaxPacketSize = 65507
)

func newConfig(opts []Option) (*config, error) {
	c := &config{
		resolveInterval: DefaultResolveInterval,
		maxPacketSize:   DefaultMaxPacketSize,
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

// reportError passes err to the error handler, if there is one.
func (c *config) reportError(err error) {
	if c.errorHandler != nil && err != nil {
		c.errorHandler(err)
	}
}

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
// after the handler has run (so r.Pattern, the ServeMux route, is set).
// Route patterns keep Pinba's reports small where raw paths hold ids. An
// empty result falls back to the URL path. The prefix still applies.
func WithScriptName(fn func(r *http.Request) string) Option {
	return optionFunc(func(c *config) error { c.scriptName = fn; return nil })
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

// WithReporter makes a Middleware or ScriptMonitor send through r, which it
// then does not close; the servers string given with it is ignored.
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

// WithAsync sends from one background goroutine: a request only encodes its
// packet and queues it. A full queue drops the packet and counts it; Close
// sends what is queued. queueLen is from 1 to 1,048,576.
func WithAsync(queueLen int) Option {
	return optionFunc(func(c *config) error {
		if queueLen < 1 || queueLen > 1<<20 {
			return fmt.Errorf("pynba: async queue length %d is outside 1 to %d", queueLen, 1<<20)
		}
		c.asyncQueue = queueLen
		return nil
	})
}
