package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestUpToDate fails when wrap_gen.go or wrap_gen_test.go differs from what
// the generator writes: run go generate in the module's root.
func TestUpToDate(t *testing.T) {
	for _, c := range []struct {
		file string
		test bool
	}{{"wrap_gen.go", false}, {"wrap_gen_test.go", true}} {
		want, err := generate(c.test)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what internal/wrapgen writes: run go generate in the module's root", c.file)
		}
	}
}
