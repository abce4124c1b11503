package pynbasql

import (
	"database/sql/driver"

	"github.com/pynba-go/pynba"
)

// wrappedTx is a transaction begun in a request: its commit and rollback
// are timed in that request, whichever goroutine ends it (database/sql rolls
// back from a goroutine of its own when the context is canceled). Once the
// request has ended they are not timed.
type wrappedTx struct {
	inner driver.Tx
	h     pynba.Collector
	tags  *tagSet
}

// Commit commits the transaction, timed as op=commit.
func (t *wrappedTx) Commit() error {
	if !t.h.Valid() {
		return t.inner.Commit()
	}
	tm := t.tags.start(t.h, opCommit)
	err := t.inner.Commit()
	tm.Stop()
	return err
}

// Rollback rolls the transaction back, timed as op=rollback.
func (t *wrappedTx) Rollback() error {
	if !t.h.Valid() {
		return t.inner.Rollback()
	}
	tm := t.tags.start(t.h, opRollback)
	err := t.inner.Rollback()
	tm.Stop()
	return err
}
