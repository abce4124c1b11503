package pynbadebug

import (
	"testing"

	"github.com/pynba-go/pynba"
)

// TestEveryCounterExplained checks the page has a line of help for each
// counter of pynba.Stats, and counts the right ones as losses.
func TestEveryCounterExplained(t *testing.T) {
	rows := statRows(pynba.Stats{Requests: 1, Sent: 2, TooLarge: 3})
	if len(rows) < 10 {
		t.Fatalf("%d counters", len(rows))
	}
	for _, r := range rows {
		if r.Help == "" {
			t.Errorf("counter %s has no help in statHelp", r.Name)
		}
		switch r.Name {
		case "Requests", "Packets", "Sent":
			if r.Loss {
				t.Errorf("%s counted as a loss", r.Name)
			}
		default:
			if !r.Loss {
				t.Errorf("%s not counted as a loss", r.Name)
			}
		}
		if r.Name == "TooLarge" && r.Value != 3 {
			t.Errorf("TooLarge = %d", r.Value)
		}
	}
}

func TestDur(t *testing.T) {
	for s, want := range map[float64]string{0: "0", 0.00085: "850µs", 0.0123: "12.3ms", 0.2: "200ms", 1.2: "1.20s", 75: "75.0s"} {
		if got := dur(s); got != want {
			t.Errorf("dur(%v) = %q, want %q", s, got, want)
		}
	}
}
