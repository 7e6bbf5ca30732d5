package splice

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// udpConns: the client's socket, the relay's source (unconnected, :5000),
// the relay's drain (connected to the server) and the server's socket.
func (l *lab) udpConns(t *testing.T) (c, src, drain, s *stack.UDPConn) {
	t.Helper()
	var err error
	if s, err = l.server.ListenUDP(netip.MustParseAddrPort("0.0.0.0:6000"), nil); err != nil {
		t.Fatal(err)
	}
	if src, err = l.relay.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5000"), nil); err != nil {
		t.Fatal(err)
	}
	if drain, err = l.relay.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.3:6000"), nil); err != nil {
		t.Fatal(err)
	}
	if c, err = l.client.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:5000"), nil); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*stack.UDPConn{c, src, drain, s} {
		t.Cleanup(func() { x.Close() })
	}
	// Resolve ARP on every path first (a datagram waiting for ARP is not
	// what these tests measure).
	l.client.Ping(netip.MustParseAddr("192.0.2.2"), 8, time.Second)
	l.relay.Ping(netip.MustParseAddr("192.0.2.3"), 8, time.Second)
	return c, src, drain, s
}

func readDatagram(t *testing.T, s *stack.UDPConn) []byte {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := s.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

func TestSpliceUDPBoundaries(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{Softnets: 2})
			c, src, drain, s := l.udpConns(t)
			sp := New(mode)
			// Queued before the splice: moves when it starts.
			c.Write([]byte("early"))
			time.Sleep(20 * time.Millisecond)
			h, err := sp.Splice(src, drain, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			sizes := []int{0, 1, 100, 1000, 1472}
			want := [][]byte{[]byte("early")}
			total := int64(5)
			for i, n := range sizes {
				d := bytes.Repeat([]byte{byte(i + 1)}, n)
				want = append(want, d)
				total += int64(n)
				if _, err := c.Write(d); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			for i, w := range want {
				if got := readDatagram(t, s); !bytes.Equal(got, w) {
					t.Fatalf("datagram %d: got %d bytes, want %d", i, len(got), len(w))
				}
			}
			if n := h.Len(); n != total {
				t.Fatalf("Len = %d, want %d", n, total)
			}
			if err := h.Unsplice(); err != nil {
				t.Fatal(err)
			}
			// After the splice, datagrams reach the source's reader again.
			c.Write([]byte("after"))
			if got := readDatagram(t, src); string(got) != "after" {
				t.Fatalf("after unsplice the source read %q", got)
			}
		})
	}
}

func TestSpliceUDPMax(t *testing.T) {
	l := newLab(t, stack.Config{})
	c, src, drain, s := l.udpConns(t)
	sp := New(ModeSoftnet)
	// A datagram that would pass max ends the splice without an error and
	// stays readable in the source.
	h, err := sp.Splice(src, drain, 250, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c.Write(bytes.Repeat([]byte{byte(i)}, 100))
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.Wait(); err != nil {
		t.Fatalf("Wait: %v, want nil (the datagram is never split)", err)
	}
	readDatagram(t, s)
	readDatagram(t, s)
	if got := readDatagram(t, src); len(got) != 100 || got[0] != 2 {
		t.Fatalf("the third datagram: %d bytes (first %v), want it queued in the source", len(got), got)
	}
	// Exactly max: EFBIG, left as the source's error once.
	if h, err = sp.Splice(src, drain, 200, 0); err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 100))
	c.Write(make([]byte, 100))
	if err := h.Wait(); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Wait: %v, want EFBIG", err)
	}
	src.SetReadDeadline(time.Now().Add(time.Second))
	if _, _, err := src.ReadFromUDPAddrPort(make([]byte, 10)); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("first read after the splice: %v, want EFBIG", err)
	}
}

func TestSpliceUDPIdleAndRefusals(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			_, src, drain, s := l.udpConns(t)
			sp := New(mode)
			if _, err := sp.Splice(src, s, 0, 0); !errors.Is(err, syscall.ENOTCONN) {
				t.Errorf("unconnected drain: %v, want ENOTCONN", err)
			}
			if _, err := sp.Splice(src, drain, -1, 0); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("max < 0: %v, want EINVAL", err)
			}
			if err := sp.Lookup(src).Unsplice(); !errors.Is(err, syscall.EPROTO) {
				t.Errorf("unsplice of an unspliced socket: %v, want EPROTO", err)
			}
			start := time.Now()
			h, err := sp.Splice(src, drain, 0, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sp.Splice(src, drain, 0, 0); !errors.Is(err, syscall.EBUSY) {
				t.Errorf("second splice: %v, want EBUSY", err)
			}
			if err := h.Wait(); !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("Wait: %v, want ETIMEDOUT", err)
			}
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Fatalf("idle splice ended after %v", d)
			}
		})
	}
}
