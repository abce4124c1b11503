package pynba

import (
	"sync/atomic"
)

// packetQueue is the async Reporter's queue: a ring of slots, each with a
// buffer of its own that a Send copies its packet into, with no lock, no
// channel and no buffer pool on the way (a bounded multi-producer,
// multi-consumer queue after Dmitry Vyukov's: each slot's sequence number
// says whose turn it is). A Send claims the slot at tail with one
// compare-and-swap, copies, and publishes it; a sender claims published
// slots at head, writes their packets, and then frees the slots.
type packetQueue struct {
	slots []queueSlot
	mask  uint64
	limit uint64   // most packets queued (not counting those being written)
	_     [40]byte // tail, which every Send writes, on a line of its own
	tail  atomic.Uint64
	_     [56]byte
	head  atomic.Uint64
	_     [56]byte
}

// queueSlot is one packet of the queue. seq is pos when the slot is free
// for the Send of position pos, pos+1 once that Send published its packet,
// and pos+len(slots) once a sender wrote it and freed the slot.
type queueSlot struct {
	seq  atomic.Uint64
	buf  []byte
	void bool // the Send found the Reporter closed: nothing to write
}

// maxSlotBuf is the largest buffer a slot keeps between packets: a larger
// packet gets a buffer of its own, dropped once written, so that a long
// queue of rare big packets does not hold their memory for good.
const maxSlotBuf = 2048

// newPacketQueue returns a queue of n packets; senders that write at most
// writing packets at once take slots beyond them.
func newPacketQueue(n, writing int) *packetQueue {
	size := 1
	for size < n+writing {
		size *= 2
	}
	q := &packetQueue{slots: make([]queueSlot, size), mask: uint64(size - 1), limit: uint64(n)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// claim returns the slot for a new packet and its position, or nil when the
// queue is full. The caller fills the slot and calls publish.
func (q *packetQueue) claim() (*queueSlot, uint64) {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		switch seq := s.seq.Load(); {
		case pos-q.head.Load() >= q.limit:
			return nil, 0
		case seq == pos:
			if q.tail.CompareAndSwap(pos, pos+1) {
				return s, pos
			}
			pos = q.tail.Load()
		case int64(seq-pos) < 0:
			return nil, 0 // the slot still holds the packet of a lap ago
		default:
			pos = q.tail.Load() // another Send took it
		}
	}
}

// publish hands the slot claimed at pos to the senders.
func (q *packetQueue) publish(s *queueSlot, pos uint64) { s.seq.Store(pos + 1) }

// take claims the oldest published slot, or returns nil when there is none
// (the queue is empty, or its oldest slot is claimed but not yet published).
func (q *packetQueue) take() (*queueSlot, uint64) {
	pos := q.head.Load()
	for {
		s := &q.slots[pos&q.mask]
		switch seq := s.seq.Load(); {
		case seq == pos+1:
			if q.head.CompareAndSwap(pos, pos+1) {
				return s, pos
			}
			pos = q.head.Load()
		case int64(seq-(pos+1)) < 0:
			return nil, 0
		default:
			pos = q.head.Load() // another sender took it
		}
	}
}

// free gives the slot taken at pos back to the Sends.
func (q *packetQueue) free(s *queueSlot, pos uint64) {
	if cap(s.buf) > maxSlotBuf {
		s.buf = nil
	}
	s.void = false
	s.seq.Store(pos + uint64(len(q.slots)))
}

// len returns the number of packets queued (claimed slots included, those
// being written not).
func (q *packetQueue) len() int { return int(q.tail.Load() - q.head.Load()) }
