package pynba

import (
	"context"
	"net/http"
)

// Runner monitors units of work that are not http.Handler requests: an RPC,
// a message taken from a queue, a job. Each Run is one Pinba request, with
// the same life cycle as a Middleware's requests: its goroutine is bound,
// so the proxy (Timer, SetTag, ...) works in it, and its context carries
// the request for FromContext.
//
//	r, err := pynba.NewRunner("127.0.0.1:30002")
//	if err != nil { ... }
//	defer r.Close()
//	err = r.Run(ctx, "consume orders", func(ctx context.Context) error {
//		return handle(ctx, msg)
//	})
type Runner struct {
	core *core
}

// NewRunner returns a Runner sending to servers. servers and options are
// those of NewMiddleware; WithScriptName, WithRawPath, WithServeMux and
// WithFilter do not apply. Close it when done to stop its reporter.
func NewRunner(servers string, opts ...Option) (*Runner, error) {
	k, err := newCore(servers, opts)
	if err != nil {
		return nil, err
	}
	return &Runner{core: k}, nil
}

// Run runs fn as one monitored request named scriptName (the prefix is put
// before it) and returns fn's error. The packet is sent when fn returns:
// its status is the one set with SetStatus, else 200 when fn returned nil
// and 500 when it returned an error. When fn panics, the packet is sent
// with status 500 and the panic goes on.
func (r *Runner) Run(ctx context.Context, scriptName string, fn func(ctx context.Context) error) (err error) {
	k := r.core
	k.stats.requests.Add(1)
	c := k.get()
	if ctx == nil {
		ctx = context.Background()
	}
	x := &reqCtx{Context: ctx}
	x.h = c.begin(reqInit{serverName: k.cfg.serverName, scriptName: scriptName})
	gid := curGoid()
	prev := bind(gid, binding{c, x.h.epoch})
	panicking := true
	defer func() {
		unbind(gid, prev)
		code := 0
		if panicking || err != nil {
			code = http.StatusInternalServerError
		}
		c.finishWith("", false, uint32(code))
		k.put(c)
	}()
	err = fn(x)
	panicking = false
	return err
}

// Close stops the Runner's reporter (unless it was given with
// WithReporter), sending what an async queue holds.
func (r *Runner) Close() error { return r.core.close() }

// Stats returns the Runner's counts, its reporter's included.
func (r *Runner) Stats() Stats { return r.core.statsSnapshot() }
