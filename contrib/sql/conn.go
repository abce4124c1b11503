package pynbasql

import (
	"context"
	"database/sql/driver"
	"errors"
)

// conn is a wrapped connection. The generated types of wrap_gen.go embed it
// and add the optional methods the inner connection has; the methods here
// are those every wrapped connection has.
type conn struct {
	inner driver.Conn
	tags  *tagSet

	// The inner connection's optional interfaces, looked up once.
	queryerCtx driver.QueryerContext
	queryer    driver.Queryer
	execerCtx  driver.ExecerContext
	execer     driver.Execer
	checker    driver.NamedValueChecker
}

// wrapConn wraps c, with exactly c's optional interfaces (see wrap_gen.go).
func wrapConn(c driver.Conn, ts *tagSet) driver.Conn {
	w := &conn{inner: c, tags: ts}
	w.queryerCtx, _ = c.(driver.QueryerContext)
	w.queryer, _ = c.(driver.Queryer)
	w.execerCtx, _ = c.(driver.ExecerContext)
	w.execer, _ = c.(driver.Execer)
	w.checker, _ = c.(driver.NamedValueChecker)
	return w.wrap()
}

// Prepare prepares a statement (database/sql calls it when the connection
// has no PrepareContext); it is timed as op=prepare in the goroutine's
// request.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	h, ok := current()
	if !ok {
		s, err := c.inner.Prepare(query)
		if err != nil {
			return nil, err
		}
		return wrapStmt(s, c, query), nil
	}
	t := c.tags.start(h, opPrepare)
	s, err := c.inner.Prepare(query)
	t.Stop()
	if err != nil {
		return nil, err
	}
	return wrapStmt(s, c, query), nil
}

// prepareContext is PrepareContext, for connections that have it.
func (c *conn) prepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	pc := c.inner.(driver.ConnPrepareContext)
	h, ok := request(ctx)
	if !ok {
		s, err := pc.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		return wrapStmt(s, c, query), nil
	}
	t := c.tags.start(h, opPrepare)
	s, err := pc.PrepareContext(ctx, query)
	t.Stop()
	if err != nil {
		return nil, err
	}
	return wrapStmt(s, c, query), nil
}

// Close closes the connection.
func (c *conn) Close() error { return c.inner.Close() }

// Begin begins a transaction (database/sql calls it when the connection has
// no BeginTx); it is timed as op=begin in the goroutine's request.
//
// Deprecated: database/sql calls BeginTx when the driver has it, as
// driver.Conn's Begin says.
func (c *conn) Begin() (driver.Tx, error) {
	h, ok := current()
	if !ok {
		return c.inner.Begin()
	}
	t := c.tags.start(h, opBegin)
	tx, err := c.inner.Begin()
	t.Stop()
	if err != nil {
		return nil, err
	}
	return &wrappedTx{inner: tx, h: h, tags: c.tags}, nil
}

// beginTx is BeginTx, for connections that have it.
func (c *conn) beginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	bt := c.inner.(driver.ConnBeginTx)
	h, ok := request(ctx)
	if !ok {
		return bt.BeginTx(ctx, opts)
	}
	t := c.tags.start(h, opBegin)
	tx, err := bt.BeginTx(ctx, opts)
	t.Stop()
	if err != nil {
		return nil, err
	}
	return &wrappedTx{inner: tx, h: h, tags: c.tags}, nil
}

// ping is Ping, for connections that have it; timed as op=ping.
func (c *conn) ping(ctx context.Context) error {
	p := c.inner.(driver.Pinger)
	h, ok := request(ctx)
	if !ok {
		return p.Ping(ctx)
	}
	t := c.tags.start(h, opPing)
	err := p.Ping(ctx)
	t.Stop()
	return err
}

// resetSession is ResetSession, for connections that have it (not timed:
// database/sql calls it between uses of the connection).
func (c *conn) resetSession(ctx context.Context) error {
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

// isValid is IsValid, for connections that have it.
func (c *conn) isValid() bool { return c.inner.(driver.Validator).IsValid() }

// errNamedParams is database/sql's error for named arguments given to a
// driver that only takes positional ones.
var errNamedParams = errors.New("sql: driver does not support the use of Named Parameters")

// values turns named values into positional ones, as database/sql does for a
// driver without the context methods.
func values(named []driver.NamedValue) ([]driver.Value, error) {
	v := make([]driver.Value, len(named))
	for i, nv := range named {
		if nv.Name != "" {
			return nil, errNamedParams
		}
		v[i] = nv.Value
	}
	return v, nil
}

// queryContext is QueryContext, for connections that have QueryContext or
// Query: it calls the first, or the second as database/sql would. The timer
// (op from the statement's first keyword) runs until the rows are closed.
func (c *conn) queryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	h, ok := request(ctx)
	if !ok {
		return c.query(ctx, query, args)
	}
	t := c.tags.start(h, opOf(query))
	r, err := c.query(ctx, query, args)
	if err != nil {
		if err == driver.ErrSkip { // database/sql prepares instead
			t.Delete()
		} else {
			t.Stop()
		}
		return nil, err
	}
	return wrapRows(r, h, t), nil
}

// query calls the inner connection's QueryContext or Query.
func (c *conn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.queryerCtx != nil {
		return c.queryerCtx.QueryContext(ctx, query, args)
	}
	v, err := values(args)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.queryer.Query(query, v)
}

// execContext is ExecContext, for connections that have ExecContext or
// Exec: it calls the first, or the second as database/sql would.
func (c *conn) execContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	h, ok := request(ctx)
	if !ok {
		return c.exec(ctx, query, args)
	}
	t := c.tags.start(h, opOf(query))
	res, err := c.exec(ctx, query, args)
	if err == driver.ErrSkip { // database/sql prepares instead
		t.Delete()
	} else {
		t.Stop()
	}
	return res, err
}

// exec calls the inner connection's ExecContext or Exec.
func (c *conn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.execerCtx != nil {
		return c.execerCtx.ExecContext(ctx, query, args)
	}
	v, err := values(args)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.execer.Exec(query, v)
}

// CheckNamedValue calls the connection's CheckNamedValue, or returns
// driver.ErrSkip, which makes database/sql convert the value as it does for
// a connection without one.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if c.checker == nil {
		return driver.ErrSkip
	}
	return c.checker.CheckNamedValue(nv)
}
