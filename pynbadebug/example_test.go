package pynbadebug_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"github.com/pynba-go/pynba/pynbadebug"
)

// Mount the page on an internal mux, away from the service's public one,
// as with net/http/pprof. The monitor keeps its last packets for it with
// pynba.WithRecent.
func ExampleHandler() {
	pinba := pinbatest.NewServer() // stands for the Pinba server
	defer pinba.Close()

	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		pynba.Time(pynba.Tags{"group": "db", "op": "select"}, func() {})
		io.WriteString(w, "hello")
	})
	m, err := pynba.NewMiddleware(app, pinba.Addr(), pynba.WithRecent(256))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	// Only the internal listener serves the page: in a service,
	// http.ListenAndServe("127.0.0.1:6060", debug), or a mux behind the
	// service's own authentication.
	debug := http.NewServeMux()
	debug.Handle("/debug/pynba/", pynbadebug.Handler(m))

	public := httptest.NewServer(m)
	defer public.Close()
	internal := httptest.NewServer(debug)
	defer internal.Close()

	for range 3 {
		resp, err := http.Get(public.URL + "/hello")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	if _, err := pinba.Wait(3, 5*time.Second); err != nil {
		panic(err)
	}

	resp, err := http.Get(internal.URL + "/debug/pynba/?format=json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var v pynbadebug.View
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		panic(err)
	}
	fmt.Println("requests:", v.Stats.Requests)
	for _, s := range v.Report.Scripts {
		fmt.Printf("%s: %d requests\n", s.Name, s.Requests)
	}
	last := v.Packets[len(v.Packets)-1]
	fmt.Println("last packet:", last.ScriptName, last.Status, last.Timers[0].Tags)
	// Output:
	// requests: 3
	// GET /hello: 3 requests
	// last packet: GET /hello 200 [{group db} {op select}]
}
