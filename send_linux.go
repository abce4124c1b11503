//go:build linux && (amd64 || arm64)

package pynba

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// mmsghdr is Linux's struct mmsghdr. Go pads it to the alignment of
// Msghdr, as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
}

// batcher is an async sender's state for sendmmsg: the message arrays,
// grown once and reused, so that a batch allocates nothing.
type batcher struct {
	r  *Reporter
	sk *sock

	// One message list per socket (conn, and conn6 when there is one),
	// and the sockets' raw connections (nil where SyscallConn failed).
	lists  [2]msgList
	raw    [2]syscall.RawConn
	rawErr [2]error

	// The call in progress, read by write (the func given to
	// RawConn.Write, made once).
	cur   []mmsghdr
	n     int
	errno syscall.Errno
	write func(fd uintptr) bool
}

// msgList is the datagrams of one batch for one socket.
type msgList struct {
	msgs []mmsghdr
	iovs []syscall.Iovec
	sa6  []syscall.RawSockaddrInet6
	sa4  []syscall.RawSockaddrInet4
	srv  []int // server of each message
	addr []netip.AddrPort
}

func (l *msgList) reset() {
	l.msgs, l.iovs, l.sa6, l.sa4 = l.msgs[:0], l.iovs[:0], l.sa6[:0], l.sa4[:0]
	l.srv, l.addr = l.srv[:0], l.addr[:0]
}

func newBatcher(r *Reporter, sk *sock) *batcher {
	b := &batcher{r: r, sk: sk}
	b.raw[0], b.rawErr[0] = sk.conn.SyscallConn()
	if sk.conn6 != nil {
		b.raw[1], b.rawErr[1] = sk.conn6.SyscallConn()
	}
	b.write = func(fd uintptr) bool {
		for {
			n, _, e := syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&b.cur[0])), uintptr(len(b.cur)), 0, 0, 0)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the poller waits until the socket can send
			case 0:
				b.n, b.errno = int(n), 0
			default:
				b.n, b.errno = 0, e
			}
			return true
		}
	}
	return b
}

// send writes every packet of batch to every server with an address, with
// one sendmmsg system call a socket (more when the kernel takes part of
// the batch, or refuses a datagram, which is counted and skipped).
func (b *batcher) send(batch [][]byte) {
	r, sk := b.r, b.sk
	addrs := *r.addrs.Load()
	l4, l6 := &b.lists[0], &b.lists[1]
	l4.reset()
	l6.reset()
	for _, pkt := range batch {
		for i, a := range addrs {
			switch {
			case !a.IsValid():
				r.unresolvedOne(i, len(pkt))
			case a.Addr().Zone() != "":
				r.writeOne(sk, i, a, pkt) // a scoped address: Go finds the zone's index
			case sk.conn6 != nil && a.Addr().Is6():
				l6.add(pkt, i, a, true)
			default:
				l4.add(pkt, i, a, sk.dual || a.Addr().Is6())
			}
		}
	}
	if len(l4.msgs) > 0 {
		b.flush(b.raw[0], b.rawErr[0], l4)
	}
	if len(l6.msgs) > 0 {
		b.flush(b.raw[1], b.rawErr[1], l6)
	}
}

// add appends a datagram of pkt for server i at a, with an IPv6 address
// (v6: the socket is an IPv6 one) or an IPv4 one.
func (l *msgList) add(pkt []byte, i int, a netip.AddrPort, v6 bool) {
	l.srv = append(l.srv, i)
	l.addr = append(l.addr, a)
	l.iovs = append(l.iovs, syscall.Iovec{})
	l.msgs = append(l.msgs, mmsghdr{})
	port := a.Port()
	if v6 {
		sa := syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.Addr().As16()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		l.sa6 = append(l.sa6, sa)
		l.sa4 = append(l.sa4, syscall.RawSockaddrInet4{})
	} else {
		sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.Addr().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		l.sa4 = append(l.sa4, sa)
		l.sa6 = append(l.sa6, syscall.RawSockaddrInet6{})
	}
	j := len(l.msgs) - 1
	iov := &l.iovs[j]
	iov.Base = unsafe.SliceData(pkt)
	iov.SetLen(len(pkt))
	// The pointers into the slices are set once they stop growing (flush).
}

// flush sends the list from the socket rc (err: why there is none).
func (b *batcher) flush(rc syscall.RawConn, err error, l *msgList) {
	r := b.r
	// Point every header at its iovec and address, now that the slices
	// no longer move.
	for j := range l.msgs {
		h := &l.msgs[j].hdr
		h.Iov = &l.iovs[j]
		h.Iovlen = 1
		if l.sa4[j].Family == syscall.AF_INET {
			h.Name = (*byte)(unsafe.Pointer(&l.sa4[j]))
			h.Namelen = syscall.SizeofSockaddrInet4
		} else {
			h.Name = (*byte)(unsafe.Pointer(&l.sa6[j]))
			h.Namelen = syscall.SizeofSockaddrInet6
		}
	}
	off := 0
	for off < len(l.msgs) {
		if err == nil {
			b.cur = l.msgs[off:]
			err = rc.Write(b.write)
			b.cur = nil
		}
		if err != nil { // the socket is closed
			for j := off; j < len(l.msgs); j++ {
				r.sendError(l.srv[j], l.addr[j], int(l.iovs[j].Len), err)
			}
			return
		}
		if b.errno != 0 { // the first message was refused
			r.sendError(l.srv[off], l.addr[off], int(l.iovs[off].Len), b.errno)
			off++
			continue
		}
		r.cfg.stats.sent.Add(uint64(b.n))
		off += b.n
	}
	// Drop the references to the packets, which go back to the pool.
	for j := range l.iovs {
		l.iovs[j].Base = nil
	}
}
