package service

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack"
)

func TestPattern(t *testing.T) {
	b := make([]byte, 1000)
	Pattern(b, 0)
	for i, c := range b {
		if c != byte(i%PatternPeriod) {
			t.Fatalf("byte %d = %d, want %d", i, c, i%PatternPeriod)
		}
	}
	Pattern(b, 1234567)
	for i, c := range b {
		if want := byte((1234567 + i) % PatternPeriod); c != want {
			t.Fatalf("offset 1234567: byte %d = %d, want %d", i, c, want)
		}
	}
	if i := PatternMismatch(b, 1234567); i != -1 {
		t.Fatalf("PatternMismatch of the pattern = %d, want -1", i)
	}
	b[777] ^= 1
	if i := PatternMismatch(b, 1234567); i != 777 {
		t.Fatalf("PatternMismatch = %d, want 777", i)
	}
	if i := PatternMismatch(b, 0); i != 0 {
		t.Fatalf("PatternMismatch at the wrong offset = %d, want 0", i)
	}
}

func TestSpecCheck(t *testing.T) {
	for _, s := range []Spec{{HTTP, "udp", 80}, {Echo, "sctp", 7}, {"chargen", "tcp", 19}, {Echo, "tcp", 0}} {
		if err := s.Check(); err == nil {
			t.Errorf("%v: accepted", s)
		}
	}
	if err := (Spec{Echo, "udp", 7}).Check(); err != nil {
		t.Error(err)
	}
	st := wirePair(t)[1]
	if _, _, err := Start(st, Spec{HTTP, "udp", 80}); err == nil {
		t.Error("Start of HTTP over UDP succeeded")
	}
}

// wirePair returns a client and a server stack on one in-memory wire.
func wirePair(t *testing.T) [2]*stack.Stack {
	t.Helper()
	w := memwire.New()
	var sts [2]*stack.Stack
	for i, addr := range []string{"192.0.2.1/24", "192.0.2.2/24"} {
		p, err := w.AddPort(memwire.Config{Name: fmt.Sprint("p", i), Queues: 1})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stack.New(stack.Config{Softnets: 1, Poll: stack.PollAdaptive}, stack.InterfaceConfig{Port: p, Addr: netip.MustParsePrefix(addr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		sts[i] = st
	}
	return sts
}

func TestServices(t *testing.T) {
	sts := wirePair(t)
	cl, sv := sts[0], sts[1]
	server := netip.MustParseAddr("192.0.2.2")
	var cs []*Counters
	for _, s := range []Spec{{Echo, "tcp", 7}, {Echo, "udp", 7}, {Discard, "tcp", 9}, {Discard, "udp", 9}, {HTTP, "tcp", 80}} {
		c, closer, err := Start(sv, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		t.Cleanup(func() { closer.Close() })
		cs = append(cs, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// TCP echo: 100 KB of pattern come back whole.
	c, err := cl.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(server, 7))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	out := make([]byte, 100_000)
	Pattern(out, 0)
	go func() { c.Write(out); c.CloseWrite() }()
	back, err := io.ReadAll(c)
	c.Close()
	if err != nil || len(back) != len(out) || PatternMismatch(back, 0) != -1 {
		t.Fatalf("tcp echo: %d of %d bytes back (mismatch at %d), err %v", len(back), len(out), PatternMismatch(back, 0), err)
	}

	// TCP discard counts the bytes.
	d, err := cl.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(server, 9))
	if err != nil {
		t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(10 * time.Second))
	d.Write(out[:5000])
	d.CloseWrite()
	if n, err := io.Copy(io.Discard, d); n != 0 || err != nil {
		t.Fatalf("discard sent %d bytes back, err %v", n, err)
	}
	d.Close()
	if got := cs[2].Bytes(); got != 5000 {
		t.Errorf("discard counted %d bytes, want 5000", got)
	}

	// UDP echo and discard.
	u, err := cl.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(server, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := u.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := u.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("udp echo: %q, %v", buf[:n], err)
	}
	ud, err := cl.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(server, 9), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ud.Close()
	for i := 0; i < 3; i++ {
		ud.Write([]byte("x"))
	}
	for deadline := time.Now().Add(5 * time.Second); cs[3].Datagrams() < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := cs[3].Datagrams(); got != 3 {
		t.Errorf("udp discard counted %d datagrams, want 3", got)
	}
	if got := cs[1].Datagrams(); got != 1 {
		t.Errorf("udp echo counted %d datagrams, want 1", got)
	}

	// HTTP: /bytes/N is the pattern with a Content-Length; bad N is 400.
	h, err := cl.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(server, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(h)
	for _, tc := range []struct {
		path   string
		status int
		n      int64
	}{{"/bytes/70000", 200, 70000}, {"/bytes/0", 200, 0}, {"/bytes/-1", 400, -1}, {"/bytes/x", 400, -1}} {
		fmt.Fprintf(h, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", tc.path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, err %v", tc.path, resp.StatusCode, err)
		}
		if tc.n >= 0 && (resp.ContentLength != tc.n || int64(len(body)) != tc.n || PatternMismatch(body, 0) != -1) {
			t.Fatalf("%s: Content-Length %d, %d bytes, mismatch at %d", tc.path, resp.ContentLength, len(body), PatternMismatch(body, 0))
		}
	}
	if got := cs[4].Conns(); got != 2 {
		t.Errorf("http counted %d requests, want 2", got)
	}
}

// TestStartKernel: the same services on the kernel's loopback sockets.
func TestStartKernel(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	var cs []*Counters
	var ports []uint16
	for _, s := range []Spec{{Echo, "tcp", 0}, {Echo, "udp", 0}, {HTTP, "tcp", 0}} {
		// A free port: the kernel picks one, then the service takes it.
		var p uint16
		if s.Proto == "udp" {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = uint16(c.LocalAddr().(*net.UDPAddr).Port)
			c.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = uint16(l.Addr().(*net.TCPAddr).Port)
			l.Close()
		}
		s.Port = p
		c, closer, err := StartKernel(lo, s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		t.Cleanup(func() { closer.Close() })
		cs, ports = append(cs, c), append(ports, p)
	}
	c, err := net.Dial("tcp", netip.AddrPortFrom(lo, ports[0]).String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	out := make([]byte, 10000)
	Pattern(out, 0)
	c.Write(out)
	c.(*net.TCPConn).CloseWrite()
	back, err := io.ReadAll(c)
	c.Close()
	if err != nil || len(back) != len(out) || PatternMismatch(back, 0) != -1 {
		t.Fatalf("tcp echo: %d bytes back, err %v", len(back), err)
	}
	u, err := net.Dial("udp", netip.AddrPortFrom(lo, ports[1]).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	u.Write([]byte("ping"))
	buf := make([]byte, 16)
	if n, err := u.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("udp echo: %q %v", buf[:n], err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/bytes/5000", ports[2]))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(body) != 5000 || PatternMismatch(body, 0) != -1 {
		t.Fatalf("http: %d bytes, err %v", len(body), err)
	}
	if cs[0].Bytes() != 10000 || cs[1].Datagrams() != 1 || cs[2].Conns() != 1 {
		t.Errorf("counters: tcp echo %d bytes, udp echo %d datagrams, http %d requests", cs[0].Bytes(), cs[1].Datagrams(), cs[2].Conns())
	}
}
