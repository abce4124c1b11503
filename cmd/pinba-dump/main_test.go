package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 2 * time.Second

// syncBuffer is a bytes.Buffer safe to write from run while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dump is one pinba-dump run on a loopback port.
type dump struct {
	addr           string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	errc           chan error
	once           sync.Once
	err            error
}

// start runs pinba-dump on 127.0.0.1 with a system-chosen port and the
// given flags, and stops it when the test ends.
func start(t *testing.T, args ...string) *dump {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &dump{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, errc: make(chan error, 1)}
	addrc := make(chan string, 1)
	args = append([]string{"-listen", "127.0.0.1:0"}, args...)
	go func() { d.errc <- run(ctx, args, d.stdout, d.stderr, func(a string) { addrc <- a }) }()
	select {
	case d.addr = <-addrc:
	case err := <-d.errc:
		cancel()
		t.Fatalf("run returned before listening: %v\nstderr: %s", err, d.stderr)
	case <-time.After(waitLimit):
		cancel()
		t.Fatal("run did not start listening")
	}
	t.Cleanup(func() {
		if err := d.stop(t); err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	return d
}

// stop cancels the run and returns what run returned.
func (d *dump) stop(t *testing.T) error {
	t.Helper()
	d.once.Do(func() {
		d.cancel()
		select {
		case d.err = <-d.errc:
		case <-time.After(waitLimit):
			t.Fatal("run did not return after cancel")
		}
	})
	return d.err
}

func (d *dump) send(t *testing.T, packets ...[]byte) {
	t.Helper()
	sendTo(t, d.addr, packets...)
}

func sendTo(t *testing.T, addr string, packets ...[]byte) {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !ua.IP.IsLoopback() {
		t.Fatalf("refusing to send to non-loopback %s", addr)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range packets {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls buf until cond holds, and returns its content.
func waitFor(t *testing.T, buf *syncBuffer, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := buf.String()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got:\n%s", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitContains(t *testing.T, buf *syncBuffer, sub string) string {
	t.Helper()
	return waitFor(t, buf, strconv.Quote(sub), func(s string) bool { return strings.Contains(s, sub) })
}

// fullRecord is a request with every field set: two timers and a request tag.
func fullRecord(script string) pb.Record {
	return pb.Record{
		Hostname:     "web1",
		ServerName:   "example.com",
		ScriptName:   script,
		RequestCount: 1,
		DocumentSize: 5120,
		MemoryPeak:   2 << 20,
		RequestTime:  0.25,
		RUUtime:      0.125,
		RUStime:      0.0625,

		TimerHitCount: []uint32{2, 1},
		TimerValue:    []float32{0.5, 0.125},
		TimerTagCount: []uint32{2, 1},
		TimerTagName:  []uint32{0, 2, 0},
		TimerTagValue: []uint32{1, 3, 4},
		Dictionary:    []string{"group", "db", "op", "select", "cache", "env", "prod"},

		Status: 200, HasStatus: true,
		MemoryFootprint: 1 << 20, HasMemoryFootprint: true,
		Schema: "https", HasSchema: true,

		TagName:  []uint32{5},
		TagValue: []uint32{6},
	}
}

func encode(t *testing.T, r pb.Record) []byte {
	t.Helper()
	b, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// doubleTimePacket is a request whose request_time is written as a double
// (fixed64), which both servers drop.
func doubleTimePacket(script string) []byte {
	var b []byte
	str := func(n protowire.Number, s string) {
		b = protowire.AppendTag(b, n, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	uint := func(n protowire.Number, v uint64) {
		b = protowire.AppendTag(b, n, protowire.VarintType)
		b = protowire.AppendVarint(b, v)
	}
	str(pb.FieldHostname, "web1")
	str(pb.FieldServerName, "example.com")
	str(pb.FieldScriptName, script)
	uint(pb.FieldRequestCount, 1)
	uint(pb.FieldDocumentSize, 0)
	uint(pb.FieldMemoryPeak, 0)
	b = protowire.AppendTag(b, pb.FieldRequestTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(0.25))
	for _, n := range []protowire.Number{pb.FieldRUUtime, pb.FieldRUStime} {
		b = protowire.AppendTag(b, n, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(0))
	}
	return b
}

// block returns the text block of datagram n in out ("" when absent).
func block(out string, n int) string {
	head := fmt.Sprintf("#%d ", n)
	var b strings.Builder
	in := false
	for line := range strings.Lines(out) {
		switch {
		case strings.HasPrefix(line, head):
			in = true
		case in && !strings.HasPrefix(line, "  "):
			return b.String()
		}
		if in {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestTextShowsDecodedRequest(t *testing.T) {
	d := start(t)
	if s := d.stderr.String(); !strings.Contains(s, "listening on udp "+d.addr) {
		t.Errorf("no start line naming %s in stderr: %q", d.addr, s)
	}
	parent := fullRecord("/parent")
	parent.Requests = []pb.Record{fullRecord("/child")}
	d.send(t, encode(t, fullRecord("/index.php")), encode(t, parent))
	out := waitContains(t, d.stdout, "script=/child")

	b := block(out, 1)
	for _, want := range []string{
		"host=web1 server=example.com script=/index.php schema=https status=200\n",
		"request_count=1 document_size=5120 memory_peak=2097152 memory_footprint=1048576\n",
		"request_time=250ms ru_utime=125ms ru_stime=62.5ms\n",
		"tags: env=prod\n",
		"timer 0: hits=2 value=500ms {group=db op=select}\n",
		"timer 1: hits=1 value=125ms {group=cache}\n",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("datagram 1 lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "problem:") {
		t.Errorf("a valid packet is reported with problems:\n%s", b)
	}
	b = block(out, 2)
	for _, want := range []string{"script=/parent", "  request 0:\n", "    host=web1 server=example.com script=/child",
		"    timer 0: hits=2 value=500ms {group=db op=select}\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("datagram 2 lacks %q:\n%s", want, b)
		}
	}
}

func TestMalformedIsReportedAndSkipped(t *testing.T) {
	d := start(t)
	good := encode(t, fullRecord("/good"))
	d.send(t,
		good[:10], // cut in the middle of server_name
		doubleTimePacket("/double"),
		[]byte{0xff, 0xff, 0xff, 0xff},
		good,
	)
	out := waitContains(t, d.stdout, "script=/good")

	b := block(out, 1)
	if !strings.Contains(b, "UNDECODABLE") || !strings.Contains(b, "error: ") || !strings.Contains(b, "hex: 0a 04 77 65 62 31") ||
		!strings.Contains(b, "  problem: "+pinbatest.RuleUndecodable+": ") {
		t.Errorf("truncated datagram not reported as undecodable:\n%s", b)
	}
	b = block(out, 2)
	if !strings.Contains(b, "script=/double") {
		t.Errorf("double-time datagram not decoded as far as possible:\n%s", b)
	}
	if !regexp.MustCompile(`(?m)^  problem: ` + pinbatest.RuleWireType + `: .*request_time.*$`).MatchString(b) {
		t.Errorf("double request_time not reported as a problem:\n%s", b)
	}
	if !strings.Contains(b, "  unparsed: field 7 (request_time) sent as fixed64: 0x3fd0000000000000 (double 0.25)\n") {
		t.Errorf("the double's value is not shown:\n%s", b)
	}
	b = block(out, 3)
	if !strings.Contains(b, "UNDECODABLE") {
		t.Errorf("garbage not reported as undecodable:\n%s", b)
	}
	if b = block(out, 4); strings.Contains(b, "problem:") {
		t.Errorf("good packet after bad ones reported with problems:\n%s", b)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if s := d.stderr.String(); !strings.Contains(s, ": 4 datagrams, 2 undecodable, 1 with problems") {
		t.Errorf("final line does not count 4 datagrams, 2 undecodable, 1 with problems:\n%s", s)
	}
}

// parseSummary returns the requests per script of the last text summary in
// out, and its header line.
func parseSummary(t *testing.T, out string) (map[string]int, map[string][]string, string) {
	t.Helper()
	i := strings.LastIndex(out, "== summary after ")
	if i < 0 {
		t.Fatalf("no summary in output:\n%s", out)
	}
	lines := strings.Split(out[i:], "\n")
	header := lines[0]
	scripts := map[string]int{}
	tags := map[string][]string{}
	section := ""
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "== end of summary"):
			return scripts, tags, header
		case len(f) == 0:
		case f[0] == "script_name" || f[0] == "timer_tag":
			section = f[0]
		case section == "script_name":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("bad summary line %q", line)
			}
			scripts[f[0]] = n
		case section == "timer_tag":
			tags[f[0]] = f[1:]
		}
	}
	t.Fatalf("summary not ended:\n%s", out[i:])
	return nil, nil, ""
}

func TestSummaryCountsWhatWasSent(t *testing.T) {
	d := start(t, "-summary", "1h")
	want := map[string]int{"/a": 15, "/b": 10, "/c": 5}
	var packets [][]byte
	for _, script := range []string{"/a", "/b", "/c"} {
		for i := range want[script] {
			r := fullRecord(script)
			if i == 0 {
				r.Status = 500
			}
			packets = append(packets, encode(t, r))
		}
	}
	d.send(t, packets...)
	waitContains(t, d.stdout, "#30 ")
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	out := d.stdout.String()
	scripts, tags, header := parseSummary(t, out)
	if fmt.Sprint(scripts) != fmt.Sprint(want) {
		t.Errorf("requests per script = %v, want %v", scripts, want)
	}
	if !strings.Contains(header, ": 30 requests, ") || !strings.Contains(header, "; 30 datagrams, 0 undecodable, 0 with problems") {
		t.Errorf("summary header %q", header)
	}
	// Every packet has timer 0 {group=db op=select} (2 hits, 0.5s) and
	// timer 1 {group=cache} (1 hit, 0.125s).
	for tag, cols := range map[string][]string{
		"group=db":    {"30", "60", "15s", "250ms"},
		"op=select":   {"30", "60", "15s", "250ms"},
		"group=cache": {"30", "30", "3.75s", "125ms"},
	} {
		if fmt.Sprint(tags[tag]) != fmt.Sprint(cols) {
			t.Errorf("timer tag %s: %v, want %v", tag, tags[tag], cols)
		}
	}
	if !regexp.MustCompile(`(?m)^/a +15 +[0-9.]+ +3\.75s +250ms +1\.875s +937\.5ms +0 +200:14 500:1 *$`).MatchString(out) {
		t.Errorf("script /a line wrong:\n%s", out)
	}
}

func TestPeriodicSummaryQuiet(t *testing.T) {
	d := start(t, "-summary", "20ms", "-quiet")
	var packets [][]byte
	for i := range 30 {
		packets = append(packets, encode(t, fullRecord(fmt.Sprintf("/s%d", i%3))))
	}
	d.send(t, packets...)
	waitContains(t, d.stdout, ": 30 requests, ")
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	out := d.stdout.String()
	if strings.Contains(out, "#1 ") {
		t.Errorf("-quiet printed datagrams:\n%s", out)
	}
	scripts, _, _ := parseSummary(t, out)
	if want := map[string]int{"/s0": 10, "/s1": 10, "/s2": 10}; fmt.Sprint(scripts) != fmt.Sprint(want) {
		t.Errorf("requests per script = %v, want %v", scripts, want)
	}
}

func TestJSONLines(t *testing.T) {
	d := start(t, "-json", "-summary", "1h")
	parent := fullRecord("/parent")
	parent.Requests = []pb.Record{fullRecord("/child")}
	d.send(t, encode(t, fullRecord("/index.php")), []byte{0xff, 0xff}, doubleTimePacket("/double"), encode(t, parent))
	waitFor(t, d.stdout, "4 JSON lines", func(s string) bool { return strings.Count(s, "\n") >= 4 })
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}

	type tag struct{ Name, Value string }
	type timer struct {
		HitCount int     `json:"hit_count"`
		Value    float64 `json:"value"`
		Tags     []tag   `json:"tags"`
	}
	type request struct {
		Hostname        string    `json:"hostname"`
		ServerName      string    `json:"server_name"`
		ScriptName      string    `json:"script_name"`
		Schema          *string   `json:"schema"`
		Status          *int      `json:"status"`
		RequestCount    int       `json:"request_count"`
		DocumentSize    int       `json:"document_size"`
		MemoryPeak      int       `json:"memory_peak"`
		MemoryFootprint *int      `json:"memory_footprint"`
		RequestTime     float64   `json:"request_time"`
		RUUtime         float64   `json:"ru_utime"`
		RUStime         float64   `json:"ru_stime"`
		Tags            []tag     `json:"tags"`
		Timers          []timer   `json:"timers"`
		Requests        []request `json:"requests"`
	}
	type line struct {
		N    int    `json:"n"`
		From string `json:"from"`
		Size int    `json:"size"`
		request
		Error    string    `json:"error"`
		Problems *[]string `json:"problems"`
		Summary  *struct {
			Datagrams   int `json:"datagrams"`
			Undecodable int `json:"undecodable"`
			Requests    int `json:"requests"`
			Scripts     []struct {
				ScriptName string         `json:"script_name"`
				Requests   int            `json:"requests"`
				Status     map[string]int `json:"status"`
			} `json:"scripts"`
		} `json:"summary"`
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(d.stdout.String()))
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 4 datagrams and a summary:\n%s", len(lines), d.stdout)
	}

	l := lines[0]
	if l.N != 1 || l.Size == 0 || !strings.HasPrefix(l.From, "127.0.0.1:") || l.Error != "" {
		t.Errorf("line 1 header: n=%d size=%d from=%q error=%q", l.N, l.Size, l.From, l.Error)
	}
	if l.Hostname != "web1" || l.ServerName != "example.com" || l.ScriptName != "/index.php" ||
		l.Schema == nil || *l.Schema != "https" || l.Status == nil || *l.Status != 200 ||
		l.RequestCount != 1 || l.DocumentSize != 5120 || l.MemoryPeak != 2<<20 ||
		l.MemoryFootprint == nil || *l.MemoryFootprint != 1<<20 ||
		l.RequestTime != 0.25 || l.RUUtime != 0.125 || l.RUStime != 0.0625 {
		t.Errorf("line 1 fields: %+v", l.request)
	}
	if len(l.Tags) != 1 || l.Tags[0] != (tag{"env", "prod"}) {
		t.Errorf("line 1 request tags: %v", l.Tags)
	}
	if len(l.Timers) != 2 ||
		l.Timers[0].HitCount != 2 || l.Timers[0].Value != 0.5 || fmt.Sprint(l.Timers[0].Tags) != "[{group db} {op select}]" ||
		l.Timers[1].HitCount != 1 || l.Timers[1].Value != 0.125 || fmt.Sprint(l.Timers[1].Tags) != "[{group cache}]" {
		t.Errorf("line 1 timers: %+v", l.Timers)
	}
	if l.Problems == nil || len(*l.Problems) != 0 {
		t.Errorf("line 1 problems: %v, want []", l.Problems)
	}

	if l := lines[1]; l.Error == "" || l.ScriptName != "" || l.Problems == nil {
		t.Errorf("garbage line: %+v", l)
	}
	if l := lines[2]; l.ScriptName != "/double" || l.Problems == nil || len(*l.Problems) != 1 ||
		!strings.HasPrefix((*l.Problems)[0], pinbatest.RuleWireType+": ") {
		t.Errorf("double-time line: script %q problems %v", l.ScriptName, l.Problems)
	}
	if l := lines[3]; len(l.Requests) != 1 || l.Requests[0].ScriptName != "/child" || len(l.Requests[0].Timers) != 2 {
		t.Errorf("nested line: %+v", l.Requests)
	}

	s := lines[4].Summary
	if s == nil {
		t.Fatalf("last line is not a summary: %+v", lines[4])
	}
	if s.Datagrams != 4 || s.Undecodable != 1 || s.Requests != 3 || len(s.Scripts) != 3 ||
		s.Scripts[0].ScriptName != "/double" || s.Scripts[1].ScriptName != "/index.php" ||
		s.Scripts[1].Requests != 1 || s.Scripts[1].Status["200"] != 1 {
		t.Errorf("summary: %+v", *s)
	}
}

func TestForwardIsByteIdentical(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	d := start(t, "-forward", srv.Addr(), "-quiet")
	if s := d.stderr.String(); !strings.Contains(s, "forwarding to "+srv.Addr()) {
		t.Errorf("start line does not name the forward target: %q", s)
	}
	sent := [][]byte{
		encode(t, fullRecord("/one")),
		{0xff, 0x00, 0x01}, // garbage is relayed too
		doubleTimePacket("/two"),
		encode(t, fullRecord("/three")),
	}
	d.send(t, sent...)
	got, err := srv.Wait(len(sent), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if !bytes.Equal(p.Raw, sent[i]) {
			t.Errorf("datagram %d forwarded as %x, sent %x", i, p.Raw, sent[i])
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if s := d.stderr.String(); !strings.Contains(s, "forwarded to "+srv.Addr()+": 4 sent, 0 errors, 0 dropped") {
		t.Errorf("final line: %q", s)
	}
}

func TestForwardErrorsAreCounted(t *testing.T) {
	srv := pinbatest.NewServer()
	target := srv.Addr()
	srv.Close() // nobody listens there now: writes fail with "connection refused"
	d := start(t, "-forward", target, "-quiet")
	for range 5 {
		d.send(t, encode(t, fullRecord("/x")))
		time.Sleep(2 * time.Millisecond)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	s := d.stderr.String()
	m := regexp.MustCompile(`forwarded to [^:]+:\d+: (\d+) sent, (\d+) errors, 0 dropped`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no forward counts in final line:\n%s", s)
	}
	sentN, _ := strconv.Atoi(m[1])
	errN, _ := strconv.Atoi(m[2])
	if sentN+errN != 5 || errN == 0 {
		t.Errorf("%d sent, %d errors; want 5 in all, some errors:\n%s", sentN, errN, s)
	}
	if !strings.Contains(s, "errors so far, last: ") {
		t.Errorf("forward errors not reported:\n%s", s)
	}
}

func TestForwardToItselfIsRefused(t *testing.T) {
	srv := pinbatest.NewServer()
	addr := srv.Addr()
	srv.Close()
	var stderr syncBuffer
	err := run(context.Background(), []string{"-listen", addr, "-forward", addr}, &bytes.Buffer{}, &stderr, nil)
	if err == nil || !strings.Contains(err.Error(), "listens on") {
		t.Errorf("run = %v, want a refusal", err)
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want error
		out  string
	}{
		{[]string{"-h"}, flag.ErrHelp, "Usage: pinba-dump [-listen 127.0.0.1:30002]"},
		{[]string{"-nosuch"}, errUsage, "flag provided but not defined"},
		{[]string{"extra"}, errUsage, `unexpected argument "extra"`},
		{[]string{"-summary", "-1s"}, errUsage, "must not be negative"},
	} {
		var stdout, stderr syncBuffer
		called := false
		err := run(context.Background(), tc.args, &stdout, &stderr, func(string) { called = true })
		if !errors.Is(err, tc.want) {
			t.Errorf("run(%q) = %v, want %v", tc.args, err, tc.want)
		}
		if !strings.Contains(stderr.String(), tc.out) {
			t.Errorf("run(%q) stderr lacks %q:\n%s", tc.args, tc.out, stderr.String())
		}
		if called || stdout.String() != "" {
			t.Errorf("run(%q) listened or printed to stdout", tc.args)
		}
	}
}

func TestCancelWithNothingReceived(t *testing.T) {
	d := start(t, "-summary", "1h")
	began := time.Now()
	if err := d.stop(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if el := time.Since(began); el > time.Second {
		t.Errorf("stopping took %v", el)
	}
	if s := d.stderr.String(); !strings.Contains(s, ": 0 datagrams, 0 undecodable, 0 with problems") {
		t.Errorf("final line: %q", s)
	}
	if s := d.stdout.String(); !strings.Contains(s, ": 0 requests, ") {
		t.Errorf("final summary: %q", s)
	}
}

// gatedWriter holds every Write until open is closed.
type gatedWriter struct {
	open chan struct{}
	buf  syncBuffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.buf.Write(p)
}

func TestSlowOutputHoldsUpNothing(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &gatedWriter{open: make(chan struct{})}
	var stderr syncBuffer
	addrc, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-listen", "127.0.0.1:0", "-forward", srv.Addr()}, out, &stderr,
			func(a string) { addrc <- a })
	}()
	addr := <-addrc

	// More datagrams than can wait to be printed, while printing is stuck.
	pkt := encode(t, fullRecord("/x"))
	const total = showQueue + 1000
	for sent := 0; sent < total; sent += 100 {
		batch := make([][]byte, min(100, total-sent))
		for i := range batch {
			batch[i] = pkt
		}
		sendTo(t, addr, batch...)
		time.Sleep(200 * time.Microsecond)
	}
	// Forwarding goes on regardless.
	if _, err := srv.Wait(showQueue+1, waitLimit); err != nil {
		t.Errorf("forwarding held up by the output: %v", err)
	}
	close(out.open)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run returned %v", err)
	}
	s := stderr.String()
	m := regexp.MustCompile(`: (\d+) datagrams, 0 undecodable, 0 with problems, (\d+) skipped \(output too slow\); ` +
		`forwarded to [^:]+:\d+: (\d+) sent, (\d+) errors, (\d+) dropped`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("final line does not count skipped datagrams:\n%s", s)
	}
	n := make([]int, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	shown, skipped, fwd := n[1], n[2], n[3]+n[4]+n[5]
	if skipped == 0 || shown+skipped != fwd || fwd > total {
		t.Errorf("%d shown, %d skipped, %d offered to the forwarder, %d sent:\n%s", shown, skipped, fwd, total, s)
	}
	if got := strings.Count(out.buf.String(), "\n#"); got+1 != shown {
		t.Errorf("printed %d datagrams, counted %d shown", got+1, shown)
	}
}

func TestWarningsForCutStrings(t *testing.T) {
	d := start(t)
	r := fullRecord("/" + strings.Repeat("s", pinbatest.MaxScriptName))
	r.Dictionary[1] = strings.Repeat("d", pinbatest.MaxWord+1) // the value of group=...
	pkt := encode(t, r)
	d.send(t, pkt)
	out := waitContains(t, d.stdout, "timer 1:")
	b := block(out, 1)
	if n := strings.Count(b, "  warning: "+pinbatest.RuleLongString+": "); n != 2 {
		t.Errorf("%d long-string warnings, want 2 (script_name, dictionary word):\n%s", n, b)
	}
	if strings.Contains(b, "problem:") {
		t.Errorf("long strings reported as problems:\n%s", b)
	}
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}

	d = start(t, "-json")
	d.send(t, pkt)
	line := waitContains(t, d.stdout, "\n")
	var got struct {
		Problems []string `json:"problems"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Problems) != 0 || len(got.Warnings) != 2 || !strings.HasPrefix(got.Warnings[0], pinbatest.RuleLongString+": ") {
		t.Errorf("problems %q, warnings %q", got.Problems, got.Warnings)
	}
}
