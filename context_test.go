package pynba

import (
	"net/http"
	"testing"
	"time"
)

func TestContextAccess(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := FromContext(r.Context())
		if !c.Valid() || c != Current() {
			t.Error("FromContext differs from Current")
		}
		c.Timer(Tags{"via": "ctx"}).Start().Stop()
	}))
	serve(m, "/")
	if p := next(t, srv); len(p.Timers) != 1 || p.Timers[0].Tags.Get("via") != "ctx" {
		t.Errorf("timers %v", p.Timers)
	}
	if FromContext(t.Context()).Valid() {
		t.Error("a plain context carries a request")
	}
}

// Behind http.TimeoutHandler the handler runs in another goroutine: the
// proxy finds no request there, the request's context does.
func TestTimeoutHandlerUsesContext(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Timer(Tags{"via": "proxy"}).Detached() {
			t.Error("the proxy found a request in TimeoutHandler's goroutine")
		}
		FromContext(r.Context()).Timer(Tags{"via": "context"}).Start().Stop()
	})
	m, srv := monitored(t, http.TimeoutHandler(inner, 5*time.Second, "timeout"))
	serve(m, "/t")
	p := next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("via") != "context" {
		t.Errorf("timers %v, want the one made through the context", p.Timers)
	}
}
