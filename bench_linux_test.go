package pynba

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
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
