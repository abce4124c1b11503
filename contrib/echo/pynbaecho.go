// Package pynbaecho names Pinba requests after the
// github.com/labstack/echo/v4 route they matched, so that Pinba's reports
// have one row per route instead of one per URL.
//
// Monitor the Echo instance with pynba.Monitor, as any handler, and add this
// package's Middleware with e.Use:
//
//	e := echo.New()
//	e.Use(pynbaecho.Middleware())
//	e.GET("/items/:id", getItem)
//	http.ListenAndServe(":8080", pynba.Monitor("127.0.0.1:30002")(e))
//
// A request for /items/42 is then named "GET /items/:id": the method, as
// net/http.ServeMux patterns have it, and the route as echo writes it
// (c.Path). Requests no route matched (404) and those whose method the
// route does not allow (405) are monitored too, with their status, under
// pynba.NoRouteScriptName: echo runs the e.Use middlewares for them. A
// request answered by a RouteNotFound handler is one no route matched.
//
// pynba.Monitor measures the whole request and reads the status and size
// written, also when echo's HTTPErrorHandler writes them after the
// middlewares have returned. Middleware only names the request, before the
// handlers run, so a handler that calls pynba.SetScriptName has the last
// word, and pynba.WithPrefix applies. The handlers reach the request
// through the package-level proxy (pynba.Timer, pynba.SetTag) or
// pynba.FromContext(c.Request().Context()).
//
// Register Middleware with e.Use, not e.Pre: Pre middlewares run before
// routing, when no route is known yet.
package pynbaecho

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pynba-go/pynba"
)

// Middleware returns an echo middleware that names the request a
// pynba.Monitor around the Echo instance started: "METHOD path" for a
// request that matched a route, pynba.NoRouteScriptName for one that did
// not. Outside a monitored request it does nothing.
//
// Which method and path are routes is read from the Echo instance's routes
// (those of its host routers included) on first use, and again, at most
// once a second, when a request's method and path are not among them, so
// that routes added while serving are seen.
func Middleware() echo.MiddlewareFunc {
	t := &table{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			pynba.FromContext(req.Context()).SetScriptName(t.name(c.Echo(), req.Method, c.Path()))
			return next(c)
		}
	}
}

// refresh is how long a table of routes is trusted to say that a method
// and path are no route.
const refresh = time.Second

type nameKey struct{ method, path string }

// routes is the script name of every method and path echo routes, read at
// one time; it is replaced, never changed, so reads take no lock.
type routes struct {
	e     *echo.Echo
	names map[nameKey]string
	read  time.Time
}

type table struct {
	mu sync.Mutex
	rs atomic.Pointer[routes]
}

func (t *table) name(e *echo.Echo, method, path string) string {
	if path == "" {
		return pynba.NoRouteScriptName
	}
	k := nameKey{method, path}
	rs := t.rs.Load()
	if rs != nil && rs.e == e {
		if s, ok := rs.names[k]; ok {
			return s
		}
		if time.Since(rs.read) < refresh {
			return pynba.NoRouteScriptName
		}
	}
	rs = t.reload(e, rs)
	if s, ok := rs.names[k]; ok {
		return s
	}
	return pynba.NoRouteScriptName
}

// reload reads e's routes again, unless another request just did.
func (t *table) reload(e *echo.Echo, seen *routes) *routes {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rs := t.rs.Load(); rs != seen && rs != nil && rs.e == e {
		return rs
	}
	rs := &routes{e: e, names: map[nameKey]string{}, read: time.Now()}
	add := func(list []*echo.Route) {
		for _, r := range list {
			if r.Method == echo.RouteNotFound {
				continue
			}
			k := nameKey{r.Method, r.Path}
			if _, ok := rs.names[k]; !ok {
				rs.names[k] = r.Method + " " + r.Path
			}
		}
	}
	add(e.Routes())
	for _, r := range e.Routers() {
		add(r.Routes())
	}
	t.rs.Store(rs)
	return rs
}
