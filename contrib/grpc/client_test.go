package pynbagrpc_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// A unary call in a request is a timer of that request, tagged with the
// method, the target and the code.
func TestClientUnary(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(ctx context.Context) {
		for _, s := range []string{"ok", "ok", "code:NotFound", "code:Unavailable"} {
			e.check(ctx, s)
		}
	})
	if tm := grpcTimer(t, p, e, checkMethod, "OK"); tm.HitCount != 2 || tm.Value <= 0 {
		t.Errorf("OK timer %v", tm)
	}
	grpcTimer(t, p, e, checkMethod, "NotFound")
	grpcTimer(t, p, e, checkMethod, "Unavailable")
	if len(p.Timers) != 3 {
		t.Errorf("timers %v, want 3", p.Timers)
	}
}

// The request is found through the goroutine when the call's context does
// not carry it.
func TestClientProxy(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(context.Context) {
		e.check(ctxTimeout(t), "code:PermissionDenied")
	})
	grpcTimer(t, p, e, checkMethod, "PermissionDenied")
}

// A streaming call's timer ends with the stream, with the code it ended
// with.
func TestClientStream(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(ctx context.Context) {
		if n, c := e.watch(ctx, "ok"); n != 3 || c != codes.OK {
			t.Errorf("watch: %d, %v", n, c)
		}
		if n, c := e.watch(ctx, "code:Aborted"); n != 3 || c != codes.Aborted {
			t.Errorf("watch: %d, %v", n, c)
		}
		if n, err := e.add(ctx, 4); n != 4 || err != nil {
			t.Errorf("add: %d, %v", n, err)
		}
		// Canceled before its end: the stream's next receive fails.
		cctx, cancel := context.WithCancel(ctx)
		stream, err := e.health.Watch(cctx, &healthpb.HealthCheckRequest{Service: "hold"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Errorf("canceled stream: %v", err)
		}
	})
	if tm := grpcTimer(t, p, e, watchMethod, "OK"); tm.HitCount != 1 {
		t.Errorf("watch OK: %v", tm)
	}
	grpcTimer(t, p, e, watchMethod, "Aborted")
	grpcTimer(t, p, e, watchMethod, "Canceled")
	if tm := grpcTimer(t, p, e, addMethod, "OK"); tm.HitCount != 1 {
		t.Errorf("add: %v", tm)
	}
	if len(p.Timers) != 4 {
		t.Errorf("timers %v, want 4", p.Timers)
	}
	// The server saw the same four ends, the canceled one as 499.
	var got []string
	for range 4 {
		q := next(t, e.rpcs)
		got = append(got, fmt.Sprint(q.ScriptName, " ", q.Status))
	}
	slices.Sort(got)
	want := []string{watchMethod + " 200", watchMethod + " 409", watchMethod + " 499", addMethod + " 200"}
	if !slices.Equal(got, want) {
		t.Errorf("server packets %q, want %q", got, want)
	}
}

// Calls in a pynba.Go child land in the parent request.
func TestClientGoChild(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(ctx context.Context) {
		done := make(chan struct{})
		pynba.Go(func() {
			defer close(done)
			e.check(ctxTimeout(t), "code:NotFound")
			e.watch(ctxTimeout(t), "ok")
		})
		<-done
	})
	grpcTimer(t, p, e, checkMethod, "NotFound")
	grpcTimer(t, p, e, watchMethod, "OK")
}

// Calls outside any request send nothing and land in no request, even
// while one runs in another goroutine.
func TestClientOutsideRequest(t *testing.T) {
	e := newEnv(t)
	e.check(ctxTimeout(t), "ok")
	e.watch(ctxTimeout(t), "ok")
	p := e.call(t, func(context.Context) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.check(ctxTimeout(t), "ok")
			e.add(ctxTimeout(t), 1)
		}()
		<-done
	})
	if p.ScriptName != "caller" || len(p.Timers) != 0 {
		t.Errorf("caller packet %q timers %v, want no timer", p.ScriptName, p.Timers)
	}
	if n := e.callers.Received(); n != 1 {
		t.Errorf("callers received %d packets, want only the caller's", n)
	}
}

// A stream that cannot start is timed too, with the code of its failure.
func TestClientStreamNotStarted(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(ctx context.Context) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.health.Watch(cctx, &healthpb.HealthCheckRequest{Service: "ok"}); status.Code(err) != codes.Canceled {
			t.Errorf("watch with a canceled context: %v", err)
		}
	})
	if tm := grpcTimer(t, p, e, watchMethod, "Canceled"); tm.HitCount != 1 {
		t.Errorf("timer %v", tm)
	}
}

// A stream canceled while it waits for headers ends when RecvMsg says so
// (grpc-go's Header reports no error), and a SendMsg failure ends the
// timer; each is timed once.
func TestClientStreamFailures(t *testing.T) {
	e := newEnv(t)
	p := e.call(t, func(ctx context.Context) {
		// Canceled while waiting for headers the server never sends.
		cctx, cancel := context.WithCancel(ctx)
		stream, err := e.health.Watch(cctx, &healthpb.HealthCheckRequest{Service: "silent"})
		if err != nil {
			t.Fatal(err)
		}
		stop := time.AfterFunc(20*time.Millisecond, cancel)
		defer stop.Stop()
		if _, err := stream.Header(); err != nil {
			t.Errorf("header: %v", err)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Errorf("recv: %v", err)
		}

		add, err := e.conn.NewStream(ctx, addStreamDesc, addMethod)
		if err != nil {
			t.Fatal(err)
		}
		if err := add.SendMsg("not a protobuf message"); status.Code(err) != codes.Internal {
			t.Errorf("send: %v", err)
		}
	})
	if tm := grpcTimer(t, p, e, watchMethod, "Canceled"); tm.HitCount != 1 {
		t.Errorf("canceled stream: %v", tm)
	}
	if tm := grpcTimer(t, p, e, addMethod, "Internal"); tm.HitCount != 1 {
		t.Errorf("send failure: %v", tm)
	}
	if len(p.Timers) != 2 {
		t.Errorf("timers %v, want 2", p.Timers)
	}
}
