package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// TestRelayReplace hands a TCP relay's listener to a relay with another
// Max while a pair is in flight and clients keep connecting: the pair
// finishes intact under the old settings, new connections get the new
// ones, and no connection attempt is refused across repeated hand-overs.
func TestRelayReplace(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			old := l.start(t, mode, Config{}, echo)
			inflight := l.dial(t)
			if _, err := inflight.Write([]byte("before")); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, inflight, 6); string(got) != "before" {
				t.Fatalf("in-flight pair echoed %q before the hand-over", got)
			}

			// Clients connect all through the hand-overs below.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var dialErr error
			dials := 0
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := echoOnce(l, i); err != nil {
						dialErr = fmt.Errorf("connection %d: %w", i, err)
						return
					}
					dials++
				}
			})

			cur := old
			var retired []*Relay
			for i := 0; i < 5; i++ {
				next, err := cur.Replace(Config{Listen: cur.cfg.Listen, To: cur.cfg.To, Max: 1000}, nil)
				if err != nil {
					t.Fatalf("replace %d: %v", i, err)
				}
				t.Cleanup(func() { next.Close(time.Second) })
				retired = append(retired, cur)
				cur = next
				time.Sleep(20 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			if dialErr != nil {
				t.Fatalf("a client across the hand-overs: %v (after %d good ones)", dialErr, dials)
			}
			if dials == 0 {
				t.Fatal("no client connected during the hand-overs")
			}

			// The in-flight pair still relays with the old settings (no max).
			data := make([]byte, 1<<20)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			go func() { inflight.Write(data); inflight.CloseWrite() }()
			got, err := io.ReadAll(inflight)
			if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("in-flight pair after the hand-over: %d of %d bytes back, err %v", len(got), len(data), err)
			}
			inflight.Close()

			// A new connection has the new Max: 1000 bytes each way.
			c := l.dial(t)
			go func() { c.Write(bytes.Repeat([]byte("x"), 5000)) }()
			if got, err := io.ReadAll(c); len(got) != 1000 {
				t.Fatalf("new connection after the hand-over: %d bytes back (%v), want 1000 (the new Max)", len(got), err)
			}
			c.Close()

			for i, r := range retired {
				r.Close(10 * time.Second)
				if st := r.Stats(); st.Active != 0 {
					t.Fatalf("retired relay %d: %+v after Close, want no active pairs", i, st)
				}
			}
			if retired[0].Stats().Accepted == 0 {
				t.Fatal("the first relay accepted nothing")
			}
			if _, err := old.Replace(old.cfg, nil); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("second Replace of a relay: %v, want net.ErrClosed", err)
			}
			if _, err := cur.Replace(Config{Listen: netip.MustParseAddrPort("192.0.2.2:99"), To: cur.cfg.To}, nil); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Replace with another Listen: %v, want EINVAL", err)
			}
			// The listener survived every retired relay's Close.
			if err := echoOnce(l, -1); err != nil {
				t.Fatalf("after the retired relays closed: %v", err)
			}
		})
	}
}

// readN reads exactly n bytes.
func readN(t *testing.T, c *stack.TCPConn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// echoOnce connects through the relay, sends a few bytes and checks the
// echo (the relay's Max, if any, is above them).
func echoOnce(l *lab, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.client.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testDeadline))
	msg := []byte(fmt.Sprintf("hello %d", i))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// TestUDPRelayReplace hands a UDP relay's socket to a relay with a Max:
// the live session keeps the old settings, a new client's session has the
// new ones, and clients that arrive across the hand-overs get sessions.
func TestUDPRelayReplace(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			old := l.startUDP(t, mode, UDPConfig{}, func(d []byte) []byte { return d })
			live := l.udpClient(t)
			big := bytes.Repeat([]byte("y"), 100)
			if got := exchange(t, live, big, 5*time.Second); !bytes.Equal(got, big) {
				t.Fatalf("before the hand-over: %d bytes back, want 100", len(got))
			}
			cur := old
			var retired []*UDPRelay
			for i := 0; i < 5; i++ {
				next, err := cur.Replace(UDPConfig{Listen: cur.cfg.Listen, To: cur.cfg.To, Max: 10}, nil)
				if err != nil {
					t.Fatalf("replace %d: %v", i, err)
				}
				t.Cleanup(func() { next.Close(0) })
				retired = append(retired, cur)
				cur = next
				// A client that arrives now gets a session.
				c := l.udpClient(t)
				if got := exchange(t, c, []byte("hi"), 5*time.Second); string(got) != "hi" {
					t.Fatalf("a new client after hand-over %d: %q back, want hi", i, got)
				}
			}
			// The live session still has no Max.
			for i := 0; i < 3; i++ {
				if got := exchange(t, live, big, 5*time.Second); !bytes.Equal(got, big) {
					t.Fatalf("the session of before the hand-over: %d bytes back, want 100", len(got))
				}
			}
			// A new client's session has Max 10: 8 bytes pass, then a
			// datagram that would pass 10 is not relayed.
			c := l.udpClient(t)
			if got := exchange(t, c, []byte("12345678"), 5*time.Second); string(got) != "12345678" {
				t.Fatalf("new session: %q back, want 12345678", got)
			}
			if got := exchange(t, c, []byte("abc"), 300*time.Millisecond); got != nil {
				t.Fatalf("new session past its Max of 10: %q came back, want nothing", got)
			}
			if st := old.Stats(); st.Sessions != 1 || st.Active != 1 {
				t.Fatalf("the first relay: %+v, want its one session, live", st)
			}
			for _, r := range retired {
				r.Close(0)
			}
			if st := old.Stats(); st.Active != 0 || st.Ended != 1 {
				t.Fatalf("the first relay after Close: %+v, want its session ended", st)
			}
			if _, err := old.Replace(old.cfg, nil); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Replace of a replaced relay: %v, want net.ErrClosed", err)
			}
			// The socket survived the retired relays' Close.
			c2 := l.udpClient(t)
			if got := exchange(t, c2, []byte("ok"), 5*time.Second); string(got) != "ok" {
				t.Fatalf("after the retired relays closed: %q back, want ok", got)
			}
			if n := l.relay.Counters()[stack.UDPNoPort]; n != 0 {
				t.Fatalf("udp_no_port %d on the relay: a datagram found no socket", n)
			}
		})
	}
}

// TestStopAccepting: a stopped relay refuses new clients while its pair
// goes on; Close then waits for the pair.
func TestStopAccepting(t *testing.T) {
	l := newLab(t)
	r := l.start(t, modes[0], Config{}, echo)
	c := l.dial(t)
	c.Write([]byte("a"))
	readN(t, c, 1)
	r.StopAccepting()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d, err := l.client.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80")); err == nil {
		d.Close()
		t.Fatal("a stopped relay accepted a connection")
	}
	c.Write([]byte("b"))
	if got := readN(t, c, 1); string(got) != "b" {
		t.Fatalf("pair after StopAccepting echoed %q", got)
	}
	done := make(chan struct{})
	go func() { r.Close(time.Minute); close(done) }()
	c.CloseWrite()
	io.ReadAll(c)
	c.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return once the pair ended")
	}
}
