//go:build !(linux && (amd64 || arm64))

package pynba

// batcher is an async sender's state. Without sendmmsg, a batch is written
// one datagram after the other.
type batcher struct {
	r  *Reporter
	sk *sock
}

func newBatcher(r *Reporter, sk *sock) *batcher { return &batcher{r: r, sk: sk} }

// send writes every packet of batch to every server.
func (b *batcher) send(batch [][]byte) {
	for _, pkt := range batch {
		b.r.write(b.sk, pkt)
	}
}
