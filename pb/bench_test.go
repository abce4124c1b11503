package pb

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
)

// benchRecord is a typical request: n timers of 3 tags each, over a small
// dictionary, and two request tags.
func benchRecord(n int) Record {
	r := Record{Hostname: "web-01", ServerName: "shop.example.com", ScriptName: "/cart/{id}", RequestCount: 1,
		DocumentSize: 5120, RequestTime: 0.0423, RUUtime: 0.012, RUStime: 0.002, HasStatus: true, Status: 200,
		HasMemoryFootprint: true, HasSchema: true, Schema: "https",
		Dictionary: []string{"env", "prod", "group", "category", "db", "mysql", "op", "select", "insert", "redis", "get"},
		TagName:    []uint32{0}, TagValue: []uint32{1}}
	for i := range n {
		r.TimerHitCount = append(r.TimerHitCount, 1)
		r.TimerValue = append(r.TimerValue, 0.001*float32(i+1))
		r.TimerTagCount = append(r.TimerTagCount, 3)
		r.TimerTagName = append(r.TimerTagName, 2, 3, 6)
		r.TimerTagValue = append(r.TimerTagValue, 4, 5, uint32(7+i%4))
	}
	return r
}

// BenchmarkEncode compares Append with proto.Marshal of the generated
// message built from the same record (the naive use of generated code).
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{0, 1, 20, 1000} {
		r := benchRecord(n)
		b.Run(fmt.Sprintf("timers=%d/impl=append", n), func(b *testing.B) {
			buf := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = r.Append(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(fmt.Sprintf("timers=%d/impl=proto.Marshal", n), func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				out, _ = proto.Marshal(r.Proto())
			}
			b.SetBytes(int64(len(out)))
		})
	}
}
