package pinbatest

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pynba-go/pynba/pb"
)

// consumeKey reads a field key as protobuf-c, the servers' decoder, does:
// a varint of at most 5 bytes whose field number, the bits above the wire
// type, fits in 32 bits; a longer key, or field number 0, is not one.
// protowire allows 10 bytes and refuses numbers of 2^31 and more; Go's
// proto package also refuses numbers over 2^29-1. It returns the number
// (clamped to the largest protowire.Number, which no Pinba field is near),
// the wire type and the key's length, or n < 0.
func consumeKey(b []byte) (num protowire.Number, typ protowire.Type, n int) {
	var v uint64
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			f := (v >> 3) & math.MaxUint32
			if f == 0 {
				return 0, 0, -1
			}
			return protowire.Number(min(f, math.MaxInt32)), protowire.Type(v & 7), i + 1
		}
	}
	return 0, 0, -1
}

// withoutFarFields returns b without the fields whose number is over
// protowire.MaxValidNumber, in nested requests too: protobuf-c skips them
// as unknown fields, as it does any number Pinba.Request does not define,
// but Go's proto package refuses the whole message. ok is false when b has
// no such field, or cannot be read to its end.
func withoutFarFields(b []byte) (out []byte, ok bool) {
	changed := false
	for len(b) > 0 {
		num, typ, n := consumeKey(b)
		if n < 0 {
			return nil, false
		}
		vn := protowire.ConsumeFieldValue(num, typ, b[n:])
		if vn < 0 {
			return nil, false
		}
		switch {
		case num > protowire.MaxValidNumber:
			changed = true
		case num == pb.FieldRequests && typ == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(b[n : n+vn])
			if inner, ok := withoutFarFields(v); ok {
				out = protowire.AppendTag(out, num, typ)
				out = protowire.AppendBytes(out, inner)
				changed = true
				break
			}
			out = append(out, b[:n+vn]...)
		default:
			out = append(out, b[:n+vn]...)
		}
		b = b[n+vn:]
	}
	return out, changed
}
