package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/pynba-go/pynba/internal/relay"
	"github.com/pynba-go/pynba/internal/report"
)

// colGap separates the columns.
const colGap = "  "

// uiInfo is what the status lines show besides the snapshot.
type uiInfo struct {
	listen   string
	forward  []*relay.Forwarder
	received *atomic.Int64
}

// ui is the bubbletea model of the terminal view.
type ui struct {
	source   func(report.Query) report.Snapshot
	info     uiInfo
	interval time.Duration
	top      int

	view    view
	sort    [numViews]report.SortKey
	reverse [numViews]bool
	paused  bool
	width   int
	height  int
	snap    report.Snapshot
	have    bool

	stop     chan struct{} // closed by close: pending ticks end
	stopOnce sync.Once
}

// tickMsg asks for a fresh snapshot.
type tickMsg time.Time

var (
	titleStyle    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("230")).Background(lipgloss.Color("62")).Padding(0, 1)
	tabStyle      = lipgloss.NewStyle().Padding(0, 1).Foreground(lipgloss.Color("250"))
	activeTab     = lipgloss.NewStyle().Padding(0, 1).Bold(true).Foreground(lipgloss.Color("230")).Background(lipgloss.Color("62"))
	headerStyle   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("81"))
	sortedStyle   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("214")).Underline(true)
	overflowStyle = lipgloss.NewStyle().Faint(true).Italic(true)
	dimStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("245"))
	pausedStyle   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("203"))
)

func newUI(source func(report.Query) report.Snapshot, cfg *config, info uiInfo) *ui {
	u := &ui{source: source, info: info, interval: cfg.interval, top: cfg.top, width: 120, height: 40, stop: make(chan struct{})}
	for v := range numViews {
		u.sort[v] = cfg.sort
		if !slices.Contains(sortKeys(v), cfg.sort) {
			u.sort[v] = report.SortTime
		}
	}
	return u
}

// tick waits one interval, or until close (tea.Tick would keep its
// goroutine until the timer fires, after the program is gone).
func (u *ui) tick() tea.Cmd {
	d, stop := u.interval, u.stop
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case now := <-t.C:
			return tickMsg(now)
		case <-stop:
			return nil
		}
	}
}

// close ends the pending tick; call it once the program has returned.
func (u *ui) close() { u.stopOnce.Do(func() { close(u.stop) }) }

// Init takes the first snapshot and starts the refresh.
func (u *ui) Init() tea.Cmd {
	u.refresh()
	return u.tick()
}

func (u *ui) refresh() {
	u.snap = u.source(report.Query{Sort: u.sort[u.view], Reverse: u.reverse[u.view], Top: u.top})
	u.have = true
}

// Update handles keys, resizes and refresh ticks.
func (u *ui) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		u.width, u.height = msg.Width, msg.Height
	case tickMsg:
		if !u.paused {
			u.refresh()
		}
		return u, u.tick()
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return u, tea.Quit
		case "1", "2", "3":
			u.view = view(msg.String()[0] - '1')
		case "tab":
			u.view = (u.view + 1) % numViews
		case "shift+tab":
			u.view = (u.view + numViews - 1) % numViews
		case "right", "l", "s":
			u.moveSort(1)
		case "left", "h", "S":
			u.moveSort(-1)
		case "r":
			u.reverse[u.view] = !u.reverse[u.view]
		case "p", " ":
			u.paused = !u.paused
			return u, nil
		default:
			return u, nil
		}
		u.refresh() // the new view or order at once
	}
	return u, nil
}

func (u *ui) moveSort(d int) {
	keys := sortKeys(u.view)
	i := slices.Index(keys, u.sort[u.view])
	u.sort[u.view] = keys[(i+d+len(keys))%len(keys)]
}

// View renders the screen.
func (u *ui) View() string {
	if !u.have {
		return "starting…"
	}
	s := u.snap
	var b strings.Builder
	line := func(str string) {
		b.WriteString(ansi.Truncate(str, u.width, "…"))
		b.WriteByte('\n')
	}

	head := titleStyle.Render("pinba-top") + " " + dimStyle.Render("udp "+u.info.listen)
	if len(u.info.forward) > 0 {
		var fw []string
		for _, f := range u.info.forward {
			fw = append(fw, fmt.Sprintf("%s (%d sent, %d failed, %d dropped)", f.Addr, f.Sent.Load(), f.Errors.Load(), f.Dropped.Load()))
		}
		head += dimStyle.Render(" → " + strings.Join(fw, ", "))
	}
	if u.info.received != nil {
		head += dimStyle.Render(fmt.Sprintf("  %d datagrams since start", u.info.received.Load()))
	}
	head += dimStyle.Render("  " + s.Time.Format("15:04:05"))
	if u.paused {
		head += " " + pausedStyle.Render("PAUSED")
	}
	line(head)
	for _, l := range summary(s) {
		line(l)
	}

	var tabs []string
	for v := range numViews {
		label := fmt.Sprintf("%d %s (%d)", v+1, v, [...]int{s.Totals.Scripts, s.Totals.TimerTags, s.Totals.RequestTags}[v])
		if v == u.view {
			tabs = append(tabs, activeTab.Render(label))
		} else {
			tabs = append(tabs, tabStyle.Render(label))
		}
	}
	order := "▼"
	if u.reverse[u.view] {
		order = "▲"
	}
	line("")
	line(strings.Join(tabs, " ") + dimStyle.Render(fmt.Sprintf("   sort: %s %s", u.sort[u.view], order)))
	line("")

	t := buildTable(u.view, s)
	widths := u.columnWidths(t)
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		title := c.title
		style := headerStyle
		if c.key != "" && c.key == u.sort[u.view] {
			title += order
			style = sortedStyle
		}
		cells[i] = styledPad(title, widths[i], c.left, style)
	}
	line(strings.Join(cells, colGap))
	room := u.height - 9 // title, summary, tabs, header, footer and blank lines
	for r, row := range t.rows {
		if r >= max(room, 1) {
			line(dimStyle.Render(fmt.Sprintf("… %d more rows", len(t.rows)-r)))
			break
		}
		for i, c := range t.cols {
			cells[i] = pad(row[i], widths[i], c.left)
		}
		str := strings.Join(cells, colGap)
		if t.overflow[r] {
			str = overflowStyle.Render(str)
		}
		line(str)
	}
	if len(t.rows) == 0 {
		line(dimStyle.Render("(no data in the window yet)"))
	}
	line("")
	line(dimStyle.Render("1-3/tab view · ←/→ sort column · r reverse · p pause · q quit"))
	return b.String()
}

// columnWidths fits the columns to the terminal: numbers get their widest
// cell, the name column (the first) what is left, within limits.
func (u *ui) columnWidths(t table) []int {
	w := make([]int, len(t.cols))
	for i, c := range t.cols {
		w[i] = ansi.StringWidth(c.title) + 1 // room for the sort mark
		for _, r := range t.rows {
			w[i] = max(w[i], ansi.StringWidth(r[i]))
		}
	}
	last := len(w) - 1
	if t.cols[last].left { // status: keep it short
		w[last] = min(w[last], 24)
	}
	rest := (len(w) - 1) * len(colGap)
	for i := 1; i < len(w); i++ {
		rest += w[i]
	}
	w[0] = max(min(w[0], u.width-rest), 12)
	return w
}

// styledPad is pad with style on the text only, not on the padding.
func styledPad(s string, width int, left bool, style lipgloss.Style) string {
	s = ansi.Truncate(s, width, "…")
	gap := strings.Repeat(" ", max(0, width-ansi.StringWidth(s)))
	if left {
		return style.Render(s) + gap
	}
	return gap + style.Render(s)
}

// pad fits s in width cells, cut with "…" when longer.
func pad(s string, width int, left bool) string {
	s = ansi.Truncate(s, width, "…")
	gap := strings.Repeat(" ", max(0, width-ansi.StringWidth(s)))
	if left {
		return s + gap
	}
	return gap + s
}
