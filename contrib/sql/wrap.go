package pynbasql

// The wrapper types of wrap_gen.go: one per combination of the optional
// interfaces of a connection (driver.Pinger, driver.SessionResetter,
// driver.Validator, driver.ConnPrepareContext, driver.ConnBeginTx,
// driver.QueryerContext, driver.ExecerContext), a
// statement (driver.StmtExecContext, driver.StmtQueryContext,
// driver.ColumnConverter) and rows (driver.RowsNextResultSet and the five
// driver.RowsColumnType* interfaces). database/sql asks for each of these
// and takes another path when it is absent (it does not ping, keeps a
// connection after a rollback only with both SessionResetter and Validator,
// prepares with Prepare and checks the context itself, prepares a query
// instead of running it directly and then converts its arguments with the
// statement's column converter, reads every column type as any), so a wrapper must have one
// exactly when the wrapped value does. (A connection whose Query and Exec
// take no context gets the context ones, which database/sql calls the
// same way: converting the arguments first, without the statement; only
// with neither does it prepare.)

//go:generate go run ./internal/wrapgen -o wrap_gen.go -test wrap_gen_test.go
