//go:build !unix

package pynba

import "testing"

// newQuietSink is newSink where there is no raw socket to keep out of the
// network poller.
func newQuietSink(tb testing.TB) *udpSink { return newSink(tb) }
