package gen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
)

// tcpGen is the TCP workload.
type tcpGen struct {
	st   *stack.Stack
	cfg  Config
	c    *counts
	lat  *sharedLatencies
	errs *firstErrors
	// stop ends the run early (the caller's context): connections in
	// flight are reset and counted as failed (other).
	stop context.Context
}

func newTCPGen(st *stack.Stack, cfg Config, c *counts, errs *firstErrors, stop context.Context) *tcpGen {
	return &tcpGen{st: st, cfg: cfg, c: c, lat: newSharedLatencies(), errs: errs, stop: stop}
}

func (g *tcpGen) intervalLatencies(r *Report) { g.lat.takeInterval(r) }
func (g *tcpGen) totalLatencies(r *Report)    { g.lat.fillTotal(r) }

// run starts connections from t0 until t0+Duration (or until stop), then
// waits for every connection to end. It returns the starts it made and
// those the schedule asked for.
func (g *tcpGen) run(t0 time.Time) (made, want uint64) {
	end := t0.Add(g.cfg.Duration)
	var wg sync.WaitGroup
	if g.cfg.Rate == 0 {
		for i := 0; i < g.cfg.Conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := newTCPWorker(g)
				for time.Now().Before(end) && g.stop.Err() == nil {
					now := time.Now()
					w.conn(now, now)
				}
			}()
		}
		wg.Wait()
		return 0, 0
	}
	starts := make(chan time.Time, g.cfg.Conns)
	for i := 0; i < g.cfg.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newTCPWorker(g)
			for intended := range starts {
				if g.stop.Err() != nil {
					g.c.missed.Add(1)
					continue
				}
				w.conn(intended, time.Now())
			}
		}()
	}
	made = schedule(g.stop, t0, end, g.cfg.Rate, func(due time.Time) {
		select {
		case starts <- due:
		default:
			g.c.missed.Add(1) // every worker busy and Conns starts waiting
		}
	})
	close(starts)
	wg.Wait()
	return made, scheduledBy(g.cfg.Duration, g.cfg.Rate)
}

// schedule calls fn with the intended times t0 + i/rate that fall before
// end, each once it is due (a late call carries its intended time), and
// returns how many it made. It stops early when stop is done, and when it
// has fallen behind by more than lateGrace past end: the calls it did not
// make are the caller's missed ones (see scheduledBy).
func schedule(stop context.Context, t0, end time.Time, rate float64, fn func(due time.Time)) uint64 {
	period := float64(time.Second) / rate
	var i uint64
	for ; ; i++ {
		due := t0.Add(time.Duration(float64(i) * period))
		if !due.Before(end) || stop.Err() != nil {
			return i
		}
		if i%64 == 0 && !time.Now().Before(end.Add(lateGrace(end.Sub(t0)))) {
			return i
		}
		if d := time.Until(due); d > 0 {
			// Sleeping overshoots by up to a timer tick: the starts that
			// fell due meanwhile go out at once, each with its own time.
			time.Sleep(d)
		}
		fn(due)
	}
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
	if c := uint64(n); float64(c) == n {
		return c
	} else {
		return c + 1
	}
}

// tcpWorker runs one connection at a time, with its own buffers.
type tcpWorker struct {
	g   *tcpGen
	buf []byte
	br  *bufio.Reader
	req []byte
}

func newTCPWorker(g *tcpGen) *tcpWorker {
	return &tcpWorker{g: g, buf: make([]byte, 64<<10), br: bufio.NewReaderSize(nil, 4096)}
}

// conn runs one connection intended to start at intended, started at
// start, and counts how it ended.
func (w *tcpWorker) conn(intended, start time.Time) {
	g := w.g
	g.c.attempted.Add(1)
	lag := max(start.Sub(intended), 0)
	ctx, cancel := context.WithTimeout(g.stop, g.cfg.Timeout)
	c, err := g.st.DialTCP(ctx, netip.AddrPort{}, g.cfg.To.Addr)
	cancel()
	if err != nil {
		w.fail(err)
		return
	}
	est := time.Now()
	g.c.established.Add(1)
	g.lat.record2(connectLat, est.Sub(intended), connectRawLat, est.Sub(start))
	if err := w.exchange(c, lag); err != nil {
		c.Reset()
		w.fail(err)
		return
	}
	c.Close()
	g.c.completed.Add(1)
}

func (w *tcpWorker) fail(err error) {
	r := reasonOf(err)
	if w.g.stop.Err() != nil && r != Verify {
		r = Other
		err = fmt.Errorf("interrupted: %w", err)
	}
	w.g.c.errors[r].Add(1)
	w.g.errs.note(r, err)
}

// exchange runs the requests of one connection and its close.
func (w *tcpWorker) exchange(c *stack.TCPConn, lag time.Duration) error {
	g := w.g
	var off int64 // stream offset of the next request byte (and of the echo)
	w.br.Reset(c)
	for k := 0; k < g.cfg.RequestsPerConn; k++ {
		if g.stop.Err() != nil {
			return errors.New("interrupted")
		}
		c.SetDeadline(time.Now().Add(g.cfg.Timeout))
		t := time.Now()
		last := k == g.cfg.RequestsPerConn-1
		var err error
		if g.cfg.HTTP {
			err = w.httpRequest(c, last)
		} else {
			err = w.request(c, off)
			off += g.cfg.Request
		}
		if err != nil {
			return fmt.Errorf("request %d: %w", k+1, err)
		}
		done := time.Now()
		g.c.requests.Add(1)
		g.lat.record2(responseLat, done.Sub(t)+lag, responseRawLat, done.Sub(t))
	}
	c.SetDeadline(time.Now().Add(g.cfg.Timeout))
	if !g.cfg.HTTP {
		if err := c.CloseWrite(); err != nil {
			return err
		}
	}
	// The server's EOF ends the connection; anything before it is more
	// than was asked for.
	n, err := io.Copy(io.Discard, w.br)
	if err != nil {
		return fmt.Errorf("waiting for the server's FIN: %w", err)
	}
	if n > 0 {
		return verifyErr("%d bytes after the last response", n)
	}
	return nil
}

// inlineRequest is the largest request written before its response is
// read; a larger one is written by a goroutine while the response is read.
const inlineRequest = 16 << 10

// request sends Request bytes of the pattern from off and reads the
// Response bytes back, checking them against the pattern at the same
// offsets (an echo) unless CountOnly.
func (w *tcpWorker) request(c *stack.TCPConn, off int64) error {
	g := w.g
	if g.cfg.Request <= inlineRequest {
		// Small enough for the windows: write, then read.
		buf := w.buf[:g.cfg.Request]
		service.Pattern(buf, off)
		n, err := c.Write(buf)
		g.c.sent.Add(uint64(n))
		if err != nil {
			return err
		}
		got, err := w.readPattern(w.br, g.cfg.Response, off)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return verifyErr("response cut short: %d of %d bytes, then the server closed", got, g.cfg.Response)
		}
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// The request is written while the response is read, so that a
		// request larger than the windows cannot deadlock with its echo.
		buf := make([]byte, min(g.cfg.Request, 64<<10))
		for left, o := g.cfg.Request, off; left > 0; {
			k := min(left, int64(len(buf)))
			service.Pattern(buf[:k], o)
			n, err := c.Write(buf[:k])
			g.c.sent.Add(uint64(n))
			if err != nil {
				errc <- err
				return
			}
			left -= k
			o += k
		}
		errc <- nil
	}()
	got, err := w.readPattern(w.br, g.cfg.Response, off)
	werr := <-errc
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return verifyErr("response cut short: %d of %d bytes, then the server closed", got, g.cfg.Response)
		}
		return err
	}
	return werr
}

// readPattern reads n bytes from r and checks them against the pattern
// from off unless CountOnly. It returns how many it read.
func (w *tcpWorker) readPattern(r io.Reader, n, off int64) (int64, error) {
	var got int64
	for got < n {
		k := min(n-got, int64(len(w.buf)))
		m, err := io.ReadFull(r, w.buf[:k])
		w.g.c.received.Add(uint64(m))
		if !w.g.cfg.CountOnly {
			if i := service.PatternMismatch(w.buf[:m], off+got); i >= 0 {
				return got + int64(i), verifyErr("byte %d of the response is %d, want %d (the i%%251 pattern; --count-only for other servers)",
					got+int64(i), w.buf[i], (off+got+int64(i))%service.PatternPeriod)
			}
		}
		got += int64(m)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// httpRequest sends GET /bytes/Response and reads and checks the
// response: status 200, a Content-Length, and the body.
func (w *tcpWorker) httpRequest(c *stack.TCPConn, last bool) error {
	g := w.g
	w.req = w.req[:0]
	w.req = append(w.req, "GET /bytes/"...)
	w.req = strconv.AppendInt(w.req, g.cfg.Response, 10)
	w.req = append(w.req, " HTTP/1.1\r\nHost: "...)
	w.req = append(w.req, g.cfg.To.Addr.Addr().String()...)
	w.req = append(w.req, "\r\nUser-Agent: netsplice-gen\r\n"...)
	if last {
		w.req = append(w.req, "Connection: close\r\n"...)
	}
	w.req = append(w.req, "\r\n"...)
	n, err := c.Write(w.req)
	g.c.sent.Add(uint64(n))
	if err != nil {
		return err
	}
	length, err := readHTTPHead(w.br)
	if err != nil {
		return err
	}
	if !g.cfg.CountOnly && length != g.cfg.Response {
		return verifyErr("Content-Length %d, want %d", length, g.cfg.Response)
	}
	got, err := w.readPattern(w.br, length, 0)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return verifyErr("body cut short: %d of %d bytes", got, length)
		}
		return err
	}
	return nil
}

// maxHTTPHead bounds a response's status line and headers.
const maxHTTPHead = 16 << 10

// readHTTPHead reads a response's status line and headers and returns
// its Content-Length. A status other than 200, a missing Content-Length
// or a chunked body is a verify error.
func readHTTPHead(br *bufio.Reader) (int64, error) {
	length := int64(-1)
	total := 0
	for i := 0; ; i++ {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) || total > maxHTTPHead {
				return 0, verifyErr("response head longer than %d bytes", maxHTTPHead)
			}
			if errors.Is(err, io.EOF) {
				return 0, verifyErr("the server closed before a whole response head")
			}
			return 0, err
		}
		if total > maxHTTPHead {
			return 0, verifyErr("response head longer than %d bytes", maxHTTPHead)
		}
		line = bytes.TrimRight(line, "\r\n")
		if i == 0 {
			// HTTP/1.1 200 OK
			f := bytes.Fields(line)
			if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
				return 0, verifyErr("bad status line %q", trim(line))
			}
			if string(f[1]) != "200" {
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

// firstErrors keeps the first error of each reason, for the final report.
type firstErrors struct {
	mu    sync.Mutex
	first [numReasons]string
}

func (f *firstErrors) note(r Reason, err error) {
	f.mu.Lock()
	if f.first[r] == "" {
		f.first[r] = err.Error()
	}
	f.mu.Unlock()
}

func (f *firstErrors) get(r Reason) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first[r]
}
