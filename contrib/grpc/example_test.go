package pynbagrpc_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pynba-go/pynba"
	pynbagrpc "github.com/pynba-go/pynba/contrib/grpc"
	"github.com/pynba-go/pynba/pinbatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Each RPC a monitored grpc.Server serves sends one packet, named by its
// method, with a status mapped from its code.
func ExampleNewServer() {
	pinba := pinbatest.NewServer() // stands in for a Pinba server
	defer pinba.Close()

	ps, err := pynbagrpc.NewServer(pinba.Addr(), pynba.WithPrefix("cart"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Close()
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(ps.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(ps.StreamInterceptor()),
	)
	hs := health.NewServer()
	hs.SetServingStatus("stock", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	defer func() { srv.Stop(); <-done }()

	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "stock"})
	client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "billing"}) // NotFound

	for range 2 {
		p, _ := pinba.Next(time.Second)
		fmt.Println(p.ScriptName, p.Status)
	}
	// Output:
	// cart/grpc.health.v1.Health/Check 200
	// cart/grpc.health.v1.Health/Check 404
}

// The client interceptors time each outgoing RPC in the current request,
// here a job run by a pynba.Runner.
func ExampleUnaryClientInterceptor() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()

	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	defer func() { srv.Stop(); <-done }()

	conn, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(pynbagrpc.UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(pynbagrpc.StreamClientInterceptor()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	jobs, err := pynba.NewRunner(pinba.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jobs.Close()
	jobs.Run(context.Background(), "refresh", func(ctx context.Context) error {
		for range 3 {
			client.Check(ctx, &healthpb.HealthCheckRequest{}) // "" is the server's overall health
		}
		client.Check(ctx, &healthpb.HealthCheckRequest{Service: "billing"})
		return nil
	})

	p, _ := pinba.Next(time.Second)
	fmt.Println(p.ScriptName)
	for _, t := range p.Timers {
		fmt.Println(t.HitCount, t.Tags.Get("group"), t.Tags.Get("method"), t.Tags.Get("code"),
			t.Tags.Get("server") == l.Addr().String())
	}
	// Output:
	// refresh
	// 3 grpc /grpc.health.v1.Health/Check OK true
	// 1 grpc /grpc.health.v1.Health/Check NotFound true
}
