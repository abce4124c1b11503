package pynbadebug

// pageHTML is the page. html/template escapes every value in its context;
// the page has no script.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>pynba · Pinba monitor</title>
<style>
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --head:#f6f8fa; --bad:#cf222e; --warn:#9a6700; --ok:#1a7f37; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 13px/1.45 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: var(--fg); background: #fff; }
h1 { font-size: 20px; margin: 0 0 2px; }
h2 { font-size: 15px; margin: 26px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h2 small, .muted { color: var(--muted); font-weight: normal; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav { margin: 4px 0 14px; color: var(--muted); }
nav a { margin-right: 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0 4px; }
.card { flex: 1 1 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 110px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
th.sorted { background: #ddf4ff; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fbfcfd; }
.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: break-word; max-width: 520px; }
.bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); }
.ok { color: var(--ok); }
.over { font-style: italic; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 0 24px; }
.grid div { display: flex; justify-content: space-between; border-bottom: 1px solid var(--line); padding: 3px 0; }
.grid div span.muted { flex: 1; margin: 0 10px; font-size: 12px; }
td.script { min-width: 11em; }
ul.timers, ul.checks { margin: 0; padding: 0; list-style: none; }
ul.timers li, ul.checks li { white-space: normal; }
.note { color: var(--muted); margin: 6px 0; }
</style>
</head>
<body>
<h1>Pinba monitor</h1>
<nav>
{{.Time.Format "2006-01-02 15:04:05 MST"}} · window {{.Report.WindowSeconds}} s
· <a href="{{.Link "format" "json"}}">JSON</a>
· reload: <a href="{{.Link "refresh" ""}}">off</a> <a href="{{.Link "refresh" "2"}}">2 s</a> <a href="{{.Link "refresh" "10"}}">10 s</a>
</nav>

<div class="cards">
<div class="card"><b>{{.Report.Totals.Requests}}</b><span>requests in window</span></div>
<div class="card"><b>{{rate .Report.Totals.ReqPerSec}}</b><span>requests / s</span></div>
<div class="card"><b>{{dur .Report.Totals.TimeAvg}}</b><span>avg time</span></div>
<div class="card"><b>{{dur .Report.Totals.P95}}</b><span>p95 time</span></div>
<div class="card"><b>{{.View.Stats.Packets}}</b><span>packets built</span></div>
<div class="card"><b>{{.View.Stats.Sent}}</b><span>datagrams sent</span></div>
<div class="card"><b{{if .Lost}} class="bad"{{end}}>{{.Lost}}</b><span>losses, errors</span></div>
<div class="card"><b{{if .Report.Totals.Invalid}} class="bad"{{end}}>{{.Report.Totals.Invalid}}</b><span>invalid for a server</span></div>
</div>

{{$sort := .Sort}}
<h2>Scripts <small>{{len .Report.Scripts}} of {{.Report.Totals.Scripts}} · over the last {{printf "%.0f" .Report.SpanSeconds}} s</small></h2>
<table id="scripts">
<thead><tr>
<th{{if eq $sort "name"}} class="sorted"{{end}}><a href="{{.Link "sort" "name"}}">Script</a></th>
<th class="n{{if eq $sort "count"}} sorted{{end}}"><a href="{{.Link "sort" "count"}}">Requests</a></th>
<th class="n">Req/s</th>
<th class="n{{if eq $sort "time"}} sorted{{end}}"><a href="{{.Link "sort" "time"}}">Total</a></th>
<th class="n{{if eq $sort "avg"}} sorted{{end}}"><a href="{{.Link "sort" "avg"}}">Avg</a></th>
<th class="n{{if eq $sort "p50"}} sorted{{end}}"><a href="{{.Link "sort" "p50"}}">p50</a></th>
<th class="n{{if eq $sort "p95"}} sorted{{end}}"><a href="{{.Link "sort" "p95"}}">p95</a></th>
<th class="n{{if eq $sort "p99"}} sorted{{end}}"><a href="{{.Link "sort" "p99"}}">p99</a></th>
<th class="n{{if eq $sort "max"}} sorted{{end}}"><a href="{{.Link "sort" "max"}}">Max</a></th>
<th class="n{{if eq $sort "cpu"}} sorted{{end}}"><a href="{{.Link "sort" "cpu"}}">CPU/req</a></th>
<th>Statuses</th>
</tr></thead>
<tbody>
{{range .Report.Scripts}}<tr>
<td class="name{{if .Overflow}} over{{end}}">{{.Name}}</td>
<td class="n">{{.Requests}}</td>
<td class="n">{{rate .ReqPerSec}}</td>
<td class="n">{{dur .TimeTotal}}</td>
<td class="n">{{dur .TimeAvg}}</td>
<td class="n">{{dur .P50}}</td>
<td class="n">{{dur .P95}}</td>
<td class="n">{{dur .P99}}</td>
<td class="n">{{dur .Max}}</td>
<td class="n">{{dur .CPUPerReq}}</td>
<td class="name">{{statuses .Status}}</td>
</tr>
{{else}}<tr><td colspan="11" class="muted">No request in the window.</td></tr>
{{end}}</tbody>
</table>

<h2>Timers <small>per tag set · {{len .Report.TimerTags}} of {{.Report.Totals.TimerTags}}</small></h2>
<table id="timers">
<thead><tr>
<th>Tags</th>
<th class="n">Hits</th><th class="n">Hits/s</th><th class="n">Requests</th>
<th class="n">Total</th><th class="n">Per hit</th><th class="n">Share</th><th class="n">CPU</th>
</tr></thead>
<tbody>
{{range .Report.TimerTags}}<tr>
<td class="name{{if .Overflow}} over{{end}}">{{.Tags}}</td>
<td class="n">{{.Hits}}</td>
<td class="n">{{rate .HitsPerSec}}</td>
<td class="n">{{.Requests}}</td>
<td class="n">{{dur .TimeTotal}}</td>
<td class="n">{{dur .TimePerHit}}</td>
<td class="n">{{percent .Share}}</td>
<td class="n">{{if .HasCPU}}{{dur .CPUTotal}}{{else}}<span class="muted">–</span>{{end}}</td>
</tr>
{{else}}<tr><td colspan="8" class="muted">No timer in the window.</td></tr>
{{end}}</tbody>
</table>

<h2>Request tags <small>{{len .Report.RequestTags}} of {{.Report.Totals.RequestTags}}</small></h2>
<table id="request-tags">
<thead><tr>
<th>Tag</th><th class="n">Requests</th><th class="n">Req/s</th><th class="n">Total</th><th class="n">Avg</th><th class="n">CPU</th>
</tr></thead>
<tbody>
{{range .Report.RequestTags}}<tr>
<td class="name{{if .Overflow}} over{{end}}">{{.Tag}}</td>
<td class="n">{{.Requests}}</td>
<td class="n">{{rate .ReqPerSec}}</td>
<td class="n">{{dur .TimeTotal}}</td>
<td class="n">{{dur .TimeAvg}}</td>
<td class="n">{{dur .CPUTotal}}</td>
</tr>
{{else}}<tr><td colspan="6" class="muted">No request tag in the window.</td></tr>
{{end}}</tbody>
</table>

<h2>Recent packets <small>newest first · {{len .Packets}} shown of {{.Feed.Kept}} kept</small></h2>
{{if .Feed.Gap}}<p class="bad">Packets sent since the previous view beyond the ring's size were not seen, and are in no table ({{.Feed.Missed}} missed in all). View the page more often, or keep more (pynba.WithRecent).</p>{{end}}
{{if not .Feed.Kept}}<p class="note">No packet kept. Either none was sent yet, or the monitor was made without <span class="name">pynba.WithRecent(n)</span>, which the packets and the tables need.</p>
{{else}}<table id="packets">
<thead><tr>
<th class="n">#</th><th>Script</th><th class="n">Status</th><th class="n">Time</th><th class="n">CPU</th><th class="n">Size</th>
<th>Timers</th><th>Request tags</th><th>Checks</th>
</tr></thead>
<tbody>
{{range .Newest}}<tr>
<td class="n">{{.Seq}}</td>
<td class="name script">{{.ScriptName}}{{if .Nested}} <span class="muted">+{{len .Nested}} nested</span>{{end}}{{if .DecodeError}}<div class="bad">{{.DecodeError}}</div>{{end}}</td>
<td class="n {{statusClass .Status}}">{{.Status}}</td>
<td class="n">{{dur32 .RequestTime}}</td>
<td class="n">{{cpu .RUUtime .RUStime}}</td>
<td class="n">{{size .Size}}</td>
<td>{{if .Timers}}<ul class="timers">{{range .Timers}}<li><span class="name">{{range $i, $t := .Tags}}{{if $i}},{{end}}{{$t.Name}}={{$t.Value}}{{end}}</span> <span class="muted">×{{.Hits}}</span> {{dur32 .Value}}</li>{{end}}</ul>{{else}}<span class="muted">–</span>{{end}}</td>
<td class="name">{{range $i, $t := .Tags}}{{if $i}}, {{end}}{{$t.Name}}={{$t.Value}}{{else}}<span class="muted">–</span>{{end}}</td>
<td>{{if or .Problems .Warnings}}<ul class="checks">{{range .Problems}}<li class="bad" title="{{.Effect}}">{{.Rule}} ({{.Server}}): {{.Detail}}: {{.Effect}}</li>{{end}}{{range .Warnings}}<li class="warn" title="{{.Effect}}">{{.Rule}} ({{.Server}}): {{.Detail}}: {{.Effect}}</li>{{end}}</ul>{{else}}<span class="ok">ok</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table>{{end}}

<h2>Counters <small>since the monitor started</small></h2>
<div class="grid" id="stats">
{{range .Stats}}<div><b>{{.Name}}</b><span class="muted">{{.Help}}</span><span class="n{{if and .Loss .Value}} bad{{end}}">{{.Value}}</span></div>
{{end}}</div>

<h2>Servers</h2>
<table id="servers">
<thead><tr><th>Server</th><th>Resolved address</th></tr></thead>
<tbody>
{{range .Servers}}<tr><td class="name">{{.Name}}</td><td class="name">{{if .Resolved}}{{.Addr}}{{else}}<span class="bad">not resolved yet</span>{{end}}</td></tr>
{{else}}<tr><td colspan="2" class="muted">No server.</td></tr>
{{end}}</tbody>
</table>

<p class="note">This view added {{.Feed.New}} packets to the tables; {{.Feed.Seen}} seen in {{.Feed.Views}} views{{if .Feed.Gaps}}, <span class="bad">{{.Feed.Missed}} packets missed in {{.Feed.Gaps}} of them</span>{{end}}.
Packets enter the tables when a view first sees them, so rates hold when the page is viewed more often than its window.</p>
</body>
</html>
`
