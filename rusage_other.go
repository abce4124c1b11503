//go:build !unix

package pynba

// cpuTimes returns zeros where getrusage does not exist: ru_utime and
// ru_stime are then sent as 0.
func cpuTimes() (user, sys float64) { return 0, 0 }
