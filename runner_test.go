package pynba

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestRunner(t *testing.T) {
	srv := newServer(t)
	r, err := NewRunner(srv.Addr(), WithPrefix("jobs:"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Run(context.Background(), "ok", func(ctx context.Context) error {
		Timer(Tags{"via": "proxy"}).Start().Stop()
		FromContext(ctx).Timer(Tags{"via": "ctx"}).Start().Stop()
		return nil
	})
	r.Run(context.Background(), "fails", func(ctx context.Context) error { return errors.New("no") })
	r.Run(context.Background(), "teapot", func(ctx context.Context) error { SetStatus(418); return errors.New("no") })
	func() {
		defer func() { recover() }()
		r.Run(context.Background(), "panics", func(ctx context.Context) error { panic("boom") })
	}()
	ps, err := srv.Wait(4, wait)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, p := range ps {
		got += fmt.Sprintf("%s %d %d; ", p.ScriptName, p.Status, len(p.Timers))
	}
	if want := "jobs:ok 200 2; jobs:fails 500 0; jobs:teapot 418 0; jobs:panics 500 0; "; got != want {
		t.Errorf("packets %q, want %q", got, want)
	}
	if registrySize() != 0 {
		t.Error("a Run left its goroutine bound")
	}
}
