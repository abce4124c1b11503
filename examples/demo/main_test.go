package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemoReportsEveryRequest(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 40, ""); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	// Sum the requests column of the script table.
	total := 0
	inScripts := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "script":
			inScripts = true
		case len(f) == 0:
			inScripts = false
		case inScripts:
			// A pattern has spaces ("GET /products/{id}"): requests is the
			// fourth field from the end.
			n, err := strconv.Atoi(f[len(f)-4])
			if err != nil {
				t.Fatalf("bad script line %q", line)
			}
			total += n
		}
	}
	if total != 40 {
		t.Errorf("script table counts %d requests, want 40:\n%s", total, text)
	}
	for _, want := range []string{"GET /products/{id}", "group=db", "40 packets received, 0 that"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`client stats: 40 requests, 40 packets, 40 datagrams sent, 0 send errors`).MatchString(text) {
		t.Errorf("stats line:\n%s", text)
	}
}
