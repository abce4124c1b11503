package pinbatest

import "testing"

// TestFieldNumbersGoRefuses decodes packets with a field numbered past what
// Go's proto package reads (2^29-1), and one past what protowire reads
// (2^31-1), as the servers' protobuf-c does: skipped as unknown fields, in
// a nested request too, the packet kept and accepted by Validate.
func TestFieldNumbersGoRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		key  []byte // a varint key of 5 bytes
	}{
		{"over 2^29-1", []byte{0x80, 0x80, 0x80, 0x80, 0x30}},
		{"over 2^31-1", []byte{0x80, 0x80, 0x80, 0x80, 0x7f}},
	} {
		b := head().raw(c.key...).raw(0x05) // and its varint value
		for _, pkt := range []wire{b, head().msg(18, b)} {
			p := Decode(pkt)
			if p.Err != nil {
				t.Errorf("%s: %v", c.name, p.Err)
				continue
			}
			if p.Hostname != "web1" || p.ScriptName != "/index" {
				t.Errorf("%s: decoded hostname %q, script %q", c.name, p.Hostname, p.ScriptName)
			}
			// A nested request is a problem of its own (the servers
			// count it differently); an undecodable packet is not.
			problems, _ := Inspect(pkt)
			for _, pr := range problems {
				if pr.Rule != RuleNested {
					t.Errorf("%s: %s: %s", c.name, pr.Rule, pr.Detail)
				}
			}
		}
	}
	// The number as protobuf-c reads it: 5 bytes at most, 32 bits.
	if num, _, n := consumeKey([]byte{0x80, 0x80, 0x80, 0x80, 0x30}); n != 5 || num != 0x30<<25 {
		t.Errorf("consumeKey: field %d, %d bytes", num, n)
	}
	if _, _, n := consumeKey([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}); n >= 0 {
		t.Error("consumeKey read a key of 6 bytes")
	}
}
