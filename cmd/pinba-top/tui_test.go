package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pynba-go/pynba/internal/report"
)

// fed is a report model holding the end-to-end traffic.
func fed(t *testing.T) *report.Model {
	now := time.Unix(2_000_000, 0)
	m := report.New(report.Options{Now: func() time.Time { return now }})
	for _, d := range traffic(t) {
		_ = m.AddDatagram(d)
	}
	return m
}

func newTestUI(t *testing.T) *ui {
	cfg := &config{interval: time.Hour, top: 20, sort: report.SortTime}
	var n atomic.Int64
	n.Store(26)
	u := newUI(fed(t).Snapshot, cfg, uiInfo{listen: "127.0.0.1:30002", received: &n})
	u.Init()
	u.Update(tea.WindowSizeMsg{Width: 110, Height: 30})
	t.Cleanup(u.close)
	return u
}

func key(u *ui, k string) tea.Cmd {
	var msg tea.KeyMsg
	switch k {
	case "tab":
		msg = tea.KeyMsg{Type: tea.KeyTab}
	case "right":
		msg = tea.KeyMsg{Type: tea.KeyRight}
	case "left":
		msg = tea.KeyMsg{Type: tea.KeyLeft}
	default:
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
	}
	_, cmd := u.Update(msg)
	return cmd
}

// rows returns the table lines of a rendered screen: from the header line
// starting with title to the first blank line.
func rows(t *testing.T, screen, title string) (header string, body []string) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, title) {
			for _, r := range lines[i+1:] {
				if strings.TrimSpace(r) == "" {
					break
				}
				body = append(body, r)
			}
			return l, body
		}
	}
	t.Fatalf("no %q table in\n%s", title, screen)
	return "", nil
}

func TestUIScriptsTable(t *testing.T) {
	u := newTestUI(t)
	screen := u.View()
	for _, want := range []string{"pinba-top", "udp 127.0.0.1:30002", "26 datagrams since start",
		"requests 27 (", "1 Scripts (3)", "2 Timer tags (1)", "3 Request tags (1)", "sort: time ▼", "q quit"} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q in\n%s", want, screen)
		}
	}
	header, body := rows(t, screen, "SCRIPT")
	if !strings.Contains(header, "TIME▼") {
		t.Errorf("header %q does not mark the time column", header)
	}
	if len(body) != 3 {
		t.Fatalf("rows %q", body)
	}
	// By time: /b (2.5 s), /a (2.1 s), /job (0.4 s).
	for i, name := range []string{"/b", "/a", "/job"} {
		if f := strings.Fields(body[i]); f[0] != name {
			t.Errorf("row %d is %q, want %s", i, body[i], name)
		}
	}
	if f := strings.Fields(body[1]); f[2] != "20" || f[3] != "2.10s" || f[len(f)-1] != "200:20" {
		t.Errorf("/a row %q", body[1])
	}
	for _, l := range strings.Split(screen, "\n") {
		if w := len([]rune(l)); w > 110 {
			t.Errorf("line of %d cells is wider than the terminal: %q", w, l)
		}
	}
}

func TestUIKeys(t *testing.T) {
	u := newTestUI(t)
	// Sort column moves right: time -> avg; /b has the highest average.
	key(u, "right")
	header, body := rows(t, u.View(), "SCRIPT")
	if !strings.Contains(header, "AVG▼") || !strings.HasPrefix(body[0], "/b ") {
		t.Errorf("sort by avg: %q %q", header, body)
	}
	key(u, "left")
	key(u, "left") // count
	header, body = rows(t, u.View(), "SCRIPT")
	if !strings.Contains(header, "REQ/S▼") || !strings.HasPrefix(body[0], "/a ") {
		t.Errorf("sort by count: %q %q", header, body)
	}
	key(u, "r")
	header, body = rows(t, u.View(), "SCRIPT")
	if !strings.Contains(header, "REQ/S▲") || !strings.HasPrefix(body[0], "/job ") {
		t.Errorf("reversed: %q %q", header, body)
	}

	key(u, "2")
	header, body = rows(t, u.View(), "TIMER TAGS")
	if !strings.Contains(header, "TIME▼") || len(body) != 1 {
		t.Fatalf("timer view: %q %q", header, body)
	}
	if f := strings.Fields(body[0]); f[0] != "group=db" || f[2] != "54" {
		t.Errorf("timer row %q", body[0])
	}
	key(u, "tab")
	_, body = rows(t, u.View(), "REQUEST TAG")
	if f := strings.Fields(body[0]); f[0] != "env=test" || f[2] != "27" {
		t.Errorf("request tag row %q", body[0])
	}
	key(u, "1")
	if _, body = rows(t, u.View(), "SCRIPT"); !strings.HasPrefix(body[0], "/job ") {
		t.Errorf("the script view lost its order: %q", body)
	}

	if key(u, "p"); !strings.Contains(u.View(), "PAUSED") {
		t.Error("no PAUSED mark")
	}
	if cmd := key(u, "q"); cmd == nil || cmd() != tea.Quit() {
		t.Error("q does not quit")
	}
}

func TestUIRefreshAndPause(t *testing.T) {
	calls := 0
	src := func(q report.Query) report.Snapshot {
		calls++
		return report.Snapshot{Totals: report.Totals{Requests: int64(calls)}, Sort: q.Sort}
	}
	u := newUI(src, &config{interval: time.Hour, sort: report.SortP95}, uiInfo{})
	u.Init()
	if _, cmd := u.Update(tickMsg(time.Now())); cmd == nil || calls != 2 {
		t.Errorf("a tick: %d snapshots, next tick %v", calls, cmd != nil)
	}
	if !strings.Contains(u.View(), "(no data in the window yet)") || !strings.Contains(u.View(), "sort: p95") {
		t.Errorf("empty view\n%s", u.View())
	}
	key(u, "2") // p95 does not apply to timer tags: sorted by time
	if !strings.Contains(u.View(), "sort: time") {
		t.Errorf("timer view sort\n%s", u.View())
	}
	key(u, " ")
	before := calls
	u.Update(tickMsg(time.Now()))
	if calls != before {
		t.Error("refreshed while paused")
	}
}

// TestUIProgram runs the whole bubbletea program headless: input from a
// pipe, output to a buffer.
func TestUIProgram(t *testing.T) {
	u := newTestUI(t)
	in, w := io.Pipe()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := tea.NewProgram(u, tea.WithInput(in), tea.WithOutput(&out), tea.WithContext(ctx), tea.WithoutSignalHandler())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Run()
		errc <- err
	}()
	go func() {
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "2")
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "q")
	}()
	err := <-errc
	u.close()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	screen := out.String()
	for _, want := range []string{"SCRIPT", "/job", "TIMER TAGS", "group=db"} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q in the program's output", want)
		}
	}
}
