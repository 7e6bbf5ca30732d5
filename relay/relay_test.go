package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gate"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// lab is three dual-stack stacks on one wire: client 192.0.2.1 and
// 2001:db8:1::1, relay .2 and ::2 (two softnets), server .3 and ::3.
type lab struct {
	client, relay, server *stack.Stack
	// gates hold frames a stack sends ("c", "r", "s"), to put a relayed
	// pair into an exact phase.
	gates map[string]*gate.Port
}

func newLab(t *testing.T) *lab { return newFaultyLab(t, nil) }

// newFaultyLab is newLab with faults on the relay's port (both
// directions, so on both sides of the relay) when imp is not nil.
func newFaultyLab(t *testing.T, imp *impair.Config) *lab { return newLabWith(t, imp, false) }

// newLabWith is newFaultyLab, with every port offloading checksums and
// TCP segmentation (memwire's veth model) and every stack coalescing
// what it receives when offload is set; with neither when it is not.
func newLabWith(t *testing.T, imp *impair.Config, offload bool) *lab {
	t.Helper()
	return newLabOn(t, imp, offload, "r")
}

// newLabOn is newLabWith with the faults on the port of the stack named
// ("c", "r" or "s").
func newLabOn(t *testing.T, imp *impair.Config, offload bool, faulty string) *lab {
	t.Helper()
	w := memwire.New()
	l := &lab{gates: map[string]*gate.Port{}}
	mk := func(name, addr, addr6 string, softnets int) *stack.Stack {
		mp, err := w.AddPort(memwire.Config{Name: name, Queues: softnets, ChecksumOffload: offload, TSO: offload})
		if err != nil {
			t.Fatal(err)
		}
		var p driver.Port = mp
		if imp != nil && name == faulty {
			if p, err = impair.Wrap(mp, *imp); err != nil {
				t.Fatal(err)
			}
		}
		g := gate.Wrap(p)
		l.gates[name] = g
		st, err := stack.New(stack.Config{Softnets: softnets, Poll: stack.PollAdaptive, TCP: stack.TCPConfig{RTOMin: 20 * time.Millisecond, NoCoalesce: !offload}},
			stack.InterfaceConfig{Port: g, Addr: netip.MustParsePrefix(addr), Addr6: []netip.Prefix{netip.MustParsePrefix(addr6)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		return st
	}
	l.client = mk("c", "192.0.2.1/24", "2001:db8:1::1/64", 1)
	l.relay = mk("r", "192.0.2.2/24", "2001:db8:1::2/64", 2)
	l.server = mk("s", "192.0.2.3/24", "2001:db8:1::3/64", 1)
	return l
}

var modes = []splice.Mode{splice.ModeSoftnet, splice.ModeDedicated, splice.ModeCopy}

// start runs a relay 192.0.2.2:80 -> 192.0.2.3:81 and a server whose
// connections handle runs.
func (l *lab) start(t *testing.T, mode splice.Mode, cfg Config, handle func(c *stack.TCPConn)) *Relay {
	t.Helper()
	return l.startWith(t, mode, cfg, handle, hooks{})
}

// startWith is start with test hooks in the relay.
func (l *lab) startWith(t *testing.T, mode splice.Mode, cfg Config, handle func(c *stack.TCPConn), h hooks) *Relay {
	t.Helper()
	serveTCP(t, l.server, netip.MustParseAddrPort("0.0.0.0:81"), handle)
	sp := splice.New(mode)
	t.Cleanup(sp.Close)
	cfg.Listen = netip.MustParseAddrPort("192.0.2.2:80")
	cfg.To = netip.MustParseAddrPort("192.0.2.3:81")
	r, err := start(l.relay, sp, cfg, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(time.Second) })
	return r
}

// serveTCP listens on st at addr and runs handle for each connection in
// a goroutine of its own, with the test deadline set.
func serveTCP(t *testing.T, st *stack.Stack, addr netip.AddrPort, handle func(c *stack.TCPConn)) {
	t.Helper()
	ls, err := st.ListenTCP(addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	go func() {
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(testDeadline))
			go handle(c)
		}
	}()
}

func (l *lab) dial(t *testing.T) *stack.TCPConn {
	t.Helper()
	c, err := l.client.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	return c
}

func echo(c *stack.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

func TestRelayEcho(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			r := l.start(t, mode, Config{}, echo)
			for i := 0; i < 3; i++ {
				c := l.dial(t)
				data := make([]byte, 2<<20)
				rng := rand.New(rand.NewPCG(uint64(i), 3))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				go func() { c.Write(data); c.CloseWrite() }()
				got, err := io.ReadAll(c)
				if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("conn %d: %d of %d bytes back, err %v\nclient %s\n%s", i, len(got), len(data), err, c.Describe(), r.Describe())
				}
				c.Close()
			}
			deadline := time.Now().Add(5 * time.Second)
			for r.Stats().Relayed < 3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if st := r.Stats(); st.Accepted != 3 || st.Relayed != 3 || st.DialFailed != 0 {
				t.Fatalf("stats %+v, want 3 accepted and relayed", st)
			}
		})
	}
}

func TestRelayMax(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			got := make(chan []byte, 1)
			l.start(t, mode, Config{Max: 1000}, func(c *stack.TCPConn) {
				b, _ := io.ReadAll(c)
				got <- b
				c.Close()
			})
			c := l.dial(t)
			data := bytes.Repeat([]byte("0123456789"), 500)
			c.Write(data)
			select {
			case b := <-got:
				if !bytes.Equal(b, data[:1000]) {
					t.Fatalf("server got %d bytes, want exactly the first 1000 then EOF", len(b))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("server never saw EOF after max")
			}
		})
	}
}

func TestRelayClientResetReachesServer(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			res := make(chan error, 1)
			l.start(t, mode, Config{}, func(c *stack.TCPConn) {
				_, err := io.Copy(io.Discard, c)
				res <- err
			})
			c := l.dial(t)
			c.Write([]byte("hello"))
			time.Sleep(50 * time.Millisecond)
			c.Reset()
			select {
			case err := <-res:
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("server read: %v, want ECONNRESET", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the reset never reached the server")
			}
		})
	}
}

func TestRelayIdleClosesQuietPair(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			l.start(t, mode, Config{Idle: 100 * time.Millisecond}, func(c *stack.TCPConn) {
				io.Copy(io.Discard, c)
				c.Close()
			})
			c := l.dial(t)
			start := time.Now()
			n, err := c.Read(make([]byte, 1))
			if n != 0 || err != io.EOF {
				t.Fatalf("Read: %d, %v; want EOF when the idle pair closes", n, err)
			}
			if d := time.Since(start); d < 100*time.Millisecond {
				t.Fatalf("closed after %v, before the idle time", d)
			}
		})
	}
}

// TestRelayUnreachableBackend: a backend that refuses the connection (the
// "backend connecting" phase, server side) resets the client, in every
// mode, counted as a failed dial.
func TestRelayUnreachableBackend(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			sp := splice.New(mode)
			defer sp.Close()
			r, err := Start(l.relay, sp, Config{Listen: netip.MustParseAddrPort("192.0.2.2:80"), To: netip.MustParseAddrPort("192.0.2.3:9"),
				DialTimeout: 2 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(0)
			c := l.dial(t)
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("client read: %v, want ECONNRESET when the backend refuses", err)
			}
			if st := r.Stats(); st.DialFailed != 1 || st.Resets != 0 {
				t.Fatalf("stats %+v, want one failed dial", st)
			}
		})
	}
}

// relayBulk sends size random bytes from a client through the relay to a
// discarding server that hashes them, and compares SHA-256.
func relayBulk(t *testing.T, l *lab, mode splice.Mode, size int) {
	t.Helper()
	sums := make(chan [32]byte, 1)
	counts := make(chan int64, 1)
	l.start(t, mode, Config{}, func(c *stack.TCPConn) {
		c.SetDeadline(time.Now().Add(10 * time.Minute))
		h := sha256.New()
		n, _ := io.Copy(h, c)
		sums <- [32]byte(h.Sum(nil))
		counts <- n
		c.Close()
	})
	c := l.dial(t)
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	h := sha256.New()
	rng := rand.New(rand.NewPCG(11, 12))
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		k := min(left, len(buf))
		for i := range buf[:k] {
			buf[i] = byte(rng.Uint32())
		}
		h.Write(buf[:k])
		if _, err := c.Write(buf[:k]); err != nil {
			t.Fatalf("write: %v", err)
		}
		left -= k
	}
	c.CloseWrite()
	select {
	case sum := <-sums:
		n := <-counts
		if n != int64(size) || sum != [32]byte(h.Sum(nil)) {
			t.Fatalf("%v: server got %d of %d bytes, sha256 match %v", mode, n, size, sum == [32]byte(h.Sum(nil)))
		}
	case <-time.After(10 * time.Minute):
		t.Fatal("the transfer never finished")
	}
	c.Close()
}

// TestRelayFaults relays data with drops, reordering and duplicates on
// both sides of the relay, in every mode; tcp_relay256_test.go moves
// 256 MiB.
func TestRelayFaults(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newFaultyLab(t, &impair.Config{Drop: 0.01, Reorder: 4, Dup: 0.01, Seed: 5})
			relayBulk(t, l, mode, 4<<20)
		})
	}
}

// testDeadline bounds every test connection's reads and writes.
const testDeadline = 30 * time.Second

// TestRelayLRO relays with the ports' offloads on and no fault injector
// in the relay's or the server's way, so that their ports receive
// super-frames whole (LRO) with the payload as views of the sender's
// buffers: the relay's splice moves the views it received onto the
// server-side connection and the server's port views them again, so the
// client's buffers reach the server uncopied. Once as is, once with 2% of
// the client's super-frames lost whole (holes in the coalesced stream,
// retransmitted). The data arrives whole in every mode.
func TestRelayLRO(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		for _, mode := range modes {
			name := mode.String()
			var imp *impair.Config
			if lossy {
				name += "/loss"
				imp = &impair.Config{Drop: 0.02, Whole: true, Seed: 9}
			}
			t.Run(name, func(t *testing.T) {
				l := newLabOn(t, imp, true, "c")
				relayBulk(t, l, mode, 8<<20)
				r, s := l.relay.Counters(), l.server.Counters()
				if r[stack.TCPRxLRO] == 0 || s[stack.TCPRxLRO] == 0 {
					t.Errorf("frames taken coalesced: relay %d, server %d; want both > 0", r[stack.TCPRxLRO], s[stack.TCPRxLRO])
				}
				if r[stack.TCPTxCopyBytes] != 0 || r[stack.TCPTxTSOBytes] < 8<<20 {
					t.Errorf("relay: %d bytes copied into frames, %d sent by reference; want 0 and the 8 MiB", r[stack.TCPTxCopyBytes], r[stack.TCPTxTSOBytes])
				}
				if lossy && l.client.Counters()[stack.TCPRetransmits] == 0 {
					t.Error("the client retransmitted nothing with 2% of its super-frames lost")
				}
			})
		}
	}
}
