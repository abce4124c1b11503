// Command simple is a port of pynba's simple example: a web app monitored
// by pynba, with timers started and stopped by hand, around a function
// (Time), and with defer.
//
// Run a Pinba server (or `go run ./cmd/pinba-dump`) on 127.0.0.1:30002, then
//
//	go run ./examples/simple
//	curl http://127.0.0.1:8080/
package main

import (
	"io"
	"log"
	"net/http"
	"time"

	"github.com/pynba-go/pynba"
)

func hello(w http.ResponseWriter, r *http.Request) {
	// A timer made with its tags, started and stopped by hand.
	t := pynba.Timer(pynba.Tags{"foo": "bar"})
	t.Start()
	time.Sleep(10 * time.Millisecond)
	t.Stop()

	// Around a function: pynba's `with pynba.timer(...):`.
	pynba.Time(pynba.Tags{"step": "render", "tags": []string{"a", "b"}}, func() {
		time.Sleep(5 * time.Millisecond)
	})

	// Until the function returns: pynba's decorator form.
	defer pynba.Timer(pynba.Tags{"step": "write"}).Start().Stop()
	io.WriteString(w, "Hello, World!\n")
}

func main() {
	handler := pynba.Monitor("127.0.0.1:30002", pynba.WithPrefix("simple"))(http.HandlerFunc(hello))
	log.Println("listening on http://127.0.0.1:8080/, sending to Pinba at 127.0.0.1:30002")
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", handler))
}
