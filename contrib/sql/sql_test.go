package pynbasql

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"modernc.org/sqlite"
)

// TestTimersOfARequest runs every kind of call in a request against a real
// SQLite file and checks the timers of the packet: one per op, with the
// group, op and server tags.
func TestTimersOfARequest(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "shop.db")
	pkt := m.serve(t, "/calls", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		must(t, db.PingContext(ctx))
		_, err := db.ExecContext(ctx, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
		must(t, err)
		_, err = db.ExecContext(ctx, "  /* seed */ INSERT INTO items (name) VALUES (?), (?)", "a", "b")
		must(t, err)
		_, err = db.Exec("update items SET name = 'c' WHERE id = 1") // no context: the goroutine's request
		must(t, err)
		var n int
		must(t, db.QueryRowContext(ctx, "-- count\nSELECT count(*) FROM items").Scan(&n))
		if n != 2 {
			t.Errorf("count = %d, want 2", n)
		}
		must(t, db.QueryRowContext(ctx, "WITH x AS (SELECT name FROM items) SELECT count(*) FROM x").Scan(&n))
		_, err = db.ExecContext(ctx, "WITH x AS (SELECT 1) DELETE FROM items WHERE id = 2")
		must(t, err)

		tx, err := db.BeginTx(ctx, nil)
		must(t, err)
		_, err = tx.ExecContext(ctx, "INSERT INTO items (name) VALUES ('d')")
		must(t, err)
		must(t, tx.Commit())
		tx, err = db.BeginTx(ctx, nil)
		must(t, err)
		must(t, tx.Rollback())

		st, err := db.PrepareContext(ctx, "SELECT name FROM items WHERE id = ?")
		must(t, err)
		var name string
		must(t, st.QueryRowContext(ctx, 1).Scan(&name))
		must(t, st.QueryRowContext(ctx, 1).Scan(&name))
		must(t, st.Close())
		if name != "c" {
			t.Errorf("name = %q, want c", name)
		}
	})
	want := map[string]uint32{
		"connect": 1, "ping": 1, "create": 1, "insert": 2, "update": 1, "select": 4, "delete": 1,
		"begin": 2, "commit": 1, "rollback": 1, "prepare": 1,
	}
	got := hitsByOp(pkt)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hits by op:\n got %v\nwant %v", got, want)
	}
	for _, tm := range dbTimers(pkt) {
		if tm.Tags.Get("server") != "shop.db" || len(tm.Tags) != 3 {
			t.Errorf("timer %v: want exactly group, op and server=shop.db", tm)
		}
	}
}

// TestPynbaGoChild checks that a query made without a context in a pynba.Go
// child lands in the parent's request.
func TestPynbaGoChild(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "child.db")
	must(t, db.Ping()) // connect outside the request
	pkt := m.serve(t, "/child", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan error, 1)
		pynba.Go(func() {
			var n int
			done <- db.QueryRow("SELECT 42").Scan(&n)
		})
		must(t, <-done)
	})
	if got := hitsByOp(pkt); len(got) != 1 || got["select"] != 1 {
		t.Errorf("timers %v, want one select", pkt.Timers)
	}
}

// TestContextInPlainGoroutine checks that a query given the request's
// context lands in the request from a goroutine the proxy does not know.
func TestContextInPlainGoroutine(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "ctx.db")
	must(t, db.Ping())
	pkt := m.serve(t, "/ctx", func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		wg.Go(func() {
			var n int
			must(t, db.QueryRowContext(r.Context(), "SELECT 1").Scan(&n))
			must(t, db.QueryRow("SELECT 2").Scan(&n)) // no context, unbound goroutine: not timed
		})
		wg.Wait()
	})
	if got := hitsByOp(pkt); len(got) != 1 || got["select"] != 1 {
		t.Errorf("timers %v, want one select", pkt.Timers)
	}
}

// TestConcurrentRequests runs two requests at once, each querying while the
// other does, and checks that each packet holds only its own timers.
func TestConcurrentRequests(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "two.db")
	_, err := db.Exec("CREATE TABLE t (v INTEGER)")
	must(t, err)
	db.SetMaxOpenConns(4)

	const rounds = 20
	var ready sync.WaitGroup
	ready.Add(2)
	var wg sync.WaitGroup
	for _, path := range []string{"/reader", "/writer"} {
		wg.Go(func() {
			m.run(path, func(w http.ResponseWriter, r *http.Request) {
				ready.Done()
				ready.Wait() // both requests are running
				for i := range rounds {
					var err error
					if path == "/reader" {
						var n int
						err = db.QueryRowContext(r.Context(), "SELECT count(*) FROM t").Scan(&n)
					} else {
						_, err = db.Exec("INSERT INTO t VALUES (?)", i)
					}
					if err != nil {
						t.Errorf("%s: %v", path, err) // not Fatal: another goroutine
						return
					}
				}
			})
		})
	}
	wg.Wait()
	pkts, err := m.srv.Wait(2, 5*time.Second)
	must(t, err)
	for _, pkt := range pkts {
		got := hitsByOp(pkt)
		want := map[string]uint32{"select": rounds}
		if pkt.ScriptName == "/writer" {
			want = map[string]uint32{"insert": rounds}
		}
		delete(got, "connect") // either may open a connection
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: hits by op %v, want %v", pkt.ScriptName, got, want)
		}
	}
}

// TestOutsideARequest checks that calls outside any request are not timed:
// nothing is sent, and the next request's packet has no db timer.
func TestOutsideARequest(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "outside.db")
	_, err := db.Exec("CREATE TABLE t (v INTEGER)")
	must(t, err)
	_, err = db.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
	must(t, err)
	var n int
	must(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	tx, err := db.Begin()
	must(t, err)
	must(t, tx.Commit())
	if got := m.srv.Received(); got != 0 {
		t.Fatalf("%d packets sent by calls outside a request", got)
	}
	pkt := m.serve(t, "/empty", func(http.ResponseWriter, *http.Request) {})
	if len(pkt.Timers) != 0 {
		t.Errorf("timers %v, want none", pkt.Timers)
	}
	if s := m.mw.Stats(); s.LateUses != 0 || s.TimerMisuse != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestNoAllocationsOutsideARequest checks that outside a request the
// wrapper adds no allocation to a query or an exec: the wrapped database
// allocates no more than the unwrapped one.
func TestNoAllocationsOutsideARequest(t *testing.T) {
	plain, err := sql.Open("sqlite", ":memory:")
	must(t, err)
	defer plain.Close()
	wrapped, err := Open("sqlite", ":memory:")
	must(t, err)
	defer wrapped.Close()
	allocs := map[*sql.DB]float64{}
	for _, db := range []*sql.DB{plain, wrapped} {
		db.SetMaxOpenConns(1)
		_, err := db.Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)")
		must(t, err)
		ctx := context.Background()
		allocs[db] = testing.AllocsPerRun(200, func() {
			var v int
			if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "UPDATE t SET v = v + 1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	if allocs[wrapped] > allocs[plain] {
		t.Errorf("outside a request: %v allocations wrapped, %v unwrapped", allocs[wrapped], allocs[plain])
	}
}

// TestStmtPreparedOutside checks that a statement prepared at start-up is
// timed in the request that runs it, with the op of its text.
func TestStmtPreparedOutside(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "stmt.db", WithServer("users"), WithTags(pynba.Tags{"db": "main", "op": "ignored"}))
	_, err := db.Exec("CREATE TABLE t (v INTEGER)")
	must(t, err)
	ins, err := db.Prepare("INSERT INTO t VALUES (?)")
	must(t, err)
	defer ins.Close()
	pkt := m.serve(t, "/stmt", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			_, err := ins.Exec(i)
			must(t, err)
		}
	})
	tm, ok := pkt.FindTimer(map[string]string{"group": "db", "op": "insert", "server": "users", "db": "main"})
	if !ok || tm.HitCount != 3 || len(tm.Tags) != 4 {
		t.Errorf("timers %v, want insert x3 with server=users db=main", pkt.Timers)
	}
}

// TestRowsTimerCoversIteration checks the documented choice: a query's timer
// runs until its rows are closed, and one whose rows are never closed is
// stopped when the request ends.
func TestRowsTimerCoversIteration(t *testing.T) {
	m := newMonitor(t)
	db := openFile(t, "rows.db")
	_, err := db.Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3)")
	must(t, err)
	const pause = 30 * time.Millisecond
	var open *sql.Rows
	pkt := m.serve(t, "/rows", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.QueryContext(r.Context(), "SELECT v FROM t ORDER BY v")
		must(t, err)
		running := func() bool {
			for _, tm := range pynba.Current().Timers() {
				if tm.Tags()["op"] == "select" {
					return tm.Started()
				}
			}
			t.Fatal("no select timer")
			return false
		}
		if !running() {
			t.Error("select timer not running before the rows are read")
		}
		for rows.Next() {
			time.Sleep(pause)
		}
		must(t, rows.Err())
		if running() {
			t.Error("select timer still running after the last row (database/sql closes the rows)")
		}
		must(t, rows.Close())

		open, err = db.QueryContext(r.Context(), "SELECT v FROM t")
		must(t, err) // not closed in the request
		time.Sleep(pause)
	})
	must(t, open.Close())
	if s := m.mw.Stats(); s.LateUses != 0 || s.TimerMisuse != 0 {
		t.Errorf("closing rows after the request: stats %+v", s)
	}
	var sel []pinbatest.Timer
	for _, tm := range dbTimers(pkt) {
		if tm.Tags.Get("op") == "select" {
			sel = append(sel, tm)
		}
	}
	if len(sel) != 1 || sel[0].HitCount != 2 {
		t.Fatalf("select timers %v, want one of 2 hits", sel)
	}
	if min := 4 * pause.Seconds(); float64(sel[0].Value) < min {
		t.Errorf("select time %.3fs, want at least %.3fs (iteration and the rows left open)", sel[0].Value, min)
	}
}

var registerOnce sync.Once

// TestServerTags checks the server tag of Open, Wrap and WrapConnector.
func TestServerTags(t *testing.T) {
	m := newMonitor(t)
	dir := t.TempDir()
	registerOnce.Do(func() { sql.Register("sqlite-pynba-test", Wrap(&sqlite.Driver{})) })
	byName, err := sql.Open("sqlite-pynba-test", "file:"+dir+"/named.sqlite?_pragma=busy_timeout(100)")
	must(t, err)
	defer byName.Close()
	conn := sql.OpenDB(WrapConnector(&fakeConnector{t: t, dsn: ":memory:", connMask: 127, stmtMask: 7, rowsMask: 63}, WithServer("cache")))
	defer conn.Close()
	anon := sql.OpenDB(WrapConnector(&fakeConnector{t: t, dsn: ":memory:", connMask: 127, stmtMask: 7, rowsMask: 63}))
	defer anon.Close()
	pkt := m.serve(t, "/servers", func(w http.ResponseWriter, r *http.Request) {
		for _, db := range []*sql.DB{byName, conn, anon} {
			var n int
			must(t, db.QueryRowContext(r.Context(), "SELECT 1").Scan(&n))
		}
	})
	var servers []string
	for _, tm := range dbTimers(pkt) {
		if tm.Tags.Get("op") == "select" {
			s, _ := tm.Tags.Lookup("server")
			servers = append(servers, s)
		}
	}
	sort.Strings(servers)
	if got := strings.Join(servers, ","); got != ",cache,named.sqlite" {
		t.Errorf("servers %q, want \",cache,named.sqlite\" (none for an anonymous connector)", got)
	}
}

// TestOpenErrors checks that Open reports an unknown driver.
func TestOpenErrors(t *testing.T) {
	if _, err := Open("no-such-driver", ""); err == nil || !strings.Contains(err.Error(), "no-such-driver") {
		t.Errorf("Open of an unknown driver: %v", err)
	}
}
