package pynba

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pynba-go/pynba/pinbatest"
)

// BenchmarkCPUTime measures reading the process's CPU time, which a request
// does twice (ru_utime and ru_stime are the deltas): impl=cpuTimes is the
// reading used, getrusage(RUSAGE_SELF) with syscall.RawSyscall; impl=getrusage
// is syscall.Getrusage, which also tells the scheduler; impl=process-clock
// is clock_gettime(CLOCK_PROCESS_CPUTIME_ID), which gives user and system
// time only summed; impl=thread is getrusage(RUSAGE_THREAD), which is cheaper
// but wrong: a goroutine moves between threads, and a thread runs other
// goroutines. impl=now-x2 is two clock reads, for scale.
func BenchmarkCPUTime(b *testing.B) {
	b.Run("impl=cpuTimes", func(b *testing.B) {
		var s float64
		for b.Loop() {
			u, t := cpuTimes()
			s += u + t
		}
		_ = s
	})
	b.Run("impl=getrusage", func(b *testing.B) {
		var ru syscall.Rusage
		for b.Loop() {
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		}
	})
	b.Run("impl=process-clock", func(b *testing.B) {
		var ts syscall.Timespec
		for b.Loop() {
			syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 2 /* CLOCK_PROCESS_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
		}
	})
	b.Run("impl=thread", func(b *testing.B) {
		var ru syscall.Rusage
		for b.Loop() {
			syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
		}
	})
	b.Run("impl=now-x2", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			t0 := time.Now()
			d += time.Now().Sub(t0)
		}
		_ = d
	})
}

// BenchmarkCPUTimeParallel reads the CPU time from GOMAXPROCS goroutines at
// once, as concurrent requests do: getrusage(RUSAGE_SELF) reads every
// thread of the process and takes a lock shared by all of them.
func BenchmarkCPUTimeParallel(b *testing.B) {
	b.Run("impl=cpuTimes", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var s float64
			for pb.Next() {
				u, t := cpuTimes()
				s += u + t
			}
			_ = s
		})
	})
	b.Run("impl=thread", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var ru syscall.Rusage
			for pb.Next() {
				syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
			}
		})
	})
}

// threadCPU returns the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// BenchmarkCPUShare serves requests that each burn 2 ms of CPU, from 1, 2,
// 8, 32 and 128 goroutines at once, and reports the sum of the CPU times
// the packets carry divided by the CPU the process spent over the run
// (cpu-sum/process): 1 when the requests' figures add up. impl=fair is
// the default model (CPUFairShare), impl=delta pynba's (CPUProcessDelta),
// whose sum grows with the concurrency. The packets are decoded by a
// pinbatest server in the same process, whose CPU counts as the process's
// (and, under the fair share, as the requests' running meanwhile).
func BenchmarkCPUShare(b *testing.B) {
	for _, conc := range []int{1, 2, 8, 32, 128} {
		for _, c := range []struct {
			impl  string
			model CPUModel
		}{{"fair", CPUFairShare}, {"delta", CPUProcessDelta}} {
			b.Run(fmt.Sprintf("conc=%d/impl=%s", conc, c.impl), func(b *testing.B) {
				benchCPUShare(b, conc, c.model)
			})
		}
	}
}

// cpuBurn is what each request of BenchmarkCPUShare burns.
const cpuBurn = 2 * time.Millisecond

func benchCPUShare(b *testing.B, conc int, model CPUModel) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { burnCPU(cpuBurn) })
	m, err := NewMiddleware(h, srv.Addr(), WithCPU(model))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var next atomic.Int64
	u0, s0 := cpuTimes()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			w := &benchWriter{h: http.Header{}}
			for next.Add(1) <= int64(b.N) {
				m.ServeHTTP(w, benchRequest)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	u1, s1 := cpuTimes()
	ps, err := srv.Wait(b.N, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, p := range ps {
		sum += float64(p.RUUtime) + float64(p.RUStime)
	}
	b.ReportMetric(sum/(u1-u0+s1-s0), "cpu-sum/process")
	b.ReportMetric(sum/float64(b.N)/cpuBurn.Seconds(), "cpu-req/burn")
}

// burnCPU spins until the calling thread has used d of CPU time, or 4 d of
// wall time have passed (a thread that is descheduled for long).
// The thread's clock is read often and only small steps are added up, so
// that a goroutine moved to another thread does not count that thread's
// time.
func burnCPU(d time.Duration) {
	start := time.Now()
	var used time.Duration
	prev := threadCPU()
	x := 0
	for used < d && time.Since(start) < 4*d {
		for i := range 2000 {
			x += i
		}
		now := threadCPU()
		if step := now - prev; step > 0 && step < 200*time.Microsecond {
			used += step
		}
		prev = now
	}
	burnSink.Add(int64(x))
}

// BenchmarkCPUAlone serves one request at a time, each burning 2 ms of CPU
// after a pause (as a lone request on an idle server), and reports the CPU
// time its packet carries against the process's CPU over the request
// (getrusage around it, which also holds the sending of the packet and
// its decoding by the pinbatest server), cpu-req/process, and against
// what it burned, cpu-req/burn: 1 when exact.
func BenchmarkCPUAlone(b *testing.B) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { burnCPU(cpuBurn) })
	m, err := NewMiddleware(h, srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	w := &benchWriter{h: http.Header{}}
	var got, want float64
	for b.Loop() {
		b.StopTimer()
		time.Sleep(2 * CPUSamplePeriod)
		u0, s0 := cpuTimes()
		b.StartTimer()
		m.ServeHTTP(w, benchRequest)
		b.StopTimer()
		u1, s1 := cpuTimes()
		p, err := srv.Next(5 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got += float64(p.RUUtime) + float64(p.RUStime)
		want += u1 - u0 + s1 - s0
	}
	b.ReportMetric(got/want, "cpu-req/process")
	b.ReportMetric(got/float64(b.N)/cpuBurn.Seconds(), "cpu-req/burn")
}
