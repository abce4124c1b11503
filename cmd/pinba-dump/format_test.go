package main

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// repeatedRecord is what pynba sends for timer(foo='bar', baz=['seq1','seq2'])
// with the request tags env=prod and env=test.
func repeatedRecord() pb.Record {
	return pb.Record{
		Hostname: "web1", ServerName: "example.com", ScriptName: "/list", RequestCount: 1, RequestTime: 0.5,
		TimerHitCount: []uint32{1}, TimerValue: []float32{0.25}, TimerTagCount: []uint32{3},
		TimerTagName: []uint32{0, 0, 3}, TimerTagValue: []uint32{1, 2, 4},
		Dictionary: []string{"baz", "seq1", "seq2", "foo", "bar", "env", "prod", "test"},
		TagName:    []uint32{5, 5}, TagValue: []uint32{6, 7},
	}
}

func TestRepeatedTagNamesText(t *testing.T) {
	d := start(t)
	d.send(t, encode(t, repeatedRecord()))
	b := block(waitContains(t, d.stdout, "timer 0:"), 1)
	for _, want := range []string{
		"  tags: env=prod env=test\n",
		" {baz=seq1 baz=seq2 foo=bar}\n",
		"  warning: repeated-tag-name: timer 0 ",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("output lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "problem:") {
		t.Errorf("a repeated tag name is reported as a problem:\n%s", b)
	}
}

func TestRepeatedTagNamesJSON(t *testing.T) {
	d := start(t, "-json")
	d.send(t, encode(t, repeatedRecord()))
	line := waitContains(t, d.stdout, "\n")
	type pair struct{ Name, Value string }
	var got struct {
		Tags   []pair `json:"tags"`
		Timers []struct {
			Tags []pair `json:"tags"`
		} `json:"timers"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%v in %s", err, line)
	}
	if want := []pair{{"env", "prod"}, {"env", "test"}}; !equalPairs(got.Tags, want) {
		t.Errorf("request tags %v, want %v", got.Tags, want)
	}
	if want := []pair{{"baz", "seq1"}, {"baz", "seq2"}, {"foo", "bar"}}; len(got.Timers) != 1 || !equalPairs(got.Timers[0].Tags, want) {
		t.Errorf("timers %v, want one with %v", got.Timers, want)
	}
	if len(got.Warnings) != 1 || !strings.HasPrefix(got.Warnings[0], pinbatest.RuleRepeatedTagName+": ") {
		t.Errorf("warnings %q", got.Warnings)
	}
	// No object in the line has a key twice.
	if k := duplicateKey(t, line); k != "" {
		t.Errorf("key %q appears twice in an object: %s", k, line)
	}
}

func equalPairs[P comparable](a, b []P) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// duplicateKey returns a key that appears twice in one JSON object of s, or "".
func duplicateKey(t *testing.T, s string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var walk func() string
	walk = func() string {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				key := k.(string)
				if seen[key] {
					return key
				}
				seen[key] = true
				if d := walk(); d != "" {
					return d
				}
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if d := walk(); d != "" {
					return d
				}
			}
			dec.Token()
		}
		return ""
	}
	return walk()
}

func TestCutInsideCharacterIsShown(t *testing.T) {
	d := start(t)
	r := fullRecord("/x")
	r.Hostname = strings.Repeat("h", pinbatest.MaxHostname-1) + "é"
	d.send(t, encode(t, r))
	b := block(waitContains(t, d.stdout, "timer 1:"), 1)
	if !regexp.MustCompile(`(?m)^  warning: long-string: hostname \(1\) "h+é" is 33 bytes long: pinba_engine cuts it to 32 bytes, .*broken character`).MatchString(b) {
		t.Errorf("no warning naming the hostname and the broken character:\n%s", b)
	}
}

func TestTimesBelowAMicrosecond(t *testing.T) {
	d := start(t, "-summary", "1h")
	r := fullRecord("/tiny")
	r.RequestTime, r.RUUtime, r.RUStime = 4e-7, 0, 1.5e-6
	r.TimerValue = []float32{8.5e-7, 0.000125}
	r.TimerHitCount = []uint32{1, 1}
	d.send(t, encode(t, r))
	waitContains(t, d.stdout, "timer 1:")
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	out := d.stdout.String()
	for _, want := range []string{
		"request_time=400ns ru_utime=0s ru_stime=1.5µs\n",
		"timer 0: hits=1 value=850ns {group=db op=select}\n",
		"timer 1: hits=1 value=125µs {group=cache}\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, tags, _ := parseSummary(t, out)
	if got := strings.Join(tags["group=db"], " "); got != "1 1 850ns 850ns" {
		t.Errorf("summary group=db: %q, want %q", got, "1 1 850ns 850ns")
	}
	if !regexp.MustCompile(`(?m)^/tiny +1 +[0-9.]+ +400ns +400ns +0s +1\.5µs +0 +200:1 *$`).MatchString(out) {
		t.Errorf("script line wrong:\n%s", out)
	}
	if strings.Contains(out, "e-0") || strings.Contains(out, "0.000000s") {
		t.Errorf("a time in exponent form or as zero:\n%s", out)
	}
}

func TestTimeText(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0s"}, {float64(float32(0.25)), "250ms"}, {float64(float32(0.1)), "100ms"}, {1.5, "1.5s"},
		{float64(float32(8.5e-7)), "850ns"}, {float64(float32(1.234e-5)), "12.34µs"}, {125, "125s"},
		{12345678, "12345680s"}, {-0.5, "-500ms"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"}, {5e-10, "0.5ns"},
	} {
		if got := timeText(c.in); got != c.want {
			t.Errorf("timeText(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSummaryRateIsPerInterval(t *testing.T) {
	d := start(t, "-json", "-quiet", "-summary", "40ms")
	var packets [][]byte
	for i := range 12 {
		packets = append(packets, encode(t, fullRecord([]string{"/a", "/b", "/c"}[i%3])))
	}
	d.send(t, packets...)
	type summary struct {
		Elapsed   float64 `json:"elapsed"`
		Interval  float64 `json:"interval"`
		Requests  int     `json:"requests"`
		ReqPerSec float64 `json:"req_per_sec"`
		Scripts   []struct {
			ScriptName string  `json:"script_name"`
			Requests   int     `json:"requests"`
			ReqPerSec  float64 `json:"req_per_sec"`
		} `json:"scripts"`
	}
	parse := func(out string) []summary {
		var all []summary
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var l struct{ Summary *summary }
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Summary == nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			all = append(all, *l.Summary)
		}
		return all
	}
	// Wait for a report that has all 12, then for one more after it: that
	// interval received nothing.
	waitFor(t, d.stdout, "a quiet interval after all requests", func(s string) bool {
		all := parse(s)
		for i, r := range all {
			if r.Requests == 12 && i+1 < len(all) {
				return true
			}
		}
		return false
	})
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	all := parse(d.stdout.String())
	prev := 0
	for i, r := range all {
		if r.Interval <= 0 || r.Interval > r.Elapsed {
			t.Errorf("report %d: interval %v, elapsed %v", i, r.Interval, r.Elapsed)
			continue
		}
		if got := int(math.Round(r.ReqPerSec * r.Interval)); got != r.Requests-prev {
			t.Errorf("report %d: %v req/s over %vs is %d requests, but %d arrived in the interval", i, r.ReqPerSec, r.Interval, got, r.Requests-prev)
		}
		prev = r.Requests
	}
	last := all[len(all)-1]
	if last.Requests != 12 || last.ReqPerSec != 0 || len(last.Scripts) != 3 {
		t.Errorf("last report: %+v; want 12 requests, 0 req/s", last)
	}
	for _, s := range last.Scripts {
		if s.Requests != 4 || s.ReqPerSec != 0 {
			t.Errorf("last report, %s: %d requests, %v req/s; want 4, 0", s.ScriptName, s.Requests, s.ReqPerSec)
		}
	}

	var stderr syncBuffer
	_ = run(context.Background(), []string{"-h"}, &strings.Builder{}, &stderr, nil)
	if !strings.Contains(stderr.String(), "req/s of the last interval") {
		t.Errorf("help does not say the rate is per interval:\n%s", stderr.String())
	}
}
