//go:build unix && !linux

package pynba

import "syscall"

// cpuTimes returns the process's user and system CPU time in seconds, as
// getrusage(RUSAGE_SELF) gives them.
func cpuTimes() (user, sys float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return tvSeconds(ru.Utime), tvSeconds(ru.Stime)
}

// processCPU returns the process's user and system CPU time in
// nanoseconds, for the fair share.
func processCPU() (user, sys int64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return tvNanos(ru.Utime), tvNanos(ru.Stime)
}

func tvNanos(tv syscall.Timeval) int64 { return int64(tv.Sec)*1e9 + int64(tv.Usec)*1e3 }

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
