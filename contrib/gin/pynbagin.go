// Package pynbagin names Pinba requests after the github.com/gin-gonic/gin
// route they matched, so that Pinba's reports have one row per route
// instead of one per URL.
//
// Monitor the engine with pynba.Monitor, as any handler, and add this
// package's Middleware to the engine before its routes:
//
//	engine := gin.New()
//	engine.Use(pynbagin.Middleware())
//	engine.GET("/items/:id", getItem)
//	http.ListenAndServe(":8080", pynba.Monitor("127.0.0.1:30002")(engine))
//
// A request for /items/42 is then named "GET /items/:id": the method, as
// net/http.ServeMux patterns have it, and the route as gin writes it
// (c.FullPath). Requests no route matched (404) and, with
// engine.HandleMethodNotAllowed set, those whose method the route does not
// allow (405) are monitored too, with their status, under
// pynba.NoRouteScriptName: gin runs the engine's middlewares for them.
//
// pynba.Monitor measures the whole request and reads the status and size
// the engine wrote; Middleware only names the request, before the handlers
// run, so a handler that calls pynba.SetScriptName has the last word, and
// pynba.WithPrefix applies. The handlers reach the request through the
// package-level proxy (pynba.Timer, pynba.SetTag) or
// pynba.FromContext(c.Request.Context()).
//
// The redirects gin answers before any middleware (RedirectTrailingSlash,
// RedirectFixedPath) are not named by Middleware; give Monitor
// pynba.WithScriptName(func(*http.Request) string { return pynba.NoRouteScriptName })
// to name them pynba.NoRouteScriptName instead of by their path: Monitor
// asks that function only for requests no code named.
package pynbagin

import (
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/pynba-go/pynba"
)

// Middleware returns a gin middleware that names the request a
// pynba.Monitor around the engine started: "METHOD route" for a request
// that matched a route, pynba.NoRouteScriptName for one that did not.
// Register it with engine.Use before the routes. Outside a monitored
// request it does nothing.
func Middleware() gin.HandlerFunc {
	ns := &names{}
	return func(c *gin.Context) {
		name := pynba.NoRouteScriptName
		if route := c.FullPath(); route != "" {
			name = ns.get(c.Request.Method, route)
		}
		pynba.FromContext(c.Request.Context()).SetScriptName(name)
		c.Next()
	}
}

// maxNames bounds the names kept: routes are few, but a route that takes
// every method (engine.Any) can be asked with any method string.
const maxNames = 1024

type nameKey struct{ method, route string }

// names keeps the script name of each method and route seen, so that
// naming a request allocates nothing once its route has been named. Reads
// take no lock: the map is replaced, never changed.
type names struct {
	mu sync.Mutex
	m  atomic.Pointer[map[nameKey]string]
}

func (ns *names) get(method, route string) string {
	k := nameKey{method, route}
	old := ns.m.Load()
	if old != nil {
		if s, ok := (*old)[k]; ok {
			return s
		}
	}
	s := method + " " + route
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old = ns.m.Load()
	size := 0
	if old != nil {
		size = len(*old)
	}
	if size >= maxNames {
		return s
	}
	next := make(map[nameKey]string, size+1)
	if old != nil {
		for key, v := range *old {
			next[key] = v
		}
	}
	next[k] = s
	ns.m.Store(&next)
	return s
}
