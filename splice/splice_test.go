package splice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack"
)

// lab is three stacks on one in-memory wire: a client, a relay and a
// server. The relay accepts the client's connection and opens one to the
// server from the same softnet, as the relay appliance does.
type lab struct {
	client, relay, server *stack.Stack
}

func newLab(t *testing.T, relayCfg stack.Config) *lab {
	t.Helper()
	w := memwire.New()
	mk := func(name, addr string, cfg stack.Config) *stack.Stack {
		p, err := w.AddPort(memwire.Config{Name: name, Queues: max(cfg.Softnets, 1)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Poll = stack.PollAdaptive
		cfg.TCP.RTOMin = 20 * time.Millisecond
		st, err := stack.New(cfg, stack.InterfaceConfig{Port: p, Addr: netip.MustParsePrefix(addr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		return st
	}
	return &lab{
		client: mk("client", "192.0.2.1/24", stack.Config{}),
		relay:  mk("relay", "192.0.2.2/24", relayCfg),
		server: mk("server", "192.0.2.3/24", stack.Config{}),
	}
}

// conns opens client->relay and relay->server connections and returns
// (client side, relay's client-facing, relay's server-facing, server side).
func (l *lab) conns(t *testing.T) (c, rc, rs, s *stack.TCPConn) {
	t.Helper()
	ls, err := l.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	lr, err := l.relay.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lr.Close() })
	ctx := context.Background()
	if c, err = l.client.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80")); err != nil {
		t.Fatal(err)
	}
	if rc, err = lr.AcceptTCP(); err != nil {
		t.Fatal(err)
	}
	// The backend connection on the softnet that owns the client's.
	if rs, err = l.relay.DialTCPFrom(ctx, rc.Softnet().ID(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.3:81")); err != nil {
		t.Fatal(err)
	}
	if s, err = ls.AcceptTCP(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*stack.TCPConn{c, rc, rs, s} {
		x.SetDeadline(time.Now().Add(30 * time.Second))
	}
	return c, rc, rs, s
}

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var modes = []Mode{ModeSoftnet, ModeDedicated, ModeCopy}

func TestSpliceEOF(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{Softnets: 2})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			// Data queued before the splice starts moves too.
			early := []byte("sent before the splice")
			c.Write(early)
			time.Sleep(20 * time.Millisecond)
			h, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(3<<20, 1)
			go func() { c.Write(data); c.CloseWrite() }()
			// The stack never shuts the drain down itself: the relay does.
			waitErr := make(chan error, 1)
			go func() { err := h.Wait(); rs.CloseWrite(); waitErr <- err }()
			got, err := io.ReadAll(s)
			want := append(append([]byte{}, early...), data...)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("server got %d bytes (err %v), want %d intact", len(got), err, len(want))
			}
			if err := <-waitErr; err != nil {
				t.Fatalf("Wait: %v, want nil at EOF", err)
			}
			if n := h.Len(); n != int64(len(want)) {
				t.Fatalf("Len = %d, want %d", n, len(want))
			}
			// src is readable again and at EOF.
			if n, err := rc.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Fatalf("Read after the splice: %d, %v; want 0, EOF", n, err)
			}
			switch mode {
			case ModeSoftnet:
				if c := l.relay.Counters(); c.Handoffs() != 0 {
					t.Fatalf("softnet splice crossed softnets %d times, want 0", c.Handoffs())
				}
			case ModeDedicated:
				if got := sp.DedicatedStats().Crossed; got == 0 {
					t.Fatal("dedicated splice thread saw no hand-offs from softnets")
				}
			}
		})
	}
}

func TestSpliceMax(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			const max = 10000
			h, err := sp.Splice(rc, rs, max, 0)
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(50000, 2)
			c.Write(data)
			if err := h.Wait(); !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("Wait: %v, want EFBIG", err)
			}
			rs.CloseWrite()
			got, _ := io.ReadAll(s)
			if !bytes.Equal(got, data[:max]) {
				t.Fatalf("server got %d bytes, want exactly the first %d", len(got), max)
			}
			// The end reason comes once, then the rest is readable in src.
			if _, err := rc.Read(make([]byte, 1)); !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("first Read: %v, want EFBIG", err)
			}
			rest := make([]byte, len(data)-max)
			if _, err := io.ReadFull(rc, rest); err != nil || !bytes.Equal(rest, data[max:]) {
				t.Fatalf("rest of the data: %v", err)
			}
		})
	}
}

func TestSpliceIdle(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			_, rc, rs, _ := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			start := time.Now()
			h, err := sp.Splice(rc, rs, 0, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Wait(); !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("Wait: %v, want ETIMEDOUT", err)
			}
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Fatalf("idle splice ended after %v, before its 50ms", d)
			}
		})
	}
}

func TestSpliceDrainReset(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			h, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("data the server leaves unread"))
			time.Sleep(50 * time.Millisecond)
			s.Close() // unread data: the server resets
			// More data makes the drain's failure visible to the splice.
			go func() {
				for i := 0; i < 50; i++ {
					if _, err := c.Write(make([]byte, 1000)); err != nil {
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
			err = h.Wait()
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Wait: %v, want ECONNRESET (or EPIPE)", err)
			}
		})
	}
}

func TestSpliceRefusals(t *testing.T) {
	l := newLab(t, stack.Config{})
	_, rc, rs, _ := l.conns(t)
	sp := New(ModeSoftnet)
	if _, err := sp.Splice(rc, rs, -1, 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("max < 0: %v, want EINVAL", err)
	}
	if _, err := sp.Splice(rc, rs, 0, -time.Second); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("idle < 0: %v, want EINVAL", err)
	}
	if err := sp.Lookup(rc).Unsplice(); !errors.Is(err, syscall.EPROTO) {
		t.Errorf("Unsplice of an unspliced socket: %v, want EPROTO", err)
	}
	h, err := sp.Splice(rc, rs, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Splice(rc, rs, 0, 0); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("second splice of the same source: %v, want EBUSY", err)
	}
	if err := h.Unsplice(); err != nil {
		t.Errorf("Unsplice: %v", err)
	}
	if err := h.Wait(); err != nil {
		t.Errorf("Wait after Unsplice: %v, want nil", err)
	}
}

// TestSpliceSmallBuffers moves 1 MiB through a relay whose buffers are
// 4 KiB: flow control runs end to end with bounded memory.
func TestSpliceSmallBuffers(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{TCP: stack.TCPConfig{SendBuffer: 4096, RecvBuffer: 4096}})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			h, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(1<<20, 3)
			go func() { c.Write(data); c.CloseWrite() }()
			go func() { h.Wait(); rs.CloseWrite() }()
			sum := sha256.New()
			n, err := io.Copy(sum, s)
			if err != nil || n != int64(len(data)) || [32]byte(sum.Sum(nil)) != sha256.Sum256(data) {
				t.Fatalf("server got %d bytes (err %v), want %d intact", n, err, len(data))
			}
		})
	}
}

// TestSpliceSelf splices a connection to itself: an echo.
func TestSpliceSelf(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, _, _ := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			if _, err := sp.Splice(rc, rc, 0, 0); err != nil {
				t.Fatal(err)
			}
			data := randBytes(200000, 4)
			go c.Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("echo: %v", err)
			}
		})
	}
}

// TestSpliceCloseMidway closes the spliced source during a transfer: no
// panic, no leak, the splice ends.
func TestSpliceCloseMidway(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			sp := New(mode)
			defer sp.Close()
			h, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for i := 0; i < 200; i++ {
					if _, err := c.Write(make([]byte, 4096)); err != nil {
						return
					}
				}
			}()
			go io.Copy(io.Discard, s)
			time.Sleep(10 * time.Millisecond)
			done := sp.Lookup(rc).Done()
			if done == nil || done != h.Done() {
				t.Fatal("no splice to wait for")
			}
			rc.Close()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the splice did not end after its source closed")
			}
		})
	}
}

// TestSpliceCrossSoftnet splices connections that live on different
// softnets: the data arrives intact and the fallback is counted.
func TestSpliceCrossSoftnet(t *testing.T) {
	l := newLab(t, stack.Config{Softnets: 2})
	ls, err := l.server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	lr, err := l.relay.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	ctx := context.Background()
	c, err := l.client.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := lr.AcceptTCP()
	other := 1 - rc.Softnet().ID()
	rs, err := l.relay.DialTCPFrom(ctx, other, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.3:81"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ls.AcceptTCP()
	if rs.Softnet() == rc.Softnet() {
		t.Fatal("could not place the connections on different softnets")
	}
	for _, x := range []*stack.TCPConn{c, s} {
		x.SetDeadline(time.Now().Add(30 * time.Second))
	}
	sp := New(ModeSoftnet)
	h, err := sp.Splice(rc, rs, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(1<<20, 5)
	go func() { c.Write(data); c.CloseWrite() }()
	go func() { h.Wait(); rs.CloseWrite() }()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server got %d bytes (err %v), want %d intact", len(got), err, len(data))
	}
	if st := sp.Stats(); st.CrossSoftnet != 1 {
		t.Fatalf("CrossSoftnet = %d, want 1", st.CrossSoftnet)
	}
}

// TestSpliceHandle: a splice's handle is its own. Lookup finds the
// current or last splice whose source is a socket; an ended splice's
// handle keeps its Len and end reason while a later splice of the same
// sockets runs, and its Unsplice (EPROTO) does not touch that one; a
// refused splice leaves the last one to Lookup. A nil handle is no splice.
func TestSpliceHandle(t *testing.T) {
	var none *Splice
	if err := none.Wait(); !errors.Is(err, syscall.EPROTO) {
		t.Errorf("Wait of no splice: %v, want EPROTO", err)
	}
	if err := none.Unsplice(); !errors.Is(err, syscall.EPROTO) {
		t.Errorf("Unsplice of no splice: %v, want EPROTO", err)
	}
	if n, done, d := none.Len(), none.Done(), none.Describe(); n != 0 || done != nil || d != "no splice" {
		t.Errorf("no splice: Len %d, Done %v, Describe %q", n, done, d)
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			uc, usrc, udrain, us := l.udpConns(t)
			sp := newSplicer(t, mode)

			first, err := sp.Splice(rc, rs, 5, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := sp.Lookup(rc); got != first {
				t.Fatalf("Lookup of the source = %p, want the handle %p", got, first)
			}
			if got := sp.Lookup(rs); got != nil {
				t.Fatalf("Lookup of the drain = %p, want nil: it is no source", got)
			}
			c.Write([]byte("hello, world"))
			if err := first.Wait(); !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("first splice: %v, want EFBIG", err)
			}
			if got := readFull(t, s, 5); string(got) != "hello" {
				t.Fatalf("server read %q", got)
			}
			second, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := sp.Lookup(rc); got != second {
				t.Fatalf("Lookup after the second splice = %p, want its handle %p", got, second)
			}
			if err := first.Unsplice(); !errors.Is(err, syscall.EPROTO) {
				t.Errorf("Unsplice of the ended first splice: %v, want EPROTO", err)
			}
			if n, err := first.Len(), first.Wait(); n != 5 || !errors.Is(err, syscall.EFBIG) {
				t.Errorf("the first splice after the second started: Len %d, Wait %v; want 5, EFBIG (its own)", n, err)
			}
			if got := readFull(t, s, 7); string(got) != ", world" {
				t.Fatalf("server read %q from the second splice", got)
			}
			select {
			case <-second.Done():
				t.Fatalf("the second splice ended: %v", second.Wait())
			default:
			}
			if n := second.Len(); n != 7 {
				t.Errorf("second Len = %d, want 7", n)
			}
			if d := second.Describe(); !strings.HasPrefix(d, mode.String()+" tcp splice ended=false moved=7") {
				t.Errorf("Describe = %q", d)
			}
			if err := second.Unsplice(); err != nil {
				t.Fatal(err)
			}
			if err := second.Wait(); err != nil {
				t.Fatalf("second splice: %v, want nil after Unsplice", err)
			}
			// A refused splice is no splice: Lookup keeps the last one.
			s.Reset()
			if _, err := rs.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("relay read after the server's reset: %v", err)
			}
			if _, err := sp.Splice(rc, rs, 0, 0); !errors.Is(err, syscall.ENOTCONN) {
				t.Fatalf("splice to a reset drain: %v, want ENOTCONN", err)
			}
			if got := sp.Lookup(rc); got != second {
				t.Fatalf("Lookup after a refused splice = %p, want the last splice %p", got, second)
			}

			// UDP: the same handle.
			u1, err := sp.Splice(usrc, udrain, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			send(t, uc, []byte("one"))
			expectDatagrams(t, us, []byte("one"))
			if err := u1.Unsplice(); err != nil {
				t.Fatal(err)
			}
			u2, err := sp.Splice(usrc, udrain, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := sp.Lookup(usrc); got != u2 {
				t.Fatalf("Lookup of the UDP source = %p, want %p", got, u2)
			}
			if err := u1.Unsplice(); !errors.Is(err, syscall.EPROTO) {
				t.Errorf("Unsplice of the ended first UDP splice: %v, want EPROTO", err)
			}
			send(t, uc, []byte("two!"))
			expectDatagrams(t, us, []byte("two!"))
			if n1, n2 := u1.Len(), u2.Len(); n1 != 3 || n2 != 4 {
				t.Errorf("UDP Len: first %d, second %d; want 3, 4", n1, n2)
			}
			if err := u2.Unsplice(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
