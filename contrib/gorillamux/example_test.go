package pynbamux_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gorilla/mux"
	"github.com/pynba-go/pynba"
	pynbamux "github.com/pynba-go/pynba/contrib/gorillamux"
	"github.com/pynba-go/pynba/pinbatest"
)

func ExampleScriptName() {
	pinba := pinbatest.NewServer() // a Pinba receiver on 127.0.0.1
	defer pinba.Close()

	r := mux.NewRouter()
	r.HandleFunc("/items/{id}", func(w http.ResponseWriter, r *http.Request) {}).Methods("GET")
	h := pynba.Monitor(pinba.Addr(), pynba.WithScriptName(pynbamux.ScriptName(r)))(r)

	for _, target := range []string{"GET /items/1", "GET /items/2", "GET /nowhere", "POST /items/3"} {
		var method, path string
		fmt.Sscan(target, &method, &path)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, path, nil))
	}
	pkts, err := pinba.Wait(4, 5*time.Second)
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
	// (no route) 405
}
