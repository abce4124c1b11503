package pynbahttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pynba-go/pynba"
	pynbahttp "github.com/pynba-go/pynba/contrib/httpclient"
	"github.com/pynba-go/pynba/pinbatest"
)

// A monitored handler calls another service: each outgoing request is a
// timer in the handler's packet.
func ExampleTransport() {
	pinba := pinbatest.NewServer() // stands in for a Pinba server
	defer pinba.Close()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stock" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "42")
	}))
	defer backend.Close()

	client := &http.Client{Transport: pynbahttp.Transport(nil)}
	defer client.CloseIdleConnections()

	cart := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, path := range []string{"/stock", "/stock", "/price"} {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend.URL+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	mw, _ := pynba.NewMiddleware(cart, pinba.Addr())
	defer mw.Close()
	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/cart", nil))

	p, _ := pinba.Next(time.Second)
	fmt.Println(p.ScriptName)
	for _, t := range p.Timers {
		fmt.Println(t.HitCount, t.Tags.Get("group"), t.Tags.Get("method"), t.Tags.Get("status"),
			t.Tags.Get("server") == backend.Listener.Addr().String())
	}
	// Output:
	// /cart
	// 2 http GET 2xx true
	// 1 http GET 4xx true
}
