package main

import (
	"github.com/pynba-go/pynba/pinbatest"
)

// inspect lists, one string each ("rule: detail: effect"), every reason
// pinba_engine or pinba2 would drop or misread the datagram b (problems), and
// what a server would store differently than sent without dropping it:
// strings pinba_engine cuts, unknown or repeated fields (warnings).
func inspect(b []byte) (problems, warnings []string) {
	ps, ws := pinbatest.Inspect(b)
	return problemTexts(ps), problemTexts(ws)
}

func problemTexts(ps pinbatest.Problems) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}
