//go:build !unix

package pynba

// cpuTimes returns zeros where getrusage does not exist: ru_utime and
// ru_stime are then sent as 0.
func cpuTimes() (user, sys float64) { return 0, 0 }

// processCPU returns zeros where getrusage does not exist: every fair
// share is then 0.
func processCPU() (user, sys int64) { return 0, 0 }
