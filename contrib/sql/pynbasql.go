// Package pynbasql times database/sql calls as Pinba timers: wrap a driver
// (Wrap), a connector (WrapConnector) or open a database (Open), and every
// query, exec, prepare, statement exec or query, begin, commit, rollback,
// ping and new connection that a monitored request makes is a timer of that
// request, tagged
//
//	group=db  op=select|insert|update|delete|...|begin|commit|rollback|prepare|connect|ping|other
//	server=<the DSN's host, the SQLite file's base name, or WithServer's name>
//
// The op of a statement is its first keyword (see Op). A timer lands in the
// request that the context given to the call carries (db.QueryContext(r.Context(), ...)),
// else in the request bound to the calling goroutine (the handler's, or a
// pynba.Go child's), so db.Query without a context is timed too. Outside a
// monitored request a call is passed through untimed, and the wrapper adds
// no allocation to it.
//
// A query's timer runs until its rows are closed: it covers iterating the
// rows (database/sql closes them when Next returns false, on Rows.Close, and
// when the query's context is canceled), which is where most drivers read
// the results. Rows never closed have their timer stopped when the request
// ends. A transaction's commit and rollback land in the request that began
// it; a transaction begun outside a request is not timed.
//
// The wrappers have exactly the optional interfaces of what they wrap
// (driver.Pinger, driver.SessionResetter, driver.Validator,
// driver.ConnPrepareContext, driver.ConnBeginTx, driver.QueryerContext,
// driver.ExecerContext, driver.StmtExecContext, driver.StmtQueryContext,
// driver.ColumnConverter, driver.RowsNextResultSet, the
// driver.RowsColumnType* interfaces, driver.DriverContext, io.Closer on a
// connector), so that database/sql takes the same paths as with the
// unwrapped driver: it asks for each and does something else without it.
// Two exceptions keep database/sql's behaviour all the same. A connection
// with only the non-context driver.Queryer (driver.Execer) gets
// driver.QueryerContext (driver.ExecerContext), which calls it as
// database/sql would (refusing named arguments, checking the context
// first). Every wrapped connection and statement has
// driver.NamedValueChecker: it calls the statement's, else the
// connection's, else returns driver.ErrSkip, which database/sql documents
// as "go on as if there were none".
package pynbasql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"sync"
)

// Wrap returns a driver that times the calls made through drv. Register it
// under a name of its own, or open a database with it through a connector:
//
//	sql.Register("sqlite-pynba", pynbasql.Wrap(&sqlite.Driver{}))
//	db, err := sql.Open("sqlite-pynba", "file:shop.db")
//
// The server tag is ServerFromDSN of the name the database is opened with,
// unless WithServer sets it. The returned driver has driver.DriverContext
// exactly when drv has it.
func Wrap(drv driver.Driver, opts ...Option) driver.Driver {
	d := &wrappedDriver{inner: drv, cfg: newConfig(opts)}
	if _, ok := drv.(driver.DriverContext); ok {
		return wrappedDriverContext{d}
	}
	return d
}

// WrapConnector returns a connector that times the calls made through the
// connections c opens, for sql.OpenDB:
//
//	db := sql.OpenDB(pynbasql.WrapConnector(c, pynbasql.WithServer("users")))
//
// A connector does not tell its DSN, so the server tag is WithServer's name,
// and absent without it. The returned connector is an io.Closer exactly when
// c is; its Driver is c.Driver() wrapped with the same options.
func WrapConnector(c driver.Connector, opts ...Option) driver.Connector {
	cfg := newConfig(opts)
	d := &wrappedDriver{inner: c.Driver(), cfg: cfg}
	var drv driver.Driver = d
	if _, ok := d.inner.(driver.DriverContext); ok {
		drv = wrappedDriverContext{d}
	}
	return newConnector(c, drv, newTagSet(&cfg, cfg.server))
}

// Open opens a database with the driver registered as driverName, wrapped as
// Wrap does, and the data source name dsn: the sql.Open of a timed database.
//
//	db, err := pynbasql.Open("sqlite", "file:shop.db")
//
// It returns the errors sql.Open returns (an unknown driver, a DSN the
// driver's connector refuses).
func Open(driverName, dsn string, opts ...Option) (*sql.DB, error) {
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	if err := probe.Close(); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	d := &wrappedDriver{inner: drv, cfg: cfg}
	if dc, ok := drv.(driver.DriverContext); ok {
		c, err := dc.OpenConnector(dsn)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(newConnector(c, wrappedDriverContext{d}, d.tagsFor(dsn))), nil
	}
	return sql.OpenDB(newConnector(dsnConnector{dsn: dsn, drv: drv}, d, d.tagsFor(dsn))), nil
}

// dsnConnector is the connector of a driver that has no OpenConnector, as
// database/sql makes one: Connect opens the DSN.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// maxTagSets bounds the tag sets a driver keeps, one per DSN opened.
const maxTagSets = 64

// wrappedDriver is the driver Wrap returns.
type wrappedDriver struct {
	inner driver.Driver
	cfg   config

	mu   sync.Mutex
	sets map[string]*tagSet // by DSN
}

// tagsFor returns the tag set of the connections opened with dsn.
func (d *wrappedDriver) tagsFor(dsn string) *tagSet {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ts, ok := d.sets[dsn]; ok {
		return ts
	}
	server := d.cfg.server
	if !d.cfg.serverSet {
		server = ServerFromDSN(dsn)
	}
	ts := newTagSet(&d.cfg, server)
	if d.sets == nil {
		d.sets = make(map[string]*tagSet)
	}
	if len(d.sets) < maxTagSets {
		d.sets[dsn] = ts
	}
	return ts
}

// Open opens a connection with the wrapped driver; opening it is timed
// (op=connect) when the calling goroutine is in a request.
func (d *wrappedDriver) Open(name string) (driver.Conn, error) {
	ts := d.tagsFor(name)
	h, ok := current()
	if !ok {
		c, err := d.inner.Open(name)
		if err != nil {
			return nil, err
		}
		return wrapConn(c, ts), nil
	}
	t := ts.start(h, opConnect)
	c, err := d.inner.Open(name)
	t.Stop()
	if err != nil {
		return nil, err
	}
	return wrapConn(c, ts), nil
}

// wrappedDriverContext is the driver Wrap returns for a driver.DriverContext.
type wrappedDriverContext struct{ *wrappedDriver }

// OpenConnector opens a connector with the wrapped driver and wraps it.
func (d wrappedDriverContext) OpenConnector(name string) (driver.Connector, error) {
	c, err := d.inner.(driver.DriverContext).OpenConnector(name)
	if err != nil {
		return nil, err
	}
	return newConnector(c, d, d.tagsFor(name)), nil
}

// connector is the connector WrapConnector, Open and OpenConnector return.
type connector struct {
	inner driver.Connector
	drv   driver.Driver
	tags  *tagSet
}

// newConnector wraps c, returning an io.Closer exactly when c is one.
func newConnector(c driver.Connector, drv driver.Driver, ts *tagSet) driver.Connector {
	w := &connector{inner: c, drv: drv, tags: ts}
	if _, ok := c.(io.Closer); ok {
		return closingConnector{w}
	}
	return w
}

// Connect opens a connection and wraps it; opening it is timed
// (op=connect) when ctx or the calling goroutine is in a request.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	h, ok := request(ctx)
	if !ok {
		conn, err := c.inner.Connect(ctx)
		if err != nil {
			return nil, err
		}
		return wrapConn(conn, c.tags), nil
	}
	t := c.tags.start(h, opConnect)
	conn, err := c.inner.Connect(ctx)
	t.Stop()
	if err != nil {
		return nil, err
	}
	return wrapConn(conn, c.tags), nil
}

// Driver returns the wrapped driver.
func (c *connector) Driver() driver.Driver { return c.drv }

// closingConnector is a connector whose inner connector is an io.Closer.
type closingConnector struct{ *connector }

// Close closes the wrapped connector (sql.DB.Close calls it).
func (c closingConnector) Close() error { return c.inner.(io.Closer).Close() }
