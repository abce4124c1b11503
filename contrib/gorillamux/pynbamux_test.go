package pynbamux_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/pynba-go/pynba"
	pynbamux "github.com/pynba-go/pynba/contrib/gorillamux"
	"github.com/pynba-go/pynba/internal/routertest"
	"github.com/pynba-go/pynba/pinbatest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const noRoute = pynba.NoRouteScriptName

// monitored wraps h with a pynba Middleware sending to a pinbatest server,
// naming requests with pynbamux.ScriptName(routes).
func monitored(t testing.TB, routes *mux.Router, h http.Handler, opts ...pynba.Option) (*pinbatest.Server, http.Handler) {
	t.Helper()
	opts = append([]pynba.Option{pynba.WithScriptName(pynbamux.ScriptName(routes))}, opts...)
	return routertest.Monitored(t, h, opts...)
}

func newRouter() *mux.Router {
	r := mux.NewRouter()
	r.HandleFunc("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, mux.Vars(r)["id"])
	}).Methods("GET")
	r.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }).Methods("POST")
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/users/{user}/orders/{order}", func(w http.ResponseWriter, r *http.Request) {}).Methods("GET")
	// A middleware of the router's own: it runs on matched routes only.
	r.Use(func(next http.Handler) http.Handler { return next })
	return r
}

func TestRouteTemplates(t *testing.T) {
	r := newRouter()
	srv, h := monitored(t, r, r)
	const n = 300
	routertest.CheckNames(t, h, srv, routertest.TemplateRequests(n), map[string]int{
		"GET /items/{id}":                      n,
		"POST /items":                          1,
		"GET /api/users/{user}/orders/{order}": 1,
	})
}

func TestNoRoute(t *testing.T) {
	r := newRouter()
	srv, h := monitored(t, r, r)
	routertest.CheckNames(t, h, srv, routertest.NoRouteRequests, map[string]int{noRoute: len(routertest.NoRouteRequests)})
}

func TestPrefixAndHandlerName(t *testing.T) {
	r := mux.NewRouter()
	r.HandleFunc("/a/{x}", func(w http.ResponseWriter, r *http.Request) {}).Methods("GET")
	r.HandleFunc("/b/{x}", func(w http.ResponseWriter, r *http.Request) { pynba.SetScriptName("custom") }).Methods("GET")
	srv, h := monitored(t, r, r, pynba.WithPrefix("shop:"))
	routertest.Do(h, "GET", "/a/1")
	routertest.Do(h, "GET", "/b/1")
	routertest.Do(h, "GET", "/c")
	pkts, err := srv.Wait(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := pkts[0].ScriptName; got != "shop:GET /a/{x}" {
		t.Errorf("prefixed route: %q", got)
	}
	if got := pkts[1].ScriptName; got != "shop:custom" {
		t.Errorf("a handler's SetScriptName: %q", got)
	}
	if got := pkts[2].ScriptName; got != "shop:"+noRoute {
		t.Errorf("prefixed no route: %q", got)
	}
}

// Two requests run at once, each starting timers through the proxy and
// through FromContext: each packet holds its own timers only.
func TestTimersLandInTheirRequest(t *testing.T) {
	o := routertest.NewOverlap()
	r := mux.NewRouter()
	r.HandleFunc("/jobs/{id}", func(w http.ResponseWriter, r *http.Request) { o.Work(r.Context(), mux.Vars(r)["id"]) }).Methods("GET")
	srv, h := monitored(t, r, r)
	o.Check(t, h, srv, func(id string) string { return "/jobs/" + id }, "GET /jobs/{id}")
}

// The plain router: the baseline.
func BenchmarkRouter(b *testing.B) { routertest.Serve(b, newRouter(), "/api/users/7/orders/99") }

// The router under pynba's Middleware, named by URL path: the core's cost.
func BenchmarkMonitorPath(b *testing.B) {
	routertest.ServeMonitored(b, newRouter(), "/api/users/7/orders/99")
}

// The router under pynba's Middleware, named by ScriptName: the cost this
// package adds is the difference with BenchmarkMonitorPath.
func BenchmarkMonitorScriptName(b *testing.B) {
	r := newRouter()
	routertest.ServeMonitored(b, r, "/api/users/7/orders/99", pynba.WithScriptName(pynbamux.ScriptName(r)))
}

// ScriptName alone, on a matched route.
func BenchmarkScriptName(b *testing.B) {
	fn := pynbamux.ScriptName(newRouter())
	req := httptest.NewRequest("GET", "/api/users/7/orders/99", nil)
	b.ReportAllocs()
	for b.Loop() {
		if fn(req) == "" {
			b.Fatal("empty")
		}
	}
}

// The router's own NotFoundHandler and MethodNotAllowedHandler answer, and
// the requests are still named pynba.NoRouteScriptName with their status.
func TestNoRouteCustomHandlers(t *testing.T) {
	r := newRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(405) })
	srv, h := monitored(t, r, r)
	routertest.Do(h, "GET", "/nowhere")
	routertest.Do(h, "PATCH", "/items/3")
	pkts, err := srv.Wait(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, status := range []uint32{404, 405} {
		if p := pkts[i]; p.ScriptName != noRoute || p.Status != status {
			t.Errorf("packet %d: script %q status %d, want %q %d", i, p.ScriptName, p.Status, noRoute, status)
		}
	}
}
