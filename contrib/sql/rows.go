package pynbasql

import (
	"database/sql/driver"
	"reflect"
	"sync/atomic"

	"github.com/pynba-go/pynba"
)

// rows are the rows of a query made in a request, whose timer runs until
// they are closed. The generated types of wrap_gen.go embed it and add the
// optional methods the inner rows have. Rows of a query made outside a
// request are not wrapped.
type rows struct {
	inner  driver.Rows
	h      pynba.Collector // the request of the query
	timer  pynba.TimerRef
	closed atomic.Bool
}

// wrapRows wraps r, the rows of a query of request h timed by t, with
// exactly r's optional interfaces (see wrap_gen.go).
func wrapRows(r driver.Rows, h pynba.Collector, t pynba.TimerRef) driver.Rows {
	return (&rows{inner: r, h: h, timer: t}).wrap()
}

// Columns returns the rows' column names.
func (r *rows) Columns() []string { return r.inner.Columns() }

// Next reads the next row.
func (r *rows) Next(dest []driver.Value) error { return r.inner.Next(dest) }

// Close closes the rows and stops the query's timer (once, whichever
// goroutine closes them). Rows closed after their request ended leave the
// timer as the request's end stopped it.
func (r *rows) Close() error {
	err := r.inner.Close()
	if r.closed.CompareAndSwap(false, true) && r.h.Valid() {
		r.timer.Stop()
	}
	return err
}

func (r *rows) hasNextResultSet() bool {
	return r.inner.(driver.RowsNextResultSet).HasNextResultSet()
}

func (r *rows) nextResultSet() error {
	return r.inner.(driver.RowsNextResultSet).NextResultSet()
}

func (r *rows) columnTypeScanType(i int) reflect.Type {
	return r.inner.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

func (r *rows) columnTypeDatabaseTypeName(i int) string {
	return r.inner.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *rows) columnTypeLength(i int) (int64, bool) {
	return r.inner.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *rows) columnTypeNullable(i int) (nullable, ok bool) {
	return r.inner.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *rows) columnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	return r.inner.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}
