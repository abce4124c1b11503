package pynbaecho_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pynba-go/pynba"
	pynbaecho "github.com/pynba-go/pynba/contrib/echo"
	"github.com/pynba-go/pynba/internal/routertest"
	"github.com/pynba-go/pynba/pinbatest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const noRoute = pynba.NoRouteScriptName

// monitored wraps h with a pynba Middleware sending to a pinbatest server.
func monitored(t testing.TB, h http.Handler, opts ...pynba.Option) (*pinbatest.Server, http.Handler) {
	t.Helper()
	srv := pinbatest.NewServer()
	m, err := pynba.NewMiddleware(h, srv.Addr(), opts...)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		srv.Close()
	})
	return srv, m
}

func serve(h http.Handler, method, target string) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Code
}

func newEngine() *echo.Echo {
	e := echo.New()
	e.Use(pynbaecho.Middleware())
	e.GET("/items/:id", func(c echo.Context) error { return c.String(200, c.Param("id")) })
	e.POST("/items", func(c echo.Context) error { return c.NoContent(http.StatusCreated) })
	// A group with a middleware of its own: echo adds RouteNotFound routes for it.
	api := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	api.GET("/users/:user/orders/:order", func(c echo.Context) error { return c.NoContent(200) })
	e.GET("/static/*", func(c echo.Context) error { return c.NoContent(200) })
	return e
}

func TestRouteTemplates(t *testing.T) {
	srv, h := monitored(t, newEngine())
	const n = 300
	for i := range n {
		if code := serve(h, "GET", fmt.Sprintf("/items/%d", i)); code != 200 {
			t.Fatalf("GET /items/%d: %d", i, code)
		}
	}
	serve(h, "POST", "/items")
	serve(h, "GET", "/api/users/7/orders/99")
	serve(h, "GET", "/static/css/site.css")
	pkts, err := srv.Wait(n+3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, p := range pkts {
		names[p.ScriptName]++
	}
	want := map[string]int{
		"GET /items/:id":                     n,
		"POST /items":                        1,
		"GET /api/users/:user/orders/:order": 1,
		"GET /static/*":                      1,
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("script names %v, want %v", names, want)
	}
	if pkts[n].Status != http.StatusCreated {
		t.Errorf("POST /items status %d", pkts[n].Status)
	}
}

func TestNoRoute(t *testing.T) {
	srv, h := monitored(t, newEngine())
	cases := []struct {
		method, target string
		status         int
	}{
		{"GET", "/nowhere/1", 404},
		{"GET", "/nowhere/2", 404},
		{"GET", "/api/nowhere", 404},
		{"DELETE", "/items/1", 405},
		{"PUT", "/items", 405},
	}
	for _, c := range cases {
		if code := serve(h, c.method, c.target); code != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.target, code, c.status)
		}
	}
	pkts, err := srv.Wait(len(cases), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if p := pkts[i]; p.ScriptName != noRoute || p.Status != uint32(c.status) {
			t.Errorf("%s %s: script %q status %d, want %q %d", c.method, c.target, p.ScriptName, p.Status, noRoute, c.status)
		}
	}
}

// A RouteNotFound handler answers for no route; a matched route whose
// handler returns echo.ErrNotFound keeps its route name, with status 404
// written by the HTTPErrorHandler after the middlewares returned.
func TestRouteNotFoundAndHandlerError(t *testing.T) {
	e := newEngine()
	e.RouteNotFound("/*", func(c echo.Context) error { return c.NoContent(404) })
	e.GET("/users/:id", func(c echo.Context) error { return echo.ErrNotFound })
	srv, h := monitored(t, e)
	serve(h, "GET", "/nowhere/1")
	serve(h, "GET", "/users/1")
	pkts, err := srv.Wait(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{noRoute, "GET /users/:id"} {
		if p := pkts[i]; p.ScriptName != want || p.Status != 404 {
			t.Errorf("packet %d: script %q status %d, want %q 404", i, p.ScriptName, p.Status, want)
		}
	}
}

// A route added while serving is named after it within the refresh time.
func TestRouteAddedLater(t *testing.T) {
	e := newEngine()
	srv, h := monitored(t, e)
	serve(h, "GET", "/items/1") // reads the routes
	e.GET("/late/:x", func(c echo.Context) error { return nil })
	deadline := time.Now().Add(5 * time.Second)
	for {
		serve(h, "GET", "/late/1")
		p, err := srv.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if p.ScriptName == "GET /late/:x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("late route still named %q", p.ScriptName)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPrefixAndHandlerName(t *testing.T) {
	e := echo.New()
	e.Use(pynbaecho.Middleware())
	e.GET("/a/:x", func(c echo.Context) error { return nil })
	e.GET("/b/:x", func(c echo.Context) error { pynba.SetScriptName("custom"); return nil })
	srv, h := monitored(t, e, pynba.WithPrefix("shop:"))
	serve(h, "GET", "/a/1")
	serve(h, "GET", "/b/1")
	serve(h, "GET", "/c")
	pkts, err := srv.Wait(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// SetScriptName applies the prefix (the core's rule); the handler's name wins.
	for i, want := range []string{"shop:GET /a/:x", "shop:custom", "shop:" + noRoute} {
		if got := pkts[i].ScriptName; got != want {
			t.Errorf("packet %d: script %q, want %q", i, got, want)
		}
	}
}

// Outside a monitored request the middleware does nothing harmful.
func TestUnmonitored(t *testing.T) {
	if code := serve(newEngine(), "GET", "/items/1"); code != 200 {
		t.Fatalf("status %d", code)
	}
}

// Two requests run at once, each starting timers through the proxy and
// through FromContext: each packet holds its own timers only.
func TestTimersLandInTheirRequest(t *testing.T) {
	o := routertest.NewOverlap()
	e := echo.New()
	e.Use(pynbaecho.Middleware())
	e.GET("/jobs/:id", func(c echo.Context) error { o.Work(c.Request().Context(), c.Param("id")); return nil })
	srv, h := monitored(t, e)
	o.Check(t, h, srv, func(id string) string { return "/jobs/" + id }, "GET /jobs/:id")
}

func plainEngine() *echo.Echo {
	e := echo.New()
	e.GET("/api/users/:user/orders/:order", func(c echo.Context) error { return c.NoContent(200) })
	return e
}

// The plain Echo instance: the baseline.
func BenchmarkEcho(b *testing.B) { routertest.Serve(b, plainEngine(), "/api/users/7/orders/99") }

// The Echo instance under pynba's Middleware, named by URL path: the core's cost.
func BenchmarkMonitorPath(b *testing.B) {
	m, err := pynba.NewMiddleware(plainEngine(), routertest.Sink(b))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	routertest.Serve(b, m, "/api/users/7/orders/99")
}

// The Echo instance with pynbaecho.Middleware under pynba's Middleware: the cost
// this package adds is the difference with BenchmarkMonitorPath.
func BenchmarkMonitorMiddleware(b *testing.B) {
	e := echo.New()
	e.Use(pynbaecho.Middleware())
	e.GET("/api/users/:user/orders/:order", func(c echo.Context) error { return c.NoContent(200) })
	m, err := pynba.NewMiddleware(e, routertest.Sink(b))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	routertest.Serve(b, m, "/api/users/7/orders/99")
}
