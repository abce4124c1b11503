// Command wrapgen writes wrap_gen.go: for each wrapped value of package
// pynbasql (connection, statement, rows), one type per combination of the
// optional interfaces whose absence database/sql must see, and the function
// that picks the type having exactly the inner value's interfaces; and
// wrap_gen_test.go: the same combinations over the tests' fake values.
// Run it with go generate in the module's root (see wrap.go); a test of this
// package checks that the files are up to date.
//
// Every type is a struct whose only field is a pointer, so storing it in an
// interface allocates nothing, and each of its methods is one call into the
// hand-written base type.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
)

// An iface is one optional interface: its letter in type names, the
// interface, and the methods a type that has it gets (format strings whose
// %[1]s is the receiver's type).
type iface struct {
	letter  string
	name    string // the interface, as written in Go
	methods []string
}

// conditions are, by interface, the condition under which a wrapper gets it
// when that is not the inner value having it: a connection with Query or
// Exec without a context gets the context ones, which call them as
// database/sql would.
var conditions = map[string]string{
	"driver.QueryerContext": "c.queryerCtx != nil || c.queryer != nil",
	"driver.ExecerContext":  "c.execerCtx != nil || c.execer != nil",
}

// A family is a wrapped value: its base type, the prefix of its types'
// names, the interface the wrap function returns, and its optional
// interfaces.
type family struct {
	base, fakeBase string // the base types, *base embedded
	prefix         string // of generated type names
	result         string // what wrap returns
	ifaces         []iface
}

var families = []family{
	{"conn", "fakeConn", "conn", "driver.Conn", []iface{
		{"P", "driver.Pinger", []string{
			"// Ping pings the connection, timed as op=ping.\nfunc (c %[1]s) Ping(ctx context.Context) error { return c.ping(ctx) }",
		}},
		{"R", "driver.SessionResetter", []string{
			"// ResetSession calls the connection's.\nfunc (c %[1]s) ResetSession(ctx context.Context) error { return c.resetSession(ctx) }",
		}},
		{"V", "driver.Validator", []string{
			"// IsValid calls the connection's.\nfunc (c %[1]s) IsValid() bool { return c.isValid() }",
		}},
		{"C", "driver.ConnPrepareContext", []string{
			"// PrepareContext prepares a statement, timed as op=prepare.\nfunc (c %[1]s) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) { return c.prepareContext(ctx, query) }",
		}},
		{"B", "driver.ConnBeginTx", []string{
			"// BeginTx begins a transaction, timed as op=begin.\nfunc (c %[1]s) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) { return c.beginTx(ctx, opts) }",
		}},
		{"Q", "driver.QueryerContext", []string{
			"// QueryContext runs a query, timed until the rows are closed.\nfunc (c %[1]s) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) { return c.queryContext(ctx, query, args) }",
		}},
		{"E", "driver.ExecerContext", []string{
			"// ExecContext runs a statement, timed.\nfunc (c %[1]s) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) { return c.execContext(ctx, query, args) }",
		}},
	}},
	{"stmt", "fakeStmt", "stmt", "driver.Stmt", []iface{
		{"E", "driver.StmtExecContext", []string{
			"// ExecContext runs the statement, timed.\nfunc (s %[1]s) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) { return s.execContext(ctx, args) }",
		}},
		{"Q", "driver.StmtQueryContext", []string{
			"// QueryContext runs the statement, timed until the rows are closed.\nfunc (s %[1]s) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) { return s.queryContext(ctx, args) }",
		}},
		{"C", "driver.ColumnConverter", []string{
			"// ColumnConverter returns the statement's converter for a column.\nfunc (s %[1]s) ColumnConverter(idx int) driver.ValueConverter { return s.columnConverter(idx) }",
		}},
	}},
	{"rows", "fakeRows", "rows", "driver.Rows", []iface{
		{"M", "driver.RowsNextResultSet", []string{
			"// HasNextResultSet calls the rows'.\nfunc (r %[1]s) HasNextResultSet() bool { return r.hasNextResultSet() }",
			"// NextResultSet calls the rows'.\nfunc (r %[1]s) NextResultSet() error { return r.nextResultSet() }",
		}},
		{"S", "driver.RowsColumnTypeScanType", []string{
			"// ColumnTypeScanType calls the rows'.\nfunc (r %[1]s) ColumnTypeScanType(i int) reflect.Type { return r.columnTypeScanType(i) }",
		}},
		{"D", "driver.RowsColumnTypeDatabaseTypeName", []string{
			"// ColumnTypeDatabaseTypeName calls the rows'.\nfunc (r %[1]s) ColumnTypeDatabaseTypeName(i int) string { return r.columnTypeDatabaseTypeName(i) }",
		}},
		{"L", "driver.RowsColumnTypeLength", []string{
			"// ColumnTypeLength calls the rows'.\nfunc (r %[1]s) ColumnTypeLength(i int) (int64, bool) { return r.columnTypeLength(i) }",
		}},
		{"N", "driver.RowsColumnTypeNullable", []string{
			"// ColumnTypeNullable calls the rows'.\nfunc (r %[1]s) ColumnTypeNullable(i int) (nullable, ok bool) { return r.columnTypeNullable(i) }",
		}},
		{"P", "driver.RowsColumnTypePrecisionScale", []string{
			"// ColumnTypePrecisionScale calls the rows'.\nfunc (r %[1]s) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) { return r.columnTypePrecisionScale(i) }",
		}},
	}},
}

// typeName names the type of a combination: the prefix and the letters of
// its interfaces ("connPC"), or the prefix and "Plain".
func typeName(prefix string, f family, combo int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i, it := range f.ifaces {
		if combo&(1<<i) != 0 {
			b.WriteString(it.letter)
		}
	}
	if combo == 0 {
		b.WriteString("Plain")
	}
	return b.String()
}

// generate returns the formatted source of wrap_gen.go (test false) or of
// wrap_gen_test.go (test true).
func generate(test bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/wrapgen; DO NOT EDIT.\n\npackage pynbasql\n\n")
	b.WriteString("import (\n\"context\"\n\"database/sql/driver\"\n\"reflect\"\n)\n\n")
	for _, f := range families {
		base, prefix := f.base, f.prefix
		if test {
			base, prefix = f.fakeBase, "fake"+strings.ToUpper(f.prefix[:1])+f.prefix[1:]
		}
		n := 1 << len(f.ifaces)
		if test {
			fmt.Fprintf(&b, "// wrap returns %s as a %s with the optional interfaces in mask (bit i\n// for %sIfaces[i]).\n", base[:1], f.result, f.prefix)
			fmt.Fprintf(&b, "func (%s *%s) wrap(mask int) %s {\nswitch mask {\n", base[:1], base, f.result)
			for combo := range n {
				fmt.Fprintf(&b, "case %d:\nreturn %s{%s}\n", combo, typeName(prefix, f, combo), base[:1])
			}
			fmt.Fprintf(&b, "}\npanic(\"bad mask\")\n}\n\n")
			fmt.Fprintf(&b, "// %sIfaces are the optional interfaces of a %s, by mask bit.\nvar %sIfaces = []reflect.Type{\n", f.prefix, f.base, f.prefix)
			for _, it := range f.ifaces {
				fmt.Fprintf(&b, "reflect.TypeFor[%s](),\n", it.name)
			}
			b.WriteString("}\n\n")
		} else {
			fmt.Fprintf(&b, "// wrap returns %s as a %s with exactly the optional interfaces that\n// %s.inner has among these:\n", base[:1], f.result, base[:1])
			for _, it := range f.ifaces {
				fmt.Fprintf(&b, "//   - %s", it.name)
				switch it.name {
				case "driver.QueryerContext":
					b.WriteString(" (or driver.Queryer)")
				case "driver.ExecerContext":
					b.WriteString(" (or driver.Execer)")
				}
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "func (%s *%s) wrap() %s {\nmask := 0\n", base[:1], base, f.result)
			for i, it := range f.ifaces {
				if cond, ok := conditions[it.name]; ok {
					fmt.Fprintf(&b, "if %s {\nmask |= %d\n}\n", cond, 1<<i)
					continue
				}
				fmt.Fprintf(&b, "if _, ok := %s.inner.(%s); ok {\nmask |= %d\n}\n", base[:1], it.name, 1<<i)
			}
			b.WriteString("switch mask {\n")
			for combo := range n {
				fmt.Fprintf(&b, "case %d:\nreturn %s{%s}\n", combo, typeName(prefix, f, combo), base[:1])
			}
			fmt.Fprintf(&b, "}\nreturn %s\n}\n\n", base[:1])
		}
		for combo := range n {
			name := typeName(prefix, f, combo)
			var has []string
			for i, it := range f.ifaces {
				if combo&(1<<i) != 0 {
					has = append(has, it.name)
				}
			}
			what := "none of the optional interfaces"
			if len(has) > 0 {
				what = strings.Join(has, ", ")
			}
			fmt.Fprintf(&b, "// %s has %s.\ntype %s struct{ *%s }\n\n", name, what, name, base)
			for i, it := range f.ifaces {
				if combo&(1<<i) == 0 {
					continue
				}
				for _, m := range it.methods {
					fmt.Fprintf(&b, m+"\n\n", name)
				}
			}
		}
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the generated code: %w\n%s", err, b.Bytes())
	}
	return src, nil
}

func main() {
	out := flag.String("o", "wrap_gen.go", "the wrappers' file")
	testOut := flag.String("test", "wrap_gen_test.go", "the test fakes' file")
	flag.Parse()
	for _, f := range []struct {
		path string
		test bool
	}{{*out, false}, {*testOut, true}} {
		src, err := generate(f.test)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(f.path, src, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
