package pynbagrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	pynbagrpc "github.com/pynba-go/pynba/contrib/grpc"
	"github.com/pynba-go/pynba/pinbatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	checkMethod = "/grpc.health.v1.Health/Check"
	watchMethod = "/grpc.health.v1.Health/Watch"
	listMethod  = "/grpc.health.v1.Health/List"
	addMethod   = "/pynbatest.Sum/Add"
)

// testHealth is the test service. The request's Service field says what a
// handler does:
//
//	"fast"           answer SERVING, doing nothing else
//	"panic"          panic (recoverPanics, outside the monitor, makes it
//	                 an Internal error)
//	"ok"             answer SERVING, with one timer through the proxy and
//	                 one through FromContext(ctx)
//	"code:NAME"      return a status error of that code
//	"ctx-deadline"   return context.DeadlineExceeded, not a status
//	"plain"          return an error that is not a status
//	"call"           make a unary call through the client interceptors to
//	                 "ok", then answer
//
// Watch sends three answers, each under a proxy timer, then returns what
// the Service field says (nil for "ok"); for "hold" it sends one answer
// and waits until the client cancels, for "silent" it sends nothing, not
// even headers, and waits.
type testHealth struct {
	healthpb.UnimplementedHealthServer
	conn func() *grpc.ClientConn // the client, for "call"
}

var codeByName = func() map[string]codes.Code {
	m := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}
	return m
}()

func behave(ctx context.Context, service string, conn func() *grpc.ClientConn) error {
	switch {
	case service == "fast":
		return nil
	case service == "panic":
		panic("handler panics")
	case service == "ok":
		pynba.Timer(pynba.Tags{"group": "handler", "via": "proxy"}).Start().Stop()
		pynba.FromContext(ctx).Timer(pynba.Tags{"group": "handler", "via": "ctx"}).Start().Stop()
		return nil
	case strings.HasPrefix(service, "code:"):
		return status.Error(codeByName[strings.TrimPrefix(service, "code:")], "as asked")
	case service == "ctx-deadline":
		return context.DeadlineExceeded
	case service == "plain":
		return errors.New("plain error")
	case service == "call":
		_, err := healthpb.NewHealthClient(conn()).Check(ctx, &healthpb.HealthCheckRequest{Service: "ok"})
		return err
	}
	return status.Error(codes.InvalidArgument, "unknown behaviour "+service)
}

func (h *testHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := behave(ctx, req.Service, h.conn); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *testHealth) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	if req.Service == "hold" || req.Service == "silent" {
		// Answer once (or not at all), then wait for the client to go away.
		if req.Service == "hold" {
			if err := stream.Send(&healthpb.HealthCheckResponse{}); err != nil {
				return err
			}
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-time.After(5 * time.Second):
			return status.Error(codes.DeadlineExceeded, "the client did not go away")
		}
	}
	for range 3 {
		t := pynba.Timer(pynba.Tags{"group": "handler", "via": "proxy"}).Start()
		err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
		t.Stop()
		if err != nil {
			return err
		}
	}
	pynba.FromContext(stream.Context()).Timer(pynba.Tags{"group": "handler", "via": "ctx"}).Start().Stop()
	if req.Service == "ok" {
		return nil
	}
	return behave(stream.Context(), req.Service, h.conn)
}

// sumDesc is a client-streaming service registered by hand, with the
// health messages and gRPC's default codec: Add counts the requests it
// receives and answers once.
var sumDesc = grpc.ServiceDesc{
	ServiceName: "pynbatest.Sum",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Add",
		ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			n := 0
			for {
				var req healthpb.HealthCheckRequest
				err := stream.RecvMsg(&req)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n++
			}
			pynba.Timer(pynba.Tags{"group": "handler", "via": "proxy"}).Start().Stop()
			return stream.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_ServingStatus(n)})
		},
	}},
}

var addStreamDesc = &sumDesc.Streams[0]

// env is a monitored grpc.Server on 127.0.0.1 with a client whose
// interceptors time its calls, and two Pinba receivers: rpcs gets the
// server's packets (one per RPC), callers those of the requests that make
// calls (run with env.call).
type env struct {
	rpcs, callers *pinbatest.Server
	ps            *pynbagrpc.Server
	caller        *pynba.Runner
	addr          string
	conn          *grpc.ClientConn
	health        healthpb.HealthClient
}

func newEnv(t testing.TB, opts ...pynba.Option) *env {
	t.Helper()
	e := &env{rpcs: pinbatest.NewServer(), callers: pinbatest.NewServer()}
	t.Cleanup(e.rpcs.Close)
	t.Cleanup(e.callers.Close)

	var err error
	e.ps, err = pynbagrpc.NewServer(e.rpcs.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ps.Close() })
	e.caller, err = pynba.NewRunner(e.callers.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.caller.Close() })

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(recoverPanics, e.ps.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(e.ps.StreamInterceptor()),
	)
	healthpb.RegisterHealthServer(srv, &testHealth{conn: func() *grpc.ClientConn { return e.conn }})
	srv.RegisterService(&sumDesc, nil)
	e.addr = serve(t, srv)
	e.conn = dial(t, e.addr,
		grpc.WithUnaryInterceptor(pynbagrpc.UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(pynbagrpc.StreamClientInterceptor()))
	e.health = healthpb.NewHealthClient(e.conn)
	return e
}

// recoverPanics turns a handler's panic into an Internal error, as a
// service's own recovery interceptor would.
func recoverPanics(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = status.Errorf(codes.Internal, "panic: %v", v)
		}
	}()
	return handler(ctx, req)
}

// serve runs srv on a loopback port until the test ends, and returns the
// address.
func serve(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return l.Addr().String()
}

// dial returns a client of addr, closed when the test ends.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call runs fn as a caller request and returns that request's packet.
func (e *env) call(t testing.TB, fn func(ctx context.Context)) *pinbatest.Packet {
	t.Helper()
	e.caller.Run(context.Background(), "caller", func(ctx context.Context) error {
		fn(ctx)
		return nil
	})
	return next(t, e.callers)
}

// next returns srv's next packet, validated.
func next(t testing.TB, srv *pinbatest.Server) *pinbatest.Packet {
	t.Helper()
	p, err := srv.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("invalid packet: %v", err)
	}
	return p
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// check calls Check with the given behaviour and returns the code the
// client got.
func (e *env) check(ctx context.Context, service string) codes.Code {
	_, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	return status.Code(err)
}

// watch calls Watch, receives until the stream ends, and returns how many
// answers came and the code it ended with.
func (e *env) watch(ctx context.Context, service string) (int, codes.Code) {
	stream, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return 0, status.Code(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return n, codes.OK
		}
		if err != nil {
			return n, status.Code(err)
		}
		n++
	}
}

// add runs the client-streaming Add with n requests and returns the count
// the server answered.
func (e *env) add(ctx context.Context, n int) (int, error) {
	stream, err := e.conn.NewStream(ctx, addStreamDesc, addMethod)
	if err != nil {
		return 0, err
	}
	for range n {
		if err := stream.SendMsg(&healthpb.HealthCheckRequest{Service: "x"}); err != nil {
			return 0, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	var resp healthpb.HealthCheckResponse
	if err := stream.RecvMsg(&resp); err != nil {
		return 0, err
	}
	return int(resp.Status), nil
}

// grpcTimer finds the client timer of method with code in p.
func grpcTimer(t testing.TB, p *pinbatest.Packet, e *env, method, code string) pinbatest.Timer {
	t.Helper()
	want := map[string]string{"group": "grpc", "method": method, "server": e.addr, "code": code}
	tm, ok := p.FindTimer(want)
	if !ok {
		t.Fatalf("no timer %v in %v", want, p.Timers)
	}
	if len(tm.Tags) != len(want) {
		t.Errorf("timer %v: want exactly the tags %v", tm, want)
	}
	return tm
}
