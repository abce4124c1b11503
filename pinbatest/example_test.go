package pinbatest_test

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

func ExampleNewServer() {
	srv := pinbatest.NewServer()
	defer srv.Close()

	// What a client would send: one request with one timer tagged group=db.
	rec := pb.Record{
		Hostname: "web1", ServerName: "example.com", ScriptName: "/index",
		RequestCount: 1, RequestTime: 0.25,
		TimerHitCount: []uint32{2}, TimerValue: []float32{0.125}, TimerTagCount: []uint32{1},
		TimerTagName: []uint32{0}, TimerTagValue: []uint32{1}, Dictionary: []string{"group", "db"},
	}
	packet, err := rec.Append(nil)
	if err != nil {
		panic(err)
	}
	conn, err := net.Dial("udp", srv.Addr())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	if _, err := conn.Write(packet); err != nil {
		panic(err)
	}

	p, err := srv.Next(5 * time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.ScriptName, p.RequestTime)
	fmt.Println(p.Timers[0])
	t, _ := p.FindTimer(map[string]string{"group": "db"})
	fmt.Println(t.HitCount)
	fmt.Println(p.Validate())
	// Output:
	// /index 0.25
	// hits=2 value=0.125s [{group db}]
	// 2
	// <nil>
}

func ExampleValidate() {
	rec := pb.Record{Hostname: "web1", ScriptName: "/index", RequestTime: 0.25, Dictionary: []string{"country"}}
	packet, err := rec.Append(nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(pinbatest.Validate(packet))

	// Spoil it by hand: the request time again, as a double, and a request
	// tag whose value index is past the end of the dictionary.
	packet = protowire.AppendTag(packet, pb.FieldRequestTime, protowire.Fixed64Type)
	packet = protowire.AppendFixed64(packet, math.Float64bits(0.25))
	packet = protowire.AppendTag(packet, pb.FieldTagName, protowire.VarintType)
	packet = protowire.AppendVarint(packet, 0)
	packet = protowire.AppendTag(packet, pb.FieldTagValue, protowire.VarintType)
	packet = protowire.AppendVarint(packet, 5)

	err = pinbatest.Validate(packet)
	fmt.Println(err)

	var problems pinbatest.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Printf("%s (%s)\n", p.Rule, p.Server)
		}
	}
	// Output:
	// <nil>
	// wire-type: field 7 (request_time) sent as double (wire type 1), not float (wire type 5): both servers drop the packet
	// dictionary-index: tag_value (21) has 1 index out of range of a dictionary of 1 word: [0]=5: pinba_engine drops the packet, pinba2 reads out of bounds (past the dictionary)
	// wire-type (both)
	// dictionary-index (both)
}

func ExampleWarnings() {
	rec := pb.Record{Hostname: "a-rather-long-host-name.example.com", ScriptName: "/index"}
	packet, err := rec.Append(nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(pinbatest.Validate(packet))
	fmt.Println(pinbatest.Warnings(packet))
	// Output:
	// <nil>
	// long-string: hostname (1) "a-rather-long-host-name.example.com" is 35 bytes long: pinba_engine cuts it to 32 bytes
}

func ExampleTags() {
	// pynba's timer(foo='bar', baz=['seq1','seq2']) sends the pairs
	// baz=seq1, baz=seq2 and foo=bar.
	rec := pb.Record{
		Hostname: "web1", ScriptName: "/list", RequestCount: 1,
		TimerHitCount: []uint32{1}, TimerValue: []float32{0.5}, TimerTagCount: []uint32{3},
		TimerTagName: []uint32{0, 0, 3}, TimerTagValue: []uint32{1, 2, 4},
		Dictionary: []string{"baz", "seq1", "seq2", "foo", "bar"},
	}
	packet, err := rec.Append(nil)
	if err != nil {
		panic(err)
	}
	p := pinbatest.Decode(packet)
	t, ok := p.FindTimer(map[string]string{"baz": "seq2"})
	fmt.Println(ok, len(t.Tags), t.Tags)
	fmt.Println(t.Tags.Get("baz"), t.Tags.All("baz"), t.Tags.Has("foo", "bar"))
	for _, w := range p.Warnings() {
		fmt.Println(w.Rule, w.Server)
	}
	// Output:
	// true 3 [{baz seq1} {baz seq2} {foo bar}]
	// seq1 [seq1 seq2] true
	// repeated-tag-name both
}
