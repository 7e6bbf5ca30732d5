package iperf3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Config configures a Server. The zero values of the optional fields take
// the defaults in brackets.
type Config struct {
	// Listener accepts the control connections and the TCP data streams.
	// Required. Serve closes it when it returns.
	Listener net.Listener
	// ListenUDP opens the UDP socket of a UDP test. Nil refuses UDP tests
	// with SERVER_ERROR.
	ListenUDP ListenUDPFunc
	// UDPAddr is where UDP tests listen [the Listener's address and port].
	UDPAddr netip.AddrPort
	// ControlTimeout bounds each control message outside the running test
	// (cookie, parameters, results, IPERF_DONE), the wait for all data
	// streams to connect, and the cookie of a data stream [30s].
	ControlTimeout time.Duration
	// IdleTimeout ends a running test in which no data moved for this
	// long (iperf3's --rcv-timeout, 120 s) [2m].
	IdleTimeout time.Duration
	// Grace is how long past -t plus -O a time-based test may run before
	// the server ends it (iperf3 allows 40 s) [40s].
	Grace time.Duration
	// MaxStreams caps -P [MaxStreams].
	MaxStreams int
	// OnTestDone, when set, is called with each test's final figures, on
	// the test's goroutine once the test released everything and the
	// server is free for the next client; calls come in test order, one
	// at a time.
	OnTestDone func(TestStats)
	// Logger [zap.NewNop()].
	Logger *zap.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Listener == nil {
		return c, errors.New("iperf3: Config.Listener is required")
	}
	if c.ControlTimeout <= 0 {
		c.ControlTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = 40 * time.Second
	}
	if c.MaxStreams <= 0 || c.MaxStreams > MaxStreams {
		c.MaxStreams = MaxStreams
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if !c.UDPAddr.IsValid() {
		c.UDPAddr = addrPortOf(c.Listener.Addr())
	}
	if c.ListenUDP != nil && !c.UDPAddr.IsValid() {
		return c, fmt.Errorf("iperf3: no UDP address: the listener's address %v has no port; set Config.UDPAddr", c.Listener.Addr())
	}
	return c, nil
}

// Server is an iperf3 server: one test at a time, one test after another.
// Create it with NewServer and run it with Serve.
type Server struct {
	cfg Config
	log *zap.Logger

	mu     sync.Mutex
	cur    *srvTest   // the test in progress, or nil
	last   *TestStats // the last test that ended
	count  uint64     // tests begun
	served bool

	cbMu   sync.Mutex     // serialises OnTestDone
	wg     sync.WaitGroup // test goroutine and refusals
	denies chan struct{}  // bounds the refusals in flight
}

// maxDenials bounds the connections being refused at once; beyond it a
// connection is closed without ACCESS_DENIED.
const maxDenials = 64

// NewServer checks cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, denies: make(chan struct{}, maxDenials)}, nil
}

// Serve runs a Server on cfg until ctx ends.
func Serve(ctx context.Context, cfg Config) error {
	s, err := NewServer(cfg)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve accepts clients until ctx ends, then tells a client whose test is
// running (SERVER_TERMINATE), closes the listener and everything else it
// opened, and returns nil. It returns an error when the listener fails
// for good. Serve may be called once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("iperf3: Serve called twice")
	}
	s.served = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	ln := s.cfg.Listener
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer func() {
		cancel()
		stop()
		_ = ln.Close()
		s.wg.Wait()
	}()
	backoff := time.Duration(0)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("iperf3: accept: %w", err)
			}
			// EMFILE and friends: back off and try again, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("iperf3: accept failed", zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.dispatch(ctx, c)
	}
}

// Stats returns the figures of the test in progress or, between tests, of
// the last test; ok is false before the first test.
func (s *Server) Stats() (st TestStats, ok bool) {
	s.mu.Lock()
	cur, last := s.cur, s.last
	s.mu.Unlock()
	if cur != nil {
		return cur.snapshot(nil), true
	}
	if last != nil {
		return *last, true
	}
	return TestStats{}, false
}

// dispatch decides what an accepted connection is: the control connection
// of a new test when the server is idle, a data stream of the test that
// is creating its streams, or a client to turn away.
func (s *Server) dispatch(ctx context.Context, c net.Conn) {
	s.mu.Lock()
	t := s.cur
	if t == nil {
		s.count++
		t = newSrvTest(ctx, s, s.count, c)
		s.cur = t
		s.mu.Unlock()
		s.wg.Add(1)
		go s.runTest(ctx, t)
		return
	}
	s.mu.Unlock()
	if t.wantsTCPStream() && t.acceptStream(ctx, c) {
		return
	}
	s.deny(c)
}

// deny sends ACCESS_DENIED and closes c, without blocking the accept loop.
// Like iperf3 it reads nothing before answering; it then half-closes and
// waits briefly for the client to close, so that the answer is not lost
// to a reset.
func (s *Server) deny(c net.Conn) {
	select {
	case s.denies <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer func() {
			<-s.denies
			s.wg.Done()
		}()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte{0xff /* ACCESS_DENIED, -1 */}); err == nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			var buf [512]byte
			for n := 0; n < 64<<10; {
				k, err := c.Read(buf[:])
				n += k
				if err != nil {
					break
				}
			}
		}
		_ = c.Close()
	}()
}

// terminateGrace is how long a server shutting down waits, after
// SERVER_TERMINATE, for the client of a running test to close its data
// streams before it closes them. Stock iperf3 reads its control socket
// between writes; on a loaded machine a second was not always enough, and
// the client then failed a write (broken pipe) instead of reporting the
// termination.
const terminateGrace = 5 * time.Second

// runTest runs one test on its goroutine and records how it ended.
func (s *Server) runTest(ctx context.Context, t *srvTest) {
	defer s.wg.Done()
	err := t.run(ctx)
	if err != nil {
		var te *testError
		switch {
		case ctx.Err() != nil:
			// Shutting down: tell the client, but do not wait on it long.
			_ = t.conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = t.conn.Write([]byte{byte(stateServerTerminate)})
			if t.phase.Load() == phaseRunning {
				// Give the client a moment to hear it and close its
				// streams, rather than fail a write on a stream that
				// the server closed under it.
				t.stopOnce.Do(func() { close(t.stop) })
				t.waitData(terminateGrace)
			}
			err = fmt.Errorf("%w: %w", ErrServerTerminated, err)
		case errors.As(err, &te) && te.notify:
			b := []byte{0xfe /* SERVER_ERROR, -2 */, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(b[1:], uint32(te.code))
			binary.BigEndian.PutUint32(b[5:], uint32(te.errno))
			_ = t.ctrl.write(b, "sending SERVER_ERROR")
		}
	}
	t.finish()
	st := t.snapshot(err)
	if err != nil {
		s.log.Info("iperf3: test failed", zap.Uint64("test", t.num), zap.Stringer("client", t.client), zap.Error(err))
	} else {
		s.log.Info("iperf3: test done", zap.Uint64("test", t.num), zap.Stringer("client", t.client),
			zap.Uint64("bytes_received", st.BytesReceived), zap.Uint64("bytes_sent", st.BytesSent))
	}
	// cbMu, taken before the server is free, keeps the callbacks in
	// order and one at a time.
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.mu.Lock()
	s.cur = nil
	s.last = &st
	s.mu.Unlock()
	if cb := s.cfg.OnTestDone; cb != nil {
		cb(st)
	}
}

// errnoOf is err's errno, for SERVER_ERROR, or 0.
func errnoOf(err error) int32 {
	var e syscall.Errno
	if errors.As(err, &e) {
		return int32(e)
	}
	return 0
}

// streamID is iperf3's id for the i-th stream of a test (0-based): 1, 3,
// 4, 5, … (iperf_add_stream skips 2, and both sides must agree).
func streamID(i int) int {
	if i == 0 {
		return 1
	}
	return i + 2
}
