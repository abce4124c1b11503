package pynbachi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pynba-go/pynba"
	pynbachi "github.com/pynba-go/pynba/contrib/chi"
	"github.com/pynba-go/pynba/pinbatest"
)

func ExampleScriptName() {
	pinba := pinbatest.NewServer() // a Pinba receiver on 127.0.0.1
	defer pinba.Close()

	r := chi.NewRouter()
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := pynba.Monitor(pinba.Addr(), pynba.WithScriptName(pynbachi.ScriptName(r)))(r)

	for _, target := range []string{"/items/1", "/items/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	pkts, err := pinba.Wait(3, 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pkts {
		fmt.Println(p.ScriptName, p.Status)
	}
	// Output:
	// GET /items/{id} 200
	// GET /items/{id} 200
	// (no route) 404
}
