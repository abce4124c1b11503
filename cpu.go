package pynba

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// CPUModel says how a packet's CPU times (ru_utime and ru_stime, and the
// timers' timer_ru_utime and timer_ru_stime) are measured. WithCPU chooses
// one; CPUFairShare is the default.
type CPUModel int

const (
	// CPUFairShare divides the process's CPU time among the requests
	// running when it is spent: the CPU the process spends between two
	// readings goes, in equal parts, to the requests running at the
	// second reading. The readings are taken at request and timer
	// boundaries, at most once per CPUSamplePeriod, so the sum of every
	// request's ru_utime + ru_stime is the CPU the process spent while
	// requests ran, however many run at once.
	//
	// Its error is one sampling period per request: a request gets the
	// CPU of the periods that close while it runs, so one shorter than
	// CPUSamplePeriod may be sent 0 or the share of a whole period (at
	// most CPUSamplePeriod × GOMAXPROCS ÷ the requests running), and the
	// CPU a request spends after the last reading before it ends goes to
	// the requests running at the next one. Sums and averages over many
	// requests are right; the CPU of the process's own background work
	// (garbage collection, other goroutines) is shared among the requests
	// running meanwhile, and what the process spends while no request
	// runs is sent nowhere.
	//
	// A timer is sent its request's share over the intervals it ran
	// (timer_ru_utime, timer_ru_stime): the same model, so a timer's CPU
	// is at most its request's. A request costs no system call unless
	// its boundary is the first after a period, and a timer costs a few
	// atomic loads. Where getrusage does not exist (not Unix), every CPU
	// time is 0.
	CPUFairShare CPUModel = iota

	// CPUProcessDelta sends what Python's pynba and the PHP extension
	// send: the process's getrusage(RUSAGE_SELF) delta over the request,
	// read when it begins and when it ends (two system calls a request).
	// In a process serving one request at a time that is the request's
	// own CPU; with requests running at once, each is sent the CPU of all
	// of them, so the sum over requests grows with the concurrency (about
	// n times the process's CPU with n requests at once). No timer CPU is
	// sent, as pynba sends none. Use it to compare reports with a pynba or
	// PHP deployment.
	CPUProcessDelta

	// CPUOff sends 0 for ru_utime and ru_stime and no timer CPU, and
	// makes no system call for them.
	CPUOff
)

// CPUSamplePeriod is the shortest time between two readings of the
// process's CPU time under CPUFairShare.
const CPUSamplePeriod = time.Millisecond

// String returns the model's name: "fair-share", "process-delta" or "off".
func (m CPUModel) String() string {
	switch m {
	case CPUFairShare:
		return "fair-share"
	case CPUProcessDelta:
		return "process-delta"
	case CPUOff:
		return "off"
	}
	return fmt.Sprintf("CPUModel(%d)", int(m))
}

func (m CPUModel) valid() bool { return m >= CPUFairShare && m <= CPUOff }

// The fair share is kept as one integral for the whole process (CPU is
// the process's, so every Middleware, ScriptMonitor and Runner shares it):
// I, the CPU time per running request, which grows at each reading by the
// CPU spent since the previous one divided by the requests running at that
// moment. A request's share is I at its end minus I at its start; the sum
// of the shares of the requests running at a reading is exactly the CPU
// that reading adds.
//
// Exactness needs "the requests running at a reading" and "the requests
// whose I span includes the reading" to be the same set. Both live in one
// word, state: the number of requests running (high bits) and the
// generation, the number of readings so far (low bits). A request's begin
// and end are each one atomic add on state, which tells it the generation
// it joined or left at; a reading is one compare-and-swap that moves the
// generation on and fixes the count it divides by. I after generation g is
// published in a ring slot, which a request reads for the generation its
// add returned.
const (
	cpuGenBits  = 40
	cpuGenMask  = 1<<cpuGenBits - 1
	cpuOne      = 1 << cpuGenBits // one running request in state
	cpuRingSize = 256
)

type cpuAccount struct {
	state      atomic.Uint64 // running<<cpuGenBits | generation
	lastSample atomic.Int64  // mono() of the last reading, ns
	lastEnd    atomic.Int64  // mono() of a recent request end, ns (to 100 µs)
	_          [40]byte      // keep the hot words above off the ring's line

	mu           sync.Mutex // held by the one goroutine taking a reading
	read         func() (user, sys int64)
	prevU, prevS int64 // the process's CPU at the last reading, ns
	havePrev     bool
	// given is the CPU handed out so far, ns (what the shares of every
	// request add up to, but for the rounding down of each reading's
	// division), for the tests.
	givenU, givenS int64
	// overruns counts the readings of I that found their slot written
	// over (see integral), for the tests.
	overruns atomic.Int64

	ring [cpuRingSize]cpuSlot
}

// cpuSlot holds I after one generation. gen is the generation plus one,
// 0 while being written: a reader that sees the same gen before and after
// reading u and s read a consistent pair.
type cpuSlot struct {
	gen, u, s atomic.Uint64
}

// cpuAcct is the process's account.
var cpuAcct = newCPUAccount()

func newCPUAccount() *cpuAccount {
	a := &cpuAccount{read: processCPU}
	a.ring[0].gen.Store(1) // generation 0: I = 0
	a.lastSample.Store(-int64(CPUSamplePeriod))
	a.lastEnd.Store(-int64(CPUSamplePeriod))
	return a
}

// due reports whether a reading is due at now.
func (a *cpuAccount) due(now int64) bool {
	return now-a.lastSample.Load() >= int64(CPUSamplePeriod)
}

// sample reads the process's CPU time and adds what was spent since the
// last reading to I, divided by the requests running; idle says no request
// ran since that reading (a request joining after a pause): what was spent
// is nobody's, even for a request that joined while this reading was
// taken. It does nothing when another goroutine is taking a reading, or
// took one since due was asked.
func (a *cpuAccount) sample(now int64, idle bool) {
	if !a.mu.TryLock() {
		return
	}
	if !a.due(now) {
		a.mu.Unlock()
		return
	}
	u, s := a.read()
	du, ds := u-a.prevU, s-a.prevS
	if !a.havePrev || du < 0 || ds < 0 {
		du, ds = 0, 0
	}
	a.prevU, a.prevS, a.havePrev = u, s, true
	a.lastSample.Store(now)
	for {
		st := a.state.Load()
		g := st & cpuGenMask
		next := st&^cpuGenMask | (g+1)&cpuGenMask
		if !a.state.CompareAndSwap(st, next) {
			continue
		}
		// Only this goroutine writes slots, and slot g is published.
		cur := &a.ring[g%cpuRingSize]
		iu, is := cur.u.Load(), cur.s.Load()
		if n := st >> cpuGenBits; n > 0 && !idle {
			iu += uint64(du) / n
			is += uint64(ds) / n
			a.givenU += du
			a.givenS += ds
		}
		g1 := (g + 1) & cpuGenMask
		sl := &a.ring[g1%cpuRingSize]
		sl.gen.Store(0)
		sl.u.Store(iu)
		sl.s.Store(is)
		sl.gen.Store(g1 + 1)
		break
	}
	a.mu.Unlock()
}

// integral returns I after generation g, as nanoseconds of user and
// system time (modular: only differences mean anything).
func (a *cpuAccount) integral(g uint64) (u, s uint64) {
	sl := &a.ring[g%cpuRingSize]
	for {
		if v := sl.gen.Load(); v == g+1 {
			u, s = sl.u.Load(), sl.s.Load()
			if sl.gen.Load() == v {
				return u, s
			}
		}
		latest := a.state.Load() & cpuGenMask
		if (latest-g)&cpuGenMask >= cpuRingSize/2 {
			// The slot was written over: this goroutine stood still
			// for over a hundred readings (over 128 ms, as readings
			// are at least a period apart). The latest I is the best
			// left (the share of the readings missed is lost).
			a.overruns.Add(1)
			return a.integral(latest)
		}
		// The reading that made generation g is publishing it: wait for
		// its lock.
		a.mu.Lock()
		a.mu.Unlock() //nolint:staticcheck // an empty critical section is the wait
	}
}

// join counts a request as running from now and returns I at its start.
func (a *cpuAccount) join(now int64) (u, s uint64) {
	// A reading with no request running opens a clean period: the CPU
	// spent since the last reading is nobody's. Taken only once the
	// last request ended a period ago, so that CPU of requests that
	// ended since the last reading still goes to the next one.
	if a.state.Load()>>cpuGenBits == 0 && a.due(now) && now-a.lastEnd.Load() >= int64(CPUSamplePeriod) {
		// Idle: requests joining at the same moment, which skip their
		// own reading (its lock is taken), may be counted by this one,
		// and must not be handed the pause's CPU.
		a.sample(now, true)
	}
	return a.integral(a.state.Add(cpuOne) & cpuGenMask)
}

// leave stops counting a request and returns I at its end.
func (a *cpuAccount) leave(now int64) (u, s uint64) {
	if a.due(now) {
		a.sample(now, false) // while the request still counts: it gets its share
	}
	g := a.state.Add(^uint64(cpuOne-1)) & cpuGenMask
	if now-a.lastEnd.Load() >= int64(100*time.Microsecond) {
		a.lastEnd.Store(now)
	}
	return a.integral(g)
}

// current returns I now, for a request that is running.
func (a *cpuAccount) current(now int64) (u, s uint64) {
	if a.due(now) {
		a.sample(now, false)
	}
	return a.integral(a.state.Load() & cpuGenMask)
}

// cpuMark is a request's CPU reading at its start.
type cpuMark struct {
	model   CPUModel
	running bool    // counted in cpuAcct (fair share)
	ended   bool    // fair share: the request left cpuAcct at eu, es
	u, s    uint64  // fair share: I at the start
	eu, es  uint64  // fair share: I at the end
	pu, ps  float64 // process delta: the process's CPU at the start, s
}

// cpuBegin takes the CPU reading a request starts with, at now.
func (c *reqData) cpuBegin(now time.Duration) cpuMark {
	c.cpuRelease(now) // request data reused without an end
	m := cpuMark{model: CPUOff}
	if c.owner != nil {
		m.model = c.owner.cfg.cpu
	}
	switch m.model {
	case CPUFairShare:
		m.u, m.s = cpuAcct.join(int64(now))
		m.running = true
	case CPUProcessDelta:
		m.pu, m.ps = cpuTimes()
	}
	return m
}

// cpuSince returns the request's CPU time since it began, in seconds; final
// says the request ends: it stops counting as running. Called with mu held.
func (c *reqData) cpuSince(now time.Duration, final bool) (user, sys float64) {
	m := &c.cpu
	switch m.model {
	case CPUFairShare:
		if !m.running {
			return 0, 0
		}
		var u, s uint64
		if final {
			u, s = cpuAcct.leave(int64(now))
			m.running, m.ended, m.eu, m.es = false, true, u, s
		} else {
			u, s = cpuAcct.current(int64(now))
		}
		return nsSeconds(u - m.u), nsSeconds(s - m.s)
	case CPUProcessDelta:
		u, s := cpuTimes()
		return max(u-m.pu, 0), max(s-m.ps, 0)
	}
	return 0, 0
}

// cpuRelease stops counting the request as running, if it still does (a
// request that ends without a packet). Called with mu held, or before the
// request data is shared.
func (c *reqData) cpuRelease(now time.Duration) {
	if c.cpu.running {
		cpuAcct.leave(int64(now))
		c.cpu.running = false
	}
}

// cpuTimerStart notes I when timer s starts. Called with mu held.
func (c *reqData) cpuTimerStart(s *timerSlot, now time.Duration) {
	if c.cpu.running {
		s.cpuU0, s.cpuS0 = cpuAcct.current(int64(now))
	}
}

// cpuTimerStop adds the request's share since timer s started to the
// timer's CPU. Called with mu held.
func (c *reqData) cpuTimerStop(s *timerSlot, now time.Duration) {
	var u, st uint64
	switch {
	case c.cpu.running:
		u, st = cpuAcct.current(int64(now))
	case c.cpu.ended: // the timers still running when the request ended
		u, st = c.cpu.eu, c.cpu.es
	default:
		return
	}
	s.cpuU += u - s.cpuU0
	s.cpuS += st - s.cpuS0
}

// timerCPU says whether packets carry timer CPU (fields 22 and 23).
func (c *reqData) timerCPU() bool { return c.cpu.model == CPUFairShare }

// nsSeconds converts a share in nanoseconds to seconds. A difference that
// wrapped below zero (it cannot, but for a torn ring read) is sent as 0.
func nsSeconds(ns uint64) float64 {
	if int64(ns) < 0 {
		return 0
	}
	return float64(ns) / 1e9
}
