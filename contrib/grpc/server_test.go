package pynbagrpc_test

import (
	"context"
	"testing"

	"github.com/pynba-go/pynba"
	pynbagrpc "github.com/pynba-go/pynba/contrib/grpc"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Each unary RPC is one packet named by its full method, with the status
// its code maps to.
func TestUnaryStatuses(t *testing.T) {
	e := newEnv(t)
	ctx := ctxTimeout(t)
	for _, c := range []struct {
		service string
		code    codes.Code
		status  uint32
	}{
		{"ok", codes.OK, 200},
		{"code:InvalidArgument", codes.InvalidArgument, 400},
		{"code:FailedPrecondition", codes.FailedPrecondition, 400},
		{"code:Unauthenticated", codes.Unauthenticated, 401},
		{"code:PermissionDenied", codes.PermissionDenied, 403},
		{"code:NotFound", codes.NotFound, 404},
		{"code:AlreadyExists", codes.AlreadyExists, 409},
		{"code:ResourceExhausted", codes.ResourceExhausted, 429},
		{"code:Canceled", codes.Canceled, 499},
		{"code:Internal", codes.Internal, 500},
		{"code:Unknown", codes.Unknown, 500},
		{"code:DataLoss", codes.DataLoss, 500},
		{"code:Unimplemented", codes.Unimplemented, 501},
		{"code:Unavailable", codes.Unavailable, 503},
		{"code:DeadlineExceeded", codes.DeadlineExceeded, 504},
		// Errors that are not statuses count as grpc.Server sends them.
		{"ctx-deadline", codes.DeadlineExceeded, 504},
		{"plain", codes.Unknown, 500},
	} {
		if got := e.check(ctx, c.service); got != c.code {
			t.Errorf("%s: client got %v, want %v", c.service, got, c.code)
		}
		p := next(t, e.rpcs)
		if p.ScriptName != checkMethod || p.Status != c.status {
			t.Errorf("%s: packet %q status %d, want %q %d", c.service, p.ScriptName, p.Status, checkMethod, c.status)
		}
	}
	// A method the service does not implement.
	_, err := e.health.List(ctx, &healthpb.HealthListRequest{})
	if c := status.Code(err); c != codes.Unimplemented {
		t.Errorf("List: %v", err)
	}
	if p := next(t, e.rpcs); p.ScriptName != listMethod || p.Status != 501 {
		t.Errorf("List: packet %q status %d", p.ScriptName, p.Status)
	}
	if n := len(e.rpcs.Take()); n != 0 {
		t.Errorf("%d packets more than RPCs", n)
	}
	if s := e.ps.Stats(); s.Requests != 18 || s.Sent != 18 {
		t.Errorf("stats %+v, want 18 requests sent", s)
	}
}

// The proxy and FromContext(ctx) reach the RPC's request in the handler.
func TestUnaryHandlerTimers(t *testing.T) {
	e := newEnv(t)
	ctx := ctxTimeout(t)
	for range 2 {
		if c := e.check(ctx, "ok"); c != codes.OK {
			t.Fatal(c)
		}
	}
	for range 2 {
		p := next(t, e.rpcs)
		for _, via := range []string{"proxy", "ctx"} {
			tm, ok := p.FindTimer(map[string]string{"group": "handler", "via": via})
			if !ok || tm.HitCount != 1 {
				t.Errorf("timer via %s: %v (found %v) in %v", via, tm, ok, p.Timers)
			}
		}
		if len(p.Timers) != 2 {
			t.Errorf("timers %v, want the handler's two", p.Timers)
		}
	}
}

// A streaming RPC is one packet too; the wrapped stream's Context carries
// the request.
func TestStream(t *testing.T) {
	e := newEnv(t)
	ctx := ctxTimeout(t)
	if n, c := e.watch(ctx, "ok"); n != 3 || c != codes.OK {
		t.Fatalf("watch: %d answers, %v", n, c)
	}
	p := next(t, e.rpcs)
	if p.ScriptName != watchMethod || p.Status != 200 {
		t.Errorf("packet %q status %d", p.ScriptName, p.Status)
	}
	if tm, ok := p.FindTimer(map[string]string{"via": "proxy"}); !ok || tm.HitCount != 3 {
		t.Errorf("proxy timer %v in %v", tm, p.Timers)
	}
	if tm, ok := p.FindTimer(map[string]string{"via": "ctx"}); !ok || tm.HitCount != 1 {
		t.Errorf("context timer %v in %v", tm, p.Timers)
	}

	for _, c := range []struct {
		service string
		code    codes.Code
		status  uint32
	}{{"code:NotFound", codes.NotFound, 404}, {"code:ResourceExhausted", codes.ResourceExhausted, 429}, {"plain", codes.Unknown, 500}} {
		if n, code := e.watch(ctx, c.service); n != 3 || code != c.code {
			t.Errorf("%s: %d answers, %v", c.service, n, code)
		}
		if p := next(t, e.rpcs); p.ScriptName != watchMethod || p.Status != c.status {
			t.Errorf("%s: packet %q status %d, want %d", c.service, p.ScriptName, p.Status, c.status)
		}
	}

	// Client streaming, on a service registered by hand.
	if n, err := e.add(ctx, 5); err != nil || n != 5 {
		t.Fatalf("add: %d, %v", n, err)
	}
	p = next(t, e.rpcs)
	if p.ScriptName != addMethod || p.Status != 200 {
		t.Errorf("add: packet %q status %d", p.ScriptName, p.Status)
	}
	if _, ok := p.FindTimer(map[string]string{"via": "proxy"}); !ok {
		t.Errorf("add: timers %v", p.Timers)
	}
}

// A call made in a handler is a timer of the handler's RPC, which gets its
// own packet besides the called RPC's.
func TestNestedCall(t *testing.T) {
	e := newEnv(t)
	if c := e.check(ctxTimeout(t), "call"); c != codes.OK {
		t.Fatal(c)
	}
	// The inner RPC ends first.
	inner, outer := next(t, e.rpcs), next(t, e.rpcs)
	if _, ok := inner.FindTimer(map[string]string{"via": "proxy"}); !ok {
		t.Errorf("inner RPC: timers %v", inner.Timers)
	}
	if tm := grpcTimer(t, outer, e, checkMethod, "OK"); tm.HitCount != 1 {
		t.Errorf("outer RPC: %v", tm)
	}
	if len(outer.Timers) != 1 {
		t.Errorf("outer RPC: timers %v, want only the call", outer.Timers)
	}
}

// A handler's panic sends its packet with status 500 and goes on, to the
// recovery interceptor outside.
func TestPanic(t *testing.T) {
	e := newEnv(t)
	if c := e.check(ctxTimeout(t), "panic"); c != codes.Internal {
		t.Errorf("client got %v", c)
	}
	if p := next(t, e.rpcs); p.ScriptName != checkMethod || p.Status != 500 {
		t.Errorf("packet %q status %d", p.ScriptName, p.Status)
	}
}

// After Close the interceptors still serve every RPC; nothing is sent.
func TestClosedServer(t *testing.T) {
	e := newEnv(t)
	if err := e.ps.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t)
	if c := e.check(ctx, "code:NotFound"); c != codes.NotFound {
		t.Errorf("check: %v", c)
	}
	if n, c := e.watch(ctx, "ok"); n != 3 || c != codes.OK {
		t.Errorf("watch: %d, %v", n, c)
	}
	// A packet sent after them by a live Server arrives first: the closed
	// one sent nothing.
	live, err := pynbagrpc.NewServer(e.rpcs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	live.UnaryInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/marker"}, func(context.Context, any) (any, error) { return nil, nil })
	if p := next(t, e.rpcs); p.ScriptName != "/marker" {
		t.Errorf("first packet %q, want the marker", p.ScriptName)
	}
	if s := e.ps.Stats(); s.Requests != 2 || s.Sent != 0 {
		t.Errorf("closed server stats %+v", s)
	}
}

// WithPrefix applies to the method name.
func TestPrefix(t *testing.T) {
	e := newEnv(t, pynba.WithPrefix("shop"), pynba.WithServerName("cart-1"))
	e.check(ctxTimeout(t), "ok")
	p := next(t, e.rpcs)
	if p.ScriptName != "shop"+checkMethod || p.ServerName != "cart-1" {
		t.Errorf("script %q server %q", p.ScriptName, p.ServerName)
	}
}

func TestNewServerErrors(t *testing.T) {
	if s, err := pynbagrpc.NewServer("127.0.0.1:notaport"); err == nil {
		s.Close()
		t.Error("bad server string accepted")
	}
}

func TestHTTPStatus(t *testing.T) {
	want := map[codes.Code]int{
		codes.OK: 200, codes.Canceled: 499, codes.Unknown: 500, codes.InvalidArgument: 400,
		codes.DeadlineExceeded: 504, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.PermissionDenied: 403, codes.ResourceExhausted: 429, codes.FailedPrecondition: 400,
		codes.Aborted: 409, codes.OutOfRange: 400, codes.Unimplemented: 501, codes.Internal: 500,
		codes.Unavailable: 503, codes.DataLoss: 500, codes.Unauthenticated: 401,
		codes.Code(99): 500,
	}
	for c, s := range want {
		if got := pynbagrpc.HTTPStatus(c); got != s {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c, got, s)
		}
	}
}
