package report_test

import (
	"fmt"
	"time"

	"github.com/pynba-go/pynba/internal/report"
	"github.com/pynba-go/pynba/pb"
)

// Feed a Model with datagrams and read the per-script and per-timer rows.
func Example() {
	now := time.Unix(1_700_000_000, 0)
	m := report.New(report.Options{Window: 10 * time.Second, Now: func() time.Time { return now }})
	for i := range 4 {
		r := pb.Record{
			Hostname: "web1", ServerName: "shop", ScriptName: "/cart",
			RequestTime: 0.25 * float32(i+1), Status: 200, HasStatus: true,
			Dictionary:    []string{"group", "db"},
			TimerHitCount: []uint32{2}, TimerValue: []float32{0.125}, TimerTagCount: []uint32{1},
			TimerTagName: []uint32{0}, TimerTagValue: []uint32{1},
		}
		b, _ := r.Append(nil) // the bytes a pynba client sends
		if err := m.AddDatagram(b); err != nil {
			fmt.Println(err)
		}
	}
	now = now.Add(2 * time.Second)
	s := m.Snapshot(report.Query{Sort: report.SortTime, Top: 10})
	for _, r := range s.Scripts {
		fmt.Printf("%s: %d requests, %.1f req/s, p50 %.2fs, max %.2fs, status %v\n",
			r.Name, r.Requests, r.ReqPerSec, r.P50, r.Max, r.Status)
	}
	for _, r := range s.TimerTags {
		fmt.Printf("%s: %d hits, %.4fs per hit, %.0f%% of request time\n", r.Tags, r.Hits, r.TimePerHit, 100*r.Share)
	}
	// Output:
	// /cart: 4 requests, 2.0 req/s, p50 0.50s, max 1.00s, status map[200:4]
	// group=db: 8 hits, 0.0625s per hit, 20% of request time
}
