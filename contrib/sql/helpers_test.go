package pynbasql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
	"go.uber.org/goleak"
	"modernc.org/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// monitor is a Middleware sending to a loopback pinbatest server, for tests
// that run handlers.
type monitor struct {
	srv *pinbatest.Server
	mw  *pynba.Middleware
	h   http.Handler // what serve runs, set per request by serve
}

// newMonitor starts a pinbatest server and a Middleware sending to it,
// both closed when the test ends.
func newMonitor(t testing.TB) *monitor {
	t.Helper()
	m := &monitor{srv: pinbatest.NewServer()}
	t.Cleanup(m.srv.Close)
	mw, err := pynba.NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Context().Value(handlerKey{}).(http.HandlerFunc)(w, r)
	}), m.srv.Addr(), pynba.WithHostname("test"), pynba.WithServerName("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	m.mw = mw
	return m
}

type handlerKey struct{}

// serve runs fn as the handler of a monitored request for path and returns
// the packet the request sent.
func (m *monitor) serve(t testing.TB, path string, fn func(w http.ResponseWriter, r *http.Request)) *pinbatest.Packet {
	t.Helper()
	m.run(path, fn)
	pkt, err := m.srv.Next(5 * time.Second)
	if err != nil {
		t.Fatalf("%s: no packet: %v", path, err)
	}
	if err := pkt.Validate(); err != nil {
		t.Errorf("%s: invalid packet: %v", path, err)
	}
	return pkt
}

// run runs fn as the handler of a monitored request for path, without
// waiting for the packet.
func (m *monitor) run(path string, fn func(w http.ResponseWriter, r *http.Request)) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req = req.WithContext(context.WithValue(req.Context(), handlerKey{}, http.HandlerFunc(fn)))
	m.mw.ServeHTTP(httptest.NewRecorder(), req)
}

// dbTimers returns the group=db timers of pkt.
func dbTimers(pkt *pinbatest.Packet) []pinbatest.Timer {
	var ts []pinbatest.Timer
	for _, t := range pkt.Timers {
		if t.Tags.Get("group") == "db" {
			ts = append(ts, t)
		}
	}
	return ts
}

// hitsByOp returns the hits of pkt's db timers, by op.
func hitsByOp(pkt *pinbatest.Packet) map[string]uint32 {
	m := map[string]uint32{}
	for _, t := range dbTimers(pkt) {
		m[t.Tags.Get("op")] += t.HitCount
	}
	return m
}

// openFile opens a timed SQLite database in a file of the test's temporary
// directory (in WAL mode, waiting up to 5 s for a lock), closed when the
// test ends.
func openFile(t testing.TB, name string, opts ...Option) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), name) + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)"
	db, err := Open("sqlite", dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// realConn opens an SQLite connection on a database of its own, closed
// when the test ends.
func realConn(t testing.TB) driver.Conn {
	t.Helper()
	c, err := (&sqlite.Driver{}).Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The fakes below stand between the wrappers and a real SQLite connection,
// statement or rows, and have exactly the optional interfaces a test picks
// (their combinations are generated in wrap_gen_test.go): each method calls
// the SQLite value's, or does what database/sql does when the interface is
// absent where SQLite lacks it.

// fakeConn is a connection over a real SQLite connection. Its prepared
// statements and rows have the masks stmtMask and rowsMask.
type fakeConn struct {
	real               driver.Conn
	stmtMask, rowsMask int
	prepares           int // calls of Prepare and PrepareContext
}

func (c *fakeConn) Prepare(query string) (driver.Stmt, error) {
	return c.prepareContext(context.Background(), query)
}

func (c *fakeConn) Close() error { return nil } // the test closes the real one

func (c *fakeConn) Begin() (driver.Tx, error) {
	return c.beginTx(context.Background(), driver.TxOptions{})
}

func (c *fakeConn) ping(ctx context.Context) error { return c.real.(driver.Pinger).Ping(ctx) }

func (c *fakeConn) resetSession(ctx context.Context) error {
	return c.real.(driver.SessionResetter).ResetSession(ctx)
}

func (c *fakeConn) isValid() bool { return c.real.(driver.Validator).IsValid() }

func (c *fakeConn) prepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.prepares++
	s, err := c.real.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return (&fakeStmt{real: s, rowsMask: c.rowsMask}).wrap(c.stmtMask), nil
}

func (c *fakeConn) queryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.real.(driver.QueryerContext).QueryContext(ctx, q, args)
	if err != nil {
		return nil, err
	}
	return (&fakeRows{real: r}).wrap(c.rowsMask), nil
}

func (c *fakeConn) execContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.real.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *fakeConn) beginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.real.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// fakeStmt is a statement over a real SQLite statement.
type fakeStmt struct {
	real     driver.Stmt
	rowsMask int
}

func (s *fakeStmt) Close() error  { return s.real.Close() }
func (s *fakeStmt) NumInput() int { return s.real.NumInput() }

func (s *fakeStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.execContext(context.Background(), named(args))
}

func (s *fakeStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.queryContext(context.Background(), named(args))
}

func (s *fakeStmt) execContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.real.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *fakeStmt) queryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.real.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return (&fakeRows{real: r}).wrap(s.rowsMask), nil
}

func (s *fakeStmt) columnConverter(int) driver.ValueConverter {
	return driver.DefaultParameterConverter
}

// named turns positional values into named values.
func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// fakeRows are rows over real SQLite rows.
type fakeRows struct{ real driver.Rows }

func (r *fakeRows) Columns() []string              { return r.real.Columns() }
func (r *fakeRows) Close() error                   { return r.real.Close() }
func (r *fakeRows) Next(dest []driver.Value) error { return r.real.Next(dest) }
func (r *fakeRows) hasNextResultSet() bool         { return false }
func (r *fakeRows) nextResultSet() error           { return io.EOF }

func (r *fakeRows) columnTypeScanType(i int) reflect.Type {
	return r.real.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

func (r *fakeRows) columnTypeDatabaseTypeName(i int) string {
	return r.real.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *fakeRows) columnTypeLength(i int) (int64, bool) {
	return r.real.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *fakeRows) columnTypeNullable(i int) (bool, bool) {
	return r.real.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *fakeRows) columnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.real.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}

// fakeConnector opens one fakeConn at a time over real SQLite connections of
// one shared in-memory database.
type fakeConnector struct {
	t                            testing.TB
	dsn                          string
	connMask, stmtMask, rowsMask int
	// extra, when set, turns the fake connection into what it returns (to
	// add the interfaces the generated fakes do not vary).
	extra func(*fakeConn) driver.Conn
	last  *fakeConn
}

func (c *fakeConnector) Connect(context.Context) (driver.Conn, error) {
	real, err := (&sqlite.Driver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { real.Close() })
	fc := &fakeConn{real: real, stmtMask: c.stmtMask, rowsMask: c.rowsMask}
	c.last = fc
	if c.extra != nil {
		return c.extra(fc), nil
	}
	return fc.wrap(c.connMask), nil
}

func (c *fakeConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// plainQueryConn adds Query and Exec without a context.
type plainQueryConn struct{ *fakeConn }

func (c plainQueryConn) Query(q string, args []driver.Value) (driver.Rows, error) {
	return c.queryContext(context.Background(), q, named(args))
}

func (c plainQueryConn) Exec(q string, args []driver.Value) (driver.Result, error) {
	return c.execContext(context.Background(), q, named(args))
}

// checkerConn adds a NamedValueChecker that counts its calls and refuses
// the value "refused".
type checkerConn struct {
	*fakeConn
	checks *int
}

func (c checkerConn) CheckNamedValue(nv *driver.NamedValue) error {
	*c.checks++
	if nv.Value == "refused" {
		return errRefused
	}
	return driver.ErrSkip
}

var errRefused = &refusedError{}

type refusedError struct{}

func (*refusedError) Error() string { return "value refused" }
