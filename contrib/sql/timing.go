package pynbasql

import (
	"context"

	"github.com/pynba-go/pynba"
)

// tagSet holds one Tags map per op, built once per database and shared by
// every timer: the maps are never changed after newTagSet, so timers may
// keep them, and starting a timer allocates no tags.
type tagSet struct {
	byOp [numOps]pynba.Tags
}

// newTagSet builds the maps for a server name and the configured tags.
func newTagSet(cfg *config, server string) *tagSet {
	ts := new(tagSet)
	for o := range numOps {
		t := make(pynba.Tags, len(cfg.tags)+3)
		for k, v := range cfg.tags {
			t[k] = v
		}
		if cfg.group != "" {
			t["group"] = cfg.group
		} else {
			delete(t, "group")
		}
		t["op"] = o.String()
		if server != "" {
			t["server"] = server
		} else {
			delete(t, "server")
		}
		ts.byOp[o] = t
	}
	return ts
}

// request returns the monitored request a driver call belongs to: the one
// ctx carries, else the one bound to the calling goroutine. ok is false
// outside a request; the check allocates nothing.
func request(ctx context.Context) (h pynba.Collector, ok bool) {
	if h = pynba.FromContext(ctx); h.Valid() {
		return h, true
	}
	return current()
}

// current returns the monitored request bound to the calling goroutine,
// for the driver calls that get no context.
func current() (h pynba.Collector, ok bool) {
	h = pynba.Current()
	return h, h.Valid()
}

// start starts a timer of op in h.
func (ts *tagSet) start(h pynba.Collector, o op) pynba.TimerRef {
	return h.Timer(ts.byOp[o]).Start()
}
