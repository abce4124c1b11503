package pynba

import (
	"syscall"
	"unsafe"
)

// cpuTimes returns the process's user and system CPU time in seconds, as
// getrusage(RUSAGE_SELF) gives them: what pynba and the PHP extension take
// at the start and end of a request.
//
// CPUProcessDelta reads it at both ends of every request; CPUFairShare
// reads it (processCPU) at most once per CPUSamplePeriod for the whole
// process.
//
// It is the cheapest correct reading there is (BenchmarkCPUTime): the call
// goes through syscall.RawSyscall, without telling the scheduler, which
// syscall.Getrusage does and which costs about 50 ns more. getrusage never
// blocks, so there is nothing the scheduler could do meanwhile.
// clock_gettime(CLOCK_PROCESS_CPUTIME_ID) costs as much and sums user and
// system time; getrusage(RUSAGE_THREAD) is cheaper but measures one thread,
// which a goroutine leaves and other goroutines use.
func cpuTimes() (user, sys float64) {
	var ru syscall.Rusage
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRUSAGE, syscall.RUSAGE_SELF, uintptr(unsafe.Pointer(&ru)), 0); e != 0 {
		return 0, 0
	}
	return tvSeconds(ru.Utime), tvSeconds(ru.Stime)
}

// processCPU returns the process's user and system CPU time in
// nanoseconds, for the fair share (see cpuAccount.sample).
func processCPU() (user, sys int64) {
	var ru syscall.Rusage
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRUSAGE, syscall.RUSAGE_SELF, uintptr(unsafe.Pointer(&ru)), 0); e != 0 {
		return 0, 0
	}
	return tvNanos(ru.Utime), tvNanos(ru.Stime)
}

func tvNanos(tv syscall.Timeval) int64 { return int64(tv.Sec)*1e9 + int64(tv.Usec)*1e3 }

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
