package gen

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// tcpGen is the TCP workload: one engine per softnet, each running its
// share of the connections on its softnet through the softnet-side API
// (events, ReadPackets, WritePackets): no goroutine, channel or lock per
// connection, and no allocation per connection once its flow state is
// pooled.
type tcpGen struct {
	st      *stack.Stack
	cfg     Config
	c       *counts
	errs    *firstErrors
	lat     *softnetLatencies
	engines []*tcpEngine
	// stop is the caller's context; stopped mirrors it for the softnets.
	stop    context.Context
	stopped atomic.Bool
	req     []byte // the HTTP request; every flow sends the same bytes
	reqLast []byte // the same with Connection: close, for the last one
}

func newTCPGen(st *stack.Stack, cfg Config, c *counts, errs *firstErrors, stop context.Context) *tcpGen {
	g := &tcpGen{st: st, cfg: cfg, c: c, errs: errs, lat: newSoftnetLatencies(st), stop: stop}
	if cfg.HTTP {
		g.req, g.reqLast = httpRequest(cfg, false), httpRequest(cfg, true)
	}
	return g
}

// httpRequest is the GET every HTTP flow sends; last asks the server to
// close (the connection's last request).
func httpRequest(cfg Config, last bool) []byte {
	b := []byte("GET /bytes/")
	b = strconv.AppendInt(b, cfg.Response, 10)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if a := cfg.To.Addr.Addr(); a.Is6() {
		b = append(append(append(b, '['), a.String()...), ']') // RFC 9110 7.2: an IPv6 literal in brackets
	} else {
		b = append(b, a.String()...)
	}
	b = append(b, "\r\nUser-Agent: netsplice-gen\r\n"...)
	if last {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func (g *tcpGen) intervalLatencies(r *Report) { g.lat.intervalInto(r) }
func (g *tcpGen) totalLatencies(r *Report)    { g.lat.totalInto(r) }

// run starts every softnet's engine at t0 and waits until each has made
// its share of the starts and its connections have ended. It returns the
// starts made (attempted or missed) and those the schedule asked for.
func (g *tcpGen) run(t0 time.Time) (made, want uint64) {
	// The connections and the rate are shared out evenly over the
	// softnets, at most one softnet per connection; the first ones take
	// the remainders.
	n := min(g.st.NumSoftnets(), g.cfg.Conns)
	start := g.st.Softnet(0).Clock() - int64(time.Since(t0))
	for i := 0; i < n; i++ {
		e := &tcpEngine{g: g, sn: g.st.Softnet(i), start: start, end: start + int64(g.cfg.Duration)}
		if n := len(g.cfg.Sources); n > 0 {
			e.nextSource = i % n // the softnets start on different sources
		}
		e.giveUp = e.end + int64(lateGrace(g.cfg.Duration))
		e.cap = g.cfg.Conns / n
		if i < g.cfg.Conns%n {
			e.cap++
		}
		if g.cfg.Rate > 0 {
			e.rate = g.cfg.Rate / float64(n)
			e.want = scheduledBy(g.cfg.Duration, e.rate)
			want += e.want
		}
		e.task.Init(e.tick, nil)
		e.timer.Init(e.tick)
		g.engines = append(g.engines, e)
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-g.stop.Done():
			g.stopped.Store(true)
			for _, e := range g.engines {
				e.sn.Add(&e.task, nil) // let each see it
			}
		case <-finished:
		}
	}()
	for _, e := range g.engines {
		e.sn.Add(&e.task, nil)
	}
	for _, e := range g.engines {
		for !e.done.Load() {
			time.Sleep(time.Millisecond)
		}
		made += e.made.Load()
	}
	return made, want
}

// lateGrace is how long past the end of a run of duration d the generator
// may still make the starts or datagrams that fell due before the end:
// 100ms and a hundredth of d. What it has not made by then is missed.
func lateGrace(d time.Duration) time.Duration { return 100*time.Millisecond + d/100 }

// scheduledBy returns how many intended times t0 + i/rate fall before
// t0+d.
func scheduledBy(d time.Duration, rate float64) uint64 {
	if rate <= 0 || d <= 0 {
		return 0
	}
	n := float64(d) / (float64(time.Second) / rate)
	c := uint64(n)
	if float64(c) == n {
		return c
	}
	return c + 1
}

// tcpEngine runs one softnet's share of the connections. Its tick runs
// as a task or on a timer of that softnet and starts what the schedule
// says is due; the flows' event callbacks run there too. Everything in it
// belongs to the softnet but made and done, which run reads.
type tcpEngine struct {
	g     *tcpGen
	sn    *stack.Softnet
	task  task.Task
	timer timer.Timer
	// rate is this softnet's share (0: closed loop); want the starts its
	// schedule makes before the end.
	rate float64
	want uint64
	// start, end and giveUp are stack clock readings: the run's start,
	// its end, and when the schedule stops even if behind (lateGrace).
	start, end, giveUp int64
	made               atomic.Uint64
	cap, active        int
	free               []*tcpFlow
	done               atomic.Bool
	nextSource         int // Config.Sources index of the next connection
}

// tick starts the connections that fell due, then sleeps until the next
// one is: a timer for a millisecond or more, else the task again.
func (e *tcpEngine) tick() {
	now := e.sn.Clock()
	running := !e.g.stopped.Load() && now < e.giveUp && (e.rate > 0 || now < e.end)
	if running {
		if e.rate > 0 {
			due := min(uint64(float64(now-e.start)*e.rate/1e9)+1, e.want)
			for m := e.made.Load(); m < due; m++ {
				intended := e.start + int64(float64(m)*1e9/e.rate)
				e.made.Store(m + 1)
				if e.active >= e.cap {
					e.g.c.missed.Add(1) // every connection of this softnet busy
					continue
				}
				e.open(intended, now)
			}
		} else {
			for n := 0; e.active < e.cap && n < e.cap; n++ {
				if !e.open(now, now) {
					break // a failed open is retried when the flow is released
				}
			}
		}
	}
	if !running || (e.rate > 0 && e.made.Load() >= e.want) {
		if e.active == 0 {
			e.done.Store(true)
		}
		return // each connection's end kicks the engine
	}
	next := e.end
	if e.rate > 0 {
		next = e.start + int64(float64(e.made.Load())*1e9/e.rate)
	}
	if d := next - now; d < int64(time.Millisecond) {
		e.sn.Add(&e.task, e.sn)
	} else {
		e.sn.Timers().Reset(&e.timer, e.sn.Now(), time.Duration(d))
	}
}

// kick runs tick soon: a connection ended.
func (e *tcpEngine) kick() {
	if !e.task.Queued() {
		e.sn.Add(&e.task, e.sn)
	}
}

// open starts a connection intended at intended, and reports whether the
// dial got under way.
func (e *tcpEngine) open(intended, now int64) bool {
	f := e.get()
	e.active++
	e.g.c.attempted.Add(1)
	f.intended, f.started = intended, now
	var laddr netip.AddrPort
	if src := e.g.cfg.Sources; len(src) > 0 {
		laddr = netip.AddrPortFrom(src[e.nextSource], 0)
		e.nextSource = (e.nextSource + 1) % len(src)
	}
	c, err := e.sn.DialTCP(laddr, e.g.cfg.To.Addr, &f.ev)
	if err != nil {
		f.fail(err)
		return false
	}
	if c.Softnet() != e.sn {
		// No free port steers the replies here (ports short): the
		// connection lives on another softnet, whose callbacks must not
		// touch this engine. They reset it; it counts as failed here.
		f.fail(fmt.Errorf("dial: no free local port steers replies to softnet %d", e.sn.ID()))
		return false
	}
	f.c = c
	f.arm()
	return true
}

func (e *tcpEngine) get() *tcpFlow {
	if n := len(e.free); n > 0 {
		f := e.free[n-1]
		e.free = e.free[:n-1]
		return f
	}
	f := &tcpFlow{e: e}
	f.ev = stack.TCPEvents{Established: f.onEstablished, Readable: f.onReadable, Writable: f.onWritable}
	f.timer.Init(f.onTimeout)
	return f
}

// tcpFlow is one connection's state, pooled by its engine: a flow ends
// (completed or failed) when the server's FIN after the last response is
// in, or at the failure; the connection's own close (TIME-WAIT) goes on
// without it.
type tcpFlow struct {
	e     *tcpEngine
	c     *stack.TCPConn
	ev    stack.TCPEvents
	timer timer.Timer
	// intended, started and reqStart are stack clock readings.
	intended, started, reqStart int64
	k                           int   // responses received whole
	reqLeft                     int64 // request bytes not yet queued
	sendOff, recvOff            int64 // stream offsets (an echo returns the request's)
	respLeft                    int64 // response bytes still expected; -1: the HTTP head
	bodyOff                     int64
	pending                     *driver.Packet // request bytes WritePackets has not taken
	head                        []byte         // HTTP: the head so far (at most maxHTTPHead)
	shut                        bool           // our FIN is queued (echo)
	ended                       bool
}

// foreign reports, on the softnet running a callback for c, that c is not
// the flow's connection any more: a connection on another softnet (reset
// here) or one the flow already finished with.
func (f *tcpFlow) foreign(c *stack.TCPConn) bool {
	if c.Softnet() != f.e.sn {
		c.Abort()
		return true
	}
	return c != f.c || f.ended
}

// arm restarts the flow's timeout: a connect, a request, the close.
func (f *tcpFlow) arm() {
	sn := f.e.sn
	sn.Timers().Reset(&f.timer, sn.Now(), f.e.g.cfg.Timeout)
}

func (f *tcpFlow) onTimeout() {
	if f.c == nil || f.ended {
		return
	}
	what := "connect"
	switch {
	case f.shut || f.k == f.e.g.cfg.RequestsPerConn:
		what = "the server's FIN"
	case f.reqStart != 0:
		what = fmt.Sprintf("response %d", f.k+1)
	}
	f.fail(fmt.Errorf("%s: %w", what, errTimeout))
}

func (f *tcpFlow) onEstablished(c *stack.TCPConn) {
	if f.foreign(c) {
		return
	}
	if err := c.Err(); err != nil {
		f.fail(fmt.Errorf("dial %v: %w", f.e.g.cfg.To.Addr, err))
		return
	}
	e := f.e
	now := e.sn.Clock()
	e.g.c.established.Add(1)
	e.g.lat.record2(e.sn, connectLat, time.Duration(now-f.intended), connectRawLat, time.Duration(now-f.started))
	f.startRequest(now)
}

// startRequest queues request k, and the next ones while a server that
// answers nothing (Response 0) lets them complete at once.
func (f *tcpFlow) startRequest(now int64) {
	cfg := &f.e.g.cfg
	for {
		f.reqStart = now
		f.arm()
		if cfg.HTTP {
			req := f.e.g.req
			if f.k == cfg.RequestsPerConn-1 {
				req = f.e.g.reqLast
			}
			pk := f.c.NewPacket()
			if pk == nil || pk.Tailroom() < len(req) {
				if pk != nil {
					f.e.sn.Free(pk)
				}
				f.fail(fmt.Errorf("request %d: %w", f.k+1, errNoBuffer))
				return
			}
			copy(pk.Append(len(req)), req)
			f.pending = pk
			f.respLeft = -1
			f.reqLeft = 0
			f.e.g.c.sent.Add(uint64(len(req)))
		} else {
			f.reqLeft = cfg.Request
			f.respLeft = cfg.Response
		}
		if !f.push() || !f.countResponse() {
			return
		}
		now = f.e.sn.Clock()
	}
}

// push queues request bytes while the send buffer takes them. It reports
// whether the whole request is queued and its (empty) response therefore
// complete: a discard server's.
func (f *tcpFlow) push() bool {
	for {
		if f.pending == nil {
			if f.reqLeft == 0 {
				break
			}
			pk := f.c.NewPacket()
			if pk == nil {
				f.fail(fmt.Errorf("request %d: %w", f.k+1, errNoBuffer))
				return false
			}
			n := min(f.reqLeft, int64(pk.Tailroom()))
			service.Pattern(pk.Append(int(n)), f.sendOff)
			f.sendOff += n
			f.reqLeft -= n
			f.pending = pk
			f.e.g.c.sent.Add(uint64(n))
		}
		rest, _ := f.c.WritePackets(f.pending)
		f.pending = rest
		if rest != nil {
			return false // the rest when Writable
		}
	}
	return !f.e.g.cfg.HTTP && f.respLeft == 0
}

func (f *tcpFlow) onWritable(c *stack.TCPConn) {
	if f.foreign(c) || f.pending == nil && f.reqLeft == 0 {
		return
	}
	if f.push() && f.countResponse() {
		f.startRequest(f.e.sn.Clock())
	}
}

func (f *tcpFlow) onReadable(c *stack.TCPConn) {
	if f.foreign(c) {
		return
	}
	for {
		head, n := c.ReadPackets(1 << 30)
		if n == 0 {
			break
		}
		var err error
		for pk := head; pk != nil; {
			next := pk.Next
			pk.Next = nil
			if err == nil && !f.ended {
				err = f.consume(pk.Data())
			}
			f.e.sn.Free(pk)
			pk = next
		}
		if err != nil {
			f.fail(err)
			return
		}
		if f.ended {
			return
		}
	}
	if err := c.Err(); err != nil {
		f.fail(err)
		return
	}
	if c.EOF() {
		if f.k < f.e.g.cfg.RequestsPerConn {
			f.fail(verifyErr("the server closed after %d of %d responses", f.k, f.e.g.cfg.RequestsPerConn))
			return
		}
		f.finish()
	}
}

// consume takes response bytes in.
func (f *tcpFlow) consume(b []byte) error {
	cfg := &f.e.g.cfg
	for len(b) > 0 {
		if f.k >= cfg.RequestsPerConn || f.reqStart == 0 {
			return verifyErr("%d bytes after the last response", len(b))
		}
		if f.respLeft < 0 {
			// The HTTP head: gathered until its blank line.
			from := max(len(f.head)-3, 0)
			take := min(len(b), maxHTTPHead-len(f.head))
			f.head = append(f.head, b[:take]...)
			i := bytes.Index(f.head[from:], []byte("\r\n\r\n"))
			if i < 0 {
				if len(f.head) == maxHTTPHead {
					return verifyErr("response head longer than %d bytes", maxHTTPHead)
				}
				b = b[take:]
				continue
			}
			end := from + i + 4
			length, err := parseHTTPHead(f.head[:end])
			if err != nil {
				return err
			}
			if !cfg.CountOnly && length != cfg.Response {
				return verifyErr("Content-Length %d, want %d", length, cfg.Response)
			}
			// What followed the head in b is body.
			b = b[take-(len(f.head)-end):]
			f.head = f.head[:0]
			f.respLeft, f.bodyOff = length, 0
			if length == 0 {
				f.responseDone()
			}
			continue
		}
		m := min(int64(len(b)), f.respLeft)
		off := f.recvOff
		if cfg.HTTP {
			off = f.bodyOff
		}
		if !cfg.CountOnly {
			if i := service.PatternMismatch(b[:m], off); i >= 0 {
				return verifyErr("byte %d of response %d is %d, want %d (the i%%251 pattern; --count-only for other servers)",
					off+int64(i), f.k+1, b[i], (off+int64(i))%service.PatternPeriod)
			}
		}
		f.e.g.c.received.Add(uint64(m))
		f.recvOff += m
		f.bodyOff += m
		f.respLeft -= m
		b = b[m:]
		if f.respLeft == 0 {
			f.responseDone()
		}
	}
	return nil
}

// responseDone counts a whole response and starts the next request.
func (f *tcpFlow) responseDone() {
	if f.countResponse() {
		f.startRequest(f.e.sn.Clock())
	}
}

// countResponse counts a whole response and reports whether another
// request follows; after the last one it starts the close: an echo
// client shuts its side down, an HTTP server closes after the request
// that said Connection: close.
func (f *tcpFlow) countResponse() bool {
	e := f.e
	now := e.sn.Clock()
	raw := time.Duration(now - f.reqStart)
	lag := time.Duration(max(f.started-f.intended, 0))
	e.g.c.requests.Add(1)
	e.g.lat.record2(e.sn, responseLat, raw+lag, responseRawLat, raw)
	f.k++
	f.respLeft = 0
	if f.k < e.g.cfg.RequestsPerConn {
		return true
	}
	f.arm()
	if !e.g.cfg.HTTP && !f.shut {
		f.shut = true
		f.c.ShutdownWrite()
	}
	return false
}

// finish ends a flow whose every response came in, at the server's FIN.
func (f *tcpFlow) finish() {
	f.c.CloseOnSoftnet()
	f.e.g.c.completed.Add(1)
	f.release()
}

// fail ends the flow as failed, once, and resets its connection.
func (f *tcpFlow) fail(err error) {
	if f.ended {
		return
	}
	g := f.e.g
	r := reasonOf(err)
	if g.stopped.Load() && r != Verify {
		r = Other
		err = fmt.Errorf("interrupted: %w", err)
	}
	g.c.errors[r].Add(1)
	g.errs.note(r, err)
	if f.c != nil {
		f.c.Abort()
	}
	f.release()
}

// release gives the flow back to its engine.
func (f *tcpFlow) release() {
	e := f.e
	f.ended = true
	f.timer.Stop()
	if f.c != nil {
		f.c.SetEvents(nil)
	}
	for pk := f.pending; pk != nil; {
		next := pk.Next
		pk.Next = nil
		e.sn.Free(pk)
		pk = next
	}
	*f = tcpFlow{e: e, ev: f.ev, timer: f.timer, head: f.head[:0]}
	e.active--
	e.free = append(e.free, f)
	e.kick()
}

// maxHTTPHead bounds a response's status line and headers.
const maxHTTPHead = 16 << 10

// parseHTTPHead parses a response head (status line and headers, through
// the blank line) and returns its Content-Length. A status other than
// 200, a missing Content-Length or a chunked body is a verify error.
func parseHTTPHead(head []byte) (int64, error) {
	length := int64(-1)
	for i := 0; len(head) > 0; i++ {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimRight(line, "\r")
		if i == 0 {
			// HTTP/1.1 200 OK
			version, rest, _ := bytes.Cut(line, []byte(" "))
			code, _, _ := bytes.Cut(bytes.TrimLeft(rest, " "), []byte(" "))
			if len(code) == 0 || !bytes.HasPrefix(version, []byte("HTTP/1.")) {
				return 0, verifyErr("bad status line %q", trim(line))
			}
			if string(code) != "200" {
				return 0, verifyErr("status %q, want 200", trim(line))
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, verifyErr("bad header line %q", trim(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, verifyErr("bad Content-Length %q", trim(value))
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")) && !bytes.EqualFold(value, []byte("identity")):
			return 0, verifyErr("Transfer-Encoding %q: the generator reads Content-Length bodies only", trim(value))
		}
	}
	if length < 0 {
		return 0, verifyErr("response without a Content-Length")
	}
	return length, nil
}

func trim(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
