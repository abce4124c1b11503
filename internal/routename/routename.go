// Package routename builds the script names the router integrations send,
// "METHOD template", and remembers them, so that naming a request allocates
// nothing once its route has been named.
package routename

import (
	"sync"
	"sync/atomic"
)

// MaxNames bounds the names kept: routes are few, but a route that takes
// every method can be asked with any method string.
const MaxNames = 1024

type key struct{ method, template string }

// Names keeps the script name of each method and template seen. Reads take
// no lock: the map is replaced, never changed. The zero Names is ready.
type Names struct {
	mu sync.Mutex
	m  atomic.Pointer[map[key]string]
}

// Get returns method + " " + template, from the names kept when it is one.
func (ns *Names) Get(method, template string) string {
	k := key{method, template}
	old := ns.m.Load()
	if old != nil {
		if s, ok := (*old)[k]; ok {
			return s
		}
	}
	s := method + " " + template
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old = ns.m.Load()
	size := 0
	if old != nil {
		size = len(*old)
	}
	if size >= MaxNames {
		return s
	}
	next := make(map[key]string, size+1)
	if old != nil {
		for k2, v := range *old {
			next[k2] = v
		}
	}
	next[k] = s
	ns.m.Store(&next)
	return s
}
