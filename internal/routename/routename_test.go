package routename

import (
	"fmt"
	"testing"
)

func TestNamesAreBuiltOnceAndBounded(t *testing.T) {
	var ns Names
	if got := ns.Get("GET", "/items/{id}"); got != "GET /items/{id}" {
		t.Fatalf("Get = %q", got)
	}
	if a := testing.AllocsPerRun(100, func() { ns.Get("GET", "/items/{id}") }); a != 0 {
		t.Errorf("a name kept costs %v allocations", a)
	}
	for i := range MaxNames + 10 {
		if got, want := ns.Get(fmt.Sprint("M", i), "/x"), fmt.Sprint("M", i)+" /x"; got != want {
			t.Fatalf("Get = %q, want %q", got, want)
		}
	}
	if n := len(*ns.m.Load()); n != MaxNames {
		t.Errorf("%d names kept, want %d", n, MaxNames)
	}
}
