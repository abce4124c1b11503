package pynba

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPacketQueueExactlyOnce runs Sends and senders on the queue at once:
// every packet a claim accepted is taken exactly once, with the bytes it
// was given, and every refused one is counted.
func TestPacketQueueExactlyOnce(t *testing.T) {
	const producers, each, consumers = 4, 5000, 2
	q := newPacketQueue(64, consumers*8)
	var (
		refused  atomic.Int64
		taken    = make([]atomic.Int32, producers*each)
		done     atomic.Bool
		wg, cons sync.WaitGroup
	)
	for range consumers {
		cons.Go(func() {
			for {
				sl, pos := q.take()
				if sl == nil {
					if done.Load() && q.len() == 0 {
						return
					}
					runtime.Gosched()
					continue
				}
				id := binary.LittleEndian.Uint32(sl.buf)
				if len(sl.buf) != 4+int(id%50) {
					t.Errorf("packet %d: %d bytes", id, len(sl.buf))
				}
				taken[id].Add(1)
				q.free(sl, pos)
			}
		})
	}
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				id := uint32(p*each + i)
				sl, pos := q.claim()
				if sl == nil {
					refused.Add(1)
					taken[id].Add(1) // counted as handled
					continue
				}
				sl.buf = binary.LittleEndian.AppendUint32(sl.buf[:0], id)
				sl.buf = append(sl.buf, make([]byte, id%50)...)
				q.publish(sl, pos)
			}
		})
	}
	wg.Wait()
	done.Store(true)
	cons.Wait()
	for id := range taken {
		if n := taken[id].Load(); n != 1 {
			t.Fatalf("packet %d handled %d times", id, n)
		}
	}
	if q.len() != 0 {
		t.Errorf("%d left in the queue", q.len())
	}
	t.Logf("%d of %d refused (queue full)", refused.Load(), producers*each)
}

// TestPacketQueueLimit checks that the queue holds the packets asked for,
// not the ring's power of two, and that a slot being written does not
// count.
func TestPacketQueueLimit(t *testing.T) {
	q := newPacketQueue(5, 2)
	for i := range 5 {
		sl, pos := q.claim()
		if sl == nil {
			t.Fatalf("claim %d refused", i)
		}
		q.publish(sl, pos)
	}
	if sl, _ := q.claim(); sl != nil {
		t.Fatal("a sixth packet was queued")
	}
	sl, pos := q.take() // being written: a place for one more
	if sl == nil {
		t.Fatal("nothing to take")
	}
	if s2, p2 := q.claim(); s2 == nil {
		t.Fatal("no place while one is written")
	} else {
		q.publish(s2, p2)
	}
	q.free(sl, pos)
	if q.len() != 5 {
		t.Errorf("len %d, want 5", q.len())
	}
}
