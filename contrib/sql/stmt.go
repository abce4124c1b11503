package pynbasql

import (
	"context"
	"database/sql/driver"
)

// stmt is a wrapped prepared statement. The generated types of wrap_gen.go
// embed it and add the optional methods the inner statement has.
type stmt struct {
	inner   driver.Stmt
	op      op // of the statement's text, found once at Prepare
	tags    *tagSet
	checker driver.NamedValueChecker // the statement's, else its connection's
}

// wrapStmt wraps s, prepared from query on c, with exactly s's optional
// interfaces (see wrap_gen.go).
func wrapStmt(s driver.Stmt, c *conn, query string) driver.Stmt {
	w := &stmt{inner: s, op: opOf(query), tags: c.tags, checker: c.checker}
	if nvc, ok := s.(driver.NamedValueChecker); ok {
		w.checker = nvc
	}
	return w.wrap()
}

// Close closes the statement.
func (s *stmt) Close() error { return s.inner.Close() }

// NumInput returns the statement's NumInput.
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec runs the statement (database/sql calls it when the statement has no
// ExecContext), timed in the goroutine's request.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	h, ok := current()
	if !ok {
		return s.inner.Exec(args)
	}
	t := s.tags.start(h, s.op)
	res, err := s.inner.Exec(args)
	t.Stop()
	return res, err
}

// Query runs the statement (database/sql calls it when the statement has no
// QueryContext), timed in the goroutine's request until the rows are closed.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	h, ok := current()
	if !ok {
		return s.inner.Query(args)
	}
	t := s.tags.start(h, s.op)
	r, err := s.inner.Query(args)
	if err != nil {
		t.Stop()
		return nil, err
	}
	return wrapRows(r, h, t), nil
}

// execContext is ExecContext, for statements that have it.
func (s *stmt) execContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ec := s.inner.(driver.StmtExecContext)
	h, ok := request(ctx)
	if !ok {
		return ec.ExecContext(ctx, args)
	}
	t := s.tags.start(h, s.op)
	res, err := ec.ExecContext(ctx, args)
	t.Stop()
	return res, err
}

// queryContext is QueryContext, for statements that have it.
func (s *stmt) queryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	qc := s.inner.(driver.StmtQueryContext)
	h, ok := request(ctx)
	if !ok {
		return qc.QueryContext(ctx, args)
	}
	t := s.tags.start(h, s.op)
	r, err := qc.QueryContext(ctx, args)
	if err != nil {
		t.Stop()
		return nil, err
	}
	return wrapRows(r, h, t), nil
}

// columnConverter is ColumnConverter, for statements that have it.
func (s *stmt) columnConverter(idx int) driver.ValueConverter {
	return s.inner.(driver.ColumnConverter).ColumnConverter(idx)
}

// CheckNamedValue calls the statement's CheckNamedValue, else its
// connection's, else returns driver.ErrSkip: database/sql then goes on as it
// does when neither has one (the column converter, then the default
// conversion).
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if s.checker == nil {
		return driver.ErrSkip
	}
	return s.checker.CheckNamedValue(nv)
}
