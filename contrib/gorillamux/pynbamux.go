// Package pynbamux names Pinba requests after the github.com/gorilla/mux
// route they matched, so that Pinba's reports have one row per route
// instead of one per URL.
//
// Wrap the router with pynba.Monitor, as any handler, and give Monitor the
// router's ScriptName:
//
//	r := mux.NewRouter()
//	r.HandleFunc("/items/{id}", getItem).Methods("GET")
//	h := pynba.Monitor("127.0.0.1:30002", pynba.WithScriptName(pynbamux.ScriptName(r)))(r)
//	http.ListenAndServe(":8080", h)
//
// A request for /items/42 is then named "GET /items/{id}": the method and
// the route's path template, written as net/http.ServeMux patterns are.
// Requests no route matched (404) and those whose method the route does not
// allow (405) are monitored too, with their status, under
// pynba.NoRouteScriptName.
//
// Monitor wraps the router from outside on purpose: middlewares given to the
// router's Use run only for requests that matched a route, so a middleware
// there would never see a 404 or a 405. The handlers reach the request as
// with any monitored handler: the package-level proxy (pynba.Timer,
// pynba.SetTag) and pynba.FromContext(r.Context()). A handler that calls
// pynba.SetScriptName keeps the name it set; pynba.WithPrefix applies.
//
// ScriptName matches the request again with the router's Match once the
// handler has returned, which costs a second routing (Match also builds
// the chain of the router's middlewares, as the router does for each
// request, without running it).
package pynbamux

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/internal/routename"
)

// ScriptName returns a function for pynba.WithScriptName that names a
// request "METHOD template" after the route of router that matches it, and
// pynba.NoRouteScriptName when none matches or when only the method does
// not (a 405). The template is the route's path template, subrouters'
// prefixes included ("/api/items/{id}"); a matched route with no path is
// named after its name (Route.Name), or pynba.NoRouteScriptName when it has
// none. Routes added to the router later are seen. The function is safe
// for concurrent use.
func ScriptName(router *mux.Router) func(*http.Request) string {
	n := &namer{router: router}
	return n.name
}

type namer struct {
	router *mux.Router
	names  routename.Names
}

func (n *namer) name(r *http.Request) string {
	var m mux.RouteMatch
	if !n.router.Match(r, &m) || m.MatchErr != nil || m.Route == nil {
		return pynba.NoRouteScriptName
	}
	tpl, err := m.Route.GetPathTemplate()
	if err != nil {
		if tpl = m.Route.GetName(); tpl == "" {
			return pynba.NoRouteScriptName
		}
	}
	return n.names.Get(r.Method, tpl)
}
