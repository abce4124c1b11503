package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"

	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba/internal/report"
	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// packet encodes a request of script taking rt seconds, with one db timer
// of two hits and the request tag env=test; children are nested requests.
func packet(t testing.TB, script string, rt float32, status uint32, children ...pb.Record) []byte {
	t.Helper()
	r := rec(script, rt, status)
	r.Requests = children
	b, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rec(script string, rt float32, status uint32) pb.Record {
	return pb.Record{
		Hostname: "h", ServerName: "s", ScriptName: script, RequestCount: 1,
		RequestTime: rt, RUUtime: rt / 2, Status: status, HasStatus: true,
		Dictionary: []string{"env", "test", "group", "db"},
		TagName:    []uint32{0}, TagValue: []uint32{1},
		TimerHitCount: []uint32{2}, TimerValue: []float32{rt / 4}, TimerTagCount: []uint32{1},
		TimerTagName: []uint32{2}, TimerTagValue: []uint32{3},
	}
}

// traffic is what the end-to-end tests send: 20 datagrams to /a, 5 to /b
// (one of them holding two nested /job requests), one undecodable.
func traffic(t testing.TB) [][]byte {
	var d [][]byte
	for i := range 20 {
		d = append(d, packet(t, "/a", float32(i+1)/100, 200))
	}
	for range 4 {
		d = append(d, packet(t, "/b", 0.5, 500))
	}
	d = append(d, packet(t, "/b", 0.5, 500, rec("/job", 0.1, 200), rec("/job", 0.3, 200)))
	return append(d, []byte("not pinba"))
}

func send(t testing.TB, addr string, datagrams [][]byte) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range datagrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond) // stay under the socket buffer
	}
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
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

// start runs the command in-process and returns its listening address
// and a channel with its result.
func start(t *testing.T, ctx context.Context, args ...string) (addr string, stdout, stderr *syncBuffer, done <-chan error) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), strings.NewReader(""), stdout, stderr,
			func(a string) { ready <- a })
	}()
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatalf("run ended before listening: %v; stderr: %s", err, stderr)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not start listening")
	}
	return addr, stdout, stderr, errc
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not end")
	}
}

func checkCounts(t *testing.T, s report.Snapshot) {
	t.Helper()
	if s.Totals.Datagrams != 26 || s.Totals.Undecodable != 1 || s.Totals.Requests != 27 || s.Totals.Nested != 2 {
		t.Errorf("totals %+v", s.Totals)
	}
	want := map[string]int64{"/a": 20, "/b": 5, "/job": 2}
	if len(s.Scripts) != len(want) {
		t.Errorf("scripts %+v", s.Scripts)
	}
	for _, r := range s.Scripts {
		if want[r.Name] != r.Requests {
			t.Errorf("%s: %d requests, want %d", r.Name, r.Requests, want[r.Name])
		}
	}
	if len(s.TimerTags) != 1 || s.TimerTags[0].Tags != "group=db" || s.TimerTags[0].Hits != 54 {
		t.Errorf("timer tags %+v", s.TimerTags)
	}
	if len(s.RequestTags) != 1 || s.RequestTags[0].Requests != 27 {
		t.Errorf("request tags %+v", s.RequestTags)
	}
}

func TestOnceJSONWithForward(t *testing.T) {
	srv1, srv2 := pinbatest.NewServer(), pinbatest.NewServer()
	defer srv1.Close()
	defer srv2.Close()
	addr, stdout, stderr, done := start(t, context.Background(),
		"-once", "-json", "-duration", "1500ms", "-forward", srv1.Addr()+","+srv2.Addr())
	d := traffic(t)
	send(t, addr, d)
	wait(t, done)

	var s report.Snapshot
	if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	checkCounts(t, s)
	if s.Scripts[0].Name != "/b" { // 2.5 s in total against 2.1 s
		t.Errorf("first row %q, want /b (sorted by time)", s.Scripts[0].Name)
	}
	if !strings.Contains(stderr.String(), "forwarding to "+srv1.Addr()+", "+srv2.Addr()) {
		t.Errorf("stderr %q", stderr)
	}
	for _, srv := range []*pinbatest.Server{srv1, srv2} {
		got, err := srv.Wait(len(d), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i := range d {
			if !bytes.Equal(got[i].Raw, d[i]) {
				t.Errorf("relayed datagram %d differs", i)
			}
		}
	}
}

func TestOnceText(t *testing.T) {
	addr, stdout, _, done := start(t, context.Background(), "-once", "-duration", "1s", "-sort", "count", "-top", "2")
	send(t, addr, traffic(t))
	wait(t, done)
	out := stdout.String()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "requests 27 (") || !strings.Contains(lines[0], "datagrams 26, undecodable 1") {
		t.Errorf("summary %q", lines[0])
	}
	// Sorted by count, cut to 2 rows: /a then /b.
	var rows []string
	for i, l := range lines {
		if strings.HasPrefix(l, "SCRIPT") {
			rows = lines[i+1 : i+3]
			if strings.HasPrefix(lines[i+3], "/job") {
				t.Errorf("-top 2 printed a third row: %q", lines[i+3])
			}
		}
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "/a ") || !strings.HasPrefix(rows[1], "/b ") {
		t.Fatalf("script rows %q in\n%s", rows, out)
	}
	if f := strings.Fields(rows[0]); f[2] != "20" || f[len(f)-1] != "200:20" {
		t.Errorf("/a row %q", rows[0])
	}
	if f := strings.Fields(rows[1]); f[2] != "5" || f[len(f)-1] != "500:5" {
		t.Errorf("/b row %q", rows[1])
	}
	for _, want := range []string{"TIMER TAGS", "group=db", "REQUEST TAG", "env=test"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestJSONStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, stdout, _, done := start(t, ctx, "-json", "-interval", "100ms", "-window", "30")
	send(t, addr, traffic(t))
	// Snapshots keep coming until the context ends; wait for one that
	// holds everything.
	deadline := time.Now().Add(10 * time.Second)
	var last report.Snapshot
	for time.Now().Before(deadline) {
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err == nil && last.Totals.Datagrams == 26 && len(lines) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wait(t, done)
	checkCounts(t, last)
	if last.WindowSeconds != 30 {
		t.Errorf("window %v", last.WindowSeconds)
	}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	n := 0
	for sc.Scan() {
		var s report.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	if n < 2 {
		t.Errorf("%d snapshots, want one per interval", n)
	}
}

func TestInvalidCommandLinesAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-window", "0"}, {"-sort", "speed"}, {"-top", "-1"}, {"-interval", "0s"}, {"extra"}, {"-max-keys", "0"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, nil, &bytes.Buffer{}, &stderr, nil)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "Usage: pinba-top") {
			t.Errorf("%q: %v, stderr %q", args, err, stderr.String())
		}
	}
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := l.LocalAddr().String()
	l.Close()
	err = run(context.Background(), []string{"-listen", self, "-forward", self, "-once"}, nil, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "listens on") {
		t.Errorf("forward to itself: %v", err)
	}
}

// TestBinary builds the command and runs it as a process, as a script
// would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "pinba-top")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Find a free port, then let the process take it.
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", addr, "-once", "-json", "-duration", "2s")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // by its own pid
			_ = cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "listening on udp "+addr) {
		t.Fatalf("first stderr line %q, %v", line, err)
	}
	send(t, addr, traffic(t))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pinba-top: %v", err)
	}
	var s report.Snapshot
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%v: %q", err, stdout.String())
	}
	checkCounts(t, s)
}
