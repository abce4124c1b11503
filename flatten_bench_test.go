package pynba

import "testing"

var flattenBenchCases = []struct {
	name string
	tags Tags
}{
	{"strings3", Tags{"group": "db", "op": "select", "table": "users"}},
	{"mixed", Tags{
		"group": "db", "n": 42, "ok": true, "ratio": 0.5,
		"list": []string{"a", "b", "c"},
		"meta": map[string]any{"host": "db1", "port": 5432, "shard": map[string]string{"id": "7"}},
	}},
}

// BenchmarkFlatten compares the reusable flatBuf (the hot path) with the
// exported Flatten.
func BenchmarkFlatten(b *testing.B) {
	for _, c := range flattenBenchCases {
		b.Run(c.name+"/flatBuf.add", func(b *testing.B) {
			var f flatBuf
			f.add(c.tags, nil)
			b.ReportAllocs()
			for b.Loop() {
				f.reset()
				f.add(c.tags, nil)
			}
		})
		b.Run(c.name+"/Flatten", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Flatten(c.tags); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
