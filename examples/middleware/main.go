// Command middleware monitors a net/http ServeMux with NewMiddleware, naming
// each request after its route pattern (r.Pattern) so that Pinba reports
// one line per route, not one per URL, and reading the request from its
// context in a helper that prefers explicit contexts.
//
//	go run ./examples/middleware    # sends to 127.0.0.1:30002
//	curl http://127.0.0.1:8080/users/42
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/pynba-go/pynba"
)

// loadUser reads the request from ctx, as code that is handed a context
// rather than running in the request's goroutine would.
func loadUser(ctx context.Context, id string) string {
	defer pynba.FromContext(ctx).Timer(pynba.Tags{"group": "db", "op": "select", "table": "users"}).Start().Stop()
	time.Sleep(3 * time.Millisecond)
	return "user " + id
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, loadUser(r.Context(), r.PathValue("id")))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})

	mw, err := pynba.NewMiddleware(mux, "127.0.0.1:30002",
		pynba.WithScriptName(func(r *http.Request) string { return r.Pattern }),
		pynba.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/health" }),
		pynba.WithTags(pynba.Tags{"service": "users"}),
		pynba.WithErrorHandler(func(err error) { log.Print(err) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer mw.Close()
	log.Println("listening on http://127.0.0.1:8080/")
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mw))
}
