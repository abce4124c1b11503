package pynbadebug

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pynba-go/pynba"
)

// statRow is one counter of pynba.Stats.
type statRow struct {
	Name  string
	Value uint64
	Loss  bool   // counts something lost or wrong
	Help  string // what it counts
}

// statHelp says what each counter counts; a counter missing here is shown
// with its name only.
var statHelp = map[string]string{
	"Requests":        "requests monitored",
	"Packets":         "packets handed to the reporter",
	"Sent":            "datagrams written (one per server per packet)",
	"SendErrors":      "datagrams the socket refused",
	"Unresolved":      "datagrams not sent: server without an address",
	"ResolveErrors":   "failed name lookups",
	"TooLarge":        "packets over the size limit (trimmed or dropped)",
	"QueueDropped":    "packets dropped: async queue full",
	"EncodeErrors":    "packets that could not be encoded",
	"TagErrors":       "tags dropped",
	"LateUses":        "uses after the request ended (ignored)",
	"TimerMisuse":     "Start on a running timer, Stop on a stopped one",
	"Clamped":         "values clamped into the wire's range",
	"ScriptOverflows": "script names sent as " + pynba.OverflowName,
	"TagOverflows":    "tag values sent as " + pynba.OverflowName,
	"StringsCut":      "strings cut to pinba_engine's limits",
	"CallbackPanics":  "error handler panics and errors",
}

// statRows lists every counter of s in field order, so that a counter
// added to pynba.Stats shows up here too.
func statRows(s pynba.Stats) []statRow {
	v := reflect.ValueOf(s)
	t := v.Type()
	var out []statRow
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Uint64 {
			continue
		}
		n := v.Field(i).Uint()
		loss := f.Name != "Requests" && f.Name != "Packets" && f.Name != "Sent"
		out = append(out, statRow{Name: f.Name, Value: n, Loss: loss, Help: statHelp[f.Name]})
	}
	return out
}

// page is what the template is given.
type page struct {
	View
	Stats   []statRow
	Lost    uint64 // the sum of the loss counters
	Newest  []Packet
	Refresh int
	Sort    string
	query   url.Values
}

// Link returns the page's own URL (relative: the query only) with each
// key of kv set to the value after it, the other parameters kept; an empty
// value removes the key.
func (p *page) Link(kv ...string) string {
	q := url.Values{}
	for k, v := range p.query {
		q[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return "?" + q.Encode()
}

func renderHTML(w io.Writer, r *http.Request, v View, p params) error {
	pg := &page{View: v, Stats: statRows(v.Stats), Refresh: p.refresh, Sort: string(p.query.Sort), query: r.URL.Query()}
	for _, s := range pg.Stats {
		if s.Loss {
			pg.Lost += s.Value
		}
	}
	pg.Newest = slices.Clone(v.Packets)
	slices.Reverse(pg.Newest)
	return pageTmpl.Execute(w, pg)
}

// dur formats seconds for people: 850µs, 12.3ms, 1.20s.
func dur(s float64) string {
	switch {
	case s != s || math.IsInf(s, 0):
		return "?"
	case s == 0:
		return "0"
	case s < 1e-3:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + "µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'f', prec(s*1e3), 64) + "ms"
	default:
		return strconv.FormatFloat(s, 'f', prec(s), 64) + "s"
	}
}

// prec keeps three significant digits for numbers from 1 to 999.
func prec(x float64) int {
	switch {
	case x < 10:
		return 2
	case x < 100:
		return 1
	}
	return 0
}

func rate(x float64) string {
	if x == 0 {
		return "0"
	}
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func percent(x float64) string { return strconv.FormatFloat(x*100, 'f', 1, 64) + "%" }

func size(n int) string {
	if n < 1024 {
		return strconv.Itoa(n) + " B"
	}
	return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
}

// statuses formats a status mix as "200×12 500×1", most frequent first.
func statuses(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s×%d", k, m[k])
	}
	return b.String()
}

// statusClass names the CSS class of a status code's colour.
func statusClass(code uint32) string {
	switch {
	case code >= 500:
		return "bad"
	case code >= 400:
		return "warn"
	}
	return ""
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur":         dur,
	"dur32":       func(f float32) string { return dur(float64(f)) },
	"rate":        rate,
	"percent":     percent,
	"size":        size,
	"statuses":    statuses,
	"statusClass": statusClass,
	"cpu":         func(u, s float32) string { return dur(float64(u) + float64(s)) },
}).Parse(pageHTML))
