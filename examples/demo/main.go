// Command demo shows pynba at work with no Pinba server: it starts a Pinba
// receiver in-process (pinbatest) on 127.0.0.1, a monitored web server on
// 127.0.0.1, sends that server some requests, and prints what Pinba would
// report: per script, requests, time and status; per timer tag, hits and
// time.
//
//	go run ./examples/demo
//	go run ./examples/demo -n 300 -also 127.0.0.1:30002   # also feed pinba-dump
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
)

func main() {
	n := flag.Int("n", 60, "requests to send")
	also := flag.String("also", "", "another Pinba server to send to as well, e.g. 127.0.0.1:30002 (loopback only)")
	flag.Parse()
	if err := run(os.Stdout, *n, *also); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// app is a small shop: its handlers time their "database" and "cache"
// calls with pynba timers, with no context passed through.
func app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		pynba.Time(pynba.Tags{"group": "cache", "op": "get"}, func() { work(200 * time.Microsecond) })
		t := pynba.Timer(pynba.Tags{"group": "db", "op": "select", "table": "products"}).Start()
		work(time.Millisecond)
		t.Stop()
		io.WriteString(w, "product "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		defer pynba.Timer(pynba.Tags{"group": "db", "op": "insert", "table": "cart"}).Start().Stop()
		work(2 * time.Millisecond)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		pynba.SetTag("engine", "basic")
		for range 3 { // three identical timers: sent as one with 3 hits
			pynba.Time(pynba.Tags{"group": "search", "op": "query"}, func() { work(300 * time.Microsecond) })
		}
		io.WriteString(w, "results")
	})
	return mux
}

func work(d time.Duration) { time.Sleep(d) }

func run(out io.Writer, n int, also string) error {
	recv := pinbatest.NewServer()
	defer recv.Close()
	servers := recv.Addr()
	if also != "" {
		servers += "," + also
	}
	mw, err := pynba.NewMiddleware(app(), servers,
		pynba.WithHostname("demo-host"),
		// Requests are named by their route (one report line per route,
		// not per URL), and those no route matched share one line:
		// Monitor's default with an http.ServeMux.
		pynba.WithTags(pynba.Tags{"app": "demo"}))
	if err != nil {
		return err
	}
	web := httptest.NewServer(mw)
	defer web.Close()

	fmt.Fprintf(out, "pinba receiver on %s, monitored server on %s, sending %d requests\n\n", recv.Addr(), web.URL, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		var resp *http.Response
		switch k := rng.IntN(10); {
		case k < 5:
			resp, err = http.Get(fmt.Sprintf("%s/products/%d", web.URL, rng.IntN(1000)))
		case k < 7:
			resp, err = http.Post(web.URL+"/cart", "text/plain", strings.NewReader("item"))
		case k < 9:
			resp, err = http.Get(web.URL + "/search?q=go")
		default:
			resp, err = http.Get(fmt.Sprintf("%s/missing/%d", web.URL, i))
		}
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	pkts, err := recv.Wait(n, 5*time.Second)
	if err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	report(out, pkts)
	s := mw.Stats()
	fmt.Fprintf(out, "\nclient stats: %d requests, %d packets, %d datagrams sent, %d send errors\n", s.Requests, s.Packets, s.Sent, s.SendErrors)
	return nil
}

// report prints per-script and per-tag tables, as Pinba's basic reports.
func report(out io.Writer, pkts []*pinbatest.Packet) {
	type script struct {
		reqs     int
		time     float64
		statuses map[uint32]int
	}
	type tagStat struct {
		hits uint64
		time float64
	}
	scripts := map[string]*script{}
	tags := map[string]*tagStat{}
	invalid := 0
	for _, p := range pkts {
		if p.Validate() != nil {
			invalid++
		}
		s := scripts[p.ScriptName]
		if s == nil {
			s = &script{statuses: map[uint32]int{}}
			scripts[p.ScriptName] = s
		}
		s.reqs++
		s.time += float64(p.RequestTime)
		s.statuses[p.Status]++
		for _, t := range p.Timers {
			for _, tag := range t.Tags {
				k := tag.Name + "=" + tag.Value
				ts := tags[k]
				if ts == nil {
					ts = &tagStat{}
					tags[k] = ts
				}
				ts.hits += uint64(t.HitCount)
				ts.time += float64(t.Value)
			}
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "script\trequests\ttime total (s)\ttime avg (ms)\tstatus\t")
	for _, name := range sortedKeys(scripts) {
		s := scripts[name]
		var st []string
		for _, code := range sortedKeys(s.statuses) {
			st = append(st, fmt.Sprintf("%d×%d", code, s.statuses[code]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.3f\t%s\t\n", name, s.reqs, s.time, 1000*s.time/float64(s.reqs), strings.Join(st, " "))
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "timer tag\thits\ttime total (s)\ttime avg (ms)\t")
	for _, k := range sortedKeys(tags) {
		ts := tags[k]
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.3f\t\n", k, ts.hits, ts.time, 1000*ts.time/float64(ts.hits))
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d packets received, %d that pinba_engine or pinba2 would drop or misread\n", len(pkts), invalid)
}

func sortedKeys[K interface{ ~string | ~uint32 }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
