package iperf3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ClientConfig configures one client test. The zero values of the
// optional fields take the defaults in brackets.
type ClientConfig struct {
	// Server is the iperf3 server's address and port. Required.
	Server netip.AddrPort
	// Dial opens the control connection and the data streams [StdDial].
	Dial DialFunc
	// UDP runs a UDP test (-u) instead of TCP.
	UDP bool
	// Duration is the test's length (-t) [10s, unless Bytes or Blocks is
	// set]. The server is told whole seconds, rounded up.
	Duration time.Duration
	// Bytes (-n) and Blocks (-k) end the test after this much was sent,
	// or received in a reverse test, over all streams. At most one of
	// Duration, Bytes and Blocks may be set.
	Bytes  uint64
	Blocks uint64
	// Parallel is the number of streams (-P) [1], per direction.
	Parallel int
	// Reverse (-R): the server sends. Bidir (--bidir): both send.
	Reverse bool
	Bidir   bool
	// Bitrate (-b) is each stream's target in bits/s [unlimited for TCP,
	// 1 Mbit/s for UDP].
	Bitrate uint64
	// BlockSize (-l) is the write size, or the UDP payload [128 KiB for
	// TCP; for UDP 1460 to an IPv4 server, 1440 to an IPv6 one: a 1500-byte
	// MTU less the IP and TCP headers, so that a datagram is never
	// fragmented (the netsplice stack sends none)].
	BlockSize int
	// Burst (--burst) sends this many blocks at a time when paced.
	Burst int
	// Omit (-O) leaves the first seconds out of the results (whole seconds).
	Omit time.Duration
	// UDP64BitCounters (--udp-counters-64bit) asks for 64-bit packet counts.
	UDP64BitCounters bool
	// Window (-w) asks both sides for socket buffers of this size, where
	// the connections support it.
	Window int
	// NoDelay (-N) sets TCP no-delay where supported.
	NoDelay bool
	// RepeatingPayload (--repeating-payload) sends "0123456789…" instead of
	// random bytes.
	RepeatingPayload bool
	// Title and ExtraData are passed to the server as iperf3 does.
	Title     string
	ExtraData string
	// ControlTimeout bounds connecting, each control message outside the
	// running test and each UDP stream handshake [30s].
	ControlTimeout time.Duration
	// IdleTimeout ends a running test in which no data moved for this long [2m].
	IdleTimeout time.Duration
	// Interval is the reporting interval for OnInterval [1s].
	Interval time.Duration
	// OnInterval, when set, is called every Interval while the test runs,
	// from the test's goroutine.
	OnInterval func(Interval)
	// Logger [zap.NewNop()].
	Logger *zap.Logger
}

// ClientVersion is what the client reports as its version in
// PARAM_EXCHANGE: the iperf3 release whose protocol it speaks.
const ClientVersion = "3.12+netsplice"

func (c ClientConfig) withDefaults() (ClientConfig, params, error) {
	var p params
	bad := func(format string, a ...any) (ClientConfig, params, error) {
		return c, p, fmt.Errorf("iperf3: "+format, a...)
	}
	if !c.Server.IsValid() || c.Server.Port() == 0 {
		return bad("ClientConfig.Server %v: want an address and a port", c.Server)
	}
	if c.Dial == nil {
		c.Dial = StdDial
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	ends := 0
	for _, set := range []bool{c.Duration != 0, c.Bytes != 0, c.Blocks != 0} {
		if set {
			ends++
		}
	}
	switch {
	case ends > 1:
		return bad("only one of Duration, Bytes and Blocks may be set")
	case ends == 0:
		c.Duration = 10 * time.Second
	}
	if c.BlockSize == 0 {
		c.BlockSize = defaultTCPBlockSize
		if c.UDP {
			c.BlockSize = defaultUDPBlockSize
			if c.Server.Addr().Unmap().Is6() {
				c.BlockSize = defaultUDPBlockSize6
			}
		}
	}
	if c.UDP && c.Bitrate == 0 {
		c.Bitrate = defaultUDPRate
	}
	if c.ControlTimeout <= 0 {
		c.ControlTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	switch {
	case c.Parallel < 1 || c.Parallel > MaxStreams:
		return bad("Parallel %d: want 1..%d", c.Parallel, MaxStreams)
	case c.Reverse && c.Bidir:
		return bad("Reverse and Bidir exclude each other")
	case c.Duration < 0 || c.Duration > MaxDuration*time.Second:
		return bad("Duration %v: want at most %d s", c.Duration, MaxDuration)
	case c.Omit < 0 || c.Omit > MaxDuration*time.Second || c.Omit%time.Second != 0:
		return bad("Omit %v: want whole seconds", c.Omit)
	case c.Burst < 0 || c.Burst > MaxBurst:
		return bad("Burst %d: want 0..%d", c.Burst, MaxBurst)
	case !c.UDP && (c.BlockSize < 1 || c.BlockSize > MaxTCPBlockSize):
		return bad("BlockSize %d: want 1..%d", c.BlockSize, MaxTCPBlockSize)
	case c.UDP && (c.BlockSize < MinUDPBlockSize || c.BlockSize > MaxUDPBlockSize):
		return bad("UDP BlockSize %d: want %d..%d", c.BlockSize, MinUDPBlockSize, MaxUDPBlockSize)
	case c.Window < 0:
		return bad("Window %d", c.Window)
	}
	p = params{
		TCP:              !c.UDP,
		UDP:              c.UDP,
		Omit:             int64(c.Omit / time.Second),
		Time:             int64((c.Duration + time.Second - 1) / time.Second),
		Bytes:            c.Bytes,
		Blocks:           c.Blocks,
		NoDelay:          c.NoDelay,
		Parallel:         int64(c.Parallel),
		Reverse:          c.Reverse,
		Bidir:            c.Bidir,
		Window:           int64(c.Window),
		BlockSize:        int64(c.BlockSize),
		Rate:             c.Bitrate,
		PacingTimer:      1000,
		Burst:            int64(c.Burst),
		Title:            c.Title,
		ExtraData:        c.ExtraData,
		UDP64:            c.UDP64BitCounters,
		RepeatingPayload: c.RepeatingPayload,
		ClientVersion:    ClientVersion,
	}
	return c, p, nil
}

// Result is a finished client test: both sides' figures for each
// direction, the server's taken from the results it sent in
// EXCHANGE_RESULTS.
type Result struct {
	Protocol string // "tcp" or "udp"
	Parallel int
	Reverse  bool
	Bidir    bool
	// Duration is how long the client ran the test, after the omit period.
	Duration time.Duration
	// Upload is the client-to-server direction; nil in a reverse test.
	Upload *Transfer
	// Download is the server-to-client direction, in reverse and
	// bidirectional tests; nil otherwise.
	Download *Transfer
	// ServerOutput is the server's report, when it sent one.
	ServerOutput string
}

// Transfer is one direction of a test, summed over its streams, as
// iperf3's "sender" and "receiver" summary lines give it.
type Transfer struct {
	Sent     Side // at the side that sent
	Received Side // at the side that received
	// UDP: Packets the sender sent, LostPackets and LostPercent as the
	// receiver counted them (iperf3's loss: gaps in the sequence numbers,
	// less late arrivals), Jitter the receivers' mean (RFC 1889).
	// OutOfOrder is known only when the client received.
	Packets     uint64
	LostPackets uint64
	LostPercent float64
	OutOfOrder  uint64
	Jitter      time.Duration
	Streams     []StreamTransfer
}

// Side is one side's figures for a direction: bytes, over how many
// seconds, and the rate they make.
type Side struct {
	Bytes         uint64
	Seconds       float64
	BitsPerSecond float64
}

// StreamTransfer is one stream of a Transfer.
type StreamTransfer struct {
	ID          int
	Sent        Side
	Received    Side
	Packets     uint64
	LostPackets uint64
	OutOfOrder  uint64
	Jitter      time.Duration
}

// Interval is what the client moved in one reporting interval.
type Interval struct {
	Start, End time.Duration // since TEST_RUNNING
	Omitted    bool          // within the -O period
	// Upload is what the client sent, Download what it received.
	UploadBytes           uint64
	DownloadBytes         uint64
	UploadBitsPerSecond   float64
	DownloadBitsPerSecond float64
}

// Run runs one test against an iperf3 server and returns its result.
// When ctx ends first, Run tells the server (CLIENT_TERMINATE) and returns
// ctx's error. Errors from the server are *ServerError, ErrAccessDenied
// or ErrServerTerminated.
func Run(ctx context.Context, cfg ClientConfig) (*Result, error) {
	cfg, p, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &cliTest{
		cfg:     cfg,
		p:       p,
		log:     cfg.Logger,
		stop:    make(chan struct{}),
		limitCh: make(chan struct{}),
		errc:    make(chan error, 1),
	}
	return c.run(ctx)
}

// cliTest is one client test. Its goroutine (run) owns the control
// connection; one goroutine per stream moves data and adds to atomics.
type cliTest struct {
	cfg ClientConfig
	p   params
	log *zap.Logger

	ctrl    *ctrlConn
	cookie  [CookieSize]byte
	streams []*stream

	counting  atomic.Bool
	omitting  atomic.Bool
	sentTotal atomic.Uint64
	recvTotal atomic.Uint64
	blksSent  atomic.Uint64
	blksRecv  atomic.Uint64
	sentOmit  atomic.Uint64
	recvOmit  atomic.Uint64
	bsOmit    atomic.Uint64
	brOmit    atomic.Uint64

	begun, ended time.Time
	serverRes    *results

	stop      chan struct{} // closed when senders must stop
	stopOnce  sync.Once
	limitCh   chan struct{} // closed when -n or -k is reached
	limitOnce sync.Once
	errc      chan error
	wg        sync.WaitGroup // receivers
	sendWG    sync.WaitGroup // senders
}

func (c *cliTest) fail(err error) {
	select {
	case c.errc <- err:
	default:
	}
}

func (c *cliTest) run(ctx context.Context) (res *Result, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ControlTimeout)
	conn, err := c.cfg.Dial(dctx, "tcp", c.cfg.Server)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("iperf3: connecting to %v: %w", c.cfg.Server, err)
	}
	k := newCtrlConn(ctx, conn, c.cfg.ControlTimeout)
	c.ctrl = k
	defer func() {
		if err != nil && ctx.Err() != nil {
			_ = k.writeState(stateClientTerminate)
			err = fmt.Errorf("iperf3: %w (told the server)", err)
		}
		c.closeAll()
	}()
	c.cookie = newCookie()
	if err := k.write(c.cookie[:], "sending the cookie"); err != nil {
		return nil, err
	}
	var pending *ctrlMsg
	for {
		var s state
		if pending != nil {
			if pending.err != nil {
				return nil, pending.err
			}
			s, pending = pending.s, nil
		} else if s, err = k.readState("waiting for the server"); err != nil {
			return nil, err
		}
		switch s {
		case stateParamExchange:
			if err := k.write(jsonFrame(c.p.encode()), "sending the parameters"); err != nil {
				return nil, err
			}
		case stateCreateStreams:
			if err := c.createStreams(ctx); err != nil {
				return nil, err
			}
		case stateTestStart:
		case stateTestRunning:
			if len(c.streams) == 0 || !c.begun.IsZero() {
				return nil, fmt.Errorf("%w: TEST_RUNNING out of turn", ErrProtocol)
			}
			m, err := c.runData(ctx)
			if err != nil {
				return nil, err
			}
			pending = &m
		case stateExchangeResults:
			if c.begun.IsZero() || c.serverRes != nil {
				return nil, fmt.Errorf("%w: EXCHANGE_RESULTS out of turn", ErrProtocol)
			}
			c.stopSenders()
			if err := k.write(jsonFrame(c.results().encode()), "sending the results"); err != nil {
				return nil, err
			}
			raw, err := k.readJSON(MaxResultsJSON, "reading the server's results")
			if err != nil {
				return nil, err
			}
			r, err := parseResults(raw)
			if err != nil {
				return nil, fmt.Errorf("the server's results: %w", err)
			}
			c.serverRes = &r
		case stateDisplayResults:
			if c.serverRes == nil {
				return nil, fmt.Errorf("%w: DISPLAY_RESULTS before EXCHANGE_RESULTS", ErrProtocol)
			}
			c.closeStreams()
			if err := k.writeState(stateIperfDone); err != nil {
				c.log.Debug("iperf3: sending IPERF_DONE", zap.Error(err))
			}
			return c.result(), nil
		case stateServerTerminate:
			return nil, ErrServerTerminated
		case stateAccessDenied:
			return nil, ErrAccessDenied
		case stateServerError:
			var b [8]byte
			if err := k.readFull(b[:], "reading SERVER_ERROR"); err != nil {
				return nil, err
			}
			return nil, &ServerError{Code: int32(binary.BigEndian.Uint32(b[:])), Errno: int32(binary.BigEndian.Uint32(b[4:]))}
		default:
			return nil, fmt.Errorf("%w: unexpected %v from the server", ErrProtocol, s)
		}
	}
}

// createStreams opens the data streams (iperf_create_streams): in a
// bidirectional test the client's sending streams first, as the server
// expects.
func (c *cliTest) createStreams(ctx context.Context) error {
	if len(c.streams) > 0 {
		return fmt.Errorf("%w: CREATE_STREAMS twice", ErrProtocol)
	}
	n := c.cfg.Parallel
	total := n
	if c.cfg.Bidir {
		total *= 2
	}
	for i := range total {
		sender := !c.cfg.Reverse
		if c.cfg.Bidir {
			sender = i < n
		}
		var conn net.Conn
		var err error
		if c.cfg.UDP {
			conn, err = c.dialUDP(ctx)
		} else {
			conn, err = c.dialTCP(ctx)
		}
		if err != nil {
			return fmt.Errorf("iperf3: data stream %d: %w", i+1, err)
		}
		c.streams = append(c.streams, &stream{id: streamID(i), sender: sender, conn: conn, peer: addrPortOf(conn.LocalAddr())})
	}
	return nil
}

func (c *cliTest) dialTCP(ctx context.Context) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ControlTimeout)
	conn, err := c.cfg.Dial(dctx, "tcp", c.cfg.Server)
	cancel()
	if err != nil {
		return nil, err
	}
	setSocketOptions(conn, c.p.Window, c.p.NoDelay)
	_ = conn.SetWriteDeadline(time.Now().Add(c.cfg.ControlTimeout))
	if _, err := conn.Write(c.cookie[:]); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sending the cookie: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// dialUDP opens a UDP stream: a connected socket, the 4-byte connect
// datagram, and the server's 4-byte answer (iperf_udp_connect). Up to two
// datagrams of data may come first in a test where the server sends.
func (c *cliTest) dialUDP(ctx context.Context) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ControlTimeout)
	conn, err := c.cfg.Dial(dctx, "udp", c.cfg.Server)
	cancel()
	if err != nil {
		return nil, err
	}
	setSocketOptions(conn, c.p.Window, false)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(c.cfg.ControlTimeout))
	if _, err := conn.Write(udpConnectMsg[:]); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sending the UDP connect datagram: %w", err)
	}
	buf := make([]byte, 65536)
	for tries := 0; ; tries++ {
		n, err := conn.Read(buf)
		if err != nil {
			_ = conn.Close()
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, wrapIOErr(err, "waiting for the UDP connect reply")
		}
		if isUDPReply(buf[:n]) {
			break
		}
		if tries == 2 {
			_ = conn.Close()
			return nil, fmt.Errorf("%w: no UDP connect reply, got %d-byte datagrams", ErrProtocol, n)
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// runData runs the test from TEST_RUNNING until it ends: by time, by -n
// or -k, or by a message from the server. It sends TEST_END when the
// client ends it and returns the server's next message.
func (c *cliTest) runData(ctx context.Context) (ctrlMsg, error) {
	k := c.ctrl
	start := time.Now()
	c.begun = start
	omit := time.Duration(c.p.Omit) * time.Second
	c.omitting.Store(omit > 0)
	c.counting.Store(true)
	// Like iperf3, read the streams only from now on: what the server
	// sent before is waiting in the socket buffers and counts.
	buf := payload(c.cfg.BlockSize, c.cfg.RepeatingPayload) // shared by the TCP senders
	for _, st := range c.streams {
		switch {
		case st.sender && c.cfg.UDP:
			c.sendWG.Add(1)
			go c.udpSend(st, start)
		case st.sender:
			c.sendWG.Add(1)
			go c.tcpSend(st, buf, start)
		case c.cfg.UDP:
			c.wg.Add(1)
			go c.udpReceive(st)
		default:
			c.wg.Add(1)
			go c.tcpReceive(st)
		}
	}
	msgs := k.readAsync("running")

	var end <-chan time.Time
	if c.cfg.Duration > 0 {
		et := time.NewTimer(c.cfg.Duration + omit)
		defer et.Stop()
		end = et.C
	}
	var omitC <-chan time.Time
	if omit > 0 {
		ot := time.NewTimer(omit)
		defer ot.Stop()
		omitC = ot.C
	}
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	iv := intervalState{last: start}
	moved, progress := uint64(0), start
	limit := c.limitCh
	if omit > 0 {
		limit = nil // -n and -k count from the end of the omit period
	}
loop:
	for {
		select {
		case m := <-msgs:
			c.stopCounting()
			return m, nil
		case err := <-c.errc:
			return ctrlMsg{}, err
		case <-end:
			break loop
		case <-limit:
			break loop
		case <-omitC:
			c.omitDone()
			limit = c.limitCh
			c.checkLimit()
		case now := <-tick.C:
			c.report(&iv, now, start)
			if m := c.sentTotal.Load() + c.recvTotal.Load(); m != moved {
				moved, progress = m, now
			} else if now.Sub(progress) >= c.cfg.IdleTimeout {
				return ctrlMsg{}, fmt.Errorf("%w: no data for %v", ErrTimeout, c.cfg.IdleTimeout)
			}
		case <-ctx.Done():
			return ctrlMsg{}, context.Cause(ctx)
		}
	}
	c.stopCounting()
	c.report(&iv, c.ended, start)
	if err := k.writeState(stateTestEnd); err != nil {
		return ctrlMsg{}, err
	}
	k.armRead(time.Now().Add(c.cfg.ControlTimeout))
	return <-msgs, nil
}

// stopCounting ends the counted part of the test and stops the senders.
func (c *cliTest) stopCounting() {
	if c.counting.Swap(false) {
		c.ended = time.Now()
	}
	c.stopOnce.Do(func() { close(c.stop) })
}

func (c *cliTest) omitDone() {
	c.sentOmit.Store(c.sentTotal.Load())
	c.recvOmit.Store(c.recvTotal.Load())
	c.bsOmit.Store(c.blksSent.Load())
	c.brOmit.Store(c.blksRecv.Load())
	for _, st := range c.streams {
		st.omitBytes.Store(st.bytes.Load())
		st.resetJit.Store(true)
	}
	c.begun = time.Now()
	c.omitting.Store(false)
}

// limitReached reports whether -n or -k worth has moved (iperf3: sent or
// received, whichever comes first).
func (c *cliTest) limitReached() bool {
	if c.omitting.Load() {
		return false
	}
	if b := c.p.Bytes; b > 0 && (c.sentTotal.Load()-c.sentOmit.Load() >= b || c.recvTotal.Load()-c.recvOmit.Load() >= b) {
		return true
	}
	if k := c.p.Blocks; k > 0 && (c.blksSent.Load()-c.bsOmit.Load() >= k || c.blksRecv.Load()-c.brOmit.Load() >= k) {
		return true
	}
	return false
}

func (c *cliTest) checkLimit() {
	if (c.p.Bytes > 0 || c.p.Blocks > 0) && c.limitReached() {
		c.limitOnce.Do(func() { close(c.limitCh) })
	}
}

func (c *cliTest) countSent(st *stream, n int, full bool) {
	st.bytes.Add(uint64(n))
	c.sentTotal.Add(uint64(n))
	if full {
		st.blocks.Add(1)
		c.blksSent.Add(1)
	}
	c.checkLimit()
}

func (c *cliTest) tcpSend(st *stream, buf []byte, start time.Time) {
	defer c.sendWG.Done()
	pc := newPacer(c.p.Rate, start)
	var sent uint64
	for !c.limitReached() {
		// A write that starts while the test counts is counted whole:
		// the server may count all of it before it hears TEST_END.
		if !pc.wait(sent, c.stop) || !c.counting.Load() {
			return
		}
		n, err := st.conn.Write(buf)
		sent += uint64(n)
		c.countSent(st, n, n == len(buf))
		if err != nil {
			if c.counting.Load() {
				c.fail(fmt.Errorf("iperf3: stream %d: %w", st.id, err))
			}
			return
		}
	}
}

func (c *cliTest) tcpReceive(st *stream) {
	defer c.wg.Done()
	buf := make([]byte, min(c.cfg.BlockSize, defaultTCPBlockSize))
	for {
		n, err := st.conn.Read(buf)
		if n > 0 && c.counting.Load() {
			st.bytes.Add(uint64(n))
			st.blocks.Add(1)
			c.recvTotal.Add(uint64(n))
			c.blksRecv.Add(1)
			c.checkLimit()
		}
		if err != nil {
			if c.counting.Load() && !errors.Is(err, io.EOF) {
				c.fail(fmt.Errorf("iperf3: stream %d: %w", st.id, err))
			}
			return
		}
	}
}

func (c *cliTest) udpSend(st *stream, start time.Time) {
	defer c.sendWG.Done()
	buf := payload(c.cfg.BlockSize, c.cfg.RepeatingPayload)
	pc := newPacer(c.p.Rate, start)
	burst := max(c.cfg.Burst, 1)
	var sent, seq uint64
	for !c.limitReached() {
		if !pc.wait(sent, c.stop) {
			return
		}
		for range burst {
			if !c.counting.Load() {
				return
			}
			seq++
			putUDPHeader(buf, seq, c.p.UDP64)
			n, err := st.conn.Write(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || !c.counting.Load() {
					return
				}
				// ENOBUFS, ICMP errors: like iperf3, go on after a pause.
				if !pc.sleepUntil(time.Now().Add(time.Millisecond), c.stop) {
					return
				}
				break
			}
			sent += uint64(n)
			st.packets.Store(seq)
			c.countSent(st, n, true)
		}
	}
}

func (c *cliTest) udpReceive(st *stream) {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := st.conn.Read(buf)
		if err != nil {
			if c.counting.Load() && !errors.Is(err, net.ErrClosed) {
				c.fail(fmt.Errorf("iperf3: stream %d: %w", st.id, err))
			}
			return
		}
		if !c.counting.Load() {
			continue
		}
		sec, usec := stamp()
		st.udpReceive(buf[:n], c.p.UDP64, sec, usec)
		c.recvTotal.Add(uint64(n))
		c.blksRecv.Add(1)
		c.checkLimit()
	}
}

// intervalState carries the counts at the last interval report.
type intervalState struct {
	last       time.Time
	sent, recv uint64
}

func (c *cliTest) report(iv *intervalState, now, start time.Time) {
	if c.cfg.OnInterval == nil || !now.After(iv.last) {
		return
	}
	sent, recv := c.sentTotal.Load(), c.recvTotal.Load()
	d := now.Sub(iv.last).Seconds()
	r := Interval{
		Start:         iv.last.Sub(start),
		End:           now.Sub(start),
		Omitted:       c.omitting.Load(),
		UploadBytes:   sent - iv.sent,
		DownloadBytes: recv - iv.recv,
	}
	r.UploadBitsPerSecond = float64(r.UploadBytes) * 8 / d
	r.DownloadBitsPerSecond = float64(r.DownloadBytes) * 8 / d
	iv.last, iv.sent, iv.recv = now, sent, recv
	c.cfg.OnInterval(r)
}

// results is the client's results JSON (send_results).
func (c *cliTest) results() *results {
	secs := c.ended.Sub(c.begun).Seconds()
	r := &results{SenderHasRetransmits: 0}
	if c.cfg.Reverse {
		r.SenderHasRetransmits = -1
	}
	for _, st := range c.streams {
		sr := streamResult{ID: int64(st.id), Bytes: st.reported(), Retransmits: -1, Packets: int64(st.packets.Load()), EndTime: secs}
		if !st.sender {
			sr.Jitter = st.jitterSeconds()
			sr.Errors = int64(st.lost.Load())
		}
		r.Streams = append(r.Streams, sr)
	}
	return r
}

// result combines the client's figures with the server's.
func (c *cliTest) result() *Result {
	res := &Result{
		Protocol:     c.p.proto(),
		Parallel:     c.cfg.Parallel,
		Reverse:      c.cfg.Reverse,
		Bidir:        c.cfg.Bidir,
		Duration:     c.ended.Sub(c.begun),
		ServerOutput: c.serverRes.ServerOutputText,
	}
	remote := make(map[int64]streamResult, len(c.serverRes.Streams))
	for _, s := range c.serverRes.Streams {
		remote[s.ID] = s
	}
	local := c.ended.Sub(c.begun).Seconds()
	var up, down []StreamTransfer
	var upJit, downJit float64
	for _, st := range c.streams {
		rs := remote[int64(st.id)]
		rsecs := rs.EndTime - rs.StartTime
		if rsecs <= 0 {
			rsecs = local
		}
		mine := side(st.reported(), local)
		theirs := side(rs.Bytes, rsecs)
		t := StreamTransfer{ID: st.id}
		if st.sender {
			t.Sent, t.Received = mine, theirs
			t.Packets = st.packets.Load()
			t.LostPackets = uint64(max(rs.Errors, 0))
			t.Jitter = seconds(rs.Jitter)
			upJit += rs.Jitter
			up = append(up, t)
		} else {
			t.Sent, t.Received = theirs, mine
			t.Packets = uint64(max(rs.Packets, 0))
			t.LostPackets = st.lost.Load()
			t.OutOfOrder = st.ooo.Load()
			j := st.jitterSeconds()
			t.Jitter = seconds(j)
			downJit += j
			down = append(down, t)
		}
	}
	if len(up) > 0 {
		res.Upload = transfer(up, upJit, res.Protocol == "udp")
	}
	if len(down) > 0 {
		res.Download = transfer(down, downJit, res.Protocol == "udp")
	}
	return res
}

func side(bytes uint64, secs float64) Side {
	s := Side{Bytes: bytes, Seconds: secs}
	if secs > 0 {
		s.BitsPerSecond = float64(bytes) * 8 / secs
	}
	return s
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) || s < 0 || s > MaxDuration {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// transfer sums a direction's streams as iperf3's summary does: times
// from the first stream, jitter the mean over the streams.
func transfer(ss []StreamTransfer, jitSum float64, udp bool) *Transfer {
	t := &Transfer{Streams: ss}
	var sent, recv uint64
	for _, s := range ss {
		sent += s.Sent.Bytes
		recv += s.Received.Bytes
		if udp {
			t.Packets += s.Packets
			t.LostPackets += s.LostPackets
			t.OutOfOrder += s.OutOfOrder
		}
	}
	t.Sent = side(sent, ss[0].Sent.Seconds)
	t.Received = side(recv, ss[0].Received.Seconds)
	if udp {
		t.Jitter = seconds(jitSum / float64(len(ss)))
		if t.Packets > 0 {
			t.LostPercent = 100 * float64(t.LostPackets) / float64(t.Packets)
		}
	}
	return t
}

// stopSenders stops the count and waits for the senders, unblocking a
// write in progress, so that the results hold what was written.
func (c *cliTest) stopSenders() {
	c.stopCounting()
	for _, st := range c.streams {
		if st.sender {
			_ = st.conn.SetWriteDeadline(aLongTimeAgo)
		}
	}
	c.sendWG.Wait()
}

// closeStreams closes the data streams and waits for their goroutines.
func (c *cliTest) closeStreams() {
	c.stopCounting()
	for _, st := range c.streams {
		_ = st.conn.Close()
	}
	c.sendWG.Wait()
	c.wg.Wait()
}

func (c *cliTest) closeAll() {
	c.closeStreams()
	c.ctrl.close()
}
