// Command example serves a gorilla/mux router monitored by pynba on a loopback
// port, sends it a few requests, and prints what a Pinba server receives:
// one script name per route, whatever the URL. A pinbatest receiver on
// 127.0.0.1 stands in for the Pinba server.
//
//	go run ./example
package main

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gorilla/mux"
	"github.com/pynba-go/pynba"
	pynbamux "github.com/pynba-go/pynba/contrib/gorillamux"
	"github.com/pynba-go/pynba/pinbatest"
)

func main() {
	pinba := pinbatest.NewServer() // a Pinba receiver on 127.0.0.1
	defer pinba.Close()

	r := mux.NewRouter()
	r.HandleFunc("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		defer pynba.Timer(pynba.Tags{"group": "db", "op": "select"}).Start().Stop()
		time.Sleep(time.Millisecond) // the query
		fmt.Fprintf(w, "item %s\n", mux.Vars(r)["id"])
	}).Methods("GET")

	h := pynba.Monitor(pinba.Addr(), pynba.WithScriptName(pynbamux.ScriptName(r)))(r)
	web := httptest.NewServer(h) // listens on 127.0.0.1
	defer web.Close()

	targets := []string{"/items/1", "/items/2", "/items/3", "/nowhere"}
	for _, target := range targets {
		resp, err := http.Get(web.URL + target)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	pkts, err := pinba.Wait(len(targets), 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	for i, p := range pkts {
		fmt.Printf("%-10s -> script %q, status %d, %d timer(s)\n", targets[i], p.ScriptName, p.Status, len(p.Timers))
	}
}
