package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/impair"
)

// TestTCPHandshakeAndData drives two unstarted stacks with Poll: the
// three-way handshake, data both ways, and a clean close through
// TIME-WAIT.
func TestTCPHandshakeAndData(t *testing.T) {
	p := newPair(t, pairConfig{cfg: Config{TCP: TCPConfig{MSL: 100 * time.Millisecond}}})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	p.pollUntil(t, 50, c.Established)
	l.SetDeadline(time.Now().Add(-time.Second))
	var s *TCPConn
	p.pollUntil(t, 50, func() bool {
		s, err = l.AcceptTCP()
		return err == nil
	})
	if got, want := s.RemoteAddrPort(), c.LocalAddrPort(); got != want {
		t.Fatalf("server sees peer %v, want %v", got, want)
	}
	if c.sn.tcp.get(c.key).mss != 1460-12 || !c.tsOK || !c.sackOK || !c.wsOK {
		t.Fatalf("negotiated mss %d ts %v sack %v ws %v; want 1448 and all options", c.mss, c.tsOK, c.sackOK, c.wsOK)
	}
	msg := []byte("hello over netsplice TCP")
	if n, err := c.Write(msg); err != nil || n != len(msg) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	p.poll(5)
	buf := make([]byte, 100)
	n, err := s.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	s.Write([]byte("reply"))
	p.poll(5)
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "reply" {
		t.Fatalf("client Read: %q, %v", buf[:n], err)
	}
	// Active close by the client.
	c.Close()
	p.poll(5)
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("server Read after client FIN: %v, want io.EOF", err)
	}
	s.Close()
	p.poll(5)
	if cs := c.sn.tcp.get(c.key); cs == nil || cs.state != tcpTimeWait {
		ca, cb := p.a.Counters(), p.b.Counters()
		t.Fatalf("client state: %v, want TIME-WAIT\nA:\n%s\nB:\n%s", cs, countersString(&ca), countersString(&cb))
	}
	if p.b.sn[0].tcp.len() != 0 {
		t.Fatalf("server still has %d connections", p.b.sn[0].tcp.len())
	}
	time.Sleep(250 * time.Millisecond)
	p.poll(3)
	if p.a.sn[0].tcp.len() != 0 {
		t.Fatalf("client still has %d connections after 2*MSL", p.a.sn[0].tcp.len())
	}
	checkFrames(t, append(p.ta.captured(), p.tb.captured()...))
}

// TestTCPConnectRefused: a SYN to a closed port gets RST, and Dial
// reports ECONNREFUSED.
func TestTCPConnectRefused(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true})
	_, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:81"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial closed port: %v, want ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %T is not *net.OpError", err)
	}
	if p.b.Counters()[TCPNoConn] != 1 || p.b.Counters()[TCPRstTx] != 1 {
		t.Fatalf("server counters: no_conn %d rst_tx %d", p.b.Counters()[TCPNoConn], p.b.Counters()[TCPRstTx])
	}
}

// Directions for bulk.
type bulkDir int

const (
	aToB bulkDir = iota
	bToA
	bothWays
)

func (d bulkDir) String() string { return [...]string{"a->b", "b->a", "both"}[d] }

// bulk sends size bytes over one TCP connection from a (the client) to b,
// from b to a, or both at once, and checks the SHA-256 of what arrives.
func bulk(t *testing.T, p *pair, size int, dir bulkDir, seed uint64) {
	t.Helper()
	bulkTo(t, p, addrB.Addr(), size, dir, seed)
}

// bulkTo is bulk to B's address dst (either family; B listens on ::).
func bulkTo(t *testing.T, p *pair, dst netip.Addr, size int, dir bulkDir, seed uint64) {
	t.Helper()
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:5001"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(dst, 5001))
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bulkTimeout)
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	type result struct {
		sum [32]byte
		n   int
		err error
	}
	send := func(conn *TCPConn, seed uint64, n int, out chan<- result) {
		h := sha256.New()
		rng := rand.New(rand.NewPCG(seed, 7))
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			k := min(left, 1+rng.IntN(len(buf)))
			for i := range buf[:k] {
				buf[i] = byte(rng.Uint32())
			}
			h.Write(buf[:k])
			if _, err := conn.Write(buf[:k]); err != nil {
				out <- result{err: err}
				return
			}
			left -= k
		}
		out <- result{sum: [32]byte(h.Sum(nil)), n: n, err: conn.CloseWrite()}
	}
	recv := func(conn *TCPConn, out chan<- result) {
		h := sha256.New()
		n, err := io.Copy(h, conn)
		out <- result{[32]byte(h.Sum(nil)), int(n), err}
	}
	sizeA, sizeB := size, size
	if dir == bToA {
		sizeA = 0
	}
	if dir == aToB {
		sizeB = 0
	}
	sentA, sentB, gotA, gotB := make(chan result, 1), make(chan result, 1), make(chan result, 1), make(chan result, 1)
	go send(c, seed, sizeA, sentA)
	go send(s, seed+100, sizeB, sentB)
	go recv(c, gotA)
	go recv(s, gotB)
	ra, rb, ga, gb := <-sentA, <-sentB, <-gotA, <-gotB
	if ra.err != nil || rb.err != nil || ga.err != nil || gb.err != nil {
		dumpConn(t, "client", c)
		dumpConn(t, "server", s)
		ca, cb := p.a.Counters(), p.b.Counters()
		t.Logf("A counters:\n%s", countersString(&ca))
		t.Logf("port A %+v port B %+v", p.ta.Port.Stats(), p.tb.Port.Stats())
		if p.fa != nil {
			t.Logf("faults %+v", p.fa.Faults())
		}
		t.Logf("B counters:\n%s", countersString(&cb))
		t.Fatalf("%v: send errors %v / %v, receive errors %v / %v", dir, ra.err, rb.err, ga.err, gb.err)
	}
	if gb.n != sizeA || gb.sum != ra.sum {
		t.Fatalf("%v: a->b received %d bytes (sha256 match %v), sent %d", dir, gb.n, gb.sum == ra.sum, sizeA)
	}
	if ga.n != sizeB || ga.sum != rb.sum {
		t.Fatalf("%v: b->a received %d bytes (sha256 match %v), sent %d", dir, ga.n, ga.sum == rb.sum, sizeB)
	}
	c.Close()
	s.Close()
}

// bulkCase is one fault configuration of the bulk tests.
type bulkCase struct {
	name string
	imp  *impair.Config
	cc   string
}

// bulkCases are the fault configurations issue 3 names: none, 1% drop,
// 5% drop with reordering and duplicates, and 0.1% corruption.
func bulkCases(seed uint64) []bulkCase {
	return []bulkCase{
		{"clean", nil, ""},
		{"drop1", &impair.Config{Drop: 0.01, Seed: seed}, ""},
		{"drop1-newreno", &impair.Config{Drop: 0.01, Seed: seed + 1}, "newreno"},
		{"drop5-reorder-dup", &impair.Config{Drop: 0.05, Reorder: 4, Dup: 0.02, Seed: seed + 2}, ""},
		{"corrupt", &impair.Config{Corrupt: 0.001, Seed: seed + 3}, ""},
	}
}

func runBulkCase(t *testing.T, tc bulkCase, size int, dir bulkDir, seed uint64) {
	runBulkCaseTo(t, tc, size, dir, seed, false)
}

// runBulkCase6 is runBulkCase over IPv6.
func runBulkCase6(t *testing.T, tc bulkCase, size int, dir bulkDir, seed uint64) {
	runBulkCaseTo(t, tc, size, dir, seed, true)
}

func runBulkCaseTo(t *testing.T, tc bulkCase, size int, dir bulkDir, seed uint64, v6 bool) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true, impairA: tc.imp, verify: true, ipv6: v6,
		cfg: Config{TCP: TCPConfig{RTOMin: 20 * time.Millisecond, RTOInitial: 100 * time.Millisecond, Congestion: tc.cc}}})
	dst := addrB.Addr()
	if v6 {
		dst = addr6B.Addr()
	}
	bulkTo(t, p, dst, size, dir, seed)
	for _, tp := range []*tap{p.ta, p.tb} {
		n, err := tp.verified()
		if err != nil || n < 10 {
			t.Fatalf("gopacket oracle: %d frames checked, first error %v", n, err)
		}
	}
}

// TestTCPBulk moves a few MiB each way and both ways under every fault
// configuration; tcp_bulk256_test.go moves 256 MiB (without the race
// detector, in make test) and make soak sweeps many seeds.
func TestTCPBulk(t *testing.T) {
	for _, tc := range bulkCases(1) {
		for _, dir := range []bulkDir{aToB, bToA, bothWays} {
			t.Run(tc.name+"/"+dir.String(), func(t *testing.T) { runBulkCase(t, tc, 2<<20, dir, 1) })
		}
	}
}

var bulkTimeout = 300 * time.Second

func dumpConn(t *testing.T, name string, c *TCPConn) {
	t.Helper()
	done := make(chan struct{})
	c.st.call(c.sn, func() {
		t.Logf("%s: state %v una %d nxt %d max %d sndWnd %d cwnd %d queued %d rto %v retries %d inRecovery %v dup %d rcvNxt %d rcvAdv %d win %d ooo %d finQ %v finSent %v",
			name, c.state, c.sndUna-c.iss, c.sndNxt-c.iss, c.sndMax-c.iss, c.sndWnd, c.cc.window(), c.sndQueued, c.rto, c.retries, c.inRecovery, c.dupAcks,
			c.rcvNxt-c.irs, c.rcvAdv-c.irs, c.rcvWindow(), len(c.ooo), c.finQueued, c.finSent)
		close(done)
	})
	<-done
}

func countersString(c *Counters) string {
	var b bytes.Buffer
	c.WriteTo(&b)
	return b.String()
}
