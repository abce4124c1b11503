package pynbaecho_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pynba-go/pynba"
	pynbaecho "github.com/pynba-go/pynba/contrib/echo"
	"github.com/pynba-go/pynba/internal/routertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const noRoute = pynba.NoRouteScriptName

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
	srv, h := routertest.Monitored(t, newEngine())
	const n = 300
	routertest.CheckNames(t, h, srv, routertest.TemplateRequests(n, routertest.Request{Method: "GET", Target: "/static/css/site.css", Status: 200}), map[string]int{
		"GET /items/:id":                     n,
		"POST /items":                        1,
		"GET /api/users/:user/orders/:order": 1,
		"GET /static/*":                      1,
	})
}

func TestNoRoute(t *testing.T) {
	srv, h := routertest.Monitored(t, newEngine())
	routertest.CheckNames(t, h, srv, routertest.NoRouteRequests, map[string]int{noRoute: len(routertest.NoRouteRequests)})
}

// A RouteNotFound handler answers for no route; a matched route whose
// handler returns echo.ErrNotFound keeps its route name, with status 404
// written by the HTTPErrorHandler after the middlewares returned.
func TestRouteNotFoundAndHandlerError(t *testing.T) {
	e := newEngine()
	e.RouteNotFound("/*", func(c echo.Context) error { return c.NoContent(404) })
	e.GET("/users/:id", func(c echo.Context) error { return echo.ErrNotFound })
	srv, h := routertest.Monitored(t, e)
	routertest.Do(h, "GET", "/nowhere/1")
	routertest.Do(h, "GET", "/users/1")
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
	srv, h := routertest.Monitored(t, e)
	routertest.Do(h, "GET", "/items/1") // reads the routes
	e.GET("/late/:x", func(c echo.Context) error { return nil })
	deadline := time.Now().Add(5 * time.Second)
	for {
		routertest.Do(h, "GET", "/late/1")
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
	srv, h := routertest.Monitored(t, e, pynba.WithPrefix("shop:"))
	routertest.Do(h, "GET", "/a/1")
	routertest.Do(h, "GET", "/b/1")
	routertest.Do(h, "GET", "/c")
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
	if code := routertest.Do(newEngine(), "GET", "/items/1"); code != 200 {
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
	srv, h := routertest.Monitored(t, e)
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
	routertest.ServeMonitored(b, plainEngine(), "/api/users/7/orders/99")
}

// The Echo instance with pynbaecho.Middleware under pynba's Middleware: the cost
// this package adds is the difference with BenchmarkMonitorPath.
func BenchmarkMonitorMiddleware(b *testing.B) {
	e := echo.New()
	e.Use(pynbaecho.Middleware())
	e.GET("/api/users/:user/orders/:order", func(c echo.Context) error { return c.NoContent(200) })
	routertest.ServeMonitored(b, e, "/api/users/7/orders/99")
}
