package pynbasql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pynba-go/pynba"
	"modernc.org/sqlite"
)

// alwaysConn are the interfaces every wrapped connection has (its
// CheckNamedValue returns driver.ErrSkip when the inner connection has
// none), and neverConn those none has (a wrapper has the context ones
// instead).
var (
	alwaysConn = []reflect.Type{reflect.TypeFor[driver.NamedValueChecker]()}
	neverConn  = []reflect.Type{reflect.TypeFor[driver.Queryer](), reflect.TypeFor[driver.Execer]()}
)

// checkIfaces fails when w's interfaces among ifaces are not those of mask.
func checkIfaces(t *testing.T, what string, mask int, w any, ifaces []reflect.Type) {
	t.Helper()
	for i, it := range ifaces {
		want := mask&(1<<i) != 0
		if got := reflect.TypeOf(w).Implements(it); got != want {
			t.Errorf("%s mask %d (%T): has %v = %v, want %v", what, mask, w, it, got, want)
		}
	}
}

// TestConnIfaces checks, for every combination, that a wrapped connection
// has each optional interface exactly when the inner one has it.
func TestConnIfaces(t *testing.T) {
	ts := newTagSet(&config{group: "db"}, "")
	real := realConn(t)
	for mask := range 1 << len(connIfaces) {
		inner := (&fakeConn{real: real}).wrap(mask)
		checkIfaces(t, "inner conn", mask, inner, connIfaces) // the fakes themselves
		w := wrapConn(inner, ts)
		checkIfaces(t, "conn", mask, w, connIfaces)
		for _, it := range alwaysConn {
			if !reflect.TypeOf(w).Implements(it) {
				t.Errorf("conn mask %d lacks %v", mask, it)
			}
		}
		for _, it := range neverConn {
			if reflect.TypeOf(w).Implements(it) {
				t.Errorf("conn mask %d has %v", mask, it)
			}
		}
	}
}

// TestStmtIfaces checks the same for statements: the mask's interfaces, and
// always driver.NamedValueChecker.
func TestStmtIfaces(t *testing.T) {
	ts := newTagSet(&config{group: "db"}, "")
	real := realConn(t)
	s, err := real.Prepare("SELECT 1")
	must(t, err)
	defer s.Close()
	c := wrapConn(real, ts).(connPRVCBQE)
	for mask := range 1 << len(stmtIfaces) {
		inner := (&fakeStmt{real: s}).wrap(mask)
		checkIfaces(t, "inner stmt", mask, inner, stmtIfaces)
		w := wrapStmt(inner, c.conn, "SELECT 1")
		checkIfaces(t, "stmt", mask, w, stmtIfaces)
		if _, ok := w.(driver.NamedValueChecker); !ok {
			t.Errorf("stmt mask %d lacks driver.NamedValueChecker", mask)
		}
	}
}

// TestRowsIfaces checks the same for rows.
func TestRowsIfaces(t *testing.T) {
	real := realConn(t)
	r, err := real.(driver.QueryerContext).QueryContext(context.Background(), "SELECT 1", nil)
	must(t, err)
	defer r.Close()
	for mask := range 1 << len(rowsIfaces) {
		inner := (&fakeRows{real: r}).wrap(mask)
		checkIfaces(t, "inner rows", mask, inner, rowsIfaces)
		w := wrapRows(inner, pynba.Collector{}, pynba.Timer(nil))
		checkIfaces(t, "rows", mask, w, rowsIfaces)
	}
}

// ctxDriver is the SQLite driver with an OpenConnector.
type ctxDriver struct {
	*sqlite.Driver
	t testing.TB
}

func (d ctxDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return &closingFakeConnector{fakeConnector: &fakeConnector{t: d.t, dsn: dsn, connMask: 127, stmtMask: 7, rowsMask: 63}}, nil
}

// closingFakeConnector is a fakeConnector with a Close.
type closingFakeConnector struct {
	*fakeConnector
	closed int
}

func (c *closingFakeConnector) Close() error { c.closed++; return nil }

// TestDriverAndConnectorIfaces checks driver.DriverContext on a wrapped
// driver and io.Closer on a wrapped connector, and that database/sql uses
// them.
func TestDriverAndConnectorIfaces(t *testing.T) {
	if _, ok := Wrap(&sqlite.Driver{}).(driver.DriverContext); ok {
		t.Error("wrapped SQLite driver has OpenConnector")
	}
	d := Wrap(ctxDriver{&sqlite.Driver{}, t})
	dc, ok := d.(driver.DriverContext)
	if !ok {
		t.Fatal("wrapped driver lacks the inner one's OpenConnector")
	}
	c, err := dc.OpenConnector(":memory:")
	must(t, err)
	if _, ok := c.(io.Closer); !ok {
		t.Error("connector of a closing connector is no io.Closer")
	}
	if c.Driver() != d {
		t.Errorf("connector's Driver is %T, want the wrapped driver", c.Driver())
	}
	inner := &closingFakeConnector{fakeConnector: &fakeConnector{t: t, dsn: ":memory:"}}
	db := sql.OpenDB(WrapConnector(inner))
	must(t, db.Close())
	if inner.closed != 1 {
		t.Errorf("db.Close closed the connector %d times, want 1", inner.closed)
	}
	if _, ok := WrapConnector(&fakeConnector{t: t}).(io.Closer); ok {
		t.Error("wrapped connector is an io.Closer, the inner one is not")
	}
}

// transcript runs the same calls on db and writes what database/sql
// returned, so that a wrapped database can be compared with the unwrapped
// one.
func transcript(ctx context.Context, db *sql.DB) string {
	var b strings.Builder
	say := func(what string, err error) { fmt.Fprintf(&b, "%s: %v\n", what, err) }
	say("ping", db.PingContext(ctx))
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (v INTEGER, s TEXT)")
	say("create", err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", 1, "one")
	say("insert", err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", 2, "refused")
	say("insert refused", err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (:v, :s)", sql.Named("v", 3), sql.Named("s", "three"))
	say("insert named", err)
	rows, err := db.QueryContext(ctx, "SELECT v, s FROM t ORDER BY v")
	say("query", err)
	if err == nil {
		cts, err := rows.ColumnTypes()
		say("column types", err)
		for _, ct := range cts {
			n, nok := ct.Nullable()
			l, lok := ct.Length()
			fmt.Fprintf(&b, "  %s %v %q %v %v %v %v\n", ct.Name(), ct.ScanType(), ct.DatabaseTypeName(), n, nok, l, lok)
		}
		for rows.Next() {
			var v int
			var s string
			say("scan", rows.Scan(&v, &s))
			fmt.Fprintf(&b, "  %d %s\n", v, s)
		}
		say("rows", rows.Err())
		say("next result set", fmt.Errorf("%v", rows.NextResultSet()))
		say("close", rows.Close())
	}
	st, err := db.PrepareContext(ctx, "SELECT s FROM t WHERE v = ?")
	say("prepare", err)
	if err == nil {
		var s string
		say("stmt query", st.QueryRowContext(ctx, 1).Scan(&s))
		fmt.Fprintf(&b, "  %s\n", s)
		say("stmt close", st.Close())
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	say("begin read-only", err)
	if err == nil {
		say("rollback", tx.Rollback())
	}
	tx, err = db.BeginTx(ctx, nil)
	say("begin", err)
	if err == nil {
		_, err = tx.ExecContext(ctx, "DELETE FROM t WHERE v = 1")
		say("delete", err)
		say("commit", tx.Commit())
	}
	return b.String()
}

// TestDatabaseSQLOverEveryCombination runs the same calls through
// database/sql on SQLite connections with every combination of optional
// interfaces, unwrapped and wrapped in a request, and checks that
// database/sql returns the same, and that the request got the timers.
func TestDatabaseSQLOverEveryCombination(t *testing.T) {
	m := newMonitor(t)
	type scenario struct {
		name  string
		conn  int
		extra func(*fakeConn) driver.Conn
		ops   []string // ops timed at least once
	}
	var scenarios []scenario
	for mask := range 1 << len(connIfaces) {
		scenarios = append(scenarios, scenario{name: fmt.Sprintf("conn%d", mask), conn: mask})
	}
	checks := 0
	scenarios = append(scenarios,
		scenario{name: "plain-queryer", conn: 0, extra: func(c *fakeConn) driver.Conn { return plainQueryConn{c} }},
		scenario{name: "checker", conn: 0, extra: func(c *fakeConn) driver.Conn { return checkerConn{c, &checks} }},
	)
	for i, sc := range scenarios {
		run := func(wrapped bool) (string, int, *fakeConnector) {
			fc := &fakeConnector{t: t, dsn: fmt.Sprintf("file:%s-%v?mode=memory&cache=shared", sc.name, wrapped),
				connMask: sc.conn, stmtMask: i % 8, rowsMask: (i * 5) % 64, extra: sc.extra}
			var c driver.Connector = fc
			if wrapped {
				c = WrapConnector(fc)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			db.SetMaxOpenConns(1)
			var out string
			var prepares int
			if wrapped {
				pkt := m.serve(t, "/"+sc.name, func(w http.ResponseWriter, r *http.Request) {
					out = transcript(r.Context(), db)
					prepares = fc.last.prepares
				})
				hits := hitsByOp(pkt)
				if hits["prepare"] != uint32(prepares) {
					t.Errorf("%s: %d prepare timers, the driver prepared %d times", sc.name, hits["prepare"], prepares)
				}
				for _, op := range []string{"create", "insert", "select", "begin", "commit", "delete", "connect"} {
					if hits[op] == 0 {
						t.Errorf("%s: no %s timer in %v", sc.name, op, hits)
					}
				}
				if (hits["ping"] == 1) != (sc.conn&1 != 0) {
					t.Errorf("%s: %d ping timers, the connection has Ping: %v", sc.name, hits["ping"], sc.conn&1 != 0)
				}
				return out, prepares, fc
			}
			return transcript(context.Background(), db), fc.last.prepares, fc
		}
		plain, plainPrepares, _ := run(false)
		wrapped, wrappedPrepares, _ := run(true)
		if plain != wrapped {
			t.Errorf("%s: database/sql returned\n%s\nunwrapped, and\n%s\nwrapped", sc.name, plain, wrapped)
		}
		if plainPrepares != wrappedPrepares {
			t.Errorf("%s: %d prepares unwrapped, %d wrapped", sc.name, plainPrepares, wrappedPrepares)
		}
		if sc.extra == nil && !strings.Contains(plain, "insert refused: <nil>") {
			t.Errorf("%s: the insert of \"refused\" failed without a checker:\n%s", sc.name, plain)
		}
	}
	if checks == 0 {
		t.Error("the connection's CheckNamedValue was never called")
	}
}

// skipConn's QueryContext always returns driver.ErrSkip.
type skipConn struct{ fakeConnPRVCBQE }

func (skipConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, driver.ErrSkip
}

// TestErrSkipFromTheDriver checks that a query the driver skips leaves no
// timer: database/sql prepares it, and only the prepare and the statement's
// query are timed.
func TestErrSkipFromTheDriver(t *testing.T) {
	m := newMonitor(t)
	fc := &fakeConnector{t: t, dsn: ":memory:", stmtMask: 7, rowsMask: 63,
		extra: func(c *fakeConn) driver.Conn { return skipConn{fakeConnPRVCBQE{c}} }}
	db := sql.OpenDB(WrapConnector(fc))
	defer db.Close()
	pkt := m.serve(t, "/skip", func(w http.ResponseWriter, r *http.Request) {
		var n int
		must(t, db.QueryRowContext(r.Context(), "SELECT 7").Scan(&n))
	})
	hits := hitsByOp(pkt)
	if hits["select"] != 1 || hits["prepare"] != 1 {
		t.Errorf("hits %v, want one select and one prepare", hits)
	}
	for _, tm := range pkt.Timers {
		if tm.HitCount == 0 {
			t.Errorf("timer %v never started was sent", tm)
		}
	}
}
