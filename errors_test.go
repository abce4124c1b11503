package pynba

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestMisuseMessageOfCyclicTagsIsBounded(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	cyc := Tags{"a": "b"}
	cyc["self"] = cyc
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		tm := Timer(cyc).Start()
		tm.Start() // misuse: running; the message must not walk cyc
		tm.Stop()
		tm.Stop() // misuse: stopped
	}, srv.Addr(), WithErrorHandler(errs.handle))
	within(t, "request with cyclic tags", func() { serve(m, "/") })
	next(t, srv)
	n := errs.count(func(err error) bool {
		return (errors.Is(err, ErrTimerRunning) || errors.Is(err, ErrTimerStopped)) &&
			strings.Contains(err.Error(), "pynba.Tags of length 2")
	})
	if n != 2 {
		t.Errorf("misuse reports %v, want 2 naming the tags by type and length", errs.all())
	}
}

func TestPanicWithCyclicValueIsDescribedByType(t *testing.T) {
	cyc := map[string]any{}
	cyc["self"] = cyc
	_, err := Flatten(Tags{"call": func() string { panic(cyc) }})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "map[string]interface {} of length 1") {
		t.Fatalf("Flatten error %v, want a PanicError describing the value by type", err)
	}
}
