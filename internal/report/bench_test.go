package report

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

func benchPacket(b *testing.B) []byte {
	return encode(b, record("/products/{id}", 0.012, 200, [][2]string{{"app", "demo"}},
		timer{hits: 1, value: 0.0002, tags: [][2]string{{"group", "cache"}, {"op", "get"}}},
		timer{hits: 1, value: 0.001, tags: [][2]string{{"group", "db"}, {"op", "select"}, {"table", "products"}}}))
}

// BenchmarkUnmarshal is the baseline of BenchmarkAddDatagram: decoding
// alone.
func BenchmarkUnmarshal(b *testing.B) {
	pkt := benchPacket(b)
	b.ReportAllocs()
	for b.Loop() {
		var r pb.Request
		if err := proto.Unmarshal(pkt, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddDatagram decodes and counts one datagram.
func BenchmarkAddDatagram(b *testing.B) {
	pkt := benchPacket(b)
	m := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := m.AddDatagram(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot reads a window of 100 scripts and 100 timer tag sets.
func BenchmarkSnapshot(b *testing.B) {
	m := New(Options{})
	for i := range 10000 {
		n := string(rune('a'+i%26)) + string(rune('a'+i/26%4))
		m.Add(record("/"+n, float32(i%1000)/1000, 200, nil,
			timer{hits: 1, value: 0.001, tags: [][2]string{{"q", n}}}).Proto())
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Snapshot(Query{Top: 20})
	}
}
