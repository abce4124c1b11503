// Package pynbagrpc monitors gRPC with Pinba: server interceptors that make
// each RPC a Pinba request, and client interceptors that time each outgoing
// RPC in the current request.
//
// A server:
//
//	ps, err := pynbagrpc.NewServer("127.0.0.1:30002", pynba.WithPrefix("cart"))
//	if err != nil { ... }
//	defer ps.Close()
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(ps.UnaryInterceptor()),
//		grpc.ChainStreamInterceptor(ps.StreamInterceptor()),
//	)
//
// Each RPC sends one packet when its handler returns, named by the full
// method ("/pkg.Service/Method", after the prefix), with a status mapped
// from the gRPC code (see HTTPStatus). In the handler, the proxy
// (pynba.Timer, pynba.SetTag, ...) and pynba.FromContext(ctx) reach the
// RPC's request, as they reach a web request under pynba.Monitor; so do the
// client interceptors, whose timers land in the RPC that makes the call.
//
// Put the interceptors first in their chains: an RPC that an interceptor
// before them refuses (authentication, rate limiting) sends no packet,
// while one that an interceptor after them refuses is counted with its
// code.
package pynbagrpc

import (
	"context"

	"github.com/pynba-go/pynba"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server makes each RPC of a grpc.Server one Pinba request, through its
// interceptors. Create it with NewServer; it is safe for concurrent use.
type Server struct {
	r *pynba.Runner
}

// NewServer returns a Server sending to servers (see pynba.NewReporter for
// the format: "127.0.0.1:30002", several separated by commas), with the
// options of pynba.NewRunner (WithPrefix, WithTags, WithHostname,
// WithServerName, WithReporter, WithErrorHandler, ...). It fails on a bad
// server string or a bad option. Close it when done.
func NewServer(servers string, opts ...pynba.Option) (*Server, error) {
	r, err := pynba.NewRunner(servers, opts...)
	if err != nil {
		return nil, err
	}
	return &Server{r: r}, nil
}

// Close stops the Server's reporter (unless given with pynba.WithReporter),
// sending what an async queue holds. RPCs still go through the
// interceptors after Close; their packets are counted as not sent.
func (s *Server) Close() error { return s.r.Close() }

// Stats returns the Server's counts, its reporter's included.
func (s *Server) Stats() pynba.Stats { return s.r.Stats() }

// UnaryInterceptor returns the interceptor that monitors unary RPCs, for
// grpc.UnaryInterceptor or grpc.ChainUnaryInterceptor. The handler runs in
// the calling goroutine, bound to the RPC's request; its context carries
// the request.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var resp any
		err := s.r.Run(ctx, info.FullMethod, func(ctx context.Context) error {
			var err error
			resp, err = handler(ctx, req)
			pynba.FromContext(ctx).SetStatus(HTTPStatus(serverCode(err)))
			return err
		})
		return resp, err
	}
}

// StreamInterceptor returns the interceptor that monitors streaming RPCs,
// for grpc.StreamInterceptor or grpc.ChainStreamInterceptor. The handler
// runs in the calling goroutine, bound to the RPC's request, and the
// stream's Context carries the request.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return s.r.Run(ss.Context(), info.FullMethod, func(ctx context.Context) error {
			err := handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
			pynba.FromContext(ctx).SetStatus(HTTPStatus(serverCode(err)))
			return err
		})
	}
}

// serverStream is a ServerStream whose Context carries the RPC's request.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context, which carries the RPC's request.
func (s *serverStream) Context() context.Context { return s.ctx }

// serverCode is the code the client receives for a handler's error, found
// as grpc.Server finds it: a status error's code, else Canceled or
// DeadlineExceeded for a context error, else Unknown.
func serverCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// HTTPStatus returns the status sent to Pinba for an RPC that ended with
// code: the HTTP status that google.rpc.Code (code.proto) documents for it,
// so that Pinba's reports read as they do for web requests:
//
//	OK                  200    Canceled            499
//	InvalidArgument     400    DeadlineExceeded    504
//	FailedPrecondition  400    NotFound            404
//	OutOfRange          400    AlreadyExists       409
//	Unauthenticated     401    Aborted             409
//	PermissionDenied    403    ResourceExhausted   429
//	Unimplemented       501    Unavailable         503
//	Unknown, Internal, DataLoss and any other code: 500
//
// A handler that returns an error that is not a gRPC status counts as the
// server sends it: Canceled or DeadlineExceeded for a context error, else
// Unknown (500). A handler that panics sends 500.
func HTTPStatus(code codes.Code) int {
	switch code {
	case codes.OK:
		return 200
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return 400
	case codes.Unauthenticated:
		return 401
	case codes.PermissionDenied:
		return 403
	case codes.NotFound:
		return 404
	case codes.AlreadyExists, codes.Aborted:
		return 409
	case codes.ResourceExhausted:
		return 429
	case codes.Unimplemented:
		return 501
	case codes.Unavailable:
		return 503
	case codes.DeadlineExceeded:
		return 504
	}
	return 500
}
