package pynbagin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pynba-go/pynba"
	pynbagin "github.com/pynba-go/pynba/contrib/gin"
	"github.com/pynba-go/pynba/internal/routertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

const noRoute = pynba.NoRouteScriptName

func newEngine() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(pynbagin.Middleware())
	e.GET("/items/:id", func(c *gin.Context) { c.String(200, c.Param("id")) })
	e.POST("/items", func(c *gin.Context) { c.Status(http.StatusCreated) })
	api := e.Group("/api")
	api.GET("/users/:user/orders/:order", func(c *gin.Context) { c.Status(200) })
	e.GET("/static/*file", func(c *gin.Context) { c.Status(200) })
	return e
}

func TestRouteTemplates(t *testing.T) {
	srv, h := routertest.Monitored(t, newEngine())
	const n = 300
	routertest.CheckNames(t, h, srv, routertest.TemplateRequests(n, routertest.Request{Method: "GET", Target: "/static/css/site.css", Status: 200}), map[string]int{
		"GET /items/:id":                     n,
		"POST /items":                        1,
		"GET /api/users/:user/orders/:order": 1,
		"GET /static/*file":                  1,
	})
}

func TestNoRoute(t *testing.T) {
	srv, h := routertest.Monitored(t, newEngine())
	routertest.CheckNames(t, h, srv, routertest.NoRouteRequests, map[string]int{noRoute: len(routertest.NoRouteRequests)})
}

// gin answers a trailing-slash redirect before any middleware runs: with
// the WithScriptName the package doc gives, it too is named NoRoute.
func TestRedirectNamedNoRoute(t *testing.T) {
	srv, h := routertest.Monitored(t, newEngine(),
		pynba.WithScriptName(func(*http.Request) string { return noRoute }))
	routertest.Do(h, "GET", "/items/1/")
	routertest.Do(h, "GET", "/items/2/")
	routertest.Do(h, "GET", "/items/3")
	pkts, err := srv.Wait(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{noRoute, noRoute, "GET /items/:id"} {
		if got := pkts[i].ScriptName; got != want {
			t.Errorf("packet %d: script %q, want %q", i, got, want)
		}
	}
	if pkts[0].Status != http.StatusMovedPermanently {
		t.Errorf("redirect status %d", pkts[0].Status)
	}
}

func TestPrefixAndHandlerName(t *testing.T) {
	e := gin.New()
	e.Use(pynbagin.Middleware())
	e.GET("/a/:x", func(c *gin.Context) {})
	e.GET("/b/:x", func(c *gin.Context) { pynba.SetScriptName("custom") })
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
	e := gin.New()
	e.Use(pynbagin.Middleware())
	e.GET("/jobs/:id", func(c *gin.Context) { o.Work(c.Request.Context(), c.Param("id")) })
	srv, h := routertest.Monitored(t, e)
	o.Check(t, h, srv, func(id string) string { return "/jobs/" + id }, "GET /jobs/:id")
}

func plainEngine() *gin.Engine {
	e := gin.New()
	e.GET("/api/users/:user/orders/:order", func(c *gin.Context) { c.Status(200) })
	return e
}

// The plain engine: the baseline.
func BenchmarkEngine(b *testing.B) { routertest.Serve(b, plainEngine(), "/api/users/7/orders/99") }

// The engine under pynba's Middleware, named by URL path: the core's cost.
func BenchmarkMonitorPath(b *testing.B) {
	routertest.ServeMonitored(b, plainEngine(), "/api/users/7/orders/99")
}

// The engine with pynbagin.Middleware under pynba's Middleware: the cost
// this package adds is the difference with BenchmarkMonitorPath.
func BenchmarkMonitorMiddleware(b *testing.B) {
	e := gin.New()
	e.Use(pynbagin.Middleware())
	e.GET("/api/users/:user/orders/:order", func(c *gin.Context) { c.Status(200) })
	routertest.ServeMonitored(b, e, "/api/users/7/orders/99")
}
