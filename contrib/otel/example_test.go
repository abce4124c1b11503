package pynbaotel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pynba-go/pynba"
	pynbaotel "github.com/pynba-go/pynba/contrib/otel"
	"github.com/pynba-go/pynba/pinbatest"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Spans that start and end inside a monitored request become timers of that
// request, tagged with their name and the attributes chosen.
func ExampleNewSpanProcessor() {
	pinba := pinbatest.NewServer() // stands in for a Pinba server on 127.0.0.1
	defer pinba.Close()

	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(
		pynbaotel.NewSpanProcessor(pynbaotel.WithAttributes("db.system")),
	))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("shop")

	cart := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 2 {
			_, span := tracer.Start(r.Context(), "SELECT carts",
				trace.WithAttributes(attribute.String("db.system", "postgresql")))
			// ... query the database ...
			span.End()
		}
		done := make(chan struct{})
		pynba.Go(func() { // a goroutine bound to the request: no context needed
			defer close(done)
			_, span := tracer.Start(context.Background(), "render")
			span.End()
		})
		<-done
	})
	mw, err := pynba.NewMiddleware(cart, pinba.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mw.Close()

	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/cart", nil))

	p, _ := pinba.Next(time.Second)
	for _, t := range p.Timers {
		fmt.Println(t.HitCount, t.Tags)
	}
	// Output:
	// 2 [{db.system postgresql} {group otel} {span SELECT carts}]
	// 1 [{group otel} {span render}]
}
