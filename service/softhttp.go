package service

import (
	"bytes"
	"io"
	"net/netip"
	"strconv"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack"
)

// The HTTP service on the softnets: GET /bytes/N answered by the softnet
// that owns the connection, through the stack's softnet-side API (events,
// ReadPackets, WritePackets), with no goroutine, lock or allocation per
// connection once its state is pooled. It speaks the part of HTTP/1.1 the
// service needs: one request at a time per connection (pipelined requests
// wait their turn), keep-alive unless the client says Connection: close
// or speaks HTTP/1.0, GET only (HEAD and others: 405), /bytes/N only
// (else 404), a request head of at most maxRequestHead bytes (else 431),
// a body-less request (a Content-Length or Transfer-Encoding is 400).

// maxRequestHead bounds a request's line and headers.
const maxRequestHead = 8 << 10

// softHTTP is the service: the listener and each softnet's pool of
// connection states.
type softHTTP struct {
	l    *stack.TCPListener
	sc   *Counters
	free [][]*httpConn // per softnet, touched only there
}

func startSoftHTTP(st *stack.Stack, port uint16, sc *Counters) (io.Closer, error) {
	h := &softHTTP{sc: sc, free: make([][]*httpConn, st.NumSoftnets())}
	l, err := st.ListenTCPOnSoftnet(netip.AddrPortFrom(netip.IPv6Unspecified(), port), 0, h.accept)
	if err != nil {
		return nil, err
	}
	h.l = l
	return l, nil
}

// httpConn is one connection's state.
type httpConn struct {
	h  *softHTTP
	c  *stack.TCPConn
	ev stack.TCPEvents
	// c is nil once the service of the connection ended (pooled).
	// req holds request bytes not yet handled.
	req []byte
	// left is the body bytes of the current response still to queue, at
	// stream offset off; pending what WritePackets has not taken.
	left, off              int64
	pending                *driver.Packet
	responding, closeAfter bool
}

// accept runs on the connection's softnet.
func (h *softHTTP) accept(c *stack.TCPConn) {
	id := c.Softnet().ID()
	var hc *httpConn
	if n := len(h.free[id]); n > 0 {
		hc = h.free[id][n-1]
		h.free[id] = h.free[id][:n-1]
	} else {
		hc = &httpConn{h: h, req: make([]byte, 0, 1024)}
		hc.ev = stack.TCPEvents{Readable: hc.onReadable, Writable: hc.onWritable}
	}
	hc.c = c
	c.SetEvents(&hc.ev)
}

func (hc *httpConn) onReadable(c *stack.TCPConn) {
	if c != hc.c {
		return
	}
	if c.Err() != nil {
		hc.release(true)
		return
	}
	hc.serve()
}

func (hc *httpConn) onWritable(c *stack.TCPConn) {
	if c != hc.c || !hc.responding {
		return
	}
	hc.serve()
}

// reqBuffer bounds the request bytes read ahead of the one being answered:
// a client that pipelines more waits in the TCP receive window.
const reqBuffer = 2 * maxRequestHead

// fill reads what the client sent, up to reqBuffer bytes ahead.
func (hc *httpConn) fill() {
	c := hc.c
	for len(hc.req) < reqBuffer {
		head, n := c.ReadPackets(reqBuffer + 2048 - len(hc.req))
		if n == 0 {
			return
		}
		for pk := head; pk != nil; {
			next := pk.Next
			pk.Next = nil
			hc.req = append(hc.req, pk.Data()...)
			c.Softnet().Free(pk)
			pk = next
		}
	}
}

// serve answers the requests that are in, one at a time, and closes when
// the client has finished and nothing is owed. It stops when the service
// of the connection ended (hc.c is nil).
func (hc *httpConn) serve() {
	for hc.c != nil {
		if hc.responding {
			if !hc.push() {
				return // the rest when Writable
			}
			hc.responding = false
			if hc.closeAfter {
				hc.release(false)
				return
			}
		}
		hc.fill()
		end := bytes.Index(hc.req, []byte("\r\n\r\n"))
		if end < 0 {
			switch {
			case len(hc.req) > maxRequestHead:
				hc.respond(431, "request head too long\n", true)
			case hc.c.EOF():
				hc.release(false) // the client is done and nothing is owed
				return
			default:
				return // wait for more
			}
			continue
		}
		status, n, closeAfter, msg := parseRequest(hc.req[:end+4])
		hc.req = hc.req[:copy(hc.req, hc.req[end+4:])]
		if status != 200 {
			hc.respond(status, msg, closeAfter)
			continue
		}
		hc.h.sc.conns.Add(1)
		var hb [192]byte
		if hc.queue(appendHeader(hb[:0], 200, n, closeAfter)) {
			hc.responding, hc.closeAfter, hc.left, hc.off = true, closeAfter, n, 0
		}
	}
}

// parseRequest reads a request head: the status to answer (200 or an
// error with its message), the N of /bytes/N and whether to close after.
func parseRequest(head []byte) (status int, n int64, closeAfter bool, msg string) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	var fa [3][]byte
	if fields(line, fa[:]) != 3 || !bytes.HasPrefix(fa[2], []byte("HTTP/1.")) {
		return 400, 0, true, "bad request line\n"
	}
	f := fa[:]
	closeAfter = string(f[2]) == "HTTP/1.0"
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 400, 0, true, "bad header line\n"
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				closeAfter = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				closeAfter = false
			}
		case bytes.EqualFold(name, []byte("Content-Length")) && string(value) != "0",
			bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 400, 0, true, "a GET with a body\n"
		}
	}
	if string(f[0]) != "GET" {
		return 405, 0, closeAfter, "only GET\n"
	}
	num, ok := bytes.CutPrefix(f[1], []byte("/bytes/"))
	if !ok {
		return 404, 0, closeAfter, "only /bytes/N\n"
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		return 400, 0, closeAfter, "size must be 0..2^40\n"
	}
	return 200, n, closeAfter, ""
}

var statusText = map[int]string{200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}

// respond queues a short error response.
func (hc *httpConn) respond(status int, msg string, closeAfter bool) {
	var hb [192]byte
	b := appendHeader(hb[:0], status, int64(len(msg)), closeAfter)
	if hc.queue(append(b, msg...)) {
		hc.responding, hc.closeAfter, hc.left = true, closeAfter, 0
	}
}

// appendHeader appends a response head to b: into a caller's array, so
// that a response allocates nothing.
func appendHeader(b []byte, status int, n int64, closeAfter bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText[status]...)
	if status == 200 {
		b = append(b, "\r\nContent-Type: application/octet-stream"...)
	} else {
		b = append(b, "\r\nContent-Type: text/plain"...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	if closeAfter {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\n\r\n"...)
}

// queue puts b, which fits a packet, behind what is to send. Without a
// buffer for it the connection is reset and queue reports false.
func (hc *httpConn) queue(b []byte) bool {
	pk := hc.c.NewPacket()
	if pk == nil || pk.Tailroom() < len(b) {
		if pk != nil {
			hc.c.Softnet().Free(pk)
		}
		hc.release(true)
		return false
	}
	copy(pk.Append(len(b)), b)
	hc.pending = appendChain(hc.pending, pk)
	return true
}

func appendChain(head, pk *driver.Packet) *driver.Packet {
	if head == nil {
		return pk
	}
	t := head
	for t.Next != nil {
		t = t.Next
	}
	t.Next = pk
	return head
}

// push queues the response while the send buffer takes it, and reports
// whether all of it is queued.
func (hc *httpConn) push() bool {
	for {
		if hc.pending == nil {
			if hc.left == 0 {
				return true
			}
			pk := hc.c.NewPacket()
			if pk == nil {
				return false // the pool is dry: try again at the next ACK
			}
			k := min(hc.left, int64(pk.Tailroom()))
			Pattern(pk.Append(int(k)), hc.off)
			hc.off += k
			hc.left -= k
			hc.h.sc.bytes.Add(uint64(k))
			hc.pending = pk
		}
		rest, _ := hc.c.WritePackets(hc.pending)
		hc.pending = rest
		if rest != nil {
			return false
		}
	}
}

// release ends the connection's service: a reset when abort, else a
// close after what is queued; the state goes back to its softnet's pool.
func (hc *httpConn) release(abort bool) {
	c := hc.c
	if abort {
		c.Abort()
	} else {
		c.CloseOnSoftnet()
	}
	c.SetEvents(nil)
	for pk := hc.pending; pk != nil; {
		next := pk.Next
		pk.Next = nil
		c.Softnet().Free(pk)
		pk = next
	}
	id := c.Softnet().ID()
	*hc = httpConn{h: hc.h, ev: hc.ev, req: hc.req[:0]}
	hc.h.free[id] = append(hc.h.free[id], hc)
}

// fields splits line at runs of spaces and tabs into out, as bytes.Fields
// does without allocating, and returns how many fields line has (more than
// len(out) when it has more; out then holds the first ones).
func fields(line []byte, out [][]byte) int {
	n := 0
	for {
		for len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			line = line[1:]
		}
		if len(line) == 0 {
			return n
		}
		end := 0
		for end < len(line) && line[end] != ' ' && line[end] != '\t' {
			end++
		}
		if n < len(out) {
			out[n] = line[:end]
		}
		n++
		line = line[end:]
	}
}
