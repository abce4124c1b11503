package pynba

//go:generate go run ./internal/rwgen -o responsewriter_gen.go -test responsewriter_gen_test.go

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// respWriter records what a handler writes: the status code and the bytes
// of body. Monitor hands the handler respWriter.wrap(), a value of one of
// the generated types of responsewriter_gen.go: one per combination of the
// optional interfaces (http.Flusher, http.CloseNotifier, http.Hijacker,
// io.ReaderFrom, http.Pusher, io.StringWriter), so the handler sees
// exactly the interfaces of the writer it was given, and each is a struct
// holding only a *respWriter, which an interface stores without allocating.
// The other optional methods (SetReadDeadline, SetWriteDeadline,
// EnableFullDuplex) are reached by http.ResponseController through
// Unwrap.
//
// A respWriter lives in the request's reqState, never reused: a handler
// that keeps its writer after returning (which net/http forbids) reaches
// its own request's writer and counts, never a later request's.
type respWriter struct {
	w       http.ResponseWriter
	code    atomic.Int64  // the first final status code, 0 until one is written
	written atomic.Uint64 // bytes of body written
}

// noteCode records the response's status as the client sees it: the
// first final code written (1xx codes but 101 are informational and
// followed by the real one; 101 Switching Protocols ends the HTTP exchange).
// Later codes are ignored, as net/http ignores a superfluous WriteHeader.
func (rw *respWriter) noteCode(code int) {
	if (code >= 200 || code == http.StatusSwitchingProtocols) && rw.code.Load() == 0 {
		rw.code.CompareAndSwap(0, int64(code))
	}
}

func (rw *respWriter) count(n int64) {
	if n > 0 {
		rw.written.Add(uint64(n))
	}
}

// Header returns the underlying writer's header map.
func (rw *respWriter) Header() http.Header { return rw.w.Header() }

// WriteHeader writes code and records it once the underlying writer took
// it: a code net/http refuses (it panics on one below 100 or above 999) is
// not what the client got.
func (rw *respWriter) WriteHeader(code int) {
	rw.w.WriteHeader(code)
	rw.noteCode(code)
}

// Write writes b, counting the bytes.
func (rw *respWriter) Write(b []byte) (int, error) {
	rw.noteCode(http.StatusOK)
	n, err := rw.w.Write(b)
	rw.count(int64(n))
	return n, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (rw *respWriter) Unwrap() http.ResponseWriter { return rw.w }

func (rw *respWriter) writeString(s string) (int, error) {
	rw.noteCode(http.StatusOK)
	n, err := rw.w.(io.StringWriter).WriteString(s)
	rw.count(int64(n))
	return n, err
}

func (rw *respWriter) readFrom(src io.Reader) (int64, error) {
	rw.noteCode(http.StatusOK)
	n, err := rw.w.(io.ReaderFrom).ReadFrom(src)
	rw.count(n)
	return n, err
}

// flush sends the headers, 200 unless a code was written, and what is
// buffered: from then on the status is fixed.
func (rw *respWriter) flush() {
	rw.noteCode(http.StatusOK)
	rw.w.(http.Flusher).Flush()
}

// flushError flushes as http.ResponseController does on the underlying
// writer: with its FlushError method when it has one, so the error is not
// lost.
func (rw *respWriter) flushError() error {
	rw.noteCode(http.StatusOK)
	if f, ok := rw.w.(interface{ FlushError() error }); ok {
		return f.FlushError()
	}
	rw.w.(http.Flusher).Flush()
	return nil
}

func (rw *respWriter) closeNotify() <-chan bool {
	//lint:ignore SA1019 the wrapper keeps every interface of the writer it wraps
	return rw.w.(http.CloseNotifier).CloseNotify()
}

// hijack hands the connection to the handler. What it then writes is not
// seen: a connection hijacked before any code was written is reported as
// 101 Switching Protocols, what a WebSocket or other upgrade answers.
func (rw *respWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := rw.w.(http.Hijacker).Hijack()
	if err == nil {
		rw.noteCode(http.StatusSwitchingProtocols)
	}
	return conn, brw, err
}

func (rw *respWriter) push(target string, opts *http.PushOptions) error {
	return rw.w.(http.Pusher).Push(target, opts)
}
