package pynbagrpc_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/pynba-go/pynba"
	pynbagrpc "github.com/pynba-go/pynba/contrib/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The benchmarks compare each monitored call with the unmonitored one in
// the same run. "Call" benchmarks make real RPCs over loopback; the
// "Interceptor" ones call the interceptor with a handler or invoker that
// does nothing, so that what is measured is the interceptor alone (the
// server's includes building and sending one UDP packet per RPC).
//
// Packets go to a UDP sink on 127.0.0.1 that reads and discards them.
// "inside" client calls run in a Pinba request (a ScriptMonitor), sent off
// the clock every 1000 calls.

// sink reads and discards datagrams on a loopback port until the
// benchmark ends.
func sink(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func benchServer(b *testing.B, opts ...grpc.ServerOption) string {
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, &testHealth{})
	return serve(b, srv)
}

func benchMonitor(b *testing.B) *pynba.ScriptMonitor {
	sm, err := pynba.NewScriptMonitor(sink(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sm.Close() })
	return sm
}

// every1000 sends sm's measurement off the clock every 1000 iterations.
func every1000(b *testing.B, sm *pynba.ScriptMonitor, i int) {
	if sm != nil && i%1000 == 999 {
		b.StopTimer()
		sm.Send()
		b.StartTimer()
	}
}

func checks(b *testing.B, conn *grpc.ClientConn, sm *pynba.ScriptMonitor) {
	client := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	req := &healthpb.HealthCheckRequest{Service: "fast"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := client.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
		every1000(b, sm, i)
	}
}

func BenchmarkCallServer(b *testing.B) {
	b.Run("unmonitored", func(b *testing.B) {
		checks(b, dial(b, benchServer(b)), nil)
	})
	b.Run("monitored", func(b *testing.B) {
		ps, err := pynbagrpc.NewServer(sink(b))
		if err != nil {
			b.Fatal(err)
		}
		defer ps.Close()
		addr := benchServer(b, grpc.UnaryInterceptor(ps.UnaryInterceptor()))
		checks(b, dial(b, addr), nil)
	})
}

func BenchmarkCallClient(b *testing.B) {
	addr := benchServer(b)
	intercepted := func(b *testing.B) *grpc.ClientConn {
		return dial(b, addr, grpc.WithUnaryInterceptor(pynbagrpc.UnaryClientInterceptor()))
	}
	b.Run("unwrapped", func(b *testing.B) { checks(b, dial(b, addr), nil) })
	b.Run("outside", func(b *testing.B) { checks(b, intercepted(b), nil) })
	b.Run("inside", func(b *testing.B) { checks(b, intercepted(b), benchMonitor(b)) })
}

func BenchmarkInterceptorServer(b *testing.B) {
	ctx := context.Background()
	info := &grpc.UnaryServerInfo{FullMethod: checkMethod}
	handler := func(ctx context.Context, req any) (any, error) { return req, nil }
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handler(ctx, nil)
		}
	})
	run := func(b *testing.B, opts ...pynba.Option) {
		ps, err := pynbagrpc.NewServer(sink(b), opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer ps.Close()
		in := ps.UnaryInterceptor()
		b.ReportAllocs()
		for b.Loop() {
			in(ctx, nil, info, handler)
		}
	}
	// The packet written to the socket in the RPC's goroutine.
	b.Run("unary", func(b *testing.B) { run(b) })
	// The packet queued, written by the reporter's goroutine.
	b.Run("unary/async", func(b *testing.B) { run(b, pynba.WithAsync(4096)) })
}

func BenchmarkInterceptorClient(b *testing.B) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	in := pynbagrpc.UnaryClientInterceptor()
	run := func(b *testing.B, sm *pynba.ScriptMonitor, call func()) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			call()
			every1000(b, sm, i)
		}
	}
	b.Run("invoker", func(b *testing.B) {
		run(b, nil, func() { invoker(ctx, checkMethod, nil, nil, conn) })
	})
	b.Run("outside", func(b *testing.B) {
		run(b, nil, func() { in(ctx, checkMethod, nil, nil, conn, invoker) })
	})
	b.Run("inside", func(b *testing.B) {
		run(b, benchMonitor(b), func() { in(ctx, checkMethod, nil, nil, conn, invoker) })
	})
}
