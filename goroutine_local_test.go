package pynba

import (
	"errors"
	"sync"
	"testing"

	"github.com/petermattis/goid"
)

func TestGoroutineIDSelfCheck(t *testing.T) {
	checkGoid()
	if !goidFast {
		t.Fatalf("goid disagrees with runtime.Stack on this Go release: %v", goidCheckErr)
	}
	if got, want := curGoid(), stackGoid(); got != want || got <= 0 {
		t.Fatalf("curGoid %d, runtime.Stack says %d", got, want)
	}
	ids := make(chan [2]int64)
	go func() { ids <- [2]int64{goid.Get(), stackGoid()} }()
	if p := <-ids; p[0] != p[1] || p[0] == curGoid() {
		t.Fatalf("new goroutine: goid %d, stack %d, parent %d", p[0], p[1], curGoid())
	}
	// The report of a failed check is made once.
	saved := goidCheckErr
	defer func() { goidCheckErr = saved; goidReported.Store(false) }()
	goidCheckErr = errors.New("mismatch")
	goidReported.Store(false)
	n := 0
	reportGoidCheck(func(error) { n++ })
	reportGoidCheck(func(error) { n++ })
	if n != 1 {
		t.Errorf("reported %d times, want once", n)
	}
}

func TestRegistryBindUnbindNested(t *testing.T) {
	c1, c2 := &reqData{}, &reqData{}
	const gid = 1 << 40
	if b := lookup(gid); b.c != nil {
		t.Fatal("unbound goroutine has a binding")
	}
	p1 := bind(gid, binding{c1, 1})
	p2 := bind(gid, binding{c2, 2})
	if p1.c != nil || p2.c != c1 || p2.epoch != 1 {
		t.Fatalf("bind returned %+v and %+v", p1, p2)
	}
	if b := lookup(gid); b.c != c2 || b.epoch != 2 {
		t.Fatalf("inner binding %+v", b)
	}
	unbind(gid, p2)
	if b := lookup(gid); b.c != c1 || b.epoch != 1 {
		t.Fatalf("outer binding not restored: %+v", b)
	}
	unbind(gid, p1)
	if b := lookup(gid); b.c != nil || registrySize() != 0 {
		t.Fatalf("binding left: %+v, size %d", b, registrySize())
	}
}

// Ids that all hash to one probe window fill it and go to the overflow
// map; every binding stays findable and all are removed.
func TestRegistryOverflow(t *testing.T) {
	target := slot(1)
	var gids []int64
	for g := int64(2); len(gids) < 3*tableProbe; g++ {
		if slot(g) == target {
			gids = append(gids, g)
		}
	}
	cs := make([]*reqData, len(gids))
	for i, g := range gids {
		cs[i] = &reqData{}
		bind(g, binding{cs[i], uint64(i)})
	}
	if registry.overflowCount.Load() == 0 {
		t.Fatal("no binding went to the overflow map")
	}
	for i, g := range gids {
		if b := lookup(g); b.c != cs[i] || b.epoch != uint64(i) {
			t.Fatalf("gid %d: %+v", g, b)
		}
	}
	for _, g := range gids {
		unbind(g, binding{})
	}
	if n := registrySize(); n != 0 || registry.overflowCount.Load() != 0 {
		t.Fatalf("%d bindings left, overflow count %d", n, registry.overflowCount.Load())
	}
}

func TestRegistryConcurrentGoroutines(t *testing.T) {
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &reqData{}
			gid := curGoid()
			for i := range 200 {
				prev := bind(gid, binding{c, uint64(i)})
				if b := lookup(gid); b.c != c || b.epoch != uint64(i) {
					t.Errorf("goroutine %d sees %+v", gid, b)
				}
				unbind(gid, prev)
			}
		}()
	}
	wg.Wait()
	if n := registrySize(); n != 0 {
		t.Fatalf("%d bindings left", n)
	}
}
