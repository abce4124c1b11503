package pynba

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
)

// fakeCPU is a process CPU clock the test moves by hand.
type fakeCPU struct{ u, s atomic.Int64 }

func (f *fakeCPU) read() (int64, int64) { return f.u.Load(), f.s.Load() }

func newTestAccount(f *fakeCPU) *cpuAccount {
	a := newCPUAccount()
	a.read = f.read
	return a
}

// TestCPUAccountExact checks the fair share's invariant on a fake clock:
// whatever the interleaving of requests and readings, the shares of all
// requests add up to the CPU the account handed out, to the rounding of
// each reading's division (under 1 ns a request a reading), and the CPU
// spent while no request ran is handed to nobody.
func TestCPUAccountExact(t *testing.T) {
	var f fakeCPU
	a := newTestAccount(&f)
	var clock atomic.Int64
	tick := func() int64 { return clock.Add(int64(CPUSamplePeriod) / 20) }

	a.join(tick()) // a first request: the first reading sets the origin
	f.u.Add(5e6)
	a.leave(tick())

	var total atomic.Int64 // sum of every share, ns
	var wg sync.WaitGroup
	const workers, requests = 8, 300
	for w := range workers {
		wg.Go(func() {
			for i := range requests {
				u0, s0 := a.join(tick())
				f.u.Add(int64(1000 + w))
				f.s.Add(int64(300 + i%7))
				um, sm := a.current(tick())
				f.u.Add(2000)
				u1, s1 := a.leave(tick())
				if um-u0 > u1-u0 || sm-s0 > s1-s0 {
					t.Errorf("I went back: %d %d %d", u0, um, u1)
				}
				total.Add(int64(u1-u0) + int64(s1-s0))
			}
		})
	}
	wg.Wait()
	a.mu.Lock()
	given := a.givenU + a.givenS
	samples := a.state.Load() & cpuGenMask
	a.mu.Unlock()
	got := total.Load()
	// The fake clock makes readings as fast as the goroutines go, so one
	// the scheduler stops for a time slice between its count and its
	// reading of I may find its ring slot written over (with a real
	// clock that takes 128 ms): its share is then short, and counted.
	overruns := a.overruns.Load()
	switch {
	case got > given:
		t.Errorf("shares add up to %d ns, more than the %d ns the account handed out", got, given)
	case overruns == 0 && given-got > int64(2*workers)*int64(samples):
		t.Errorf("shares add up to %d ns, the account handed out %d ns (%d readings)", got, given, samples)
	case overruns > workers*requests/100:
		t.Errorf("%d of %d readings of I found their slot written over", overruns, 3*workers*requests)
	case overruns > 0:
		t.Logf("%d readings of I found their slot written over: shares %d ns short", overruns, given-got)
	}
	spent := f.u.Load() + f.s.Load()
	if given > spent || given == 0 {
		t.Errorf("handed out %d ns of %d spent", given, spent)
	}
	if samples < 50 {
		t.Errorf("only %d readings", samples)
	}
	if n := a.state.Load() >> cpuGenBits; n != 0 {
		t.Errorf("%d requests still counted", n)
	}
	t.Logf("%d requests, %d readings: shares %d ns, handed out %d ns, spent %d ns", workers*requests+1, samples, got, given, spent)
}

// pausedAccount returns an account on a fake clock after one request
// and then a pause of five periods in which the process spent idle ns of
// CPU, with the fake clock and the time after the pause.
func pausedAccount(idle int64) (*cpuAccount, *fakeCPU, int64) {
	f := new(fakeCPU)
	a := newTestAccount(f)
	now := int64(10 * CPUSamplePeriod)
	a.join(now)
	a.leave(now + 1)
	f.u.Add(idle)
	return a, f, now + int64(5*CPUSamplePeriod)
}

// TestCPUAccountIdle checks that the CPU spent while no request runs goes
// to nobody, and a lone request gets all of its own.
func TestCPUAccountIdle(t *testing.T) {
	a, f, now := pausedAccount(7e6) // idle: nobody's
	u0, s0 := a.join(now)
	f.u.Add(2e6)
	f.s.Add(1e6)
	u1, s1 := a.leave(now + int64(2*CPUSamplePeriod))
	if u1-u0 != 2e6 || s1-s0 != 1e6 {
		t.Errorf("lone request got %d ns user, %d ns system, want 2e6, 1e6", u1-u0, s1-s0)
	}
	// Two at once share equally.
	now += int64(10 * CPUSamplePeriod)
	a0, _ := a.join(now)
	b0, _ := a.join(now)
	f.u.Add(4e6)
	a1, _ := a.current(now + int64(2*CPUSamplePeriod))
	a2, _ := a.leave(now + int64(2*CPUSamplePeriod) + 1)
	b1, _ := a.leave(now + int64(2*CPUSamplePeriod) + 2)
	if a1-a0 != 2e6 || a2-a0 != 2e6 || b1-b0 != 2e6 {
		t.Errorf("two requests got %d (%d mid-way) and %d ns, want 2e6 each", a2-a0, a1-a0, b1-b0)
	}
}

// TestCPUAccountIdleReadingRace acts out two requests starting at once
// after a pause: the first takes the reading that closes the pause, the
// second finds its lock taken, skips it, and is counted by the first's
// reading. The pause's CPU must still go to nobody.
func TestCPUAccountIdleReadingRace(t *testing.T) {
	a, f, now := pausedAccount(50e6) // the pause: nobody's
	// join, taken apart: the first request finds none running and a
	// reading due; the second counts itself meanwhile (its own join found
	// the reading's lock taken); the first takes the reading, which
	// counts both, then counts itself.
	if a.state.Load()>>cpuGenBits != 0 || !a.due(now) {
		t.Fatal("the first request would take no idle reading")
	}
	b0, _ := a.integral(a.state.Add(cpuOne) & cpuGenMask)
	a.sample(now, true)
	a0, _ := a.integral(a.state.Add(cpuOne) & cpuGenMask)
	f.u.Add(2e6)
	a1, _ := a.leave(now + int64(2*CPUSamplePeriod))
	b1, _ := a.leave(now + int64(2*CPUSamplePeriod) + 1)
	if a1-a0 != 1e6 || b1-b0 != 1e6 {
		t.Errorf("the two requests got %d and %d ns, want 1e6 each (the pause's 50e6 is nobody's)", a1-a0, b1-b0)
	}
}

// TestCPUAccountRingWrap checks that a reader whose slot was written over
// (it stood still for many readings) gets a current value, not a torn one.
func TestCPUAccountRingWrap(t *testing.T) {
	var f fakeCPU
	a := newTestAccount(&f)
	u0, _ := a.join(int64(CPUSamplePeriod))
	for i := range 3 * cpuRingSize {
		f.u.Add(1000)
		a.current(int64(i+2) * int64(CPUSamplePeriod))
	}
	got, _ := a.integral(1) // long written over
	want, _ := a.integral(a.state.Load() & cpuGenMask)
	if got != want || want-u0 == 0 {
		t.Errorf("I after an old generation %d, latest %d", got, want)
	}
	a.leave(int64(4 * cpuRingSize * int(CPUSamplePeriod)))
}

func TestWithCPUInvalid(t *testing.T) {
	if _, err := NewMiddleware(http.NotFoundHandler(), "127.0.0.1", WithCPU(CPUModel(7))); err == nil {
		t.Error("WithCPU(7) accepted")
	}
	for m, want := range map[CPUModel]string{CPUFairShare: "fair-share", CPUProcessDelta: "process-delta", CPUOff: "off", 9: "CPUModel(9)"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q", int(m), m.String())
		}
	}
}

// burn spins for d of wall time, which on an otherwise idle goroutine is
// about d of CPU.
func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := range 1000 {
			x += i
		}
	}
	burnSink.Add(int64(x))
}

// cpuRun serves requests through a Middleware with model m, each burning
// per of CPU inside one timer, from conc goroutines, and returns the
// packets and the process's CPU over the run, in seconds.
func cpuRun(t *testing.T, m CPUModel, conc, perWorker int, per time.Duration) ([]*pinbatest.Packet, float64) {
	t.Helper()
	srv := pinbatest.NewServer()
	defer srv.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := Timer(Tags{"group": "burn"}).Start()
		burn(per)
		t.Stop()
	})
	mw, err := NewMiddleware(h, srv.Addr(), WithCPU(m))
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	u0, s0 := cpuTimes()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			w := &benchWriter{h: http.Header{}}
			for range perWorker {
				mw.ServeHTTP(w, benchRequest)
			}
		})
	}
	wg.Wait()
	u1, s1 := cpuTimes()
	ps, err := srv.Wait(conc*perWorker, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ps, u1 - u0 + s1 - s0
}

// TestCPUModels checks what each model sends: the fair share's request CPU
// adds up to the process's and timers carry their share (fields 22 and
// 23, at most the request's); the process delta overcounts concurrent
// requests and sends no timer CPU; off sends zeros and no timer CPU.
func TestCPUModels(t *testing.T) {
	const conc, each = 4, 3
	sum := func(ps []*pinbatest.Packet) (req, timers float64) {
		for _, p := range ps {
			req += float64(p.RUUtime + p.RUStime)
			for _, tm := range p.Timers {
				timers += float64(tm.RUUtime + tm.RUStime)
				if tm.RUUtime+tm.RUStime > p.RUUtime+p.RUStime+1e-6 {
					t.Errorf("timer CPU %v over the request's %v", tm.RUUtime+tm.RUStime, p.RUUtime+p.RUStime)
				}
			}
		}
		return req, timers
	}
	t.Run("fair-share", func(t *testing.T) {
		ps, proc := cpuRun(t, CPUFairShare, conc, each, 4*time.Millisecond)
		req, timers := sum(ps)
		for _, p := range ps {
			if n := len(p.Request.GetTimerRuUtime()); n != len(p.Timers) || len(p.Request.GetTimerRuStime()) != n {
				t.Fatalf("%d timers, %d timer_ru_utime, %d timer_ru_stime", len(p.Timers), n, len(p.Request.GetTimerRuStime()))
			}
		}
		t.Logf("requests %.4f s, timers %.4f s, process %.4f s", req, timers, proc)
		// The first reading after the first request began hands it the
		// CPU spent since the reading before, up to a period on every
		// CPU, some of it before proc's first reading.
		over := float64(runtime.GOMAXPROCS(0)) * CPUSamplePeriod.Seconds()
		if req > 1.05*proc+over || req < 0.6*proc {
			t.Errorf("requests' CPU %.4f s against the process's %.4f s", req, proc)
		}
		if timers < 0.5*req {
			t.Errorf("timers' CPU %.4f s of the requests' %.4f s", timers, req)
		}
	})
	t.Run("process-delta", func(t *testing.T) {
		ps, proc := cpuRun(t, CPUProcessDelta, conc, each, 4*time.Millisecond)
		req, timers := sum(ps)
		for _, p := range ps {
			if len(p.Request.GetTimerRuUtime()) != 0 {
				t.Fatal("timer CPU sent")
			}
		}
		t.Logf("requests %.4f s, process %.4f s", req, proc)
		if req < 1.3*proc || timers != 0 {
			t.Errorf("requests' CPU %.4f s against the process's %.4f s (timers %.4f)", req, proc, timers)
		}
	})
	t.Run("off", func(t *testing.T) {
		ps, _ := cpuRun(t, CPUOff, 2, 2, time.Millisecond)
		for _, p := range ps {
			if p.RUUtime != 0 || p.RUStime != 0 || len(p.Request.GetTimerRuUtime()) != 0 {
				t.Fatalf("packet %v", p)
			}
		}
	})
}

// TestCPUFlushAndDisabled checks that every way a request ends stops
// counting it: a request that flushes, one disabled (no packet) and a
// ScriptMonitor. A request left counted would dilute every later share.
func TestCPUFlushAndDisabled(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flush":
			Flush()
		case "/off":
			SetEnabled(false)
		}
	})
	mw, err := NewMiddleware(h, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	before := cpuAcct.state.Load() >> cpuGenBits
	for _, path := range []string{"/flush", "/off", "/x"} {
		mw.ServeHTTP(&benchWriter{h: http.Header{}}, newReq(path))
	}
	if after := cpuAcct.state.Load() >> cpuGenBits; after != before {
		t.Errorf("%d requests counted as running, %d before", after, before)
	}
	if _, err := srv.Wait(3, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

func newReq(path string) *http.Request {
	r, err := http.NewRequest("GET", fmt.Sprintf("http://cpu.test%s", path), nil)
	if err != nil {
		panic(err)
	}
	return r
}
