package pynbahttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	pynbahttp "github.com/pynba-go/pynba/contrib/httpclient"
	"github.com/pynba-go/pynba/pinbatest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is a loopback HTTP server: /code/N answers with status N and the
// body "body"; /hold answers 200, flushes the headers, and writes the body
// only once release is closed.
type backend struct {
	*httptest.Server
	release chan struct{}
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/code/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n >= 300 && n < 400 {
			w.Header().Set("Location", "/code/200")
		}
		w.WriteHeader(n)
		io.WriteString(w, "body")
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-b.release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "held body")
	})
	b.Server = httptest.NewServer(mux)
	t.Cleanup(b.Close)
	return b
}

// host is the backend's host:port, the value of the server tag.
func (b *backend) host() string { return strings.TrimPrefix(b.URL, "http://") }

// newClient returns a client using the transport over a fresh
// http.Transport whose connections it closes when the test ends.
func newClient(t *testing.T, opts ...pynbahttp.Option) *http.Client {
	t.Helper()
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{
		Transport: pynbahttp.Transport(base, opts...),
		Timeout:   10 * time.Second,
	}
}

// monitor starts a ScriptMonitor in the calling goroutine, sending to a
// fresh pinbatest server, and returns both; both close when the test ends.
func monitor(t *testing.T) (*pynba.ScriptMonitor, *pinbatest.Server) {
	t.Helper()
	srv := pinbatest.NewServer()
	t.Cleanup(srv.Close)
	sm, err := pynba.NewScriptMonitor(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	return sm, srv
}

// send sends the measurement and returns its packet, validated.
func send(t *testing.T, sm *pynba.ScriptMonitor, srv *pinbatest.Server) *pinbatest.Packet {
	t.Helper()
	if err := sm.Send(); err != nil {
		t.Fatal(err)
	}
	p, err := srv.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("invalid packet: %v", err)
	}
	return p
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func wantTimer(t *testing.T, p *pinbatest.Packet, want map[string]string) pinbatest.Timer {
	t.Helper()
	tm, ok := p.FindTimer(want)
	if !ok {
		t.Fatalf("no timer %v in %v", want, p.Timers)
	}
	if len(tm.Tags) != len(want) {
		t.Errorf("timer %v: want exactly the tags %v", tm, want)
	}
	return tm
}

func TestStatusClasses(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	for _, code := range []int{200, 201, 302, 404, 410, 503} {
		get(t, c, b.URL+"/code/"+strconv.Itoa(code))
	}
	resp, err := c.Post(b.URL+"/code/500", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	p := send(t, sm, srv)
	base := map[string]string{"group": "http", "server": b.host(), "method": "GET"}
	with := func(k, v string, kv ...string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		status string
		hits   uint32
	}{{"2xx", 2}, {"3xx", 1}, {"4xx", 2}, {"5xx", 1}} {
		tm := wantTimer(t, p, with("status", c.status))
		if tm.HitCount != c.hits {
			t.Errorf("status %s: %d hits, want %d", c.status, tm.HitCount, c.hits)
		}
		if tm.Value <= 0 {
			t.Errorf("status %s: value %v", c.status, tm.Value)
		}
	}
	wantTimer(t, p, with("status", "5xx", "method", "POST"))
	if len(p.Timers) != 5 {
		t.Errorf("%d timers, want 5: %v", len(p.Timers), p.Timers)
	}
}

// A followed redirect is two round trips, hence two timers.
func TestRedirectTimesEachHop(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	get(t, newClient(t), b.URL+"/code/301")
	p := send(t, sm, srv)
	base := map[string]string{"group": "http", "server": b.host(), "method": "GET"}
	for _, s := range []string{"3xx", "2xx"} {
		want := map[string]string{"status": s}
		for k, v := range base {
			want[k] = v
		}
		if tm := wantTimer(t, p, want); tm.HitCount != 1 {
			t.Errorf("%s: %d hits", s, tm.HitCount)
		}
	}
}

func TestErrors(t *testing.T) {
	// A port nothing listens on: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	sm, srv := monitor(t)
	c := newClient(t)
	if _, err := c.Get("http://" + dead + "/"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}

	// A request canceled before its headers came back, to a listener that
	// accepts the connection and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		if conn, err := hang.Accept(); err == nil {
			accepted <- conn
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+hang.Addr().String()+"/", nil)
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: err %v", err)
	}
	if conn := <-accepted; conn != nil {
		conn.Close()
	}

	p := send(t, sm, srv)
	wantTimer(t, p, map[string]string{"group": "http", "server": dead, "method": "GET", "status": "error"})
	tm := wantTimer(t, p, map[string]string{"group": "http", "server": hang.Addr().String(), "method": "PUT", "status": "error"})
	if tm.Value < 0.015 {
		t.Errorf("canceled request timed %vs, want at least the 20ms before the cancel", tm.Value)
	}
}

// bodyExchange sends GET /hold, waits after the headers came back, then
// reads the body. It returns the elapsed times of the request's timers
// right after Do returned, the packet, the wait and the backend's host.
func bodyExchange(t *testing.T, opts ...pynbahttp.Option) (early []time.Duration, p *pinbatest.Packet, gap time.Duration, host string) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t, opts...)
	resp, err := c.Get(b.URL + "/hold")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range sm.Collector().Timers() {
		early = append(early, tm.Elapsed())
	}
	gap = 80 * time.Millisecond
	time.Sleep(gap)
	close(b.release)
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "held body" {
		t.Fatalf("body %q, err %v", body, err)
	}
	resp.Body.Close()
	return early, send(t, sm, srv), gap, b.host()
}

// By default the timer covers the body: it ends at EOF, not before.
func TestBodyIncludedByDefault(t *testing.T) {
	early, p, gap, host := bodyExchange(t)
	if len(early) != 0 {
		t.Errorf("a timer was recorded before the body was read: %v", early)
	}
	tm := wantTimer(t, p, map[string]string{"group": "http", "server": host, "method": "GET", "status": "2xx"})
	if tm.HitCount != 1 {
		t.Errorf("%d hits, want 1 (EOF and Close record once)", tm.HitCount)
	}
	if float64(tm.Value) < gap.Seconds() {
		t.Errorf("timer %vs does not cover the %v spent before the body came", tm.Value, gap)
	}
}

// WithBody(false): the timer ends when the headers came back.
func TestHeadersOnly(t *testing.T) {
	early, p, gap, host := bodyExchange(t, pynbahttp.WithBody(false))
	if len(early) != 1 {
		t.Fatalf("%d timers right after the headers, want 1", len(early))
	}
	d := early[0]
	if len(p.Timers) != 1 {
		t.Fatalf("%d timers, want 1: %v", len(p.Timers), p.Timers)
	}
	tm := wantTimer(t, p, map[string]string{"group": "http", "server": host, "method": "GET", "status": "2xx"})
	if tm.HitCount != 1 {
		t.Errorf("timer %v", tm)
	}
	// The value was fixed when the headers came back: reading the body
	// later did not add to it.
	if got := time.Duration(float64(tm.Value) * float64(time.Second)); got > d+time.Millisecond || got >= gap {
		t.Errorf("timer %v, recorded as %v, gap %v", got, d, gap)
	}
}

// Closing the body unread ends the timer too.
func TestBodyClosedUnread(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t)
	resp, err := c.Get(b.URL + "/code/200")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sm.Collector().Timers()); n != 0 {
		t.Errorf("%d timers before Close", n)
	}
	resp.Body.Close()
	resp.Body.Close()
	if n := len(sm.Collector().Timers()); n != 1 {
		t.Errorf("%d timers after Close, want 1", n)
	}
	p := send(t, sm, srv)
	if len(p.Timers) != 1 || p.Timers[0].HitCount != 1 || p.Timers[0].Tags.Get("status") != "2xx" {
		t.Errorf("timers %v", p.Timers)
	}
}

// A HEAD response has no body: the timer ends with the headers in the
// default mode too.
func TestNoBody(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	resp, err := newClient(t).Head(b.URL + "/code/204")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sm.Collector().Timers()); n != 1 {
		t.Errorf("%d timers right after a HEAD, want 1", n)
	}
	resp.Body.Close()
	p := send(t, sm, srv)
	wantTimer(t, p, map[string]string{"group": "http", "server": b.host(), "method": "HEAD", "status": "2xx"})
}

// The request a context carries wins over the goroutine's binding: a call
// from a goroutine bound to nothing lands in the context's request.
func TestContextRequest(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t)
	ctx := pynba.NewContext(context.Background(), sm.Collector())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, b.URL+"/code/404", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p := send(t, sm, srv)
	wantTimer(t, p, map[string]string{"group": "http", "server": b.host(), "method": "DELETE", "status": "4xx"})
}

// A call in a pynba.Go child lands in the parent request.
func TestGoChild(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t)
	done := make(chan struct{})
	pynba.Go(func() {
		defer close(done)
		get(t, c, b.URL+"/code/201")
	})
	<-done
	p := send(t, sm, srv)
	wantTimer(t, p, map[string]string{"group": "http", "server": b.host(), "method": "GET", "status": "2xx"})
}

// A call from a goroutine bound to no request, with a context carrying
// none, lands nowhere, even while a request runs elsewhere.
func TestOutsideRequest(t *testing.T) {
	b := newBackend(t)
	sm, srv := monitor(t)
	c := newClient(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(t, c, b.URL+"/code/200")
	}()
	<-done
	p := send(t, sm, srv)
	if len(p.Timers) != 0 {
		t.Errorf("timers %v, want none", p.Timers)
	}
}

type closeCounter struct {
	*http.Transport
	closed int
}

func (c *closeCounter) CloseIdleConnections() {
	c.closed++
	c.Transport.CloseIdleConnections()
}

// http.Client.CloseIdleConnections reaches the base transport.
func TestCloseIdleConnections(t *testing.T) {
	b := newBackend(t)
	base := &closeCounter{Transport: &http.Transport{}}
	c := &http.Client{Transport: pynbahttp.Transport(base)}
	get(t, c, b.URL+"/code/200")
	c.CloseIdleConnections()
	if base.closed != 1 {
		t.Errorf("base CloseIdleConnections called %d times, want 1", base.closed)
	}
}
