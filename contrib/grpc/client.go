package pynbagrpc

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pynba-go/pynba"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// UnaryClientInterceptor returns an interceptor that times each unary RPC
// the client makes in the current Pinba request, from the call until its
// answer came back:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithUnaryInterceptor(pynbagrpc.UnaryClientInterceptor()),
//		grpc.WithStreamInterceptor(pynbagrpc.StreamClientInterceptor()),
//		...)
//
// The timer's tags are group=grpc, method=<full method, "/pkg.Service/Method">,
// server=<the ClientConn's target, as given to grpc.NewClient> and
// code=<the gRPC code's name: OK, NotFound, ...>. The request is the one
// the call's context carries (pynba.FromContext), else the one bound to the
// calling goroutine (pynba.Current); outside a request the interceptor only
// forwards the call.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		h, ok := request(ctx)
		if !ok {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		h.AddTimer(clientTags(method, cc, status.Code(err)), time.Since(start))
		return err
	}
}

// StreamClientInterceptor returns an interceptor that times each streaming
// RPC the client makes in the current Pinba request, with the tags of
// UnaryClientInterceptor. The timer runs from the call until the stream
// ends, as the caller sees it: RecvMsg returning io.EOF (code OK) or an
// error, the one answer of a client-streaming RPC received, or SendMsg
// failing with an error other than io.EOF (io.EOF says the stream ended, its
// status to be read with RecvMsg). A stream the caller abandons without
// seeing its end (by canceling its context and never receiving again)
// records no timer.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		h, ok := request(ctx)
		if !ok {
			return streamer(ctx, desc, cc, method, opts...)
		}
		start := time.Now()
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			h.AddTimer(clientTags(method, cc, status.Code(err)), time.Since(start))
			return cs, err
		}
		return &clientStream{
			ClientStream:  cs,
			h:             h,
			method:        method,
			cc:            cc,
			start:         start,
			serverStreams: desc.ServerStreams,
		}, nil
	}
}

// request returns the running Pinba request of a call: the one ctx
// carries, else the one bound to the calling goroutine.
func request(ctx context.Context) (pynba.Collector, bool) {
	if h := pynba.FromContext(ctx); h.Valid() {
		return h, true
	}
	if h := pynba.Current(); h.Valid() {
		return h, true
	}
	return pynba.Collector{}, false
}

// clientStream records its RPC's timer once, when the stream ends.
type clientStream struct {
	grpc.ClientStream
	h             pynba.Collector
	method        string
	cc            *grpc.ClientConn
	start         time.Time
	serverStreams bool
	done          atomic.Bool
}

func (s *clientStream) finish(err error) {
	if s.done.CompareAndSwap(false, true) {
		s.h.AddTimer(clientTags(s.method, s.cc, status.Code(err)), time.Since(s.start))
	}
}

// RecvMsg receives a message; the end of the stream records the timer.
func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == io.EOF:
		s.finish(nil)
	case err != nil:
		s.finish(err)
	case !s.serverStreams:
		// The one answer of a unary-response stream: the RPC is over.
		s.finish(nil)
	}
	return err
}

// SendMsg sends a message; a failure other than io.EOF (which says the
// stream ended, its status to be read with RecvMsg) records the timer.
func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.finish(err)
	}
	return err
}

// tagKey identifies one set of client timer tags.
type tagKey struct {
	method, target string
	code           codes.Code
}

// maxCachedTags bounds the tag cache: past it, each timer gets a map of its
// own.
const maxCachedTags = 4096

// tagCache holds one Tags map per (method, target, code), so that timing an
// RPC builds no map in steady state. The maps are never modified (the core
// copies a timer's tags when it is made).
var tagCache struct {
	sync.RWMutex
	m map[tagKey]pynba.Tags
}

// clientTags returns the tags of a client timer.
func clientTags(method string, cc *grpc.ClientConn, code codes.Code) pynba.Tags {
	k := tagKey{method: method, code: code}
	if cc != nil {
		k.target = cc.Target()
	}
	tagCache.RLock()
	t, ok := tagCache.m[k]
	tagCache.RUnlock()
	if ok {
		return t
	}
	t = pynba.Tags{"group": "grpc", "method": k.method, "server": k.target, "code": code.String()}
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
