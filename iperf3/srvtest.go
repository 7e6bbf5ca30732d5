package iperf3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Server test phases.
const (
	phaseHandshake int32 = iota // cookie and parameters
	phaseCreate                 // CREATE_STREAMS sent, streams connecting
	phaseRunning                // TEST_RUNNING sent
	phaseResults                // TEST_END received, exchanging results
	phaseDone
)

var phaseNames = [...]string{"handshake", "creating streams", "running", "exchanging results", "done"}

// srvTest is one test on the server. Its goroutine (run) owns the control
// connection and the test's progress; the accept loop hands it TCP data
// streams (tcpIn), the UDP reader hands it UDP streams (udpIn); the data
// goroutines report failures on errc.
type srvTest struct {
	s      *Server
	log    *zap.Logger
	num    uint64
	conn   net.Conn
	ctrl   *ctrlConn
	client netip.AddrPort

	phase    atomic.Int32
	counting atomic.Bool // data counts: TEST_RUNNING sent, TEST_END not yet received

	// mu guards the fields below, written by the test goroutine and read
	// by the accept loop and Stats.
	mu        sync.Mutex
	cookie    string
	p         params
	need      int // data streams expected
	recvCount int // the first recvCount streams are received by the server
	offered   int // TCP streams handed over on tcpIn
	streams   []*stream
	begun     time.Time // TEST_START, or the end of the omit period
	ended     time.Time // TEST_END
	clientRes *results

	tcpIn chan net.Conn
	udpIn chan *stream
	udp   UDPConn

	stop     chan struct{} // closed when the data goroutines must stop
	stopOnce sync.Once
	errc     chan error // the first data-path failure
	wg       sync.WaitGroup

	totalSent  atomic.Uint64
	blocksSent atomic.Uint64
	stray      atomic.Uint64 // datagrams from unknown sources
}

func newSrvTest(ctx context.Context, s *Server, num uint64, c net.Conn) *srvTest {
	return &srvTest{
		s:      s,
		log:    s.log,
		num:    num,
		conn:   c,
		ctrl:   newCtrlConn(ctx, c, s.cfg.ControlTimeout),
		client: addrPortOf(c.RemoteAddr()),
		stop:   make(chan struct{}),
		errc:   make(chan error, 1),
	}
}

// fail reports a data-path failure; the first one ends the test.
func (t *srvTest) fail(err error) {
	select {
	case t.errc <- err:
	default:
	}
}

// wantsTCPStream reports whether the test waits for TCP data streams.
func (t *srvTest) wantsTCPStream() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phase.Load() == phaseCreate && t.p.TCP && t.offered < t.need
}

// acceptStream reads a data stream's cookie on the accept loop, as
// iperf3 does, so that streams keep the order the client opened them in
// (the order decides their ids and, in a bidirectional test, their
// direction). It hands a stream with the right cookie to the test and
// reports whether it did.
func (t *srvTest) acceptStream(ctx context.Context, c net.Conn) bool {
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	_ = c.SetReadDeadline(time.Now().Add(t.s.cfg.ControlTimeout))
	var ck [CookieSize]byte
	if _, err := io.ReadFull(c, ck[:]); err != nil {
		t.log.Debug("iperf3: data stream sent no cookie", zap.Stringer("from", addrPortOf(c.RemoteAddr())), zap.Error(err))
		return false
	}
	_ = c.SetReadDeadline(time.Time{})
	t.mu.Lock()
	defer t.mu.Unlock()
	if cookieString(ck[:]) != t.cookie || t.phase.Load() != phaseCreate || t.offered >= t.need {
		return false
	}
	t.offered++
	t.tcpIn <- c // buffered for need
	return true
}

// run is the test's state machine (iperf_run_server, one test).
func (t *srvTest) run(ctx context.Context) error {
	cfg := &t.s.cfg
	k := t.ctrl

	var ck [CookieSize]byte
	if err := k.readFull(ck[:], "reading the cookie"); err != nil {
		return err
	}
	t.mu.Lock()
	t.cookie = cookieString(ck[:])
	t.mu.Unlock()

	if err := k.writeState(stateParamExchange); err != nil {
		return err
	}
	raw, err := k.readJSON(MaxParamsJSON, "reading the parameters")
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return &testError{code: ieRecvParams, errno: errnoEINVAL, notify: true, err: err}
		}
		return err
	}
	p, err := parseParams(raw)
	if err != nil {
		return &testError{code: ieRecvParams, errno: errnoEINVAL, notify: true, err: err}
	}
	if te := p.check(cfg.MaxStreams, cfg.ListenUDP != nil); te != nil {
		return te
	}
	need, recv := int(p.Parallel), int(p.Parallel)
	switch {
	case p.Bidir:
		need *= 2
	case p.Reverse:
		recv = 0
	}
	t.mu.Lock()
	t.p, t.need, t.recvCount = p, need, recv
	t.tcpIn = make(chan net.Conn, need)
	t.mu.Unlock()
	t.log.Debug("iperf3: test parameters", zap.Uint64("test", t.num), zap.String("proto", p.proto()),
		zap.Int64("parallel", p.Parallel), zap.Bool("reverse", p.Reverse), zap.Bool("bidir", p.Bidir),
		zap.Int64("time", p.Time), zap.Uint64("bytes", p.Bytes), zap.Uint64("blocks", p.Blocks))

	if p.UDP {
		u, err := cfg.ListenUDP(cfg.UDPAddr)
		if err != nil {
			return &testError{code: ieStreamListen, errno: errnoOf(err), notify: true,
				err: fmt.Errorf("opening the UDP socket on %v: %w", cfg.UDPAddr, err)}
		}
		t.udp = u
		t.udpIn = make(chan *stream, need)
		t.wg.Add(1)
		go t.udpLoop(need, recv, p.UDP64)
	}

	t.phase.Store(phaseCreate) // before the client hears CREATE_STREAMS
	if err := k.writeState(stateCreateStreams); err != nil {
		return err
	}
	msgs := k.readAsync("waiting for streams")
	wait := time.NewTimer(cfg.ControlTimeout)
	defer wait.Stop()
	for n := 0; n < need; n++ {
		select {
		case c := <-t.tcpIn:
			t.addTCPStream(c, n)
		case st := <-t.udpIn:
			t.addStream(st)
		case m := <-msgs:
			return t.unexpected(m, "creating streams")
		case err := <-t.errc:
			return err
		case <-wait.C:
			return &testError{code: ieStreamAccept, notify: true,
				err: fmt.Errorf("%w: %d of %d data streams connected in %v", ErrTimeout, n, need, cfg.ControlTimeout)}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}

	if err := k.writeState(stateTestStart); err != nil {
		return err
	}
	start := time.Now()
	t.mu.Lock()
	t.begun = start
	t.mu.Unlock()
	t.counting.Store(true)
	t.phase.Store(phaseRunning)
	if err := k.writeState(stateTestRunning); err != nil {
		return err
	}
	t.startSenders(start)

	var hard <-chan time.Time
	if p.Time > 0 {
		ht := time.NewTimer(time.Duration(p.Time+p.Omit)*time.Second + cfg.Grace)
		defer ht.Stop()
		hard = ht.C
	}
	var omit <-chan time.Time
	if p.Omit > 0 {
		ot := time.NewTimer(time.Duration(p.Omit) * time.Second)
		defer ot.Stop()
		omit = ot.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	moved, progress := t.moved(), time.Now()
running:
	for {
		select {
		case m := <-msgs:
			if m.err != nil {
				return m.err
			}
			switch m.s {
			case stateTestEnd:
				break running
			case stateTestStart: // iperf3 ignores it too
				msgs = k.readAsync("running")
			default:
				return t.unexpected(m, "running")
			}
		case err := <-t.errc:
			return err
		case <-hard:
			return fmt.Errorf("%w: the test ran past -t %d s + -O %d s + %v", ErrTimeout, p.Time, p.Omit, cfg.Grace)
		case <-omit:
			t.omitDone()
		case now := <-tick.C:
			if m := t.moved(); m != moved {
				moved, progress = m, now
			} else if now.Sub(progress) >= cfg.IdleTimeout {
				return &testError{code: ieNoMsg, notify: true, err: fmt.Errorf("%w: no data for %v", ErrTimeout, cfg.IdleTimeout)}
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}

	t.endData()
	if err := k.writeState(stateExchangeResults); err != nil {
		return err
	}
	raw, err = k.readJSON(MaxResultsJSON, "reading the client's results")
	if err != nil {
		return err
	}
	cr, err := parseResults(raw)
	if err != nil {
		return fmt.Errorf("the client's results: %w", err)
	}
	t.mu.Lock()
	t.clientRes = &cr
	t.mu.Unlock()
	out := t.results()
	if err := k.write(jsonFrame(out.encode()), "sending the results"); err != nil {
		return err
	}
	if err := k.writeState(stateDisplayResults); err != nil {
		return err
	}
	// The test is complete; a client that closes without IPERF_DONE (as
	// iperf3 tolerates) or says something else does not change that.
	if s, err := k.readState("waiting for IPERF_DONE"); err != nil || s != stateIperfDone {
		t.log.Debug("iperf3: no IPERF_DONE", zap.Uint64("test", t.num), zap.Stringer("got", s), zap.Error(err))
	}
	return nil
}

// unexpected turns a control message that came at the wrong time into the
// test's error.
func (t *srvTest) unexpected(m ctrlMsg, during string) error {
	switch {
	case m.err != nil:
		return m.err
	case m.s == stateClientTerminate:
		return fmt.Errorf("%s: %w", during, ErrClientTerminated)
	case m.s == stateIperfDone:
		return fmt.Errorf("%s: IPERF_DONE before TEST_END: %w", during, ErrControlClosed)
	}
	return &testError{code: ieMessage, errno: errnoEINVAL, notify: true,
		err: fmt.Errorf("%w: %v while %s", ErrProtocol, m.s, during)}
}

// addTCPStream makes the n-th data stream of the test from c and starts
// its receiver; senders start with the test.
func (t *srvTest) addTCPStream(c net.Conn, n int) {
	setSocketOptions(c, t.p.Window, t.p.NoDelay)
	st := &stream{id: streamID(n), sender: n >= t.recvCount, conn: c, peer: addrPortOf(c.RemoteAddr())}
	t.addStream(st)
	if !st.sender {
		t.wg.Add(1)
		go t.tcpReceive(st)
	}
}

func (t *srvTest) addStream(st *stream) {
	t.mu.Lock()
	t.streams = append(t.streams, st)
	t.mu.Unlock()
	t.log.Debug("iperf3: stream connected", zap.Uint64("test", t.num), zap.Int("id", st.id),
		zap.Bool("sender", st.sender), zap.Stringer("peer", st.peer))
}

// startSenders starts the goroutines that send: one per TCP stream, one
// for all UDP streams.
func (t *srvTest) startSenders(start time.Time) {
	var senders []*stream
	for _, st := range t.streams {
		if st.sender {
			senders = append(senders, st)
		}
	}
	if len(senders) == 0 {
		return
	}
	if t.p.UDP {
		t.wg.Add(1)
		go t.udpSend(senders, start)
		return
	}
	buf := payload(int(t.p.BlockSize), t.p.RepeatingPayload) // shared, read only
	for _, st := range senders {
		t.wg.Add(1)
		go t.tcpSend(st, buf, start)
	}
}

// tcpReceive reads one TCP stream until it closes. Only what arrives
// while the test counts is counted.
func (t *srvTest) tcpReceive(st *stream) {
	defer t.wg.Done()
	buf := make([]byte, min(int(t.p.BlockSize), defaultTCPBlockSize))
	for {
		n, err := st.conn.Read(buf)
		if n > 0 && t.counting.Load() {
			st.bytes.Add(uint64(n))
			st.blocks.Add(1)
		}
		if err != nil {
			if ph := t.phase.Load(); ph <= phaseRunning && !errors.Is(err, io.EOF) {
				t.fail(&testError{code: ieStreamRead, notify: true, err: fmt.Errorf("stream %d: %w", st.id, err)})
			}
			return
		}
	}
}

// tcpSend writes blocks on one TCP stream until the test stops it, or
// -n/-k worth has been sent over all streams.
func (t *srvTest) tcpSend(st *stream, buf []byte, start time.Time) {
	defer t.wg.Done()
	pc := newPacer(t.p.Rate, start)
	var sent uint64
	for {
		if t.p.Bytes > 0 && t.totalSent.Load() >= t.p.Bytes || t.p.Blocks > 0 && t.blocksSent.Load() >= t.p.Blocks {
			return
		}
		// A write that starts while the test counts is counted whole.
		counting := t.counting.Load()
		if !pc.wait(sent, t.stop) {
			return
		}
		n, err := st.conn.Write(buf)
		sent += uint64(n)
		if counting {
			st.bytes.Add(uint64(n))
			t.totalSent.Add(uint64(n))
			if n == len(buf) {
				st.blocks.Add(1)
				t.blocksSent.Add(1)
			}
		}
		if err != nil {
			if t.phase.Load() <= phaseRunning {
				t.fail(&testError{code: ieStreamWrite, notify: true, err: fmt.Errorf("stream %d: %w", st.id, err)})
			}
			return
		}
	}
}

// udpLoop reads the test's UDP socket: it takes the first need sources
// that send a 4-byte datagram as the test's streams (answering each), and
// afterwards accounts the datagrams of the streams the server receives.
// It alone reads the socket and owns the streams' receive state.
func (t *srvTest) udpLoop(need, recv int, counters64 bool) {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	peers := make(map[netip.AddrPort]*stream, need)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if t.phase.Load() <= phaseRunning {
				t.fail(&testError{code: ieStreamRead, notify: true, err: fmt.Errorf("UDP socket: %w", err)})
			}
			return
		}
		from = unmap(from)
		st := peers[from]
		if st == nil {
			if len(peers) == need || n != 4 {
				t.stray.Add(1)
				continue
			}
			i := len(peers)
			st = &stream{id: streamID(i), sender: i >= recv, peer: from}
			peers[from] = st
			if _, err := t.udp.WriteToUDPAddrPort(udpConnectReply[:], from); err != nil {
				t.fail(&testError{code: ieStreamWrite, notify: true, err: fmt.Errorf("UDP connect reply to %v: %w", from, err)})
				return
			}
			t.udpIn <- st // buffered for need
			continue
		}
		if st.sender || !t.counting.Load() {
			continue
		}
		sec, usec := stamp()
		st.udpReceive(buf[:n], counters64, sec, usec)
	}
}

// udpSend sends the datagrams of every UDP stream the server sends on,
// each paced to the test's rate, round robin, from one goroutine.
func (t *srvTest) udpSend(senders []*stream, start time.Time) {
	defer t.wg.Done()
	p := &t.p
	buf := payload(int(p.BlockSize), p.RepeatingPayload)
	burst := max(int(p.Burst), 1)
	pc := newPacer(p.Rate, start)
	sent := make([]uint64, len(senders))
	seq := make([]uint64, len(senders))
	for {
		now := time.Now()
		var next time.Time
		soft := false
		for i, st := range senders {
			if p.Rate != 0 {
				if d := pc.due(sent[i]); d.After(now) {
					if next.IsZero() || d.Before(next) {
						next = d
					}
					continue
				}
			}
			for range burst {
				counting := t.counting.Load()
				seq[i]++
				putUDPHeader(buf, seq[i], p.UDP64)
				n, err := t.udp.WriteToUDPAddrPort(buf, st.peer)
				if err != nil {
					if errors.Is(err, net.ErrClosed) || t.phase.Load() > phaseRunning {
						return
					}
					soft = true // ENOBUFS, ICMP errors: like iperf3, go on
					break
				}
				sent[i] += uint64(n)
				if counting {
					st.bytes.Add(uint64(n))
					st.blocks.Add(1)
					st.packets.Store(seq[i])
					t.totalSent.Add(uint64(n))
				}
			}
		}
		if soft && next.IsZero() {
			next = now.Add(time.Millisecond)
		}
		if !next.IsZero() {
			if !pc.sleepUntil(next, t.stop) {
				return
			}
			continue
		}
		select {
		case <-t.stop:
			return
		default:
		}
	}
}

// moved is the bytes moved so far, for the idle check.
func (t *srvTest) moved() uint64 {
	var n uint64
	for _, st := range t.streams {
		n += st.bytes.Load()
	}
	return n
}

// omitDone ends the omit period: what came before is not reported.
func (t *srvTest) omitDone() {
	for _, st := range t.streams {
		st.omitBytes.Store(st.bytes.Load())
		st.resetJit.Store(true)
	}
	t.mu.Lock()
	t.begun = time.Now()
	t.mu.Unlock()
}

// endData stops counting and closes the data streams (TEST_END).
func (t *srvTest) endData() {
	t.counting.Store(false)
	t.mu.Lock()
	t.ended = time.Now()
	t.phase.Store(phaseResults)
	t.mu.Unlock()
	t.stopData()
}

// waitData waits up to d for the data goroutines to end by themselves.
func (t *srvTest) waitData(d time.Duration) {
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-done:
	case <-tm.C:
	}
}

func (t *srvTest) stopData() {
	t.stopOnce.Do(func() { close(t.stop) })
	for _, st := range t.streams {
		if st.conn != nil {
			_ = st.conn.Close()
		}
	}
	if t.udp != nil {
		_ = t.udp.Close()
	}
	t.wg.Wait()
}

// finish releases everything the test holds.
func (t *srvTest) finish() {
	t.counting.Store(false)
	t.mu.Lock()
	if t.ended.IsZero() && !t.begun.IsZero() {
		t.ended = time.Now()
	}
	t.phase.Store(phaseDone)
	t.mu.Unlock()
	t.ctrl.close()
	t.stopData()
	// Streams handed over but not taken (the test failed while they came).
	for drained := t.tcpIn == nil; !drained; {
		select {
		case c := <-t.tcpIn:
			_ = c.Close()
		default:
			drained = true
		}
	}
}

// results is the server's results JSON (send_results): per stream, what
// the server sent or received.
func (t *srvTest) results() *results {
	t.mu.Lock()
	secs := t.ended.Sub(t.begun).Seconds()
	t.mu.Unlock()
	r := &results{SenderHasRetransmits: 0}
	if !t.p.Reverse && !t.p.Bidir {
		r.SenderHasRetransmits = -1
	}
	for _, st := range t.streams {
		sr := streamResult{ID: int64(st.id), Bytes: st.reported(), Retransmits: -1, Packets: int64(st.packets.Load()), EndTime: secs}
		if !st.sender {
			sr.Jitter = st.jitterSeconds()
			sr.Errors = int64(st.lost.Load())
		}
		r.Streams = append(r.Streams, sr)
	}
	if t.p.GetServerOutput {
		r.ServerOutputText = t.summaryText(secs)
	}
	return r
}

// summaryText is the server's report for --get-server-output.
func (t *srvTest) summaryText(secs float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "netsplice iperf3 server, test %d from %v (%s, %d stream(s))\n", t.num, t.client, t.p.proto(), len(t.streams))
	for _, st := range t.streams {
		role := "receiver"
		if st.sender {
			role = "sender"
		}
		bps := 0.0
		if secs > 0 {
			bps = float64(st.reported()) * 8 / secs
		}
		fmt.Fprintf(&b, "[%3d] 0.00-%.2f sec %d bytes %.0f bits/sec %s", st.id, secs, st.reported(), bps, role)
		if t.p.UDP && !st.sender {
			fmt.Fprintf(&b, " jitter %.3f ms lost %d/%d", st.jitterSeconds()*1000, st.lost.Load(), st.packets.Load())
		}
		b.WriteByte('\n')
	}
	return b.String()
}
