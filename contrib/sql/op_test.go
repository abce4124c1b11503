package pynbasql

import "testing"

func TestOp(t *testing.T) {
	for _, c := range []struct{ query, want string }{
		{"SELECT 1", "select"},
		{"select 1", "select"},
		{"  \n\tInSeRt INTO t VALUES (1)", "insert"},
		{"-- comment\nUPDATE t SET v = 1", "update"},
		{"# mysql comment\nDELETE FROM t", "delete"},
		{"/* a */ /* b */DELETE FROM t", "delete"},
		{"/* unterminated", "other"},
		{"((SELECT 1) UNION (SELECT 2))", "select"},
		{"(\n  -- c\n  select 1)", "select"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "select"},
		{"with recursive r(n) as (select 1 union all select n+1 from r where n < 3) select n from r", "select"},
		{"WITH a AS (SELECT ')' AS p), b AS NOT MATERIALIZED (SELECT \"(\" FROM a) INSERT INTO t SELECT * FROM b", "insert"},
		{"WITH x AS (DELETE FROM t RETURNING *) UPDATE u SET v = 1", "update"},
		{"WITH x AS (SELECT 1 /* ) */) DELETE FROM t", "delete"},
		{"WITH x AS (SELECT 1)", "with"},
		{"WITH", "with"},
		{"REPLACE INTO t VALUES (1)", "replace"},
		{"MERGE INTO t USING s ON true", "merge"},
		{"VALUES (1), (2)", "values"},
		{"CREATE TABLE t (v INTEGER)", "create"},
		{"create index i on t(v)", "create"},
		{"ALTER TABLE t ADD c", "alter"},
		{"DROP TABLE t", "drop"},
		{"TRUNCATE t", "truncate"},
		{"CALL p()", "call"},
		{"EXPLAIN SELECT 1", "explain"},
		{"PRAGMA journal_mode", "pragma"},
		{"SET search_path = x", "set"},
		{"SHOW TABLES", "show"},
		{"USE shop", "use"},
		{"VACUUM", "vacuum"},
		{"ANALYZE", "analyze"},
		{"analyse t", "analyze"},
		{"ATTACH 'x.db' AS x", "attach"},
		{"DETACH x", "detach"},
		{"COPY t FROM stdin", "copy"},
		{"LOCK TABLE t", "lock"},
		{"GRANT ALL ON t TO u", "grant"},
		{"REVOKE ALL ON t FROM u", "revoke"},
		{"SAVEPOINT a", "savepoint"},
		{"RELEASE a", "release"},
		{"BEGIN", "begin"},
		{"START TRANSACTION", "begin"},
		{"COMMIT", "commit"},
		{"END", "commit"},
		{"ROLLBACK", "rollback"},
		{"ABORT", "rollback"},
		{"", "other"},
		{"   ", "other"},
		{"-- only a comment", "other"},
		{"42", "other"},
		{"SELECTX 1", "other"},
		{"frobnicate the database", "other"},
		{"selectselectselect", "other"},
		{";SELECT 1", "other"},
		{"'SELECT'", "other"},
		{"SÉLECT 1", "other"},
	} {
		if got := Op(c.query); got != c.want {
			t.Errorf("Op(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}

// TestOpAllocations checks that finding a statement's op allocates nothing.
func TestOpAllocations(t *testing.T) {
	q := "/* c */ WITH a AS (SELECT 'x)') SELECT * FROM a"
	if n := testing.AllocsPerRun(100, func() { _ = Op(q) }); n != 0 {
		t.Errorf("Op allocates %v times", n)
	}
}

func FuzzOp(f *testing.F) {
	for _, s := range []string{"SELECT 1", "WITH x AS (SELECT 1) DELETE FROM t", "/* x", "(((", "'", "WITH [a] AS (\"b\")"} {
		f.Add(s)
	}
	valid := map[string]bool{}
	for _, n := range opNames {
		valid[n] = true
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := Op(q)
		if !valid[got] {
			t.Fatalf("Op(%q) = %q, not an op", q, got)
		}
	})
}

func BenchmarkOp(b *testing.B) {
	for _, c := range []struct{ name, query string }{
		{"select", "SELECT id, name FROM items WHERE id = ?"},
		{"comment", "/* handler=cart */ -- x\n  SELECT 1"},
		{"with", "WITH a AS (SELECT id FROM items WHERE name = 'x') SELECT count(*) FROM a"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = opOf(c.query)
			}
		})
	}
}
