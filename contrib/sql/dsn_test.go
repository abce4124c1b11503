package pynbasql

import "testing"

func TestServerFromDSN(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"", ""},
		{"   ", ""},
		// URLs
		{"postgres://user:pw@db1.example:5432/shop?sslmode=disable", "db1.example"},
		{"postgresql://db1/shop", "db1"},
		{"postgres://user@[::1]:5432/shop", "::1"},
		{"postgres:///shop?host=db2", "db2"},
		{"postgres:///shop?host=/var/run/postgresql", "localhost"},
		{"postgres:///shop", "localhost"},
		{"mysql://u:p@mysql.internal:3306/app", "mysql.internal"},
		{"sqlserver://sa:pw@mssql:1433?database=app", "mssql"},
		{"clickhouse://ch1:9000,ch2:9000/db", "ch1"},
		{"sqlite:///var/lib/app/data.db", "data.db"},
		{"sqlite3://data/app.sqlite?cache=shared", "app.sqlite"},
		{"file:///var/db/x.db", "x.db"},
		// MySQL driver DSNs
		{"user:pw@tcp(db1:3306)/shop?parseTime=true", "db1"},
		{"user:p@ss@tcp(127.0.0.1:3306)/shop", "127.0.0.1"},
		{"user@tcp([::1]:3306)/shop", "::1"},
		{"user@unix(/run/mysqld/mysqld.sock)/shop", "localhost"},
		{"user:pw@/shop", "localhost"},
		{"user:pw@tcp(db1)/shop", "db1"},
		// key=value
		{"host=db1 port=5432 dbname=shop", "db1"},
		{"dbname=shop host='db3' user=x", "db3"},
		{"host=/tmp dbname=shop", "localhost"},
		{"host=h1,h2 dbname=shop", "h1"},
		{"dbname=shop user=x", ""},
		{"server=mssql1,1433;database=app;user id=sa", "mssql1"},
		{"Server=tcp:mssql2,1433;Database=app", "mssql2"},
		{"server=box\\SQLEXPRESS;database=app", "box"},
		{"Data Source=ora1:1521/XE;User Id=x", "ora1"},
		// SQLite files
		{":memory:", ":memory:"},
		{"file::memory:?cache=shared", ":memory:"},
		{"file:shop.db?cache=shared&mode=rwc", "shop.db"},
		{"file:data/shop.db", "shop.db"},
		{"/var/lib/app/shop.sqlite3", "shop.sqlite3"},
		{"shop.db", "shop.db"},
		{"shop.db?_pragma=busy_timeout(5000)", "shop.db"},
		{`C:\data\shop.db`, "shop.db"},
	} {
		if got := ServerFromDSN(c.dsn); got != c.want {
			t.Errorf("ServerFromDSN(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}
