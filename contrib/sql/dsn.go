package pynbasql

import (
	"net"
	"net/url"
	"path"
	"strings"
)

// ServerFromDSN returns the server tag value a data source name gives: the
// database's host name, or for an SQLite database its file's base name.
// It knows these forms:
//
//   - a URL, "postgres://user:pw@db1.example:5432/shop?sslmode=off": the
//     host without the port ("db1.example"), else a host parameter
//     ("postgres:///shop?host=db2" gives "db2"); a host that is a Unix socket
//     directory, or no host at all, gives "localhost"; a URL whose scheme
//     is file, sqlite or sqlite3 is read as an SQLite file;
//   - a MySQL driver DSN, "user:pw@tcp(db1:3306)/shop": the address's host;
//     "user@unix(/run/mysqld.sock)/shop" and "user@/shop" give "localhost";
//   - key=value pairs, "host=db1 port=5432 dbname=shop" or
//     "server=db1,1433;database=shop": the host, hostname, server, addr,
//     address or data source value, without its port;
//   - anything else is an SQLite file name, with or without "file:" and a
//     "?" query: "file:data/shop.db?cache=shared" gives "shop.db";
//     ":memory:" and "file::memory:" give ":memory:".
//
// It returns "" when it finds no name (an empty DSN, key=value pairs without
// a host). Use WithServer to choose the name instead.
func ServerFromDSN(dsn string) string {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return ""
	}
	if i := strings.Index(dsn, "://"); i > 0 && isScheme(dsn[:i]) {
		return serverFromURL(dsn)
	}
	if strings.HasPrefix(dsn, "file:") {
		return sqliteName(dsn[len("file:"):])
	}
	if at := strings.LastIndex(dsn, "@"); at >= 0 && !strings.ContainsAny(dsn[:at], " \t;=") {
		return serverFromMySQL(dsn[at+1:])
	}
	if head, _, _ := strings.Cut(dsn, "?"); strings.Contains(head, "=") {
		return serverFromPairs(dsn)
	}
	return sqliteName(dsn)
}

// isScheme reports whether s can be a URL scheme.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// serverFromURL reads a URL DSN.
func serverFromURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "file", "sqlite", "sqlite3":
		p := u.Host + u.Path
		if u.Opaque != "" {
			p = u.Opaque
		}
		return sqliteName(p)
	}
	h := u.Hostname()
	if h == "" {
		h = u.Query().Get("host")
	}
	return hostOnly(h)
}

// serverFromMySQL reads what follows the @ of a MySQL driver DSN:
// "tcp(host:port)/db", "unix(/path)/db", "host:port/db" or "/db".
func serverFromMySQL(rest string) string {
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if open := strings.IndexByte(rest, '('); open >= 0 {
		proto := strings.ToLower(rest[:open])
		addr := strings.TrimSuffix(rest[open+1:], ")")
		if proto == "unix" {
			return "localhost"
		}
		return hostOnly(addr)
	}
	return hostOnly(rest)
}

// serverFromPairs reads key=value pairs separated by spaces or semicolons.
func serverFromPairs(dsn string) string {
	for _, f := range strings.FieldsFunc(dsn, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' || r == '\n' }) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "host", "hostname", "server", "addr", "address", "source":
			v = strings.Trim(strings.TrimSpace(v), `'"`)
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i] // several hosts, or SQL Server's "host,port"
			}
			v = strings.TrimPrefix(v, "tcp:")
			return hostOnly(v)
		}
	}
	return ""
}

// hostOnly returns host without a port, brackets or SQL Server instance;
// a Unix socket path or an empty host gives "localhost".
func hostOnly(host string) string {
	host = strings.TrimSpace(host)
	if host == "" || strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@") {
		return "localhost"
	}
	if i := strings.IndexByte(host, ','); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if i := strings.IndexByte(host, '\\'); i >= 0 {
		host = host[:i]
	}
	return host
}

// sqliteName returns the base name of an SQLite database file, given
// without "file:"; a query is dropped.
func sqliteName(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == ":memory:" {
		return ":memory:"
	}
	p = strings.ReplaceAll(p, `\`, "/")
	p = strings.TrimRight(p, "/")
	if p == "" {
		return ""
	}
	return path.Base(p)
}
