package pynba_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
)

// Monitor wraps the main handler; every request sends one packet, with the
// timers started anywhere below it.
func ExampleMonitor() {
	pinba := pinbatest.NewServer() // stands in for a Pinba server
	defer pinba.Close()

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := pynba.Timer(pynba.Tags{"group": "db", "op": "select"}).Start()
		// ... query the database ...
		t.Stop()
		io.WriteString(w, "hello")
	})
	handler := pynba.Monitor(pinba.Addr(), pynba.WithHostname("web-1"))(hello)

	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/hello", nil))

	p, _ := pinba.Next(time.Second)
	fmt.Println(p.Hostname, p.ServerName, p.ScriptName, p.Status, p.DocumentSize)
	for _, t := range p.Timers {
		fmt.Println(t.HitCount, t.Tags)
	}
	// Output:
	// web-1 example.com /hello 200 5
	// 1 [{group db} {op select}]
}

// Timers with the same tags are sent as one timer, hits summed.
func ExampleTimer() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()
	mw, _ := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cache := pynba.Tags{"group": "cache"}
		for range 3 {
			pynba.Timer(cache).Start().Stop()
		}
		pynba.AddTimer(pynba.Tags{"group": "remote"}, 1500*time.Millisecond)
	}), pinba.Addr())
	defer mw.Close()

	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	p, _ := pinba.Next(time.Second)
	for _, t := range p.Timers {
		fmt.Println(t.Tags.Get("group"), t.HitCount)
	}
	fmt.Println(p.Timers[1].Value)
	// Output:
	// cache 3
	// remote 1
	// 1.5
}

// Outside a request the proxy is harmless: timers are detached.
func ExampleTime() {
	pynba.Time(pynba.Tags{"step": "warm-up"}, func() {})
	fmt.Println(pynba.Enabled())
	// Output: false
}

func ExampleNewScriptMonitor() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()

	sm, err := pynba.NewScriptMonitor(pinba.Addr(), pynba.WithTags(pynba.Tags{"job": "import"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	pynba.SetScriptName("import")
	pynba.Time(pynba.Tags{"step": "load"}, func() {})
	sm.Close() // sends

	p, _ := pinba.Next(time.Second)
	fmt.Println(p.ScriptName, p.Tags.Get("job"), p.Timers[0].Tags.Get("step"))
	// Output: import import load
}

func ExampleFlatten() {
	pairs, err := pynba.Flatten(pynba.Tags{
		"foo": "bar",
		"baz": []string{"seq1", "seq2"},
		"qux": map[string]any{"map1": "val1", "deep": map[string]int{"n": 1}},
	})
	fmt.Println(pairs, err)
	// Output: [{baz seq1} {baz seq2} {foo bar} {qux.deep.n 1} {qux.map1 val1}] <nil>
}

// FromContext gives code that passes contexts the same request as the
// proxy: here a goroutine the handler starts with a plain go statement,
// where the proxy finds no request.
func ExampleFromContext() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()
	mw, _ := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func(ctx context.Context) {
			defer close(done)
			pynba.FromContext(ctx).Time(pynba.Tags{"group": "render"}, func() {})
		}(r.Context())
		<-done
	}), pinba.Addr())
	defer mw.Close()

	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/page", nil))

	p, _ := pinba.Next(time.Second)
	fmt.Println(p.ScriptName, p.Timers[0].Tags)
	// Output:
	// /page [{group render}]
}

// Go starts a goroutine bound to the current request: the proxy works in
// it, and its timers land in that request.
func ExampleGo() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()
	mw, _ := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		for _, shard := range []string{"a", "b"} {
			wg.Add(1)
			pynba.Go(func() {
				defer wg.Done()
				pynba.Timer(pynba.Tags{"group": "db", "shard": shard}).Start().Stop()
			})
		}
		wg.Wait()
	}), pinba.Addr())
	defer mw.Close()

	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fan-out", nil))

	p, _ := pinba.Next(time.Second)
	shards := []string{}
	for _, t := range p.Timers {
		shards = append(shards, t.Tags.Get("shard"))
	}
	slices.Sort(shards)
	fmt.Println(p.ScriptName, shards)
	// Output:
	// /fan-out [a b]
}

// By default a request is named by the http.ServeMux route it matched;
// WithScriptName names it otherwise, here by the route's first path
// segment.
func ExampleWithScriptName() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	section := func(r *http.Request) string {
		if r.Pattern == "" {
			return "" // the default: pynba.NoRouteScriptName
		}
		return strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	}
	mw, _ := pynba.NewMiddleware(mux, pinba.Addr(), pynba.WithScriptName(section))
	defer mw.Close()

	for _, path := range []string{"/api/items/1", "/api/items/2", "/wp-login.php"} {
		mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}

	ps, _ := pinba.Wait(3, time.Second)
	for _, p := range ps {
		fmt.Println(p.ScriptName, p.Status)
	}
	// Output:
	// api 200
	// api 200
	// (no route) 404
}

// A Runner monitors work that is not an HTTP request: each Run is one
// Pinba request, and the proxy works inside it.
func ExampleNewRunner() {
	pinba := pinbatest.NewServer()
	defer pinba.Close()
	jobs, _ := pynba.NewRunner(pinba.Addr(), pynba.WithPrefix("queue:"))
	defer jobs.Close()

	for _, msg := range []string{"ok", "bad"} {
		jobs.Run(context.Background(), "orders", func(ctx context.Context) error {
			pynba.Time(pynba.Tags{"group": "db"}, func() {})
			if msg == "bad" {
				return errors.New("cannot decode the order")
			}
			return nil
		})
	}

	ps, _ := pinba.Wait(2, time.Second)
	for _, p := range ps {
		fmt.Println(p.ScriptName, p.Status, p.Timers[0].Tags)
	}
	// Output:
	// queue:orders 200 [{group db}]
	// queue:orders 500 [{group db}]
}
