package pynbadebug_test

import (
	"strings"
	"testing"
)

// TestHTMLEscapes sends <script> in a script name, a timer tag name and
// value, and a request tag name and value, and checks the page holds them
// only escaped.
func TestHTMLEscapes(t *testing.T) {
	g := newRig(t, 16)
	g.get("/esc")
	g.get("/items/1")
	g.settle(2)
	html, h := g.body("")
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if i := strings.Index(strings.ToLower(html), "<script"); i >= 0 {
		t.Fatalf("raw <script in the page: %q", html[max(i-80, 0):min(i+80, len(html))])
	}
	for _, want := range []string{
		`&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;`,                // script name (scripts table and packet)
		`&lt;script&gt;tn=&lt;script&gt;alert(&#34;tv&#34;)&lt;/script&gt;`, // timer tag, as the report and the packet list it
		`&lt;script&gt;rn=&lt;script&gt;alert(&#34;rv&#34;)&lt;/script&gt;`, // request tag
	} {
		if n := strings.Count(html, want); n < 2 {
			t.Errorf("%s appears %d times, want it in a table and in the packet list", want, n)
		}
	}
	if !strings.Contains(html, "GET /items/{id}") {
		t.Error("the ordinary script is missing")
	}
}
