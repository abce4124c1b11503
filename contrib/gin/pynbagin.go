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
	"github.com/gin-gonic/gin"
	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/internal/routename"
)

// Middleware returns a gin middleware that names the request a
// pynba.Monitor around the engine started: "METHOD route" for a request
// that matched a route, pynba.NoRouteScriptName for one that did not.
// Register it with engine.Use before the routes. Outside a monitored
// request it does nothing.
func Middleware() gin.HandlerFunc {
	ns := &routename.Names{}
	return func(c *gin.Context) {
		name := pynba.NoRouteScriptName
		if route := c.FullPath(); route != "" {
			name = ns.Get(c.Request.Method, route)
		}
		pynba.FromContext(c.Request.Context()).SetScriptName(name)
		c.Next()
	}
}
