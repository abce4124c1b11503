// Package pynbachi names Pinba requests after the github.com/go-chi/chi/v5
// route they matched, so that Pinba's reports have one row per route
// instead of one per URL.
//
// Wrap the router with pynba.Monitor, as any handler, and give Monitor the
// router's ScriptName:
//
//	r := chi.NewRouter()
//	r.Get("/items/{id}", getItem)
//	h := pynba.Monitor("127.0.0.1:30002", pynba.WithScriptName(pynbachi.ScriptName(r)))(r)
//	http.ListenAndServe(":8080", h)
//
// A request for /items/42 is then named "GET /items/{id}": the method and
// the route template, written as net/http.ServeMux patterns are. Requests no
// route matched (404) and those whose method the route does not allow (405)
// are monitored too, with their status, under pynba.NoRouteScriptName.
//
// Since Monitor wraps the router from outside, every request is monitored,
// whatever chi answers, and the handlers reach the request as with any
// monitored handler: the package-level proxy (pynba.Timer, pynba.SetTag)
// and pynba.FromContext(r.Context()). A handler that calls
// pynba.SetScriptName keeps the name it set; pynba.WithPrefix applies.
//
// ScriptName looks the route up again, with the router's Find, once the
// handler has returned, from the method and the URL path the client sent.
// A middleware inside the router that routes by another path than the URL's
// (middleware.StripSlashes, for one) is not seen: such a request is named
// after the route its URL matches, or pynba.NoRouteScriptName.
package pynbachi

import (
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/internal/routename"
)

// ScriptName returns a function for pynba.WithScriptName that names a
// request "METHOD template" after the route of routes (a *chi.Mux, usually
// the one Monitor wraps) that its method and path match, and
// pynba.NoRouteScriptName when none does. Routes added to the router
// later are seen. The function is safe for concurrent use.
func ScriptName(routes chi.Routes) func(*http.Request) string {
	n := &namer{routes: routes}
	n.ctxs.New = func() any { return chi.NewRouteContext() }
	return n.name
}

type namer struct {
	routes chi.Routes
	ctxs   sync.Pool // *chi.Context, reused across look-ups
	names  routename.Names
}

func (n *namer) name(r *http.Request) string {
	// The path chi routes by, when no middleware changed it.
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if path == "" {
		path = "/"
	}
	rctx := n.ctxs.Get().(*chi.Context)
	rctx.Reset()
	pattern := n.routes.Find(rctx, r.Method, path)
	n.ctxs.Put(rctx)
	if pattern == "" {
		return pynba.NoRouteScriptName
	}
	return n.names.Get(r.Method, pattern)
}
