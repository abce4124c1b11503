package pynba

import "context"

type ctxKey struct{}

// reqCtx is the request's context: the parent with the request's data
// as a value.
type reqCtx struct {
	context.Context
	h Collector
}

// Value gives the request for FromContext, and the parent's values.
func (x *reqCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return x
	}
	return x.Context.Value(key)
}

// NewContext returns a copy of ctx that carries the request h refers to,
// for FromContext.
func NewContext(ctx context.Context, h Collector) context.Context {
	return &reqCtx{ctx, h}
}

// FromContext returns the request that ctx carries (Monitor puts it in the
// request's context), or the zero Collector.
func FromContext(ctx context.Context) Collector {
	if ctx == nil {
		return Collector{}
	}
	if x, ok := ctx.Value(ctxKey{}).(*reqCtx); ok {
		return x.h
	}
	return Collector{}
}
