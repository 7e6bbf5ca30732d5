package splice

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack"
)

// loneStack is one started stack on a wire of its own: its connections
// to its own address are local (stack/loopback.go).
func loneStack(t *testing.T) *stack.Stack {
	t.Helper()
	p, err := memwire.New().AddPort(memwire.Config{Name: "lone"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.New(stack.Config{Poll: stack.PollAdaptive}, stack.InterfaceConfig{Port: p, Addr: netip.MustParsePrefix("192.0.2.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

// TestSpliceLoopTCP: a connection to the stack itself whose accepting end
// is spliced to the dialing end sends its data round forever; after 128
// passes through the splice it ends with ELOOP, as OpenBSD's does. (Copy
// mode cannot see the loop: a userland relay loops until stopped.)
func TestSpliceLoopTCP(t *testing.T) {
	for _, mode := range []Mode{ModeSoftnet, ModeDedicated} {
		t.Run(mode.String(), func(t *testing.T) {
			st := loneStack(t)
			l, err := st.ListenTCP(netip.MustParseAddrPort("192.0.2.1:80"), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c1, err := st.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.1:80"))
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			c2, err := l.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			sp := New(mode)
			defer sp.Close()
			// What arrives on c2 leaves on c1, which sends it to c2 again.
			h, err := sp.Splice(c2, c1, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c1.Write(bytes.Repeat([]byte("loop"), 250)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-h.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("the loop never ended; %d bytes moved", h.Len())
			}
			if err := h.Wait(); !errors.Is(err, syscall.ELOOP) {
				t.Fatalf("Wait: %v, want ELOOP", err)
			}
			if n := h.Len(); n < 128*1000 {
				t.Fatalf("Len %d: the data went round fewer than 128 times", n)
			}
			c2.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c2.Read(make([]byte, 10)); !errors.Is(err, syscall.ELOOP) {
				t.Fatalf("reading the source after the end: %v, want ELOOP once", err)
			}
		})
	}
}

// TestSpliceLoopUDP: a UDP socket connected to itself and spliced to
// itself; one datagram loops until ELOOP.
func TestSpliceLoopUDP(t *testing.T) {
	for _, mode := range []Mode{ModeSoftnet, ModeDedicated} {
		t.Run(mode.String(), func(t *testing.T) {
			st := loneStack(t)
			self := netip.MustParseAddrPort("192.0.2.1:1000")
			u, err := st.DialUDP(self, self, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			sp := New(mode)
			defer sp.Close()
			h, err := sp.Splice(u, u, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write([]byte("round and round")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- h.Wait() }()
			select {
			case err := <-done:
				if !errors.Is(err, syscall.ELOOP) {
					t.Fatalf("Wait: %v, want ELOOP", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the loop never ended; %d bytes moved", h.Len())
			}
			if n := h.Len(); n != 128*int64(len("round and round")) {
				t.Fatalf("Len %d, want 128 passes of the datagram", n)
			}
		})
	}
}
