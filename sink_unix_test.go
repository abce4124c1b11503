//go:build unix

package pynba

import (
	"net/netip"
	"syscall"
	"testing"
)

// newQuietSink returns a loopback UDP receiver that nobody reads while the
// clock runs: a socket of its own, outside Go's network poller, so that a
// datagram arriving wakes no thread of the process. A Pinba server on
// another host costs a sender no wake-up either, while a receiver in the
// same process (newSink) wakes a goroutine for every datagram, a cost of
// the benchmark rather than of the library, which BenchmarkHTTP, whose
// requests are far apart, would count. Once its buffer is full the kernel
// drops what arrives, having done the sender's share of the work.
func newQuietSink(tb testing.TB) *udpSink {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return &udpSink{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))}
}
