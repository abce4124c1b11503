package pynbasql

import (
	"context"
	"database/sql"
	"testing"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
)

// sendEvery is how many calls a benchmark inside a request makes before it
// sends the request and starts another, so that timers do not pile up.
const sendEvery = 1000

// benchDBs opens an in-memory SQLite database twice, unwrapped and wrapped,
// each on one connection, with a table of one row.
func benchDBs(b *testing.B) map[string]*sql.DB {
	b.Helper()
	plain, err := sql.Open("sqlite", ":memory:")
	must(b, err)
	wrapped, err := Open("sqlite", ":memory:")
	must(b, err)
	dbs := map[string]*sql.DB{"unwrapped": plain, "wrapped": wrapped}
	for _, db := range dbs {
		b.Cleanup(func() { db.Close() })
		db.SetMaxOpenConns(1)
		_, err := db.Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (0)")
		must(b, err)
	}
	return dbs
}

// benchCalls runs call for each database, outside any request and inside
// one (a ScriptMonitor binding the goroutine, its context given to the
// call), the unwrapped database first: the unwrapped runs are the
// baselines of the wrapped ones.
func benchCalls(b *testing.B, call func(ctx context.Context, db *sql.DB) error) {
	dbs := benchDBs(b)
	for _, where := range []string{"outside", "inside"} {
		for _, name := range []string{"unwrapped", "wrapped"} {
			db := dbs[name]
			b.Run(where+"/"+name, func(b *testing.B) {
				ctx := context.Background()
				var sm *pynba.ScriptMonitor
				if where == "inside" {
					srv := pinbatest.NewServer()
					defer srv.Close()
					var err error
					sm, err = pynba.NewScriptMonitor(srv.Addr())
					must(b, err)
					defer sm.Close()
				}
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if sm != nil {
						if n%sendEvery == 0 {
							ctx = pynba.NewContext(context.Background(), sm.Collector())
						}
						n++
						if n%sendEvery == 0 {
							sm.Send()
						}
					}
					if err := call(ctx, db); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkQuery measures a one-row query (QueryRowContext and Scan).
func BenchmarkQuery(b *testing.B) {
	benchCalls(b, func(ctx context.Context, db *sql.DB) error {
		var v int
		return db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v)
	})
}

// BenchmarkExec measures an update of one row.
func BenchmarkExec(b *testing.B) {
	benchCalls(b, func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, "UPDATE t SET v = v + 1")
		return err
	})
}
