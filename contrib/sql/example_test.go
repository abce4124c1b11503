package pynbasql_test

import (
	"database/sql"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"time"

	"github.com/pynba-go/pynba"
	pynbasql "github.com/pynba-go/pynba/contrib/sql"
	"github.com/pynba-go/pynba/pinbatest"
	"modernc.org/sqlite"
)

// Open a timed database, monitor a handler that queries it, and look at the
// timers the request sent (to a Pinba receiver on 127.0.0.1 standing in for
// a Pinba server).
func Example() {
	receiver := pinbatest.NewServer()
	defer receiver.Close()

	db, err := pynbasql.Open("sqlite", "file:shop.db?mode=memory")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	// Outside a request: not timed.
	if _, err := db.Exec("CREATE TABLE items (name TEXT)"); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) {
		if _, err := db.ExecContext(r.Context(), "INSERT INTO items VALUES (?)", "tea"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var n int
		if err := db.QueryRowContext(r.Context(), "SELECT count(*) FROM items").Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, n, "items")
	})
	mw, err := pynba.NewMiddleware(mux, receiver.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer mw.Close()

	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items", nil))

	pkt, err := receiver.Next(5 * time.Second)
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, t := range pkt.Timers {
		lines = append(lines, fmt.Sprintf("group=%s op=%s server=%s hits=%d",
			t.Tags.Get("group"), t.Tags.Get("op"), t.Tags.Get("server"), t.HitCount))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// group=db op=insert server=shop.db hits=1
	// group=db op=select server=shop.db hits=1
}

// ExampleWrap registers a wrapped driver under a name of its own, for code
// that opens databases with sql.Open.
func ExampleWrap() {
	sql.Register("sqlite-timed", pynbasql.Wrap(&sqlite.Driver{}))
	db, err := sql.Open("sqlite-timed", "file:orders.db?mode=memory")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var v int
	// Timed when the goroutine runs a monitored request; here it does not.
	if err := db.QueryRow("SELECT 1").Scan(&v); err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	// Output: 1
}

// ExampleOp shows the op tag of a few statements.
func ExampleOp() {
	fmt.Println(pynbasql.Op("  select * from items"))
	fmt.Println(pynbasql.Op("/* cart */ WITH c AS (SELECT 1) DELETE FROM carts"))
	fmt.Println(pynbasql.Op("frobnicate"))
	// Output:
	// select
	// delete
	// other
}

// ExampleServerFromDSN shows the server tag of a few data source names.
func ExampleServerFromDSN() {
	fmt.Println(pynbasql.ServerFromDSN("user:pw@tcp(db1.internal:3306)/shop"))
	fmt.Println(pynbasql.ServerFromDSN("postgres://app@pg2:5432/shop"))
	fmt.Println(pynbasql.ServerFromDSN("file:data/shop.db?cache=shared"))
	// Output:
	// db1.internal
	// pg2
	// shop.db
}
