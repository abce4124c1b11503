package pynba

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// Options out of range: refused by every constructor with an error that
// says the value; Monitor reports it. The bounds themselves are accepted.
func TestOptionsOutOfRange(t *testing.T) {
	bad := map[string]Option{
		"-1":                    WithMaxPacketSize(-1),
		"10":                    WithMaxPacketSize(10),
		"511":                   WithMaxPacketSize(511),
		"65508":                 WithMaxPacketSize(65508),
		fmt.Sprint(math.MaxInt): WithMaxPacketSize(math.MaxInt),
		"0s":                    WithResolveInterval(0),
		"-1s":                   WithResolveInterval(-time.Second),
		"999µs":                 WithResolveInterval(999 * time.Microsecond),
		"async queue length 0":  WithAsync(0),
		"length -1":             WithAsync(-1),
		"1048577":               WithAsync(1<<20 + 1),
		"WithReporter(nil)":     WithReporter(nil),
		"WithResolver(nil)":     WithResolver(nil),
	}
	h := &nopHandler{}
	for want, opt := range bad {
		if _, err := NewReporter("127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewReporter with %s: %v", want, err)
		}
		if _, err := NewMiddleware(h, "127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewMiddleware with %s: %v", want, err)
		}
		if _, err := NewScriptMonitor("127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewScriptMonitor with %s: %v", want, err)
		}
		if msg := panicMessage(func() { Monitor("127.0.0.1", opt) }); !strings.Contains(msg, want) {
			t.Errorf("Monitor with %s: panic %q", want, msg)
		}
	}
	for _, opts := range [][]Option{
		{WithMaxPacketSize(512)}, {WithMaxPacketSize(DefaultMaxPacketSize)}, {WithResolveInterval(time.Millisecond)},
		{WithResolveInterval(math.MaxInt64)}, {WithAsync(1)}, {WithAsync(1 << 20)}, {nil}, {WithTags(nil)},
		{WithErrorHandler(nil)}, {WithScriptName(nil)}, {WithFilter(nil)}, {WithPrefix("")},
	} {
		m, err := NewMiddleware(h, "127.0.0.1", opts...)
		if err != nil {
			t.Errorf("options %v: %v", opts, err)
			continue
		}
		m.Close()
	}
}
